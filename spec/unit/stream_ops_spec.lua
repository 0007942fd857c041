-- Every stateless stream operation of the DSL, run through the test driver.
-- Inputs are on "in" (string keys, json values) unless a test says otherwise;
-- every expected output is written out by hand.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local function driver(topology, app)
  app = app or {}
  app.id = app.id or "ops"
  app.topology = topology
  return testing.driver(sh.app(app))
end

local function source(b) return b:stream("in", { key = "string", value = "json" }) end

-- Keys and values of a list of output records, as { {k, v}, ... }.
local function pairs_of(records)
  local list = {}
  for i, r in ipairs(records) do list[i] = { r.key, r.value } end
  return list
end

local function read(d, topic, opts) return pairs_of(d:output(topic, opts):read_all()) end

describe("stream operations", function()
  describe("filter", function()
    it("keeps the records whose predicate holds and gets (key, value, rec)", function()
      local seen = {}
      local d = driver(function(b)
        source(b):filter(function(k, v, rec)
          seen[#seen + 1] = { k, v.n, rec.offset }
          return v.n > 1
        end):to("out")
      end)
      local input = d:input("in")
      for n = 1, 3 do input:pipe("k" .. n, { n = n }, n) end
      assert.same({ { "k2", { n = 2 } }, { "k3", { n = 3 } } }, read(d, "out"))
      assert.same({ { "k1", 1, 0 }, { "k2", 2, 1 }, { "k3", 3, 2 } }, seen)
    end)

    it("treats only false and nil as rejection (0 and '' keep the record)", function()
      local d = driver(function(b) source(b):filter(function(_, v) return v.keep end):to("out") end)
      local input = d:input("in")
      input:pipe("a", { keep = 0 }, 1)
      input:pipe("b", { keep = false }, 1)
      input:pipe("c", { keep = "" }, 1)
      input:pipe("d", {}, 1)
      assert.same({ { "a", { keep = 0 } }, { "c", { keep = "" } } }, read(d, "out"))
    end)
  end)

  describe("filter_not", function()
    it("keeps the records whose predicate does not hold", function()
      local d = driver(function(b) source(b):filter_not(function(_, v) return v.n > 1 end):to("out") end)
      local input = d:input("in")
      for n = 1, 3 do input:pipe("k" .. n, { n = n }, n) end
      assert.same({ { "k1", { n = 1 } } }, read(d, "out"))
    end)
  end)

  describe("map", function()
    it("replaces key and value with the two values the function returns", function()
      local d = driver(function(b)
        source(b):map(function(k, v) return v.user, { was = k, n = v.n + 1 } end)
         :to("out", { key = "string", value = "json" })
      end)
      d:input("in"):pipe("k1", { user = "ann", n = 41 }, 7)
      assert.same({ { "ann", { was = "k1", n = 42 } } }, read(d, "out"))
    end)

    it("forgets the key and value formats: to() without opts is an error at load", function()
      local line
      local ok, err = pcall(driver, function(b)
        local s = source(b):map(function(k, v) return k, v end)
        line = debug.getinfo(1, "l").currentline + 1
        s:to("out")
      end)
      assert.is_false(ok)
      assert.equal("spec/unit/stream_ops_spec.lua:" .. line .. ": to('out'): the key format is not " ..
                   "known here; pass { key = \"json\" } (or string, int, long, bytes)", err)
    end)

    it("uses the app's default serdes when to() has no opts after map", function()
      local d = driver(function(b)
        source(b):map(function(k, v) return k .. "!", v end):to("out")
      end, { serdes = { key = "string", value = "json" } })
      d:input("in"):pipe("k", { a = 1 }, 1)
      assert.same({ { "k!", { a = 1 } } }, read(d, "out"))
    end)
  end)

  describe("map_values", function()
    it("gets (value, key, rec), keeps the key and its format", function()
      local d = driver(function(b)
        source(b):map_values(function(v, k, rec)
          return { n = v.n * 10, key = k, offset = rec.offset, ts = rec.timestamp }
        end):to("out", { value = "json" })
      end)
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 100)
      input:pipe("b", { n = 2 }, 200)
      assert.same({
        { "a", { n = 10, key = "a", offset = 0, ts = 100 } },
        { "b", { n = 20, key = "b", offset = 1, ts = 200 } },
      }, read(d, "out"))
    end)

    it("forgets the value format: to() without a value serde is an error at load", function()
      assert.has_error(function()
        driver(function(b) source(b):map_values(function(v) return v end):to("out") end)
      end)
    end)

    it("uses only the first value the function returns", function()
      local d = driver(function(b)
        source(b):map_values(function() return "first", "second" end):to("out", { value = "string" })
      end)
      d:input("in"):pipe("k", {}, 1)
      assert.same({ { "k", "first" } }, read(d, "out"))
    end)
  end)

  describe("select_key", function()
    it("sets the key from (key, value, rec) and keeps the value and its format", function()
      local d = driver(function(b)
        source(b):select_key(function(k, v, rec) return v.user .. "/" .. k .. "/" .. rec.offset end)
         :to("out", { key = "string" })
      end)
      d:input("in"):pipe("k", { user = "ann" }, 1)
      assert.same({ { "ann/k/0", { user = "ann" } } }, read(d, "out"))
    end)

    it("forgets the key format", function()
      assert.has_error(function()
        driver(function(b) source(b):select_key(function(k) return k end):to("out") end)
      end)
    end)
  end)

  describe("flat_map", function()
    it("emits every {k, v} of the returned list, in order", function()
      local d = driver(function(b)
        source(b):flat_map(function(k, v)
          local list = {}
          for i = 1, v.n do list[i] = { k .. i, { i = i } } end
          return list
        end):to("out", { key = "string", value = "json" })
      end)
      local input = d:input("in")
      input:pipe("a", { n = 2 }, 1)
      input:pipe("b", { n = 0 }, 1)
      input:pipe("c", { n = 1 }, 1)
      assert.same({ { "a1", { i = 1 } }, { "a2", { i = 2 } }, { "c1", { i = 1 } } }, read(d, "out"))
    end)

    it("also takes {key=, value=} items, and nil means nothing", function()
      local d = driver(function(b)
        source(b):flat_map(function(k, v)
          if v.none then return nil end
          return { { key = k, value = "x" }, { k, "y" } }
        end):to("out", { key = "string", value = "string" })
      end)
      local input = d:input("in")
      input:pipe("a", { none = true }, 1)
      input:pipe("b", {}, 1)
      assert.same({ { "b", "x" }, { "b", "y" } }, read(d, "out"))
    end)

    it("fails the record when the function returns something other than a list", function()
      local d = driver(function(b)
        source(b):flat_map(function() return "oops" end):to("out", { key = "string", value = "string" })
      end)
      local ok, err = pcall(function() d:input("in"):pipe("a", {}, 1) end)
      assert.is_false(ok)
      assert.truthy(err:find("flat_map must return a list, got string", 1, true), err)
    end)
  end)

  describe("flat_map_values", function()
    it("gets (value, key, rec) and emits each value of the list under the same key", function()
      local d = driver(function(b)
        source(b):flat_map_values(function(v, k, rec)
          return { v.a .. k, v.b .. rec.offset }
        end):to("out", { value = "string" })
      end)
      d:input("in"):pipe("K", { a = "x", b = "y" }, 1)
      assert.same({ { "K", "xK" }, { "K", "y0" } }, read(d, "out"))
    end)

    it("emits nothing for an empty list or nil", function()
      local d = driver(function(b)
        source(b):flat_map_values(function(v) return v.list end):to("out", { value = "json" })
      end)
      local input = d:input("in")
      input:pipe("a", {}, 1)
      input:pipe("b", { list = { 7 } }, 1)
      assert.same({ { "b", 7 } }, read(d, "out"))
    end)
  end)

  describe("foreach", function()
    it("calls the function with (key, value, rec) for every record and ends the stream", function()
      local calls = {}
      local returned = "not called"
      local d = driver(function(b)
        returned = source(b):foreach(function(k, v, rec) calls[#calls + 1] = { k, v.n, rec.timestamp } end)
      end)
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 10)
      input:pipe("b", { n = 2 }, 20)
      assert.same({ { "a", 1, 10 }, { "b", 2, 20 } }, calls)
      assert.is_nil(returned)
    end)
  end)

  describe("peek", function()
    it("sees every record and passes it on unchanged", function()
      local seen = {}
      local d = driver(function(b)
        source(b):peek(function(k, v, rec) seen[#seen + 1] = { k, v.n, rec.offset }; return "ignored" end)
         :to("out")
      end)
      d:input("in"):pipe("a", { n = 1 }, 1)
      assert.same({ { "a", 1, 0 } }, seen)
      assert.same({ { "a", { n = 1 } } }, read(d, "out"))
    end)
  end)

  describe("split", function()
    it("returns one stream per predicate; the first match wins; unmatched records drop", function()
      local d = driver(function(b)
        local big, mid, small = source(b):split(
          function(_, v) return v.n > 10 end,
          function(_, v) return v.n > 5 end,
          function(_, v) return v.n > 0 end)
        big:to("big")
        mid:to("mid")
        small:to("small")
      end)
      local input = d:input("in")
      for _, n in ipairs({ 20, 7, 1, -1, 6, 11 }) do input:pipe("k" .. n, { n = n }, 1) end
      assert.same({ { "k20", { n = 20 } }, { "k11", { n = 11 } } }, read(d, "big"))
      assert.same({ { "k7", { n = 7 } }, { "k6", { n = 6 } } }, read(d, "mid"))
      assert.same({ { "k1", { n = 1 } } }, read(d, "small"))
    end)

    it("passes (key, value, rec) to the predicates", function()
      local seen = {}
      local d = driver(function(b)
        local only = source(b):split(function(k, v, rec)
          seen[#seen + 1] = { k, v.n, rec.offset }
          return true
        end)
        only:to("out")
      end)
      d:input("in"):pipe("a", { n = 3 }, 1)
      assert.same({ { "a", 3, 0 } }, seen)
    end)

    it("with a table of named predicates returns a table of streams by name", function()
      local streams
      local d = driver(function(b)
        streams = source(b):split({
          even = function(_, v) return v.n % 2 == 0 end,
          odd = function(_, v) return v.n % 2 == 1 end,
        })
        streams.even:to("even")
        streams.odd:to("odd")
      end)
      local names = {}
      for name in pairs(streams) do names[#names + 1] = name end
      table.sort(names)
      assert.same({ "even", "odd" }, names)
      local input = d:input("in")
      for n = 1, 4 do input:pipe("k" .. n, { n = n }, 1) end
      assert.same({ { "k2", { n = 2 } }, { "k4", { n = 4 } } }, read(d, "even"))
      assert.same({ { "k1", { n = 1 } }, { "k3", { n = 3 } } }, read(d, "odd"))
    end)

    it("keeps the key and value formats on each branch", function()
      local d = driver(function(b)
        local all = source(b):split(function() return true end)
        all:to("out")
      end)
      d:input("in"):pipe("k", { a = "b" }, 1)
      assert.same({ { "k", { a = "b" } } }, read(d, "out"))
    end)

    it("needs at least one predicate, and functions only", function()
      assert.has_error(function() driver(function(b) source(b):split() end) end)
      assert.has_error(function() driver(function(b) source(b):split("x") end) end)
    end)
  end)

  describe("merge", function()
    it("joins two streams into one, in the order records arrive", function()
      local d = driver(function(b)
        local a = b:stream("a", { key = "string", value = "json" })
        local c = b:stream("c", { key = "string", value = "json" })
        a:merge(c):to("out")
      end)
      d:input("a"):pipe("a1", { from = "a" }, 1)
      d:input("c"):pipe("c1", { from = "c" }, 2)
      d:input("a"):pipe("a2", { from = "a" }, 3)
      assert.same({ { "a1", { from = "a" } }, { "c1", { from = "c" } }, { "a2", { from = "a" } } },
                  read(d, "out"))
    end)

    it("merges the branches of one stream", function()
      local d = driver(function(b)
        local s = source(b)
        local low = s:filter(function(_, v) return v.n < 2 end)
        local high = s:filter(function(_, v) return v.n > 2 end):map_values(function(v)
          return { n = v.n * 100 }
        end)
        low:merge(high):to("out", { value = "json" })
      end)
      local input = d:input("in")
      for n = 1, 3 do input:pipe("k" .. n, { n = n }, 1) end
      assert.same({ { "k1", { n = 1 } }, { "k3", { n = 300 } } }, read(d, "out"))
    end)

    it("forgets a format the two streams do not share", function()
      assert.has_error(function()
        driver(function(b)
          local a = b:stream("a", { key = "string", value = "json" })
          local c = b:stream("c", { key = "string", value = "string" })
          a:merge(c):to("out")
        end)
      end)
    end)

    it("refuses something that is not a stream", function()
      assert.has_error(function() driver(function(b) source(b):merge({}) end) end, nil)
    end)
  end)

  describe("to", function()
    it("encodes with the serdes given, overriding the inherited ones", function()
      local d = driver(function(b) source(b):to("out", { key = "bytes", value = "string" }) end)
      -- the json source decodes to a Lua string, which the string serde writes as is
      d:input("in"):pipe("k", "just a string", 1)
      assert.same({ { "k", "just a string" } }, read(d, "out"))
    end)

    it("inherits the key serde after map_values and writes int keys as 4 bytes", function()
      local d = driver(function(b)
        b:stream("in", { key = "int", value = "json" })
         :map_values(function(v) return v.name end)
         :to("out", { value = "string" })
      end)
      d:input("in"):pipe(258, { name = "x" }, 1)
      assert.same({ { 258, "x" } }, read(d, "out"))
      d:input("in"):pipe(258, { name = "y" }, 1)
      assert.same({ { "\0\0\1\2", "y" } }, read(d, "out", { key = "bytes", value = "bytes" }))
    end)

    it("writes the input timestamp on the output", function()
      local d = driver(function(b) source(b):to("out") end)
      d:input("in"):pipe("k", {}, 123456)
      assert.equal(123456, d:output("out"):read().timestamp)
    end)

    it("writes a nil key and a nil value as null", function()
      local d = driver(function(b)
        source(b):map(function() return nil, nil end):to("out", { key = "string", value = "string" })
      end)
      d:input("in"):pipe("k", {}, 1)
      local r = d:output("out"):read()
      assert.is_nil(r.key)
      assert.is_nil(r.value)
    end)

    it("can be called on the same topic from two branches", function()
      local d = driver(function(b)
        local s = source(b)
        s:filter(function(_, v) return v.n == 1 end):to("out")
        s:filter(function(_, v) return v.n == 2 end):to("out")
      end)
      local input = d:input("in")
      input:pipe("a", { n = 2 }, 1)
      input:pipe("b", { n = 1 }, 1)
      assert.same({ { "a", { n = 2 } }, { "b", { n = 1 } } }, read(d, "out"))
    end)

    it("fans out: a stream written to two topics writes both", function()
      local d = driver(function(b)
        local s = source(b)
        s:to("one")
        s:to("two")
      end)
      d:input("in"):pipe("a", { n = 1 }, 1)
      assert.same({ { "a", { n = 1 } } }, read(d, "one"))
      assert.same({ { "a", { n = 1 } } }, read(d, "two"))
    end)

    it("refuses an unknown serde at load, naming it", function()
      local ok, err = pcall(driver, function(b) source(b):to("out", { value = "xml" }) end)
      assert.is_false(ok)
      assert.truthy(err:find("unknown serde 'xml'", 1, true), err)
    end)

    it("refuses a topic that is not a name", function()
      assert.has_error(function() driver(function(b) source(b):to("") end) end)
      assert.has_error(function() driver(function(b) source(b):to(42) end) end)
    end)
  end)

  describe("print", function()
    -- Replaces io.stdout while fn runs and returns what was written.
    local function capture_stdout(fn)
      local saved, written = io.stdout, {}
      local fake = {
        write = function(_, ...) for _, s in ipairs({ ... }) do written[#written + 1] = s end end,
        flush = function() end,
      }
      io.stdout = fake -- luacheck: ignore 122
      local ok, err = pcall(fn)
      io.stdout = saved -- luacheck: ignore 122
      assert(ok, err)
      return table.concat(written)
    end

    it("prints label, rowtime, key and value as ksqlDB's PRINT does", function()
      local d = driver(function(b) source(b):print("clicks") end)
      local text = capture_stdout(function()
        d:input("in"):pipe("u1", { n = 1 }, 1234567)
        d:input("in"):pipe("u2", { s = "x" }, 86400000 + 5)
      end)
      assert.equal("[clicks] rowtime: 1970/01/01 00:20:34.567 Z, key: u1, value: {\"n\":1}\n" ..
                   "[clicks] rowtime: 1970/01/02 00:00:00.005 Z, key: u2, value: {\"s\":\"x\"}\n", text)
    end)

    it("prints without label, null for a missing key, and plain values", function()
      local d = driver(function(b)
        b:stream("in", { key = "string", value = "string" }):print()
      end)
      local text = capture_stdout(function() d:input("in"):pipe(nil, "hello", 1000) end)
      assert.equal("rowtime: 1970/01/01 00:00:01.000 Z, key: null, value: hello\n", text)
    end)

    it("prints json values as the json serde writes them ('/' not escaped)", function()
      local d = driver(function(b) source(b):print("p") end)
      local text = capture_stdout(function() d:input("in"):pipe("u1", { page = "/home" }, 0) end)
      assert.equal("[p] rowtime: 1970/01/01 00:00:00.000 Z, key: u1, value: {\"page\":\"/home\"}\n", text)
    end)
  end)

  describe("rec", function()
    it("carries timestamp, topic, partition, offset and headers in every user function", function()
      local seen = {}
      local function note(where)
        return function(_, _, rec)
          seen[#seen + 1] = { where, rec.topic, rec.partition, rec.offset, rec.timestamp, rec.headers }
          return true
        end
      end
      local d = driver(function(b)
        source(b):filter(note("filter"))
         :map_values(function(v, k, rec) note("map_values")(k, v, rec); return v end)
         :to("out", { value = "json" })
        b:stream("other", { key = "string", value = "string" }):foreach(note("foreach"))
      end)
      d:input("in"):pipe("a", {}, 111, { { key = "h", value = "v" } })
      d:input("other"):pipe("b", "x", 222)
      d:input("in"):pipe("c", {}, 333)
      local h = { { key = "h", value = "v" } }
      assert.same({
        { "filter", "in", 0, 0, 111, h },
        { "map_values", "in", 0, 0, 111, h },
        { "foreach", "other", 0, 0, 222, {} },
        { "filter", "in", 0, 1, 333, {} },
        { "map_values", "in", 0, 1, 333, {} },
      }, seen)
    end)

    it("gives numbers for timestamp, partition and offset", function()
      local types
      local d = driver(function(b)
        source(b):foreach(function(_, _, rec)
          types = { type(rec.timestamp), type(rec.partition), type(rec.offset) }
        end)
      end)
      d:input("in"):pipe("a", {}, 1)
      assert.same({ "number", "number", "number" }, types)
    end)
  end)

  it("refuses a non-function where a function is expected", function()
    for _, op in ipairs({ "filter", "filter_not", "map", "map_values", "select_key", "flat_map",
                          "flat_map_values", "foreach", "peek" }) do
      local ok, err = pcall(driver, function(b) local s = source(b); s[op](s, "nope") end)
      assert.is_false(ok, op)
      assert.truthy(err:find(op .. " expects a function, got string", 1, true), err)
    end
  end)

  describe("a source piped straight to sinks", function()
    it("passes bytes keys and values on unchanged, with nulls, zero bytes and headers", function()
      local d = driver(function(b)
        local s = b:stream("raw", { key = "bytes", value = "bytes" })
        s:to("copy", { key = "bytes", value = "bytes" })
        s:to("copy2", { key = "bytes", value = "bytes" })
      end)
      local input = d:input("raw")
      input:pipe("k\0a", "v\0\1\255", 1, { { key = "h", value = "x" } })
      input:pipe(nil, "no key", 2)
      input:pipe("tomb", nil, 3)
      for _, topic in ipairs({ "copy", "copy2" }) do
        local out = d:output(topic):read_all()
        assert.same({ "k\0a", "v\0\1\255", 1, { { key = "h", value = "x" } } },
                    { out[1].key, out[1].value, out[1].timestamp, out[1].headers })
        assert.same({ nil, "no key", 2 }, { out[2].key, out[2].value, out[2].timestamp })
        assert.same({ "tomb", nil, 3 }, { out[3].key, out[3].value, out[3].timestamp })
        assert.equal(3, #out)
      end
    end)

    it("still decodes for a sink of another serde", function()
      local d = driver(function(b)
        b:stream("raw", { key = "string", value = "bytes" }):to("as_json", { key = "string", value = "json" })
      end)
      d:input("raw"):pipe("k", "text", 1)
      assert.same({ { "k", "text" } }, read(d, "as_json"))
    end)

    it("decodes for a sink whose topic a function picks, which keeps the headers", function()
      local seen
      local d = driver(function(b)
        b:stream("raw", { key = "bytes", value = "bytes" })
         :to(function(k, v) seen = { k, v }; return "picked" end, { key = "bytes", value = "bytes" })
      end)
      d:input("raw"):pipe("k", "v", 1, { { key = "h", value = "x" } })
      assert.same({ "k", "v" }, seen)
      local out = d:output("picked"):read_all()
      assert.same({ "k", "v", { { key = "h", value = "x" } } }, { out[1].key, out[1].value, out[1].headers })
    end)
  end)
end)
