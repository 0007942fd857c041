-- The avro serde through the test driver and the in-process registry:
-- values as Lua sees them, schemas given or derived and registered once
-- under TopicNameStrategy (or RecordNameStrategy) subjects, a refused
-- schema change, and bad input under each on_error policy.
local sh = require "streamhost"
local testing = require "streamhost.testing"
local cjson = require "cjson"
local ffi = require "ffi"
local core = require "streamhost.core"

local registry = ffi.string(core.C.sh_ffi_registry_url(nil))

local function get(path)
  local p = io.popen("curl -s " .. registry .. path)
  local out = p:read("*a")
  p:close()
  return cjson.decode(out)
end

local function put_config(subject, level)
  os.execute("curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' --data '" ..
             cjson.encode({ compatibility = level }) .. "' " .. registry .. "/config/" .. subject)
end

local seq = 0
local function unique(name)
  seq = seq + 1
  return name .. "-" .. seq .. "-" .. os.time()
end

-- in (string key, avro value) -> map_values(fn) -> out (avro value, to_opts)
local function pipeline(fn, to_opts, policy, key_serde)
  local id = unique("avro")
  local out = unique("out")
  local in_topic = unique("in")
  to_opts = to_opts or {}
  to_opts.key = to_opts.key or key_serde or "string"
  to_opts.value = "avro"
  local d = testing.driver(sh.app {
    id = id,
    on_error = policy,
    topology = function(b)
      b:stream(in_topic, { key = key_serde or "string", value = "avro" })
       :map_values(fn or function(v) return v end)
       :to(out, to_opts)
    end,
  })
  d.in_topic = in_topic
  return d, out, id
end

local order_schema = {
  type = "record", name = "Order", namespace = "shop",
  fields = {
    { name = "id", type = "long" },
    { name = "price", type = { type = "bytes", logicalType = "decimal", precision = 9, scale = 2 } },
    { name = "day", type = { type = "int", logicalType = "date" } },
    { name = "at", type = { type = "long", logicalType = "timestamp-millis" } },
    { name = "tags", type = { type = "array", items = "string" } },
    { name = "attrs", type = { type = "map", values = "string" } },
    { name = "coupon", type = { "null", "string" }, default = cjson.null },
    { name = "kind", type = { type = "enum", name = "Kind", symbols = { "WEB", "SHOP" } } },
    { name = "raw", type = "bytes" },
  },
}

