-- The app's on_error policy for a record that does not decode or whose user
-- function raises: "fail" (the default), "skip" and "dead_letter".
local sh = require "streamhost"
local testing = require "streamhost.testing"

local SPEC = "spec/unit/error_policy_spec.lua"

-- Line of the `error("boom")` in the topology below, found by reading this
-- file so the expected message does not depend on the code under test.
local BOOM_LINE
do
  local n = 0
  for line in io.lines(SPEC) do
    n = n + 1
    if line:find('error("boom")', 1, true) and line:find("BOOM", 1, true) then BOOM_LINE = n end
  end
end

-- in (string key, json value) -> out (json); a value with bad = true raises.
local function app(policy, id)
  return sh.app {
    id = id or "pol",
    on_error = policy,
    topology = function(b)
      b:stream("in", { key = "string", value = "json" })
       :map_values(function(v)
         if v.bad then error("boom") end -- BOOM
         return v
       end)
       :to("out", { value = "json" })
    end,
  }
end

local function keys(records)
  local list = {}
  for i, r in ipairs(records) do list[i] = r.key end
  return list
end

local function header_map(headers)
  local map = {}
  for _, h in ipairs(headers) do map[h.key] = h.value end
  return map
end

-- Runs a Lua chunk in a child luajit and returns its stderr (the host's log).
local function stderr_of(code)
  local path, err_path = os.tmpname(), os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(code)
  f:close()
  local ok = os.execute("luajit " .. path .. " >/dev/null 2>" .. err_path)
  local e = assert(io.open(err_path))
  local text = e:read("*a")
  e:close()
  os.remove(path)
  os.remove(err_path)
  return text, ok
end

describe("on_error", function()
  describe("fail (the default)", function()
    it("raises from pipe with topic, partition, offset, the error and the Lua traceback", function()
      local d = testing.driver(app(nil))
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 1)
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() input:pipe("b", { bad = true }, 2) end)
      assert.is_false(ok)
      local head = SPEC .. ":" .. line .. ": record in [0] @ 1 failed (on_error = fail): " ..
                   SPEC .. ":" .. BOOM_LINE .. ": boom\nstack traceback:"
      assert.equal(head, err:sub(1, #head))
      assert.truthy(err:find(SPEC .. ":" .. BOOM_LINE .. ": in function", 1, true), err)
    end)

    it("keeps the outputs written before the failing record", function()
      local d = testing.driver(app(nil))
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 1)
      input:pipe("b", { n = 2 }, 2)
      assert.has_error(function() input:pipe("c", { bad = true }, 3) end)
      assert.same({ "a", "b" }, keys(d:output("out"):read_all()))
    end)

    it("is what on_error = \"fail\" does too", function()
      local d = testing.driver(app("fail"))
      local ok, err = pcall(function() d:input("in"):pipe("a", { bad = true }, 1) end)
      assert.is_false(ok)
      assert.truthy(err:find("record in [0] @ 0 failed (on_error = fail)", 1, true), err)
    end)

    it("reports an error value that is not a string", function()
      local d = testing.driver(sh.app {
        id = "tbl",
        topology = function(b)
          b:stream("in", { key = "string", value = "string" }):foreach(function() error({ code = 1 }) end)
        end,
      })
      local ok, err = pcall(function() d:input("in"):pipe("a", "x", 1) end)
      assert.is_false(ok)
      assert.truthy(err:find("record in [0] @ 0 failed (on_error = fail): table: ", 1, true), err)
    end)

    it("fails a value that does not decode, naming the serde", function()
      local d = testing.driver(app(nil))
      local ok, err = pcall(function()
        d:input("in", { key = "string", value = "bytes" }):pipe("a", "not json", 1)
      end)
      assert.is_false(ok)
      assert.truthy(err:find("record in [0] @ 0 failed (on_error = fail): cannot decode value as json", 1,
                             true), err)
    end)

    it("writes no dead letter", function()
      local d = testing.driver(app(nil))
      assert.has_error(function() d:input("in"):pipe("a", { bad = true }, 1) end)
      assert.same({}, d:output("pol-dlq", { key = "bytes", value = "bytes" }):read_all())
    end)
  end)

  describe("skip", function()
    it("drops a record whose function raises and processes the later ones", function()
      local d = testing.driver(app("skip"))
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 1)
      input:pipe("b", { bad = true }, 2)
      input:pipe("c", { n = 3 }, 3)
      input:pipe("d", { bad = true }, 4)
      input:pipe("e", { n = 5 }, 5)
      assert.same({ "a", "c", "e" }, keys(d:output("out"):read_all()))
      assert.same({}, d:output("pol-dlq", { key = "bytes", value = "bytes" }):read_all())
    end)

    it("drops a value that does not decode as json and processes the later ones", function()
      local d = testing.driver(app("skip"))
      local raw = d:input("in", { key = "string", value = "bytes" })
      raw:pipe("a", '{"n":1}', 1)
      raw:pipe("b", "not json", 2)
      raw:pipe("c", '{"n":3}', 3)
      local out = d:output("out"):read_all()
      assert.same({ "a", "c" }, keys(out))
      assert.same({ n = 3 }, out[2].value)
    end)

    it("drops a record the sink's serde cannot encode", function()
      local d = testing.driver(sh.app {
        id = "enc",
        on_error = "skip",
        topology = function(b)
          b:stream("in", { key = "string", value = "json" })
           :map_values(function(v) return v.s end)
           :to("out", { value = "string" })
        end,
      })
      local input = d:input("in")
      input:pipe("a", { s = "ok" }, 1)
      input:pipe("b", { s = { "not", "a", "string" } }, 2)
      input:pipe("c", { s = "fine" }, 3)
      assert.same({ "a", "c" }, keys(d:output("out"):read_all()))
    end)

    it("logs each skipped record with where it was and how many so far", function()
      local log = stderr_of([[
        local sh = require "streamhost"
        local testing = require "streamhost.testing"
        local d = testing.driver(sh.app {
          id = "logged", on_error = "skip",
          topology = function(b)
            b:stream("in", { key = "string", value = "json" })
             :foreach(function(_, v) if v.bad then error("bad record", 0) end end)
          end,
        })
        local input = d:input("in")
        input:pipe("a", { bad = false }, 1)
        input:pipe("b", { bad = true }, 2)
        input:pipe("c", { bad = true }, 3)
      ]])
      assert.truthy(log:find("skipped record in [0] @ 1 (on_error = skip, 1 skipped): bad record", 1,
                             true), log)
      assert.truthy(log:find("skipped record in [0] @ 2 (on_error = skip, 2 skipped): bad record", 1,
                             true), log)
      assert.falsy(log:find("@ 0", 1, true), log)
    end)
  end)

  describe("dead_letter", function()
    it("writes the original bytes to <id>-dlq with headers naming where and why", function()
      local d = testing.driver(app("dead_letter", "clicks"))
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 10)
      input:pipe("b", { bad = true }, 20, { { key = "trace", value = "t-1" } })
      input:pipe("c", { n = 3 }, 30)
      assert.same({ "a", "c" }, keys(d:output("out"):read_all()))
      local dlq = d:output("clicks-dlq", { key = "bytes", value = "bytes" }):read_all()
      assert.same({ {
        key = "b",
        value = '{"bad":true}',
        timestamp = 20,
        headers = {
          { key = "trace", value = "t-1" },
          { key = "__streamhost.errors.topic", value = "in" },
          { key = "__streamhost.errors.partition", value = "0" },
          { key = "__streamhost.errors.offset", value = "1" },
          { key = "__streamhost.errors.message", value = SPEC .. ":" .. BOOM_LINE .. ": boom" },
        },
      } }, dlq)
    end)

    it("writes one dead letter per failing record, in order", function()
      local d = testing.driver(app("dead_letter"))
      local input = d:input("in")
      for i = 0, 4 do input:pipe("k" .. i, { bad = i % 2 == 1 }, i) end
      local dlq = d:output("pol-dlq", { key = "string", value = "json" }):read_all()
      assert.same({ "k1", "k3" }, keys(dlq))
      assert.equal("1", header_map(dlq[1].headers)["__streamhost.errors.offset"])
      assert.equal("3", header_map(dlq[2].headers)["__streamhost.errors.offset"])
      assert.same({ bad = true }, dlq[2].value)
      assert.same({ "k0", "k2", "k4" }, keys(d:output("out"):read_all()))
    end)

    it("keeps a null key null", function()
      local d = testing.driver(app("dead_letter"))
      d:input("in"):pipe(nil, { bad = true }, 1)
      local r = d:output("pol-dlq", { key = "bytes", value = "bytes" }):read()
      assert.is_nil(r.key)
      assert.equal('{"bad":true}', r.value)
    end)

    it("writes a value that does not decode as json, byte for byte", function()
      local d = testing.driver(app("dead_letter"))
      local raw = d:input("in", { key = "string", value = "bytes" })
      raw:pipe("a", "not json\0\255", 5)
      raw:pipe("b", '{"n":2}', 6)
      local dlq = d:output("pol-dlq", { key = "bytes", value = "bytes" }):read_all()
      assert.equal(1, #dlq)
      assert.equal("not json\0\255", dlq[1].value)
      local h = header_map(dlq[1].headers)
      assert.equal("0", h["__streamhost.errors.offset"])
      assert.truthy(h["__streamhost.errors.message"]:find("^cannot decode value as json: "),
                    h["__streamhost.errors.message"])
      assert.same({ "b" }, keys(d:output("out"):read_all()))
    end)

    it("sends a record whose filter predicate raises", function()
      local d = testing.driver(sh.app {
        id = "pred",
        on_error = "dead_letter",
        topology = function(b)
          b:stream("in", { key = "string", value = "string" })
           :filter(function(_, v) return v:match("^ok") or error("not ok: " .. v, 0) end)
           :to("out")
        end,
      })
      local input = d:input("in")
      input:pipe("a", "ok 1", 1)
      input:pipe("b", "nope", 2)
      assert.same({ "a" }, keys(d:output("out"):read_all()))
      local dlq = d:output("pred-dlq", { key = "string", value = "string" }):read_all()
      assert.equal(1, #dlq)
      assert.equal("nope", dlq[1].value)
      assert.equal("not ok: nope", header_map(dlq[1].headers)["__streamhost.errors.message"])
    end)

    it("logs each dead letter", function()
      local log = stderr_of([[
        local sh = require "streamhost"
        local testing = require "streamhost.testing"
        local d = testing.driver(sh.app {
          id = "dl", on_error = "dead_letter",
          topology = function(b)
            b:stream("in", { key = "string", value = "string" }):foreach(function() error("no", 0) end)
          end,
        })
        d:input("in"):pipe("a", "x", 1)
      ]])
      assert.truthy(log:find("record in [0] @ 0 sent to dl-dlq (1 so far): no", 1, true), log)
    end)
  end)
  -- What C calls once per batch: process(records, n) returns how many were
  -- handled; fewer than n means stop. Built here from raw bytes, so a value
  -- that does not decode reaches the policy without the driver's encoders.
  describe("in the batch function C calls", function()
    local ffi = require "ffi"
    local core = require "streamhost.core"
    local runner = require "streamhost.runner"

    local function batch_of(values)
      local records = core.record_array_t(#values)
      for i, v in ipairs(values) do
        local r = records[i - 1]
        r.key, r.key_len = "k" .. (i - 1), #("k" .. (i - 1))
        r.value, r.value_len = v, #v
        r.timestamp, r.offset, r.partition, r.source = 100 + i, 40 + i, 2, 0
        r.headers, r.header_count = nil, 0
      end
      return records, values -- values anchors the strings
    end

    local function instance(policy)
      local ctx = ffi.gc(core.C.sh_ffi_ctx_new_capture(), core.C.sh_ffi_ctx_destroy)
      local inst = runner.instantiate(app(policy), ctx)
      return inst, ctx
    end

    local function drain(ctx, topic)
      local sink = core.C.sh_ffi_sink_add(ctx, topic, 0)
      local out, r = {}, ffi.new("sh_ffi_record_t[1]")
      while core.C.sh_ffi_sink_capture_next(ctx, sink, r) == core.C.SH_OK do
        out[#out + 1] = ffi.string(r[0].value, r[0].value_len)
      end
      return out
    end

    local BATCH = { '{"n":1}', "not json", '{"n":3}' }

    it("fail: stops at the undecodable record and says where", function()
      local inst, ctx = instance("fail")
      local records, anchor = batch_of(BATCH)
      local done, err = inst.process(records, 3)
      assert.equal(1, done)
      assert.truthy(err:find("record in [2] @ 42 failed (on_error = fail): cannot decode value as json",
                             1, true), err)
      assert.same({ '{"n":1}' }, drain(ctx, "out"))
      assert.equal(3, #anchor)
    end)

    it("skip: handles the whole batch without the undecodable record", function()
      local inst, ctx = instance("skip")
      local records, anchor = batch_of(BATCH)
      assert.equal(3, inst.process(records, 3))
      assert.same({ '{"n":1}', '{"n":3}' }, drain(ctx, "out"))
      assert.equal(3, #anchor)
    end)

    it("dead_letter: writes the undecodable bytes to <id>-dlq and goes on", function()
      local inst, ctx = instance("dead_letter")
      local records, anchor = batch_of(BATCH)
      assert.equal(3, inst.process(records, 3))
      assert.same({ '{"n":1}', '{"n":3}' }, drain(ctx, "out"))
      assert.same({ "not json" }, drain(ctx, "pol-dlq"))
      assert.equal(3, #anchor)
    end)
  end)

  -- A count reads no value, only whether there is one: its source checks
  -- the bytes without decoding them (topology.lua), and must refuse what
  -- decoding refuses.
  describe("a count, whose values are checked, not decoded", function()
    local function count_app(policy)
      return sh.app {
        id = "cnt",
        on_error = policy,
        topology = function(b)
          b:stream("in", { key = "string", value = "json" })
           :group_by_key()
           :count({ name = "counts" })
           :to_stream()
           :to("out", { value = "json" })
        end,
      }
    end

    local function counts(d)
      local list = {}
      for i, r in ipairs(d:output("out"):read_all()) do list[i] = r.key .. "=" .. r.value end
      return list
    end

    it("fails a truncated object, naming the serde", function()
      local d = testing.driver(count_app(nil))
      local raw = d:input("in", { key = "string", value = "bytes" })
      raw:pipe("a", '{"n":1}', 1)
      local ok, err = pcall(function() raw:pipe("a", '{"n":', 2) end)
      assert.is_false(ok)
      assert.truthy(err:find("record in [0] @ 1 failed (on_error = fail): cannot decode value as json",
                             1, true), err)
    end)

    it("skips bad values and counts every other one, scalars and null included", function()
      local d = testing.driver(count_app("skip"))
      local raw = d:input("in", { key = "string", value = "bytes" })
      raw:pipe("a", '{"n":1}', 1)
      raw:pipe("a", '{"n":1,}', 2) -- a trailing comma
      raw:pipe("a", "not json", 3)
      raw:pipe("a", '{"n":1} {}', 4) -- content after the object
      raw:pipe("a", ' {"n" : [1, {"m": 2}]} ', 5)
      raw:pipe("a", "null", 6)
      raw:pipe("a", "7", 7)
      raw:pipe("b", '["x"]', 8)
      assert.same({ "a=1", "a=2", "a=3", "a=4", "b=1" }, counts(d))
      assert.equal(4, d:store("counts"):get("a"))
      assert.equal(1, d:store("counts"):get("b"))
    end)

    it("writes the bad values to <id>-dlq, byte for byte", function()
      local d = testing.driver(count_app("dead_letter"))
      local raw = d:input("in", { key = "string", value = "bytes" })
      raw:pipe("a", '{"n":1', 1)
      raw:pipe("a", '{"n":2}', 2)
      local dlq = d:output("cnt-dlq", { key = "bytes", value = "bytes" }):read_all()
      assert.equal(1, #dlq)
      assert.equal('{"n":1', dlq[1].value)
      assert.truthy(header_map(dlq[1].headers)["__streamhost.errors.message"]
                    :find("^cannot decode value as json: "))
      assert.same({ "a=1" }, counts(d))
    end)

    it("decodes the values for a sibling that reads them", function()
      local d = testing.driver(sh.app {
        id = "both",
        topology = function(b)
          local s = b:stream("in", { key = "string", value = "json" })
          s:group_by_key():count({ name = "counts" }):to_stream():to("out", { value = "json" })
          s:map_values(function(v) return v.n end):to("ns", { value = "json" })
        end,
      })
      d:input("in"):pipe("a", { n = 5 }, 1)
      assert.same({ "a=1" }, counts(d))
      assert.equal(5, d:output("ns"):read().value)
    end)
  end)
end)

describe("an aggregate JSON cannot hold (NaN, Infinity)", function()
  -- kept, it would fail every flush after it and hold the task's offsets
  -- for good; refused, it is the one record's error, under on_error
  local function summing(windowed)
    return sh.app { id = "nan", on_error = "skip", topology = function(b)
      local g = b:stream("in", { key = "string", value = "json" }):group_by_key()
      if windowed then g = g:window(sh.tumbling { size = "1m" }) end
      g:sum(function(v) return v.div and v.n / v.div or v.n end, { name = "s" })
       :to_stream():to("out", { value = "json" })
    end }
  end

  for _, windowed in ipairs({ false, true }) do
    it("is refused for its record, and the store goes on" .. (windowed and " (windowed)" or ""),
       function()
      local d = testing.driver(summing(windowed))
      local input = d:input("in")
      input:pipe("a", { n = 1 }, 1000)
      input:pipe("a", { n = 0, div = 0 }, 2000) -- 0/0: NaN
      input:pipe("a", { n = 1, div = 0 }, 3000) -- 1/0: Infinity
      input:pipe("a", { n = 2 }, 4000)
      local values = {}
      for _, r in ipairs(d:output("out"):read_all()) do values[#values + 1] = r.value end
      assert.same({ 1, 3 }, values)
      assert.equal(2, d.inst.counts().skipped)
      d:close()
    end)
  end
end)
