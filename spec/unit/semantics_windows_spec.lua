-- Windows and sessions as Kafka Streams 3.x and ksqlDB define them (issue
-- 8, classes 1-3), each case translated from their own tests: ksqlDB's
-- query-validation tests (QTT, confluentinc/ksql
-- ksqldb-functional-tests/src/test/resources/query-validation-tests/) and
-- Kafka Streams' processors. Each `it` names its source case.
local sh = require "streamhost"
local testing = require "streamhost.testing"

-- An app whose windowed aggregation's results are collected as
-- { key, start, end, value, timestamp } (value nil for a tombstone).
local function windowed(w, opts, agg)
  local seen = {}
  local app = sh.app { id = "sem", topology = function(b)
    local g = b:stream("in", { key = "string", value = "long" }):group_by_key():window(w)
    local t = agg and agg(g, opts) or g:count(opts)
    t:to_stream():peek(function(k, v, rec)
      seen[#seen + 1] = { k, rec.window.start, rec.window["end"], v, rec.timestamp }
    end)
  end }
  return testing.driver(app), seen
end

local function max_of(g, opts)
  return g:reduce(function(a, b) return math.max(a, b) end, opts)
end

describe("class 1: result timestamps", function()
  it("an emit = final result carries its window's largest input timestamp", function()
    -- QTT suppress.json "should include out of order events before window
    -- end plus grace period passes": TUMBLING (SIZE 2 MS, GRACE PERIOD 1 MS)
    -- EMIT FINAL over timestamps 0, 1, 2, 1, 0, 5
    local d, seen = windowed(sh.tumbling { size = 2, grace = 1 }, { emit = "final" })
    d:input("in"):pipe_all({ { "k1", 1, 0 }, { "k1", 1, 1 }, { "k1", 1, 2 }, { "k1", 1, 1 },
                             { "k1", 1, 0 }, { "k1", 1, 5 } })
    assert.same({ { "k1", 0, 2, 4, 1 }, { "k1", 2, 4, 1, 2 } }, seen)
    d:close()
  end)

  it("hopping windows emit = final: each window's largest input timestamp", function()
    -- QTT suppress.json "should support final results for hopping windows":
    -- HOPPING (SIZE 5 MS, ADVANCE BY 2 MS, GRACE PERIOD 1 MS) EMIT FINAL
    local d, seen = windowed(sh.hopping { size = 5, advance = 2, grace = 1 }, { emit = "final" })
    d:input("in"):pipe_all({ { "k1", 1, 0 }, { "k1", 1, 1 }, { "k1", 1, 2 }, { "k1", 1, 1 },
                             { "k1", 1, 6 }, { "k1", 1, 5 }, { "k1", 1, 10 } })
    assert.same({ { "k1", 0, 5, 4, 2 }, { "k1", 2, 7, 3, 6 }, { "k1", 4, 9, 2, 6 } }, seen)
    d:close()
  end)

  it("every update of a window carries the largest timestamp so far, not the trigger's", function()
    -- Kafka Streams 3.x KStreamWindowAggregate: the result's timestamp is
    -- max(record timestamp, the aggregate's timestamp); the same input as
    -- the case above, every update emitted
    local d, seen = windowed(sh.tumbling { size = 2, grace = 1 }, {})
    d:input("in"):pipe_all({ { "k1", 1, 0 }, { "k1", 1, 1 }, { "k1", 1, 2 }, { "k1", 1, 1 },
                             { "k1", 1, 0 } })
    assert.same({ { "k1", 0, 2, 1, 0 }, { "k1", 0, 2, 2, 1 }, { "k1", 2, 4, 1, 2 },
                  { "k1", 0, 2, 3, 1 }, { "k1", 0, 2, 4, 1 } }, seen)
    d:close()
  end)

  it("a grouped aggregate carries the largest timestamp of its inputs", function()
    -- Kafka Streams 3.x KStreamAggregate / KTableAggregate: max(record
    -- timestamp, the old aggregate's timestamp), also after a restart
    local app = sh.app { id = "sem", topology = function(b)
      b:stream("in", { key = "string", value = "long" }):group_by_key():count({ name = "c" })
       :to_stream():to("out", { key = "string", value = "long" })
    end }
    local d = testing.driver(app)
    d:input("in"):pipe("a", 1, 100):pipe("a", 1, 50):pipe("b", 1, 70):pipe("a", 1, 120)
    local got = {}
    for _, r in ipairs(d:output("out"):read_all()) do got[#got + 1] = { r.key, r.value, r.timestamp } end
    assert.same({ { "a", 1, 100 }, { "a", 2, 100 }, { "b", 1, 70 }, { "a", 3, 120 } }, got)
    d:close()
  end)

  it("a session result carries the session's end, a merged-away session's tombstone its end", function()
    -- QTT session-windows.json "max session": WINDOW SESSION (30 SECONDS),
    -- MAX(value) GROUP BY id
    local d, seen = windowed(sh.session { gap = "30s" }, {}, max_of)
    d:input("in"):pipe_all({ { "0", 0, 0 }, { "0", 5, 10000 }, { "1", 100, 10000 },
                             { "1", 200, 40000 } })
    assert.same({
      { "0", 0, 0, 0, 0 },
      { "0", 0, 0, nil, 0 }, { "0", 0, 10000, 5, 10000 },
      { "1", 10000, 10000, 100, 10000 },
      { "1", 10000, 10000, nil, 10000 }, { "1", 10000, 40000, 200, 40000 },
    }, seen)
    d:close()
  end)
end)

describe("class 2: sessions", function()
  it("a closed session never merges again; a record near it within grace starts its own", function()
    -- QTT session-windows (sql) "out of order - explicit grace period":
    -- WINDOW SESSION (30 SECONDS, GRACE PERIOD 1 MINUTE), MAX(value)
    local d, seen = windowed(sh.session { gap = "30s", grace = "1m" }, {}, max_of)
    d:input("in"):pipe_all({
      { "0", 0, 0 }, { "0", 1, 100010 },
      { "0", 5, 10009 },    -- 10009 + 30s + 1m < 100010, and [0,0] is closed: late
      { "0", 6, 10010 },    -- = 100010: accepted, but [0,0] is closed: a session of its own
      { "1", 100, 10009 },  -- late
      { "1", 101, 10010 },
      { "1", 200, 86412022 },
      { "1", 200, 60000 },  -- late
    })
    assert.same({
      { "0", 0, 0, 0, 0 }, { "0", 100010, 100010, 1, 100010 }, { "0", 10010, 10010, 6, 10010 },
      { "1", 10010, 10010, 101, 10010 }, { "1", 86412022, 86412022, 200, 86412022 },
    }, seen)
    assert.equal(3, d.inst.counts().late)
    d:close()
  end)

  it("with emit = final, a key gets one final result per session, never two", function()
    -- the case above under EMIT FINAL: the session closed and emitted first
    -- does not take in the record near it
    local d, seen = windowed(sh.session { gap = "5s", grace = "10s" }, { emit = "final" })
    local input = d:input("in")
    input:pipe("u", 1, 0)
    input:pipe("v", 1, 15001)   -- 0 + 5s + 10s < 15001: u's [0,0] is final
    assert.same({ { "u", 0, 0, 1, 0 } }, seen)
    input:pipe("u", 1, 4000)    -- within grace, within the gap of the closed [0,0]
    input:pipe("v", 1, 40000)   -- closes u's [4000,4000] and v's [15001,15001]
    assert.same({ { "u", 0, 0, 1, 0 }, { "u", 4000, 4000, 1, 4000 },
                  { "v", 15001, 15001, 1, 15001 } }, seen)
    d:close()
  end)

  it("a late record that reaches an open session still merges into it", function()
    -- Kafka Streams 3.x KStreamSessionWindowAggregate: a record is late only
    -- when the session it would make ends before stream time - gap - grace
    local d, seen = windowed(sh.session { gap = "5s", grace = "0s" }, {})
    local input = d:input("in")
    input:pipe("u", 1, 10000)
    input:pipe("u", 1, 20000)   -- stream time 20000: [10000,10000] closed (10000 + 5000 < 20000)
    input:pipe("u", 1, 14000)   -- 14000 + 5000 < 20000 and no open session within the gap: late
    input:pipe("u", 1, 16000)   -- 16000 + 5000 > 20000, within the gap of [20000,20000]: merged
    assert.same({ { "u", 10000, 10000, 1, 10000 }, { "u", 20000, 20000, 1, 20000 },
                  { "u", 20000, 20000, nil, 20000 }, { "u", 16000, 20000, 2, 20000 } }, seen)
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("the session store keeps a session only until it closes", function()
    local d = windowed(sh.session { gap = "5s", grace = "1s" }, { name = "s" })
    local input = d:input("in")
    input:pipe("u", 1, 0)
    assert.same({ { start = 0, ["end"] = 0, value = 1 } }, d:store("s"):fetch("u"))
    input:pipe("v", 1, 6000)    -- 0 + 5000 + 1000 = 6000: still open
    assert.equal(1, #d:store("s"):fetch("u"))
    input:pipe("v", 1, 6001)    -- closed: gone from the store
    assert.same({}, d:store("s"):fetch("u"))
    d:close()
  end)
end)

describe("class 3: default grace", function()
  it("emit = final without grace closes a window at its end", function()
    -- QTT suppress.json "should emit at window end if no grace period
    -- given" and "should not emit before window end if no grace period
    -- given": TUMBLING (SIZE 2 MILLISECONDS) EMIT FINAL
    local d, seen = windowed(sh.tumbling { size = 2 }, { emit = "final" })
    local input = d:input("in")
    input:pipe("k1", 1, 0):pipe("k1", 1, 1)
    assert.same({}, seen)
    input:pipe("k1", 1, 2)
    assert.same({ { "k1", 0, 2, 2, 1 } }, seen)
    input:pipe("k1", 1, 1)      -- the window has closed: late
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("emit = changes without grace accepts records until max(24 h - size, 0) after the end", function()
    -- ksqlDB's default grace for EMIT CHANGES (Kafka Streams 2.x's
    -- TimeWindows default: a day of retention, less the window's size)
    local H = 3600000
    local d, seen = windowed(sh.tumbling { size = "1h" }, {})
    local input = d:input("in")
    input:pipe("k", 1, 0)
    input:pipe("j", 1, 24 * H - 1)   -- window [0, 1h) closes at 1h + 23h
    input:pipe("k", 1, 10)           -- still in grace
    assert.same({ "k", 0, H, 2, 10 }, seen[3])
    input:pipe("j", 1, 24 * H)
    input:pipe("k", 1, 20)           -- late
    assert.equal(4, #seen)
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("a window size of a day or more has no default grace", function()
    local D = 24 * 3600000
    local d, seen = windowed(sh.tumbling { size = "1d" }, {})
    d:input("in"):pipe("k", 1, 0):pipe("k", 1, D):pipe("k", 1, 5)
    assert.equal(2, #seen)
    assert.equal(1, d.inst.counts().late)
    d:close()
  end)

  it("sessions without grace: max(24 h - gap, 0) under emit = changes", function()
    -- QTT session-windows (sql) "out of order - no grace period": WINDOW
    -- SESSION (30 SECONDS), MAX(value)
    local d, seen = windowed(sh.session { gap = "30s" }, {}, max_of)
    d:input("in"):pipe_all({
      { "0", 0, 0 }, { "0", 1, 70010 }, { "0", 5, 10009 }, { "0", 6, 10010 },
      { "1", 100, 10009 }, { "1", 101, 10010 }, { "1", 200, 86412022 }, { "1", 200, 60000 },
    })
    local rows = {}
    for i, r in ipairs(seen) do rows[i] = { r[1], r[4], r[2], r[3] } end
    assert.same({
      { "0", 0, 0, 0 }, { "0", 1, 70010, 70010 },
      { "0", nil, 0, 0 }, { "0", 5, 0, 10009 },
      { "0", nil, 0, 10009 }, { "0", 6, 0, 10010 },
      { "1", 100, 10009, 10009 },
      { "1", nil, 10009, 10009 }, { "1", 101, 10009, 10010 },
      { "1", 200, 86412022, 86412022 }, { "1", 200, 60000, 60000 },
    }, rows)
    d:close()
  end)
end)

describe("class 9: what emit = final holds, and replayed records, survive a crash", function()
  local function state_dir()
    local p = io.popen("mktemp -d /tmp/streamhost-sem.XXXXXX")
    local dir = p:read("*l")
    p:close()
    return dir
  end

  -- The app restarted on the same state: a new driver over dir. Its input
  -- offsets start at 0 again, as after a crash before any commit.
  local function restart(dir, w, opts, agg)
    local seen = {}
    local app = sh.app { id = "sem", topology = function(b)
      local g = b:stream("in", { key = "string", value = "long" }):group_by_key():window(w)
      local t = agg and agg(g, opts) or g:count(opts)
      t:to_stream():peek(function(k, v, rec)
        seen[#seen + 1] = { k, rec.window.start, rec.window["end"], v, rec.timestamp }
      end)
    end }
    return testing.driver(app, { state_dir = dir }), seen
  end

  it("a result held by emit = final before a crash is emitted after it", function()
    -- the input of QTT suppress.json "should support final results for
    -- tumbling windows", cut by a restart after the fifth record
    local dir = state_dir()
    local w = sh.tumbling { size = 2, grace = 1 }
    local d, seen = restart(dir, w, { emit = "final" })
    d:input("in"):pipe_all({ { "k1", 1, 0 }, { "k1", 1, 1 }, { "k1", 1, 2 }, { "k1", 1, 1 },
                             { "k1", 1, 0 } })
    assert.same({}, seen)
    d:close()
    local d2, seen2 = restart(dir, w, { emit = "final" })
    d2.offsets["in"] = 5
    d2:input("in"):pipe("k1", 1, 5)
    assert.same({ { "k1", 0, 2, 4, 1 }, { "k1", 2, 4, 1, 2 } }, seen2)
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("records read again after a crash give no second final result", function()
    local dir = state_dir()
    local w = sh.tumbling { size = 2, grace = 1 }
    local input = { { "k1", 1, 0 }, { "k1", 1, 1 }, { "k1", 1, 2 }, { "k1", 1, 5 } }
    local d, seen = restart(dir, w, { emit = "final" })
    d:input("in"):pipe_all(input)
    assert.same({ { "k1", 0, 2, 2, 1 }, { "k1", 2, 4, 1, 2 } }, seen)
    d:close()
    -- the offsets were not committed: all four are read again
    local d2, seen2 = restart(dir, w, { emit = "final" })
    d2:input("in"):pipe_all(input)
    assert.same({}, seen2)
    d2:input("in"):pipe("k1", 1, 10)
    assert.same({ { "k1", 4, 6, 1, 5 } }, seen2)
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a session record read again changes nothing and its session is sent again", function()
    local dir = state_dir()
    local w = sh.session { gap = "30s" }
    local d = restart(dir, w, { name = "s" })
    d:input("in"):pipe("0", 1, 0):pipe("0", 1, 10000)
    d:close()
    local d2, seen2 = restart(dir, w, { name = "s" })
    d2:input("in"):pipe("0", 1, 0):pipe("0", 1, 10000)
    assert.same({ { start = 0, ["end"] = 10000, value = 2 } }, d2:store("s"):fetch("0"))
    assert.same({ { "0", 0, 10000, 2, 10000 }, { "0", 0, 10000, 2, 10000 } }, seen2)
    d2:input("in"):pipe("0", 1, 20000)
    assert.same({ start = 0, ["end"] = 20000, value = 3 }, d2:store("s"):fetch("0")[1])
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("class 6: windowed keys on topics", function()
  local function be64(n) return require("streamhost.serde").get("long").encode(n) end
  local function be32(n) return require("streamhost.serde").get("int").encode(n) end

  it("a windowed table's topic carries the key then the window start (TimeWindowedSerde)", function()
    -- Kafka Streams' TimeWindowedSerializer (WindowKeySchema.toBinary): key
    -- bytes, then the start as 8 big-endian bytes; QTT hopping-windows.json
    -- outputs name their window {"start", "end", "type": "time"}
    local app = sh.app { id = "wk", topology = function(b)
      b:stream("in", { key = "int", value = "long" }):group_by_key()
       :window(sh.hopping { size = "3m", advance = "1m" }):count()
       :to_stream():to("demand", { value = "long" })
    end }
    local d = testing.driver(app)
    d:input("in"):pipe(15, 1, 150000)
    local raw = d:output("demand", { key = "bytes", value = "long" }):read_all()
    assert.same({ be32(15) .. be64(0), be32(15) .. be64(60000), be32(15) .. be64(120000) },
                { raw[1].key, raw[2].key, raw[3].key })
    d:close()
    d = testing.driver(app)
    d:input("in"):pipe(15, 1, 150000)
    local out = d:output("demand"):read_all()   -- the sink's own, windowed, serde
    assert.same({ key = 15, window = { start = 60000, ["end"] = 240000 }, value = 1 },
                { key = out[2].key, window = out[2].window, value = out[2].value })
    d:close()
  end)

  it("a session table's topic carries the key, then the session's end and start", function()
    -- Kafka Streams' SessionWindowedSerializer (SessionKeySchema.toBinary);
    -- the input of QTT session-windows.json "max session"
    local app = sh.app { id = "wk", topology = function(b)
      b:stream("in", { key = "int", value = "long" }):group_by_key()
       :window(sh.session { gap = "30s" }):reduce(math.max)
       :to_stream():to("S2", { value = "long" })
    end }
    local d = testing.driver(app)
    d:input("in"):pipe(0, 0, 0):pipe(0, 5, 10000)
    local raw = d:output("S2", { key = "bytes", value = "long" }):read_all()
    assert.same({ be32(0) .. be64(0) .. be64(0), be32(0) .. be64(0) .. be64(0),
                  be32(0) .. be64(10000) .. be64(0) }, { raw[1].key, raw[2].key, raw[3].key })
    assert.same({ 0, nil, 5 }, { raw[1].value, raw[2].value, raw[3].value })
    d:close()
  end)

  it("a stream reads a session-windowed topic back with its windows", function()
    -- QTT session-windows.json "import session stream": CREATE STREAM ...
    -- WITH (WINDOW_TYPE='SESSION'); SELECT * copies key, window and value
    local app = sh.app { id = "wk", topology = function(b)
      b:stream("test_topic", { key = sh.windowed("int", { session = true }), value = "long" })
       :map_values(function(id, _, rec)
         if id == nil then return nil end
         return { rec.window.start, rec.window["end"], id }
       end)
       :to("S2", { value = "json" })
    end }
    local d = testing.driver(app)
    local function w(start, stop) return { start = start, ["end"] = stop } end
    local input = d:input("test_topic")
    input:pipe({ key = 0, window = w(0, 0) }, 1, 0)
    input:pipe({ key = 0, window = w(0, 0) }, nil, 0)
    input:pipe({ key = 0, window = w(0, 10000) }, 2, 10000)
    input:pipe({ key = 1, window = w(10000, 10000) }, 3, 10000)
    input:pipe({ key = 1, window = w(10000, 40000) }, 4, 40000)
    local got = {}
    for i, r in ipairs(d:output("S2"):read_all()) do
      got[i] = { r.key, r.value, r.timestamp, r.window.start, r.window["end"] }
    end
    assert.same({
      { 0, { 0, 0, 1 }, 0, 0, 0 }, { 0, nil, 0, 0, 0 }, { 0, { 0, 10000, 2 }, 10000, 0, 10000 },
      { 1, { 10000, 10000, 3 }, 10000, 10000, 10000 },
      { 1, { 10000, 40000, 4 }, 40000, 10000, 40000 },
    }, got)
    d:close()
  end)

  it("the workshop's hopping table topic, read back as a stream, joins a table by product", function()
    -- the workshop's out_of_stock_events over product_demand_last_3mins, a
    -- stream over the hopping table's topic: it is repartitioned by its
    -- inner key first (class 7), and keeps its window
    local app = sh.app { id = "wk", topology = function(b)
      local stock = b:table("stock", { key = "int", value = "long" })
      b:stream("demand", { key = sh.windowed("int", { size = "3m" }), value = "long" })
       :join(stock, function(demand, level) return { demand = demand, stock = level } end,
             { name = "demand_stock" })
       :map_values(function(v, _, rec) v.start = rec.window.start; return v end)
       :to("events", { key = "int", value = "json" })
    end }
    local d = testing.driver(app)
    d:input("stock"):pipe(15, -3, 0)
    d:input("demand"):pipe({ key = 15, window = { start = 60000, ["end"] = 240000 } }, 4, 150000)
    local out = d:output("events"):read_all()
    assert.same({ { key = 15, value = { demand = 4, stock = -3, start = 60000 }, timestamp = 150000 } },
                { { key = out[1].key, value = out[1].value, timestamp = out[1].timestamp } })
    assert.truthy(d:describe():find("wk-demand_stock-repartition", 1, true))
    d:close()
  end)

  it("sh.windowed checks its arguments", function()
    assert.has_error(function() sh.windowed("int", {}) end)
    assert.has_error(function() sh.windowed("nope", { size = "1m" }) end)
    assert.has_error(function() sh.windowed("int", { size = "1m", session = true }) end)
    assert.equal("windowed:int:180000", sh.windowed("int", { size = "3m" }))
  end)
end)
