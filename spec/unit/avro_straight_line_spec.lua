-- The Avro serde's straight-line paths (lua/streamhost/avro.lua): a record
-- builder made per writer schema and a flattener made per derived shape.
-- Each must give what the generic walk gives, and hand every value it does
-- not cover to the generic path: an extra key, another type, an int out of
-- range, a table with a metatable, int64 cdata, nested values. The
-- in-process registry, as the test driver has it.
local ffi = require "ffi"
local cjson = require "cjson"
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local json = require "streamhost.json"

local function registered_fields(subject)
  local url = ffi.string(core.C.sh_ffi_registry_url(nil))
  local p = io.popen("curl -s " .. url .. "/subjects/" .. subject .. "/versions/latest")
  local body = cjson.decode(p:read("*a"))
  p:close()
  local types = {}
  for _, f in ipairs(cjson.decode(body.schema).fields) do
    types[f.name] = type(f.type) == "table" and f.type[2] or f.type
  end
  return types
end

-- A decoded record without its null fields (null and absent encode alike).
local function present(v)
  local t = {}
  for k, x in pairs(v) do
    if x ~= cjson.null then t[k] = x end
  end
  return t
end

describe("avro straight-line paths", function()
  it("decode every record of a schema alike, nested values included", function()
    local schema = { type = "record", name = "Nested", fields = {
      { name = "id", type = "string" }, { name = "n", type = "long" },
      { name = "maybe", type = { "null", "double" } },
      { name = "flag", type = "boolean" },
      { name = "inner", type = { type = "record", name = "Inner", fields = {
        { name = "a", type = "int" }, { name = "tags", type = { type = "array", items = "string" } } } } },
      { name = "after", type = "string" } } }
    local enc = serde.encoder("avro", { topic = "straight-nested", avro = { schema = schema } })
    local dec = serde.decoder("avro", { topic = "straight-nested" })
    for i = 1, 300 do -- past LuaJIT's hot counters, so traces are made
      local v = { id = "k" .. i, n = i, maybe = i % 2 == 0 and i / 4 or nil, flag = i % 3 == 0,
                  inner = { a = -i, tags = { "x", tostring(i) } }, after = "end" .. i }
      local got = dec(enc(v))
      assert.equal("k" .. i, got.id)
      assert.equal(i, got.n)
      if i % 2 == 0 then assert.equal(i / 4, got.maybe) else assert.equal(cjson.null, got.maybe) end
      assert.equal(i % 3 == 0, got.flag)
      assert.same({ a = -i, tags = { "x", tostring(i) } }, got.inner)
      assert.equal("end" .. i, got.after)
    end
  end)

  -- Also: a string decoded stays alive while its record is built, so a
  -- collection then does not garble the fields (3 runs in 20 failed before
  -- the decoder anchored its input)
  it("decode a record wider than the builder's 150 locals through the generic walk", function()
    local fields, v = {}, {}
    for i = 1, 160 do
      fields[i] = { name = "f" .. i, type = i % 2 == 0 and "long" or "string" }
      v["f" .. i] = i % 2 == 0 and i or ("s" .. i)
    end
    local schema = { type = "record", name = "Wide", fields = fields }
    local enc = serde.encoder("avro", { topic = "straight-wide", avro = { schema = schema } })
    local dec = serde.decoder("avro", { topic = "straight-wide" })
    local wrong = {}
    for _ = 1, 3000 do
      local got = dec(enc(v))
      for k, x in pairs(v) do
        if got[k] ~= x then wrong[#wrong + 1] = k .. "=" .. tostring(got[k]) end
      end
    end
    assert.same({}, wrong)
  end)

  it("encode a derived shape as the generic path does, and fall back where it must", function()
    local enc = serde.encoder("avro", { topic = "straight-derived" })
    local dec = serde.decoder("avro", { topic = "straight-derived" })
    for i = 1, 300 do
      assert.same({ id = "k" .. i, n = i * 2 }, present(dec(enc({ id = "k" .. i, n = i * 2 }, {}))))
    end
    -- a field the shape lacks: derived again, the new field in the schema
    assert.same({ id = "a", n = 1, extra = "e" }, present(dec(enc({ id = "a", n = 1, extra = "e" }, {}))))
    assert.equal("string", registered_fields("straight-derived-value").extra)
    -- another type for n: a double widens the field
    assert.same({ id = "b", n = 1.5 }, present(dec(enc({ id = "b", n = 1.5 }, {}))))
    -- null and absent fields read as null
    local got = dec(enc({ id = cjson.null, n = 3 }, {}))
    assert.equal(cjson.null, got.id)
    assert.equal(3, got.n)
    -- an unknown key whose value is null is absent, as in the generic path
    assert.same({ id = "c", n = 4 }, present(dec(enc({ id = "c", n = 4, ghost = cjson.null }, {}))))
    -- int64 cdata and a lazy JSON value take the generic path
    assert.same({ id = "d", n = 5 }, present(dec(enc({ id = "d", n = 5LL }, {}))))
    assert.same({ id = "e", n = 6 }, present(dec(enc(json.decode('{"id":"e","n":6}'), {}))))
  end)

  it("keep an int field's range check", function()
    local schema = { type = "record", name = "Small", fields = {
      { name = "q", type = "int" }, { name = "s", type = "string" } } }
    local input = serde.encoder("avro", { topic = "straight-int-in", avro = { schema = schema } })
    local read = serde.decoder("avro", { topic = "straight-int-in" })
    read(input({ q = 1, s = "x" })) -- q is int in an input: a derived q stays int
    local enc = serde.encoder("avro", { topic = "straight-int-out" })
    local dec = serde.decoder("avro", { topic = "straight-int-out" })
    for i = 1, 300 do assert.same({ q = i, s = "x" }, dec(enc({ q = i, s = "x" }, {}))) end
    assert.equal("int", registered_fields("straight-int-out-value").q)
    assert.same({ q = 2 ^ 40, s = "y" }, dec(enc({ q = 2 ^ 40, s = "y" }, {})))
    assert.equal("long", registered_fields("straight-int-out-value").q)
  end)

  -- The generic walk's tape starts at 64 values and doubles: the value that
  -- lands on the slot that grows it must be kept, whatever its kind (a CDC
  -- envelope is past 64 values: its snapshot row lost a column to this).
  it("keep the scalar that grows the value tape, of every kind", function()
    for _, kind in ipairs({ { "double", 1.5 }, { "boolean", true }, { "long", 2LL ^ 40 } }) do
      local fields = {}
      local v = {}
      for i = 1, 100 do -- 201 values: the tape grows twice, each time at a field's value
        fields[i] = { name = "f" .. i, type = kind[1] }
        v["f" .. i] = kind[2]
      end
      local topic = "straight-grow-" .. kind[1]
      local schema = { type = "record", name = "Wide", fields = fields }
      local enc = serde.encoder("avro", { topic = topic, avro = { schema = schema } })
      local got = present(serde.decoder("avro", { topic = topic })(enc(v)))
      local want = {}
      for i = 1, 100 do want["f" .. i] = type(kind[2]) == "cdata" and tonumber(kind[2]) or kind[2] end
      assert.same(want, got, kind[1])
    end
  end)
end)
