-- Punctuators (b:every) through the test driver: wall-clock ones fire from
-- d:advance_wall_clock, stream-time ones as piped timestamps advance; both
-- read and write stores. Due times worked out by hand in the comments.
local sh = require "streamhost"
local testing = require "streamhost.testing"

describe("b:every", function()
  it("fires wall-clock timers from advance_wall_clock, once however late", function()
    local fired = {}
    local d = testing.driver(sh.app { id = "wall", topology = function(b)
      b:stream("in", { key = "string", value = "long" })
      b:every("10s", function(now)
        fired[#fired + 1] = now
        return { { "tick", now } }
      end, { time = "wall" }):to("ticks", { key = "string", value = "long" })
    end })
    -- the driver's clock starts at 0: first due at 10000
    d:advance_wall_clock(5000)    -- 5000: not due
    assert.same({}, fired)
    d:advance_wall_clock(5000)    -- 10000: fires, next due 20000
    d:advance_wall_clock(25000)   -- 35000: overdue since 20000, fires once; next due 40000
    d:advance_wall_clock(4999)    -- 39999: not due
    d:advance_wall_clock(1)       -- 40000: fires
    assert.same({ 10000, 35000, 40000 }, fired)
    local out = {}
    for _, r in ipairs(d:output("ticks"):read_all()) do out[#out + 1] = { r.key, r.value, r.timestamp } end
    assert.same({ { "tick", 10000, 10000 }, { "tick", 35000, 35000 }, { "tick", 40000, 40000 } }, out)
    d:close()
  end)

  it("fires stream-time timers as record timestamps pass their due time", function()
    local fired = {}
    local d = testing.driver(sh.app { id = "st", topology = function(b)
      b:stream("in", { key = "string", value = "long" }):foreach(function() end)
      b:every("1m", function(now) fired[#fired + 1] = now end, { time = "stream" })
    end })
    local input = d:input("in")
    input:pipe("k", 1, 0)          -- stream time 0: first due at 60000
    input:pipe("k", 1, 30000)
    input:pipe("k", 1, 10000)      -- out of order: stream time stays 30000
    d:advance_wall_clock(3600000)  -- wall clock does not move stream time
    assert.same({}, fired)
    input:pipe("k", 1, 60000)      -- fires at 60000, next due 120000
    input:pipe("k", 1, 200000)     -- overdue since 120000: fires once, next 240000
    input:pipe("k", 1, 239999)
    input:pipe("k", 1, 240000)     -- fires
    assert.same({ 60000, 200000, 240000 }, fired)
    d:close()
  end)

  it("reads and writes stores through the same API", function()
    local d = testing.driver(sh.app { id = "ts", topology = function(b)
      b:stream("in", { key = "string", value = "long" }):group_by_key():sum({ name = "totals" })
      b:every("1s", function(_, stores)
        local out = {}
        for _, e in ipairs(stores("totals"):all()) do
          out[#out + 1] = { e.key, e.value }
          stores("totals"):put(e.key, 0)   -- reset each key after reporting it
        end
        return out
      end, { time = "wall" }):to("report", { key = "string", value = "long" })
    end })
    d:input("in"):pipe("a", 3, 1):pipe("b", 4, 2):pipe("a", 5, 3)
    d:advance_wall_clock(1000)     -- reports a 8, b 4 and resets them
    d:input("in"):pipe("b", 2, 4)
    d:advance_wall_clock(1000)     -- reports a 0, b 2
    local out = {}
    for _, r in ipairs(d:output("report"):read_all()) do out[#out + 1] = { r.key, r.value } end
    assert.same({ { "a", 8 }, { "b", 4 }, { "a", 0 }, { "b", 2 } }, out)
    assert.equal(0, d:store("totals"):get("b"))
    d:close()
  end)

  it("rejects a bad interval or time kind at load", function()
    assert.has_error(function()
      testing.driver(sh.app { id = "x", topology = function(b)
        b:stream("in", { key = "string", value = "long" })
        b:every("soon", function() end)
      end })
    end)
    assert.has_error(function()
      testing.driver(sh.app { id = "x", topology = function(b)
        b:stream("in", { key = "string", value = "long" })
        b:every("1s", function() end, { time = "cpu" })
      end })
    end)
  end)
end)
