-- `streamhost registry` against `streamhost broker`: every endpoint of the
-- Schema Registry REST API with its status codes and error codes, each
-- compatibility level with a pass and a fail, and a restart that keeps
-- every id (the schemas live in the broker's _schemas topic). curl is the
-- client, as any Confluent-compatible client would be.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local CT = "application/vnd.schemaregistry.v1+json"

local function call(url, method, path, body)
  local cmd = "curl -s -o - -w '\\n%{http_code} %{content_type}' -X " .. method
  if body then
    cmd = cmd .. " -H 'Content-Type: " .. CT .. "' --data-binary " ..
          helpers.shell_quote(type(body) == "table" and cjson.encode(body) or body)
  end
  local p = io.popen(cmd .. " " .. helpers.shell_quote(url .. path))
  local out = p:read("*a")
  p:close()
  local text, status, ctype = out:match("^(.-)\n(%d+) (.*)$")
  local ok, json = pcall(cjson.decode, text)
  return tonumber(status), ok and json or text, ctype
end

local function record(fields)
  local list = {}
  for i, f in ipairs(fields) do list[i] = f end
  return cjson.encode({ type = "record", name = "R", fields = list })
end

local A_INT = { name = "a", type = "int" }
local A_LONG = { name = "a", type = "long" }
local A_STRING = { name = "a", type = "string" }
local B_DEFAULT = { name = "b", type = "string", default = "x" }
local B = { name = "b", type = "string" }

local function start_registry(bootstrap)
  local dir = helpers.tmpdir()
  local log = dir .. "/registry.log"
  local pid = helpers.spawn(helpers.bin .. " registry --port 0 --bootstrap " .. bootstrap, log)
  local url = helpers.wait_until("the registry's url line", 20000, function()
    return helpers.read_file(log):match("schema%.registry%.url=(%S+)\n")
  end)
  return { url = url, pid = pid, log = log,
           stop = function() helpers.kill(pid); helpers.wait_exit(pid) end }
end

describe("streamhost registry", function()
  local broker, registry, url

  setup(function()
    broker = helpers.start_broker({ _schemas = 1 })
    registry = start_registry(broker.bootstrap)
    url = registry.url
  end)

  teardown(function()
    if registry then registry.stop() end
    if broker then broker.stop() end
  end)

  it("registers, looks up and serves schemas with the registry's shapes and codes", function()
    local status, body, ctype = call(url, "POST", "/subjects/orders-value/versions",
                                     { schema = record { A_INT } })
    assert.equal(200, status)
    assert.equal(CT, ctype)
    local id = body.id
    assert.is_number(id)
    -- the same schema again: the same id, no new version
    status, body = call(url, "POST", "/subjects/orders-value/versions",
                        { schema = record { A_INT } })
    assert.same({ 200, { id = id } }, { status, body })
    status, body = call(url, "GET", "/subjects/orders-value/versions")
    assert.same({ 200, { 1 } }, { status, body })
    status, body = call(url, "GET", "/subjects")
    assert.equal(200, status)
    assert.is_truthy(table.concat(body, ","):find("orders-value", 1, true))
    status, body = call(url, "GET", "/schemas/ids/" .. id)
    assert.equal(200, status)
    assert.same({ type = "record", name = "R", fields = { A_INT } }, cjson.decode(body.schema))
    status, body = call(url, "GET", "/schemas/ids/" .. id .. "/versions")
    assert.same({ 200, { { subject = "orders-value", version = 1 } } }, { status, body })
    status, body = call(url, "GET", "/subjects/orders-value/versions/1")
    assert.equal(200, status)
    assert.same({ "orders-value", 1, id }, { body.subject, body.version, body.id })
    status, body = call(url, "GET", "/subjects/orders-value/versions/latest/schema")
    assert.equal(200, status)
    assert.equal("R", body.name)
    status, body = call(url, "POST", "/subjects/orders-value", { schema = record { A_INT } })
    assert.same({ 200, "orders-value", 1, id }, { status, body.subject, body.version, body.id })
    status, body = call(url, "GET", "/")
    assert.same({ 200, {} }, { status, body })
    status, body = call(url, "GET", "/schemas/types")
    assert.same({ 200, { "AVRO" } }, { status, body })
  end)

  it("answers errors with the registry's status and error_code", function()
    local cases = {
      { "GET", "/subjects/nope/versions", nil, 404, 40401 },
      { "GET", "/subjects/nope/versions/1", nil, 404, 40401 },
      { "POST", "/subjects/nope", { schema = record { A_INT } }, 404, 40401 },
      { "GET", "/schemas/ids/9999", nil, 404, 40403 },
      { "GET", "/subjects/orders-value/versions/99", nil, 404, 40402 },
      { "GET", "/subjects/orders-value/versions/abc", nil, 422, 42202 },
      { "POST", "/subjects/orders-value", { schema = record { A_STRING } }, 404, 40403 },
      { "POST", "/subjects/x-value/versions", { schema = "{\"type\": \"nope\"}" }, 422, 42201 },
      { "POST", "/subjects/x-value/versions", "not json", 422, 42201 },
      { "PUT", "/config", { compatibility = "SOMETIMES" }, 422, 42203 },
      { "GET", "/config/orders-value", nil, 404, 40408 },
      { "DELETE", "/subjects/nope", nil, 404, 40401 },
      { "GET", "/no/such/thing", nil, 404, 404 },
    }
    for _, c in ipairs(cases) do
      local status, body = call(url, c[1], c[2], c[3])
      assert.equal(c[4], status, c[1] .. " " .. c[2])
      assert.equal(c[5], body.error_code, c[1] .. " " .. c[2])
      assert.is_string(body.message)
    end
  end)

  it("gets and sets compatibility levels globally and per subject", function()
    local status, body = call(url, "GET", "/config")
    assert.same({ 200, { compatibilityLevel = "BACKWARD" } }, { status, body })
    status, body = call(url, "PUT", "/config/cfg-value", { compatibility = "FULL" })
    assert.same({ 200, { compatibility = "FULL" } }, { status, body })
    status, body = call(url, "GET", "/config/cfg-value")
    assert.same({ 200, { compatibilityLevel = "FULL" } }, { status, body })
    status, body = call(url, "DELETE", "/config/cfg-value")
    assert.same({ 200, { compatibilityLevel = "FULL" } }, { status, body })
    status, body = call(url, "GET", "/config/cfg-value?defaultToGlobal=true")
    assert.same({ 200, { compatibilityLevel = "BACKWARD" } }, { status, body })
  end)

  -- level, first schema, second schema, does the second pass
  local levels = {
    { "NONE", { A_INT }, { A_STRING }, true },
    { "BACKWARD", { A_INT }, { A_INT, B_DEFAULT }, true },
    { "BACKWARD", { A_INT }, { A_INT, B }, false },
    { "BACKWARD_TRANSITIVE", { A_INT }, { A_LONG }, true },
    { "BACKWARD_TRANSITIVE", { A_LONG }, { A_INT }, false },
    { "FORWARD", { A_INT }, { A_INT, B }, true },
    { "FORWARD", { A_INT, B }, { A_INT }, false },
    { "FORWARD_TRANSITIVE", { A_LONG }, { A_INT }, true },
    { "FORWARD_TRANSITIVE", { A_INT }, { A_STRING }, false },
    { "FULL", { A_INT }, { A_INT, B_DEFAULT }, true },
    { "FULL", { A_INT }, { A_LONG }, false },
    { "FULL_TRANSITIVE", { A_INT, B_DEFAULT }, { A_INT }, true },
    { "FULL_TRANSITIVE", { A_INT }, { A_INT, B }, false },
  }
  for i, c in ipairs(levels) do
    it(c[1] .. (c[4] and " passes" or " refuses") .. " case " .. i, function()
      local subject = "level-" .. i .. "-value"
      assert.equal(200, (call(url, "PUT", "/config/" .. subject, { compatibility = c[1] })))
      assert.equal(200, (call(url, "POST", "/subjects/" .. subject .. "/versions",
                              { schema = record(c[2]) })))
      local status, body = call(url, "POST", "/compatibility/subjects/" .. subject ..
                                "/versions/latest?verbose=true", { schema = record(c[3]) })
      assert.equal(200, status)
      assert.equal(c[4], body.is_compatible)
      if not c[4] then assert.is_truthy(body.messages[1]:find(c[1], 1, true)) end
      status, body = call(url, "POST", "/subjects/" .. subject .. "/versions",
                          { schema = record(c[3]) })
      if c[4] then
        assert.equal(200, status)
      else
        assert.same({ 409, 409 }, { status, body.error_code })
        assert.is_truthy(body.message:find(subject, 1, true))
      end
    end)
  end

  it("deletes versions and subjects, soft then permanent", function()
    local subject = "/subjects/del-value"
    call(url, "PUT", "/config/del-value", { compatibility = "NONE" })
    call(url, "POST", subject .. "/versions", { schema = record { A_INT } })
    local _, v2 = call(url, "POST", subject .. "/versions", { schema = record { A_STRING } })
    local status, body = call(url, "DELETE", subject .. "/versions/1?permanent=true")
    assert.same({ 404, 40407 }, { status, body.error_code })
    status, body = call(url, "DELETE", subject .. "/versions/1")
    assert.same({ 200, 1 }, { status, body })
    status, body = call(url, "GET", subject .. "/versions")
    assert.same({ 200, { 2 } }, { status, body })
    status, body = call(url, "DELETE", subject)
    assert.same({ 200, { 2 } }, { status, body })
    status = call(url, "GET", subject .. "/versions")
    assert.equal(404, status)
    -- a soft-deleted schema's id still reads
    status = call(url, "GET", "/schemas/ids/" .. v2.id)
    assert.equal(200, status)
    status, body = call(url, "DELETE", subject .. "?permanent=true")
    assert.same({ 200, { 1, 2 } }, { status, body })
    status, body = call(url, "DELETE", subject)
    assert.same({ 404, 40401 }, { status, body.error_code })
  end)

  it("refuses to start when it cannot read the cluster, rather than start empty", function()
    local p = io.popen(helpers.bin .. " registry --port 0 --bootstrap 127.0.0.1:1 2>&1; echo rc=$?")
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("cannot read the cluster's topics at 127.0.0.1:1", 1, true), out)
    assert.truthy(out:find("rc=1", 1, true), out)
    assert.falsy(out:find("schema.registry.url=", 1, true), out)
  end)

  it("keeps every id across a restart", function()
    local ids = {}
    for i = 1, 5 do
      local _, body = call(url, "POST", "/subjects/keep-" .. i .. "-value/versions",
                           { schema = record { { name = "f" .. i, type = "int" } } })
      ids[i] = body.id
    end
    registry.stop()
    registry = start_registry(broker.bootstrap)
    url = registry.url
    for i = 1, 5 do
      local status, body = call(url, "GET", "/subjects/keep-" .. i .. "-value/versions/latest")
      assert.equal(200, status)
      assert.equal(ids[i], body.id)
      status, body = call(url, "GET", "/schemas/ids/" .. ids[i])
      assert.equal(200, status)
      assert.equal("f" .. i, cjson.decode(body.schema).fields[1].name)
    end
    -- new ids follow the old ones
    local _, body = call(url, "POST", "/subjects/keep-6-value/versions",
                         { schema = record { { name = "f6", type = "int" } } })
    assert.is_true(body.id > ids[5])
    assert.equal(0, helpers.count_matches(helpers.read_file(registry.log), "ERROR"))
  end)
end)