describe("avro serde", function()
  it("gives records, lists, maps, strings, numbers and logical types their Lua values", function()
    local seen
    local d = pipeline(function(v) seen = v; return v end, { avro = { schema = order_schema } })
    local input = d:input(d.in_topic, { avro = { schema = order_schema } })
    local value = { id = 7, price = "12.50", day = "2024-03-01", at = 1700000000123,
                    tags = { "a", "b" }, attrs = { color = "red" }, coupon = cjson.null,
                    kind = "SHOP", raw = "\0\1" }
    input:pipe("k", value, 1)
    assert.same(value, seen)
    -- a missing nullable field is null
    value.coupon = nil
    input:pipe("k", value, 2)
    assert.equal(cjson.null, seen.coupon)
  end)

  it("registers a given schema once under <topic>-value and writes its id", function()
    local d, out = pipeline(nil, { avro = { schema = cjson.encode(order_schema) } })
    local input = d:input(d.in_topic, { avro = { schema = order_schema } })
    for i = 1, 100 do
      input:pipe("k", { id = i, price = "1.00", day = "2024-01-01", at = i, tags = {}, attrs = {},
                        kind = "WEB", raw = "" }, i)
    end
    local versions = get("/subjects/" .. out .. "-value/versions")
    assert.same({ 1 }, versions)
    local latest = get("/subjects/" .. out .. "-value/versions/1")
    local raw = d:output(out, { key = "string", value = "bytes" }):read_all()
    assert.equal(100, #raw)
    local id = raw[1].value:byte(2) * 16777216 + raw[1].value:byte(3) * 65536 +
               raw[1].value:byte(4) * 256 + raw[1].value:byte(5)
    assert.equal(latest.id, id)
    assert.equal(0, raw[1].value:byte(1))
  end)

  it("derives a writer schema from the records, as ksqlDB does, and widens it", function()
    local d, out = pipeline(nil, nil)
    local input = d:input(d.in_topic, { avro = { schema = { type = "record", name = "In", fields = {
      { name = "n", type = "long" }, { name = "s", type = { "null", "string" }, default = cjson.null },
      { name = "x", type = { "null", "double" }, default = cjson.null } } } } })
    input:pipe("k", { n = 1, s = "a" }, 1)
    input:pipe("k", { n = 2, s = "b" }, 2)
    local subject = "/subjects/" .. out .. "-value/versions"
    assert.same({ 1 }, get(subject))
    local schema = cjson.decode(get(subject .. "/1").schema)
    assert.equal("record", schema.type)
    local names = {}
    for _, f in ipairs(schema.fields) do names[#names + 1] = f.name end
    assert.same({ "n", "s" }, names)
    -- a new field: a new version the subject's BACKWARD level accepts
    input:pipe("k", { n = 3, s = "c", x = 1.5 }, 3)
    assert.same({ 1, 2 }, get(subject))
    local values = {}
    for _, r in ipairs(d:output(out):read_all()) do values[#values + 1] = r.value end
    assert.same({ { n = 1, s = "a" }, { n = 2, s = "b" }, { n = 3, s = "c", x = 1.5 } }, values)
  end)

  it("keeps the Avro types of fields a derived schema takes from an Avro input", function()
    local d, out = pipeline(function(o)
      return { qty = o.qty, price = o.price, at = o.at, note = "new", n = o.qty * 2 }
    end)
    d:input(d.in_topic, { avro = { schema = { type = "record", name = "Typed", fields = {
      { name = "qty", type = "int" },
      { name = "price", type = { type = "bytes", logicalType = "decimal", precision = 9, scale = 2 } },
      { name = "at", type = { "null", { type = "long", logicalType = "timestamp-millis" } } } } } } })
     :pipe("k", { qty = 3, price = "9.99", at = 1700000000000 }, 1)
    local schema = cjson.decode(get("/subjects/" .. out .. "-value/versions/latest").schema)
    local types = {}
    for _, f in ipairs(schema.fields) do types[f.name] = f.type[2] end
    assert.same("int", types.qty)
    assert.same({ type = "bytes", logicalType = "decimal", precision = 9, scale = 2 }, types.price)
    assert.same({ type = "long", logicalType = "timestamp-millis" }, types.at)
    assert.same("string", types.note)
    assert.same("long", types.n)
    assert.same({ qty = 3, price = "9.99", at = 1700000000000, note = "new", n = 6 },
                d:output(out):read().value)
  end)

  it("writes keys under <topic>-key, and under the record's name with RecordNameStrategy", function()
    local key_schema = { type = "record", name = "OrderKey", namespace = "shop",
                         fields = { { name = "id", type = "long" } } }
    local d, out = pipeline(nil, { avro = { key_schema = key_schema,
                                            subject_name_strategy = "RecordNameStrategy" } },
                            nil, "avro")
    d:input(d.in_topic, { avro = { key_schema = key_schema } }):pipe({ id = 5 }, { v = 1 }, 1)
    local r = d:output(out):read()
    assert.same({ id = 5 }, r.key)
    assert.same({ v = 1 }, r.value)
    assert.same({ 1 }, get("/subjects/shop.OrderKey/versions"))
    assert.same({ 1 }, get("/subjects/" .. d.in_topic .. "-key/versions"))
  end)

  it("refuses a schema change the subject's compatibility does not allow, naming subject, " ..
     "field and rule, under on_error", function()
    local d, out = pipeline(function(v)
      if v.n > 1 then v.n = "now a string" end
      return v
    end, nil, "skip")
    local input = d:input(d.in_topic, { avro = { schema = "{\"type\":\"record\",\"name\":\"I\"," ..
                                           "\"fields\":[{\"name\":\"n\",\"type\":\"long\"}]}" } })
    put_config(out .. "-value", "BACKWARD")
    input:pipe("a", { n = 1 }, 1)
    input:pipe("b", { n = 2 }, 2) -- n changes type: refused, skipped
    input:pipe("c", { n = 1 }, 3)
    local keys = {}
    for _, r in ipairs(d:output(out):read_all()) do keys[#keys + 1] = r.key end
    assert.same({ "a", "c" }, keys)
    assert.same({ 1 }, get("/subjects/" .. out .. "-value/versions"))
    local d3, out3 = pipeline(nil, { avro = { schema = { type = "record", name = "I", fields = {
      { name = "n", type = "string" } } } } }, "fail")
    put_config(out3 .. "-value", "BACKWARD")
    local pre = sh.app { id = unique("pre"), topology = function(b)
      b:stream("x", { key = "string", value = "json" }):to(out3, { value = "avro", avro = {
        schema = { type = "record", name = "I", fields = { { name = "n", type = "long" } } } } })
    end }
    testing.driver(pre):input("x"):pipe("k", { n = 1 }, 1)
    local ok, err = pcall(function() d3:input(d3.in_topic, { avro = { schema = { type = "record", name = "I",
      fields = { { name = "n", type = "string" } } } } }):pipe("k", { n = "s" }, 1) end)
    assert.is_false(ok)
    assert.truthy(err:find(out3 .. "-value", 1, true), err)
    assert.truthy(err:find("BACKWARD", 1, true), err)
    assert.truthy(err:find("at n:", 1, true), err)
    assert.truthy(err:find("409", 1, true), err)
  end)

  describe("bad input", function()
    local good
    setup(function()
      local d, out = pipeline(nil, nil)
      d:input(d.in_topic, { avro = { schema = { type = "record", name = "G", fields = {
        { name = "n", type = "long" }, { name = "s", type = "string" } } } } })
       :pipe("k", { n = 1, s = "hello" }, 1)
      good = d:output(out, { key = "string", value = "bytes" }):read().value
    end)

    local function bad_cases()
      local id = good:sub(2, 5)
      return {
        { "magic byte 1", "\1" .. good:sub(2), "magic byte 1, not 0" },
        { "unknown id", "\0\0\1\134\159" .. good:sub(6), "unknown schema id" },
        { "too short", "\0\0", "too few" },
        { "truncated body", good:sub(1, #good - 2), "truncated" },
        { "trailing bytes", good .. "xyz", "3 bytes left over" },
        { "empty body", "\0" .. id, "truncated" },
      }
    end

    it("fails a record with a clear error under on_error = fail", function()
      for _, c in ipairs(bad_cases()) do
        local d = pipeline(nil, nil, "fail")
        local ok, err = pcall(function()
          d:input(d.in_topic, { key = "string", value = "bytes" }):pipe("k", c[2], 1)
        end)
        assert.is_false(ok, c[1])
        assert.truthy(err:find("cannot decode value as avro: ", 1, true), c[1] .. ": " .. err)
        assert.truthy(err:find(c[3], 1, true), c[1] .. ": " .. err)
      end
    end)

    it("skips them and goes on under on_error = skip", function()
      local d, out = pipeline(nil, nil, "skip")
      local raw = d:input(d.in_topic, { key = "string", value = "bytes" })
      for i, c in ipairs(bad_cases()) do
        raw:pipe("bad" .. i, c[2], i)
        raw:pipe("good" .. i, good, i)
      end
      local keys = {}
      for _, r in ipairs(d:output(out):read_all()) do keys[#keys + 1] = r.key end
      assert.same({ "good1", "good2", "good3", "good4", "good5", "good6" }, keys)
    end)

    it("sends them to the dead letter topic under on_error = dead_letter", function()
      local d, _, id = pipeline(nil, nil, "dead_letter")
      local raw = d:input(d.in_topic, { key = "string", value = "bytes" })
      local cases = bad_cases()
      for i, c in ipairs(cases) do raw:pipe("bad" .. i, c[2], i) end
      local dlq = d:output(id .. "-dlq", { key = "string", value = "bytes" }):read_all()
      assert.equal(#cases, #dlq)
      for i, c in ipairs(cases) do assert.equal(c[2], dlq[i].value) end
    end)
  end)
end)
