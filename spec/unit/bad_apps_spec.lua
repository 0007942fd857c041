-- Bad input and bad apps (issue 13): a dead letter too big for the producer
-- is cut to fit and the app goes on; load errors name the app's file and
-- line, not streamhost's; two stores of one name are refused at load; a
-- chain of 10,000 operators loads and runs.
local helpers = require "spec.helpers"
local testing = require "streamhost.testing"

local dir

local function write_app(body)
  local path = dir .. "/app.lua"
  helpers.write_file(path, "local sh = require 'streamhost'\n" .. body)
  return path
end

-- The error of loading body as an app file through the driver.
local function load_error(body)
  local path = write_app(body)
  local ok, err = pcall(testing.driver, path)
  assert.is_false(ok, "the app loaded")
  return tostring(err), path
end

local function header_map(headers)
  local map = {}
  for _, h in ipairs(headers) do map[h.key] = h.value end
  return map
end

describe("bad apps", function()
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  describe("load errors name the app's file and line", function()
    it("for a table with no key format", function()
      local err, path = load_error([[
return sh.app { id = "x", topology = function(b)
  b:table("t")
end }
]])
      assert.equal(path .. ":3: table('t'): the key format is not known here",
                   err:sub(1, #path + #":3: table('t'): the key format is not known here"))
    end)

    it("for a bad window duration, inside the topology and at the top of the file", function()
      local err, path = load_error([[
return sh.app { id = "x", topology = function(b)
  b:stream("in", { key = "string", value = "json" })
   :group_by_key()
   :window_by(sh.tumbling { size = "5 parsecs" })
   :count()
end }
]])
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ":5: sh.tumbling size: '5 parsecs' is not " ..
                     "a duration", err)
      err, path = load_error([[
local window = sh.hopping { size = "1m", advance = "often" }
return sh.app { id = "x", topology = function(b) end }
]])
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ":2: ", err)
      assert.matches("often", err, 1, true)
    end)

    it("for an empty or missing topology, naming the file", function()
      local err, path = load_error([[
return sh.app { id = "x", topology = function(b)
end }
]])
      assert.equal(path .. ":2: the topology reads nothing: call b:stream(topic, ...) in topology(b)",
                   err)
      err, path = load_error("return sh.app { id = 'x' }\n")
      assert.matches("^" .. path:gsub("%p", "%%%0") .. ":%d+: sh.app: 'topology' function is required",
                     err)
      err, path = load_error("")
      assert.equal(path .. ":1: the file must return sh.app { ... }", err)
    end)

    it("for a mistake in a module the app requires", function()
      helpers.write_file(dir .. "/parts.lua", [[
return { counts = function(s)
  return s:group_by_key():window_by("five minutes"):count()
end }
]])
      local err = load_error([[
local parts = require "parts"
return sh.app { id = "x", topology = function(b)
  parts.counts(b:stream("in", { key = "string", value = "json" }))
end }
]])
      assert.matches("^" .. (dir .. "/parts.lua"):gsub("%p", "%%%0") .. ":2: ", err)
    end)
  end)

  it("refuses two stores of one name at load, naming both lines", function()
    local err, path = load_error([[
return sh.app { id = "x", topology = function(b)
  local s = b:stream("in", { key = "string", value = "json" })
  s:group_by_key():count({ name = "c" })
  s:group_by_key():count({ name = "c" })
end }
]])
    assert.equal(path .. ":5: a second store named 'c' (the first is at " .. path .. ":4); give " ..
                 "each store its own name (opts.name)", err)
    -- a table's store and an aggregation's
    err, path = load_error([[
return sh.app { id = "x", topology = function(b)
  b:table("t", { key = "string", value = "json", name = "shared" })
  b:stream("in", { key = "string", value = "json" }):group_by_key():count({ name = "shared" })
end }
]])
    assert.matches(path .. ":4: a second store named 'shared'", err, 1, true)
  end)

  it("keeps a join's own stores, shared by its two arms", function()
    local path = write_app([[
return sh.app { id = "x", topology = function(b)
  local l = b:stream("l", { key = "string", value = "json" })
  local r = b:stream("r", { key = "string", value = "json" })
  l:outer_join(r, function(a, c) return { a = a, c = c } end, { within = "1m" })
   :to("out", { value = "json" })
end }
]])
    testing.driver(path):close()
  end)

  it("loads and runs a chain of 10,000 operators", function()
    local path = write_app([[
return sh.app { id = "x", topology = function(b)
  local s = b:stream("in", { key = "string", value = "json" })
  for i = 1, 10000 do s = s:map_values(function(v) return { n = v.n + 1 } end) end
  s:to("out", { value = "json" })
end }
]])
    local d = testing.driver(path)
    d:input("in"):pipe("k", { n = 0 })
    d:input("in"):pipe("k", { n = 5 })
    local out = d:output("out"):read_all()
    assert.equal(2, #out)
    assert.equal(10000, out[1].value.n)
    assert.equal(10005, out[2].value.n)
    d:close()
  end)
end)

describe("a dead letter too big for the producer", function()
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  local function poison_app(kafka)
    return write_app(([[
return sh.app { id = "big", on_error = "dead_letter", kafka = %s, topology = function(b)
  b:stream("in", { key = "string", value = "json" }):to("out", { value = "json" })
end }
]]):format(kafka))
  end

  it("is cut to fit message.max.bytes, says so in headers, and the app goes on", function()
    local d = testing.driver(poison_app('{ ["message.max.bytes"] = 20000 }'))
    local poison = "x" .. string.rep("0123456789", 5000) -- 50,001 bytes, not JSON
    d:input("in", { value = "bytes" }):pipe("k1", poison)
    d:input("in"):pipe("k2", { fine = true })
    local dlq = d:output("big-dlq", { key = "string", value = "bytes" }):read_all()
    assert.equal(1, #dlq)
    local letter = dlq[1]
    assert.equal("k1", letter.key)
    assert.is_true(#letter.value < 20000 - 1000 and #letter.value > 10000, #letter.value)
    assert.equal(poison:sub(1, #letter.value), letter.value)
    local h = header_map(letter.headers)
    assert.equal("value", h["__streamhost.errors.truncated"])
    assert.equal("50001", h["__streamhost.errors.original.size"])
    assert.equal("in", h["__streamhost.errors.topic"])
    assert.equal("0", h["__streamhost.errors.partition"])
    assert.equal("0", h["__streamhost.errors.offset"])
    local out = d:output("out"):read_all()
    assert.same({ { fine = true } }, { out[1].value })
    d:close()
  end)

  it("keeps within librdkafka's default of 1,000,000 bytes for a 2 MB value", function()
    local d = testing.driver(poison_app("{}"))
    d:input("in", { value = "bytes" }):pipe("k1", string.rep("{", 2 * 1024 * 1024))
    local letter = d:output("big-dlq", { key = "string", value = "bytes" }):read()
    local size = #letter.key + #letter.value
    for _, h in ipairs(letter.headers) do size = size + #h.key + #(h.value or "") end
    assert.is_true(size < 1000000, size)
    assert.equal(tostring(2 * 1024 * 1024), header_map(letter.headers)["__streamhost.errors.original.size"])
    d:close()
  end)

  it("is written whole when it fits", function()
    local d = testing.driver(poison_app("{}"))
    d:input("in", { value = "bytes" }):pipe("k1", "not json")
    local letter = d:output("big-dlq", { key = "string", value = "bytes" }):read()
    assert.equal("not json", letter.value)
    assert.is_nil(header_map(letter.headers)["__streamhost.errors.truncated"])
    d:close()
  end)
end)
