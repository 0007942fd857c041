-- Windowed aggregations through the test driver: tumbling, hopping and
-- session windows, rec.window bounds, grace and late records, emit =
-- "final", window-store fetch, and the visits_per_hour example. Expected
-- windows are worked out by hand in the comments.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local S, MIN, H = 1000, 60000, 3600000

-- Builds an app whose windowed aggregation's updates are collected as
-- { key, start, end, value } through peek (value nil for a tombstone).
local function windowed(w, opts, agg)
  local seen = {}
  local app = sh.app { id = "win", topology = function(b)
    local g = b:stream("in", { key = "string", value = "long" }):group_by_key():window(w)
    local t = agg and agg(g, opts) or g:count(opts)
    t:to_stream():peek(function(k, v, rec)
      seen[#seen + 1] = { k, rec.window.start, rec.window["end"], v }
    end)
  end }
  return testing.driver(app), seen
end

describe("tumbling windows", function()
  it("counts per [start, start + size) window and exposes rec.window", function()
    local d, seen = windowed(sh.tumbling { size = "10s", grace = "5s" }, { name = "c" })
    local input = d:input("in")
    input:pipe("k", 1, 1000)     -- [0, 10000): 1
    input:pipe("k", 1, 9999)     -- [0, 10000): 2
    input:pipe("k", 1, 10000)    -- [10000, 20000): 1
    input:pipe("j", 1, 12000)    -- j [10000, 20000): 1
    assert.same({ { start = 0, ["end"] = 10000, value = 2 },
                  { start = 10000, ["end"] = 20000, value = 1 } },
                d:store("c"):fetch("k", 0, 30000))
    -- fetch bounds apply to the window start
    assert.same({ { start = 10000, ["end"] = 20000, value = 1 } }, d:store("c"):fetch("k", 5000, 15000))
    input:pipe("k", 1, 25000)    -- [20000, 30000): 1
    assert.same({
      { "k", 0, 10000, 1 }, { "k", 0, 10000, 2 }, { "k", 10000, 20000, 1 },
      { "j", 10000, 20000, 1 }, { "k", 20000, 30000, 1 },
    }, seen)
    -- the store keeps a window until stream time reaches start + size + grace:
    -- at 25000, [0, 10000) (gone at 15000) and [10000, 20000) (at 25000) are dropped
    assert.same({ { start = 20000, ["end"] = 30000, value = 1 } }, d:store("c"):fetch("k", 0, 30000))
    d:close()
  end)

  it("accepts a record until stream time reaches end + grace, then drops and counts it", function()
    local d, seen = windowed(sh.tumbling { size = "10s", grace = "5s" }, { name = "c" })
    local input = d:input("in")
    input:pipe("k", 1, 1000)     -- [0, 10000): 1
    input:pipe("k", 1, 14999)    -- stream time 14999 < 10000 + 5000
    input:pipe("k", 1, 2000)     -- still in grace: [0, 10000): 2
    assert.equal(2, d:store("c"):fetch("k", 0, 0)[1].value)
    input:pipe("k", 1, 15000)    -- stream time 15000 = end + grace
    input:pipe("k", 1, 3000)     -- late: dropped
    assert.same({ { "k", 0, 10000, 1 }, { "k", 10000, 20000, 1 }, { "k", 0, 10000, 2 },
                  { "k", 10000, 20000, 2 } }, seen)
    assert.equal(1, d.inst.counts().late)
    assert.same({}, d:store("c"):fetch("k", 0, 0))  -- closed, and past the store's retention
    d:close()
  end)

  it("emit = final emits one result per window once stream time passes end + grace", function()
    local d, seen = windowed(sh.tumbling { size = "10s", grace = "2s" },
                             { name = "c", emit = "final" })
    local input = d:input("in")
    input:pipe("k", 1, 1000)
    input:pipe("k", 1, 2000)
    input:pipe("j", 1, 3000)
    input:pipe("k", 1, 11000)    -- stream time 11000 < 12000: nothing yet
    assert.same({}, seen)
    input:pipe("k", 1, 9000)     -- in grace: [0, 10000) for k is now 3
    input:pipe("x", 1, 12000)    -- 12000 >= 10000 + 2000: j [0,10000) = 1, k [0,10000) = 3
    -- windows that close together come in the keys' byte order, as from
    -- Kafka Streams' suppression buffer (time, then key)
    assert.same({ { "j", 0, 10000, 1 }, { "k", 0, 10000, 3 } }, seen)
    input:pipe("k", 1, 15000)    -- no window closes
    input:pipe("k", 1, 5000)     -- late for [0, 10000): dropped, no second result
    assert.equal(2, #seen)
    input:pipe("k", 1, 22000)    -- closes [10000, 20000): k = 2 (11000, 15000), x = 1
    assert.same({ { "j", 0, 10000, 1 }, { "k", 0, 10000, 3 },
                  { "k", 10000, 20000, 2 }, { "x", 10000, 20000, 1 } }, seen)
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("emit = final needs a window", function()
    assert.has_error(function()
      testing.driver(sh.app { id = "x", topology = function(b)
        b:stream("in", { key = "string", value = "long" }):group_by_key():count({ emit = "final" })
      end })
    end)
  end)
end)

describe("hopping windows", function()
  it("adds a record to every window [k*advance, k*advance + size) holding it, oldest first", function()
    local d, seen = windowed(sh.hopping { size = "3m", advance = "1m" }, { name = "h" },
                             function(g, opts) return g:sum(opts) end)
    local input = d:input("in")
    input:pipe("p", 5, 30 * S)          -- only [0, 3m): no window starts before 0
    input:pipe("p", 2, 150 * S)         -- [0,3m) 7, [1m,4m) 2, [2m,5m) 2
    input:pipe("p", 4, 4 * MIN)         -- [2m,5m) 6, [3m,6m) 4, [4m,7m) 4
    assert.same({
      { "p", 0, 3 * MIN, 5 },
      { "p", 0, 3 * MIN, 7 }, { "p", MIN, 4 * MIN, 2 }, { "p", 2 * MIN, 5 * MIN, 2 },
      { "p", 2 * MIN, 5 * MIN, 6 }, { "p", 3 * MIN, 6 * MIN, 4 }, { "p", 4 * MIN, 7 * MIN, 4 },
    }, seen)
    assert.same({
      { start = 0, ["end"] = 3 * MIN, value = 7 },
      { start = MIN, ["end"] = 4 * MIN, value = 2 },
      { start = 2 * MIN, ["end"] = 5 * MIN, value = 6 },
      { start = 3 * MIN, ["end"] = 6 * MIN, value = 4 },
      { start = 4 * MIN, ["end"] = 7 * MIN, value = 4 },
    }, d:store("h"):fetch("p", 0, 10 * MIN))
    d:close()
  end)

  it("aligns windows to multiples of advance when size is not a multiple of it", function()
    -- size 5s, advance 2s: windows [0,5), [2,7), [4,9), [6,11), [8,13), [10,15), ...
    local d, seen = windowed(sh.hopping { size = "5s", advance = "2s" }, { name = "h" })
    local input = d:input("in")
    input:pipe("p", 1, 1000)    -- only [0, 5000)
    input:pipe("p", 1, 10000)   -- [6000,11000), [8000,13000), [10000,15000)
    assert.same({ { "p", 0, 5000, 1 },
                  { "p", 6000, 11000, 1 }, { "p", 8000, 13000, 1 }, { "p", 10000, 15000, 1 } }, seen)
    d:close()
  end)

  it("drops only the windows of a late record that are past their grace", function()
    local d, seen = windowed(sh.hopping { size = "3m", advance = "1m", grace = "30s" },
                             { name = "h" })
    local input = d:input("in")
    input:pipe("p", 1, 10 * MIN)        -- [8m,11m), [9m,12m), [10m,13m)
    -- at 7m30s: windows [5m,8m) (closed at 8m30s <= 10m), [6m,9m) (9m30s <= 10m)
    -- and [7m,10m) (10m30s > 10m: still open)
    input:pipe("p", 1, 7 * MIN + 30 * S)
    assert.same({ { "p", 8 * MIN, 11 * MIN, 1 }, { "p", 9 * MIN, 12 * MIN, 1 },
                  { "p", 10 * MIN, 13 * MIN, 1 }, { "p", 7 * MIN, 10 * MIN, 1 } }, seen)
    assert.equal(2, d.inst.counts().late)
    d:close()
  end)

  it("hands out rec.window tables that stay as they were, even when a user changes one", function()
    -- one table per window, not per record (window.shared_bounds): a kept
    -- one must not change under its keeper, and a changed one must not
    -- reach the next record of that window
    local kept = {}
    local app = sh.app { id = "win", topology = function(b)
      b:stream("in", { key = "string", value = "long" }):group_by_key()
       :window(sh.hopping { size = "2m", advance = "1m" }):count({ name = "c" })
       :to_stream():peek(function(_, _, rec)
         kept[#kept + 1] = { rec.window, rec.window.start, rec.window["end"] }
         if #kept == 1 then rec.window.start = -1 end -- a user's change
         if #kept == 2 then rec.window.label = "mine" end -- a field added
       end)
    end }
    local d = testing.driver(app)
    local input = d:input("in")
    input:pipe("a", 1, 90 * 1000)  -- [0, 2m) and [1m, 3m)
    input:pipe("b", 1, 100 * 1000) -- the same two windows
    assert.equal(4, #kept)
    for i, k in ipairs(kept) do
      if i > 1 then assert.same({ k[2], k[3] }, { k[1].start, k[1]["end"] }) end
    end
    assert.same({ 0, 2 * MIN }, { kept[3][2], kept[3][3] }) -- not the changed one's -1
    assert.are_not.equal(kept[1][1], kept[3][1])
    assert.is_nil(kept[4][1].label) -- [1m, 3m): not the one with a field added
    assert.are_not.equal(kept[2][1], kept[4][1])
    assert.same({ MIN, 3 * MIN }, { kept[4][2], kept[4][3] })
    d:close()
  end)

  it("formats window bounds as ksqlDB's TIMESTAMPTOSTRING", function()
    assert.equal("13:54:00", sh.timestamp_to_string(1589982840000, "HH:mm:ss"))
    assert.equal("2020-05-20 13:54:00", sh.timestamp_to_string(1589982840000))
    assert.equal("2020-05-20 13:54:00.250",
                 sh.timestamp_to_string(1589982840250, "yyyy-MM-dd HH:mm:ss.SSS"))
  end)
end)

describe("session windows", function()
  it("merges records closer than the gap, with a tombstone for each session merged away", function()
    local d, seen = windowed(sh.session { gap = "5s" }, { name = "s" })
    local input = d:input("in")
    input:pipe("u", 1, 0)          -- [0,0] 1
    input:pipe("u", 1, 3000)       -- merges [0,0]: [0,3000] 2
    input:pipe("u", 1, 20000)      -- [20000,20000] 1
    input:pipe("u", 1, 10000)      -- 10000 - 3000 > gap, 20000 - 10000 > gap: [10000,10000] 1
    input:pipe("u", 1, 14000)      -- merges [10000,10000]: [10000,14000] 2
    input:pipe("u", 1, 16000)      -- within gap of both: [10000,20000] 2 + 1 + 1 = 4
    assert.same({
      { "u", 0, 0, 1 },
      { "u", 0, 0, nil }, { "u", 0, 3000, 2 },
      { "u", 20000, 20000, 1 },
      { "u", 10000, 10000, 1 },
      { "u", 10000, 10000, nil }, { "u", 10000, 14000, 2 },
      { "u", 10000, 14000, nil }, { "u", 20000, 20000, nil }, { "u", 10000, 20000, 4 },
    }, seen)
    assert.same({ { start = 0, ["end"] = 3000, value = 2 }, { start = 10000, ["end"] = 20000, value = 4 } },
                d:store("s"):fetch("u"))
    d:close()
  end)

  it("drops a record only when its session would end before stream time - gap - grace", function()
    -- as Kafka Streams: late when end + gap + grace < stream time
    local d, seen = windowed(sh.session { gap = "5s", grace = "10s" }, { name = "s" })
    local input = d:input("in")
    input:pipe("u", 1, 60000)      -- [60000,60000] 1
    input:pipe("u", 1, 50000)      -- 50000 + 15000 >= 60000: accepted, a session of its own
    input:pipe("u", 1, 44999)      -- 44999 + 15000 < 60000: late
    input:pipe("u", 1, 45000)      -- 45000 + 15000 = 60000: accepted, merges [50000,50000]
    assert.same({ { "u", 60000, 60000, 1 }, { "u", 50000, 50000, 1 },
                  { "u", 50000, 50000, nil }, { "u", 45000, 50000, 2 } }, seen)
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("accepts in-order records with a grace of 0", function()
    local d, seen = windowed(sh.session { gap = "5s", grace = "0s" }, { name = "s" })
    d:input("in"):pipe("u", 1, 1000):pipe("u", 1, 2000)
    assert.same({ { "u", 1000, 1000, 1 }, { "u", 1000, 1000, nil }, { "u", 1000, 2000, 2 } }, seen)
    assert.equal(0, d.inst.counts().late)
    d:close()
  end)

  it("emit = final emits a session once stream time passes its end + gap + grace", function()
    -- Kafka Streams 3.x (KStreamSessionWindowAggregate, emit on window
    -- close): a session is closed once end + gap + grace < stream time
    local d, seen = windowed(sh.session { gap = "5s", grace = "1s" }, { name = "s", emit = "final" })
    local input = d:input("in")
    input:pipe("u", 1, 0)
    input:pipe("u", 1, 3000)      -- session [0, 3000] of 2, still open: nothing emitted
    input:pipe("v", 1, 9000)      -- 9000 = 3000 + 5000 + 1000: still open
    assert.same({}, seen)
    input:pipe("v", 1, 9001)      -- stream time past end + gap + grace: u's session is final
    assert.same({ { "u", 0, 3000, 2 } }, seen)
    d:close()
  end)

  it("aggregate over sessions needs merge", function()
    assert.has_error(function()
      testing.driver(sh.app { id = "x", topology = function(b)
        b:stream("in", { key = "string", value = "long" }):group_by_key()
         :window(sh.session { gap = "5s" })
         :aggregate(function() return 0 end, function(a, v) return a + v end)
      end })
    end)
  end)
end)

describe("examples/visits_per_hour", function()
  it("counts visits per page per hour and in total", function()
    local d = testing.driver("examples/visits_per_hour/app.lua")
    local visits = d:input("visits")
    local T = 1589968800000              -- 2020-05-20 10:00:00 UTC, on the hour
    visits:pipe("/docs", { user = "alice" }, T + 5 * MIN)
    visits:pipe("/docs", { user = "bob" }, T + 59 * MIN)
    visits:pipe("/", { user = "alice" }, T + 30 * MIN)
    visits:pipe("/docs", { user = "carol" }, T + H)          -- next hour
    visits:pipe("/docs", { user = "dave" }, T + H + 5 * MIN)  -- 11:00 hour
    assert.same({ { start = T, ["end"] = T + H, value = 2 },
                  { start = T + H, ["end"] = T + 2 * H, value = 2 } },
                d:store("hourlyVisitCount"):fetch("/docs", T, T + H))
    visits:pipe("/docs", { user = "erin" }, T + H + 11 * MIN) -- stream time past 11:10
    visits:pipe("/docs", { user = "late" }, T + 10 * MIN)     -- 10:00 hour closed: dropped
    local rows = {}
    for _, r in ipairs(d:output("visits-per-hour"):read_all()) do
      rows[#rows + 1] = { r.key, r.value.window_start, r.value.window_end, r.value.visits }
    end
    assert.same({
      { "/docs", "2020-05-20 10:00:00", "2020-05-20 11:00:00", 1 },
      { "/docs", "2020-05-20 10:00:00", "2020-05-20 11:00:00", 2 },
      { "/", "2020-05-20 10:00:00", "2020-05-20 11:00:00", 1 },
      { "/docs", "2020-05-20 11:00:00", "2020-05-20 12:00:00", 1 },
      { "/docs", "2020-05-20 11:00:00", "2020-05-20 12:00:00", 2 },
      { "/docs", "2020-05-20 11:00:00", "2020-05-20 12:00:00", 3 },
    }, rows)
    -- T + H + 5m is in the 11:00 hour, not 10:00: it came after stream time 11:00
    -- but its own timestamp decides its window
    assert.equal(6, d:store("totalVisitCount"):get("/docs"))  -- the total has no windows
    assert.equal(1, d:store("totalVisitCount"):get("/"))
    -- the 10:00 window is past size + grace: the store has dropped it
    assert.same({ { start = T + H, ["end"] = T + 2 * H, value = 3 } },
                d:store("hourlyVisitCount"):fetch("/docs", T, T + H))
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)
end)

describe("a windowed aggregation's store", function()
  local C = require("streamhost.core").C
  local ffi = require "ffi"

  local function changelog_records(d)
    local r, n = ffi.new("sh_ffi_record_t[1]"), 0
    for _, sink in ipairs(d.changelogs) do
      while C.sh_ffi_sink_capture_next(d.ctx, sink, r) == C.SH_OK do n = n + 1 end
    end
    return n
  end

  it("keeps a window's changes in memory until the flush writes the last one", function()
    local d = windowed(sh.hopping { size = "3m", advance = "1m" }, { name = "c" })
    local store = d.inst.stores.c
    changelog_records(d)
    assert.is_nil(store:window_get("k", 0, 0)) -- a miss, cached as one
    store:window_put("k", 0, 1, 0, 5)
    store:window_put("k", 0, 2, 0, 6)
    store:window_put("j", MIN, 7, 0, 6)
    assert.equal(2, store:window_get("k", 0, 0))
    assert.equal(0, changelog_records(d)) -- neither RocksDB nor the changelog yet
    d.inst.flush()
    assert.equal(2, changelog_records(d)) -- one record per window, its last value
    assert.same({ { start = 0, ["end"] = 3 * MIN, value = 2 } }, store:fetch("k", 0, 0, 0))
    assert.same({ { start = MIN, ["end"] = 4 * MIN, value = 7 } }, store:fetch("j", 0, MIN, 0))
  end)
end)
