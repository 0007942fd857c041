-- The json serde's lazy values (lua/streamhost/json.lua): what an app sees
-- is what cjson would have given it, field by field, and what it does not
-- change goes out as it came in.
local sh = require "streamhost"
local testing = require "streamhost.testing"
local json = require "streamhost.json"
local serde = require "streamhost.serde"

local function driver(topology)
  return testing.driver(sh.app { id = "lazy", topology = topology })
end

describe("json values", function()
  local doc = '{"id":"k\\"1","n":3,"f":1.5,"t":null,"b":true,"no":false,"o":{"x":[1,2]},"a":[]}'

  it("read like cjson's tables, field by field", function()
    local v = json.decode(doc)
    assert.is_true(json.is_lazy(v))
    assert.same({ 'k"1', 3, 1.5, serde.null, true, false }, { v.id, v.n, v.f, v.t, v.b, v.no })
    assert.is_nil(v.missing)
    assert.is_nil(v[1])
    assert.is_true(json.is_lazy(v)) -- scalars leave it lazy
  end)

  it("read scalars of every form as cjson does (the index of plain ones and the slow way)", function()
    local text = ' { "i" : 12 , "neg":-0, "big":1234567890123456, "e":1e3, "f":-2E-2, ' ..
                 '"s":"y z" , "esc":"a\\u00e9\\t", "b":false, "n":null, "i":99, "d":[1] }  '
    local v, plain = json.decode(text), json.cjson.decode(text)
    for _, name in ipairs({ "neg", "big", "e", "f", "s", "esc", "b" }) do
      assert.equal(plain[name], v[name])
    end
    assert.equal(12, v.i) -- the first of two, as simdjson finds it
    assert.equal(1 / -0, 1 / v.neg)
    assert.equal(serde.null, v.n)
    assert.same({ 1 }, v.d)
  end)

  it("are walked by pairs and next with every field", function()
    local v = json.decode('{"a":1,"b":"two"}')
    local seen = {}
    for k, x in pairs(v) do seen[k] = x end
    assert.same({ a = 1, b = "two" }, seen)
    assert.is_false(json.is_lazy(v))
    assert.is_not_nil(next(json.decode('{"a":1}')))
    assert.is_nil(next(json.decode('{}')))
  end)

  it("become plain tables when written to, and encode the change", function()
    local v = json.decode('{"a":1,"b":2}')
    v.a = 5
    assert.is_false(json.is_lazy(v))
    assert.same({ a = 5, b = 2 }, json.cjson.decode(json.encode(v)))
    local w = json.decode('{"o":{"x":1}}')
    w.o.x = 7 -- a nested table read out of a lazy value is the value's own
    assert.same({ o = { x = 7 } }, json.cjson.decode(json.encode(w)))
  end)

  it("encode unchanged as their input bytes", function()
    local text = '{ "b" : 1,  "a" : [1, 2] }'
    assert.equal(text, json.encode(json.decode(text)))
    assert.equal('{"in":' .. text .. '}', json.encode({ ["in"] = json.decode(text) }))
  end)

  it("refuse malformed objects when decoded", function()
    for _, bad in ipairs({ "{", '{"a":1', '{"a":1} x', '{"a":1}}', '{"a" 1}', '{"a":1,}',
                           "not json", "" }) do
      assert.has_error(function() json.decode(bad) end)
    end
  end)

  it("decode arrays and scalars as cjson does", function()
    assert.same({ 1, 2 }, json.decode("[1,2]"))
    assert.equal(5, json.decode("5"))
    assert.equal("s", json.decode('"s"'))
  end)

  it("encode as cjson does: integers exact, %.14g otherwise, sparse arrays as objects", function()
    assert.equal('[1700000000123,9007199254740992,1.5,0.1]',
                 json.encode({ 1700000000123, 9007199254740992, 1.5, 0.1 }))
    assert.equal('[0,-0,7,-7,99999999999999,-123456789012345,4.9406564584125e-324]',
                 json.encode({ 0, -0.0, 7.0, -7, 99999999999999, -123456789012345, 5e-324 }))
    assert.equal("{}", json.encode({}))
    assert.same({ ["1"] = 1, ["20"] = 2 }, json.cjson.decode(json.encode({ [1] = 1, [20] = 2 })))
    assert.equal('"a/b\\"\\n\\u0001"', json.encode('a/b"\n\1'))
    assert.equal('[null,true]', json.encode({ serde.null, true }))
    assert.has_error(function() json.encode({ f = print }) end)
    assert.has_error(function() json.encode(0 / 0) end)
  end)

  it("read again after another value was opened, keep their fields and their changes", function()
    local row = json.decode('{"id":"k1","n":7,"tags":[1],"none":null}')
    for i = 1, 3 do
      local other = json.decode('{"id":"other' .. i .. '","n":' .. i .. '}')
      assert.equal("other" .. i, other.id)
      assert.equal("k1", row.id)
      assert.equal(7, row.n)
      assert.equal(serde.null, row.none)
      assert.is_nil(row.missing)
    end
    assert.is_true(json.is_lazy(row))
    row.n = 8 -- a plain table from here on, the memo gone with the bytes
    assert.is_false(json.is_lazy(row))
    assert.equal(8, row.n)
    assert.same({ id = "k1", n = 8, tags = { 1 }, none = serde.null }, json.cjson.decode(json.encode(row)))
  end)

  it("escape what JSON strings must, and only that", function()
    assert.equal('"\\\\ \\u007f \\t \\u001f é"', json.encode("\\ \127 \t \31 é"))
    assert.equal('{"k\\"":"plain"}', json.encode({ ['k"'] = "plain" }))
  end)

  -- integers go through %d, not %.14g; the output is the same below 1e14
  it("write integers as %.14g would below 1e14, exactly above, and zero with its sign", function()
    assert.equal('[0,-0,7,-42,99999999999999,-99999999999999,100000000000000,2147483648]',
                 json.encode({ 0, -0.0, 7, -42, 99999999999999, -99999999999999, 1e14, 2 ^ 31 }))
    assert.equal('[9.3e+18,-9.3e+18,0.5,-1.25e-07,1e+300]',
                 json.encode({ 9.3e18, -9.3e18, 0.5, -1.25e-7, 1e300 }))
    for _, n in ipairs({ 1, -1, 12345, 2 ^ 53, 1e13 + 1, 4294967296 }) do
      assert.equal(json.cjson.decode("[" .. json.encode(n) .. "]")[1], n)
    end
  end)

  -- object keys are framed once per name and kept: the cache must not
  -- change what is written, nor grow without bound
  it("write object keys the same from their cache, escaped ones too, past its bound", function()
    for _ = 1, 3 do
      assert.equal('{"k\\"":1}', json.encode({ ['k"'] = 1 }))
      assert.equal('{"a\\nb":{"a\\nb":"x"}}', json.encode({ ["a\nb"] = { ["a\nb"] = "x" } }))
      assert.equal('{"1.5":1}', json.encode({ [1.5] = 1 }))
    end
    for i = 1, 5000 do
      local key = "key" .. i
      assert.equal('{"' .. key .. '":' .. i .. '}', json.encode({ [key] = i }))
    end
    assert.equal('{"key1":true}', json.encode({ key1 = true }))
  end)

  it("stay readable after the batch that made them", function()
    local kept = {}
    local d = driver(function(b)
      b:stream("in", { key = "string", value = "json" })
       :peek(function(_, v) kept[#kept + 1] = v end)
       :to("out")
    end)
    local input = d:input("in")
    for i = 1, 50 do input:pipe("k", { n = i, s = string.rep("x", i) }, i) end
    for i = 1, 50 do
      assert.equal(i, kept[i].n)
      assert.equal(string.rep("x", i), kept[i].s)
    end
    local out = d:output("out"):read_all()
    assert.same({ n = 50, s = string.rep("x", 50) }, out[50].value)
  end)

  it("keep their bytes' place in the arena: offsets past the first value, values past its size", function()
    local ffi = require "ffi"
    local values, texts = {}, {}
    -- a few small ones, one larger than an arena (256 KiB), more small ones
    for i = 1, 12 do
      local pad = i == 6 and string.rep("y", 300 * 1024) or string.rep("x", i * 7)
      texts[i] = string.format('{"i":%d,"pad":"%s"}', i, pad)
      local bytes = ffi.new("char[?]", #texts[i])
      ffi.copy(bytes, texts[i], #texts[i])
      values[i] = json.decode_ptr(bytes, #texts[i])
    end
    for i = 1, 12 do
      assert.is_true(json.is_lazy(values[i]))
      assert.equal(i, values[i].i)
      assert.equal(texts[i], json.encode(values[i]))
    end
    local walked = {}
    for k, v in pairs(values[7]) do walked[k] = v end
    assert.same({ i = 7, pad = string.rep("x", 49) }, walked)
  end)

  it("fail a record whose value is not json under on_error", function()
    local d = testing.driver(sh.app {
      id = "lazybad", on_error = "skip",
      topology = function(b)
        b:stream("in", { key = "string", value = "json" }):map_values(function(v) return v.n end)
         :to("out", { value = "json" })
      end,
    })
    d:input("in", { value = "bytes" }):pipe("k", '{"n":', 1)
    d:input("in", { value = "bytes" }):pipe("k", '{"n":2}', 2)
    assert.same({ 2 }, { d:output("out"):read().value })
    assert.equal(1, d.inst.skipped)
  end)
end)
