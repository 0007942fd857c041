-- Stream-stream joins as Kafka Streams 3.1+ (KIP-633) and ksqlDB with GRACE
-- PERIOD define them (issue 8, classes 4, 5 and the joins' part of 9), each
-- case translated from their own tests: Kafka Streams'
-- streams/src/test/java/org/apache/kafka/streams/kstream/internals/
-- KStreamKStream*JoinTest.java and ksqlDB's QTT joins cases. Each `it`
-- names its source case.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local IJ = { key = "int", value = "json" }

-- Kafka Streams' MockValueJoiner.TOSTRING_JOINER: "left+right"
local function plus(l, r) return tostring(l) .. "+" .. tostring(r) end

local function joined(method, opts, joiner)
  return sh.app { id = "ssj", topology = function(b)
    local l = b:stream("topic1", IJ)
    local r = b:stream("topic2", IJ)
    l[method](l, r, joiner or plus, opts):to("out", IJ)
  end }
end

local function kvt(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = { r.key, r.value, r.timestamp } end
  return out
end

describe("class 5: asymmetric join windows and grace", function()
  local function row(t, tt, k) return { k, t.name, tt.f1 } end

  it("within = { before, after } joins a left record at t with right ones in [t - before, t + after]",
     function()
    -- QTT joins "stream stream inner join with different before and after
    -- windows - JSON": WITHIN (11 SECONDS, 10 SECONDS)
    local d = testing.driver(joined("join", { within = { before = "11s", after = "10s" } }, row))
    local left, right = d:input("topic1"), d:input("topic2")
    left:pipe(0, { name = "zero", value = 0 }, 0)
    right:pipe(0, { f1 = "blah", f2 = 50 }, 11000)  -- 11 s after zero: beyond after = 10 s
    left:pipe(10, { name = "100", value = 5 }, 12000)
    left:pipe(0, { name = "foo", value = 100 }, 13000)
    right:pipe(0, { f1 = "a", f2 = 10 }, 15000)
    right:pipe(100, { f1 = "newblah", f2 = 150 }, 16000)
    left:pipe(90, { name = "ninety", value = 90 }, 17000)
    left:pipe(0, { name = "bar", value = 99 }, 30000)
    assert.same({ { 0, { 0, "foo", "blah" }, 13000 }, { 0, { 0, "foo", "a" }, 15000 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("a record out of order but within grace still joins, stamped with the later timestamp", function()
    -- QTT joins "stream stream inner join with out of order messages -
    -- JSON": WITHIN 10 SECONDS (default grace)
    local d = testing.driver(joined("join", { within = "10s" }, row))
    local left, right = d:input("topic1"), d:input("topic2")
    left:pipe(0, { name = "zero", value = 0 }, 0)
    right:pipe(0, { f1 = "blah", f2 = 50 }, 9999)
    left:pipe(10, { name = "100", value = 5 }, 11000)
    left:pipe(0, { name = "foo", value = 100 }, 13000)
    right:pipe(0, { f1 = "a", f2 = 10 }, 15000)
    right:pipe(100, { f1 = "newblah", f2 = 150 }, 16000)
    left:pipe(90, { name = "ninety", value = 90 }, 17000)
    left:pipe(0, { name = "bar", value = 99 }, 30000)
    left:pipe(0, { name = "late-message", value = 10000 }, 6000)
    assert.same({
      { 0, { 0, "zero", "blah" }, 9999 }, { 0, { 0, "foo", "blah" }, 13000 },
      { 0, { 0, "foo", "a" }, 15000 }, { 0, { 0, "late-message", "blah" }, 9999 },
      { 0, { 0, "late-message", "a" }, 15000 },
    }, kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("a record whose window + grace has passed is late: dropped and counted", function()
    -- QTT joins "stream stream left join with out of order and custom grace
    -- period - JSON": WITHIN 1 MINUTE GRACE PERIOD 1 MINUTE. ksqlDB expects
    -- (C, null), (C, c) and (D, null) besides (A, a): its store keeps
    -- records a time segment at a time, so C and D, past their window and
    -- grace at stream time 330000, are still taken, and C's null result is
    -- contradicted by (C, c). Here a record past t + after + grace is late,
    -- as for windows, so no result is ever contradicted (README, "Joins").
    local d = testing.driver(joined("left_join", { within = "1m", grace = "1m" },
                                    function(l, r) return { l = l and l.l1, r = r and r.l2 } end))
    local left, right = d:input("topic1"), d:input("topic2")
    left:pipe(0, { l1 = "A" }, 0)
    right:pipe(0, { l2 = "a" }, 60000)
    left:pipe(1, { l1 = "B" }, 330000)
    left:pipe(2, { l1 = "C" }, 90000)   -- 90000 + 60000 + 60000 < 330000: late
    right:pipe(2, { l2 = "c" }, 90000)  -- late
    left:pipe(3, { l1 = "D" }, 60000)   -- late
    right:pipe(3, { l2 = "d" }, 60000)  -- late
    assert.same({ { 0, { l = "A", r = "a" }, 60000 } }, kvt(d:output("out"):read_all()))
    assert.equal(4, d.inst.counts().late)
    d:close()
  end)

  it("needs within, and a before and an after when within is a table", function()
    assert.has_error(function()
      testing.driver(joined("join", { within = { before = "1s" } }))
    end)
    assert.has_error(function() testing.driver(joined("join", {})) end)
  end)
end)

describe("class 4: left and outer joins emit unmatched records once their window has closed", function()
  local W = { within = 100, grace = 0 }

  it("left: non-joined records are emitted by a later left record, stamped with their own time", function()
    -- KStreamKStreamLeftJoinTest.testLeftExpiredNonJoinedRecordsAreEmittedByTheLeftProcessor
    -- (JoinWindows.ofTimeDifferenceAndGrace(100 ms, 0))
    local d = testing.driver(joined("left_join", W))
    local in1, in2, out = d:input("topic1"), d:input("topic2"), d:output("out")
    in1:pipe(0, "A0", 1):pipe(1, "A1", 2):pipe(0, "A0-0", 3)
    assert.same({}, out:read_all())
    in2:pipe(1, "a1", 3)
    assert.same({ { 1, "A1+a1", 3 } }, kvt(out:read_all()))
    in1:pipe(2, "dummy", 401)
    assert.same({ { 0, "A0+nil", 1 }, { 0, "A0-0+nil", 3 } }, kvt(out:read_all()))
    in2:pipe(2, "dummy", 401)
    assert.same({ { 2, "dummy+dummy", 401 } }, kvt(out:read_all()))
    d:close()
  end)

  it("left: non-joined records are emitted by a later right record too", function()
    -- KStreamKStreamLeftJoinTest.testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor
    local d = testing.driver(joined("left_join", W))
    local in1, in2, out = d:input("topic1"), d:input("topic2"), d:output("out")
    in1:pipe(0, "A0", 1):pipe(1, "A1", 2):pipe(0, "A0-0", 3)
    in2:pipe(1, "a1", 3)
    assert.same({ { 1, "A1+a1", 3 } }, kvt(out:read_all()))
    in2:pipe(2, "dummy", 401)
    assert.same({ { 0, "A0+nil", 1 }, { 0, "A0-0+nil", 3 } }, kvt(out:read_all()))
    in1:pipe(2, "dummy", 402)
    assert.same({ { 2, "dummy+dummy", 402 } }, kvt(out:read_all()))
    d:close()
  end)

  it("left: right records are never emitted unmatched", function()
    -- KStreamKStreamLeftJoinTest.testRightNonJoinedRecordsAreNeverEmittedByTheLeftProcessor
    local d = testing.driver(joined("left_join", W))
    local in1, in2, out = d:input("topic1"), d:input("topic2"), d:output("out")
    in2:pipe(0, "A0", 1):pipe(1, "A1", 2):pipe(0, "A0-0", 3)
    in1:pipe(1, "a1", 3)
    assert.same({ { 1, "a1+A1", 3 } }, kvt(out:read_all()))
    in1:pipe(2, "dummy", 401)
    assert.same({}, out:read_all())
    in2:pipe(2, "dummy", 402)
    assert.same({ { 2, "dummy+dummy", 402 } }, kvt(out:read_all()))
    d:close()
  end)

  it("left: duplicates are each emitted, joined or not, and a match is never contradicted", function()
    -- KStreamKStreamLeftJoinTest.testLeftJoinDuplicates
    -- (JoinWindows.ofTimeDifferenceAndGrace(100 ms, 10 ms))
    local d = testing.driver(joined("left_join", { within = 100, grace = 10 }))
    local in1, in2, out = d:input("topic1"), d:input("topic2"), d:output("out")
    in1:pipe(0, "A0", 0):pipe(0, "A0-0", 0)
    in2:pipe(1, "a0", 111)
    in2:pipe(2, "dummy", 500)   -- bumps stream time past 0 + 100 + 100 + 10
    assert.same({ { 0, "A0+nil", 0 }, { 0, "A0-0+nil", 0 } }, kvt(out:read_all()))
    in1:pipe(2, "A2", 1000):pipe(2, "A2-0", 1000)
    in2:pipe(2, "a2", 1001)
    assert.same({ { 2, "A2+a2", 1001 }, { 2, "A2-0+a2", 1001 } }, kvt(out:read_all()))
    -- would expire the non-joined records, but A2 and A2-0 have joined
    in2:pipe(3, "a3", 315)
    in2:pipe(4, "later", 5000)
    assert.same({}, out:read_all())
    d:close()
  end)

  it("outer: unmatched records of both sides, in time order once closed", function()
    -- QTT joins "stream stream full outer join with out of order and custom
    -- grace period - JSON", in order here (its out-of-order records are late
    -- by our rule, see class 5 above)
    local d = testing.driver(joined("outer_join", { within = "1m", grace = "1m" },
                                    function(l, r) return { l = l and l.l1, r = r and r.l2 } end))
    local left, right, out = d:input("topic1"), d:input("topic2"), d:output("out")
    left:pipe(0, { l1 = "A" }, 0)
    right:pipe(0, { l2 = "a" }, 60000)
    right:pipe(3, { l2 = "d" }, 60000)
    right:pipe(2, { l2 = "c" }, 90000)
    left:pipe(2, { l1 = "C" }, 90000)
    assert.same({ { 0, { l = "A", r = "a" }, 60000 }, { 2, { l = "C", r = "c" }, 90000 } },
                kvt(out:read_all()))
    right:pipe(1, { l2 = "b" }, 330000)   -- d's window: 60000 + 1m + 1m + 1m < 330000
    assert.same({ { 3, { r = "d" }, 60000 } }, kvt(out:read_all()))
    d:close()
  end)

  it("a right record at the left record's time is emitted before it (Kafka Streams' order)", function()
    local d = testing.driver(joined("outer_join", W))
    d:input("topic1"):pipe(1, "L", 10)
    d:input("topic2"):pipe(2, "R", 10)
    d:input("topic1"):pipe(3, "later", 1000)
    assert.same({ { 2, "nil+R", 10 }, { 1, "L+nil", 10 } }, kvt(d:output("out"):read_all()))
    d:close()
  end)
end)

describe("class 9: pending join results and replays survive a crash", function()
  local function state_dir()
    local p = io.popen("mktemp -d /tmp/streamhost-sem.XXXXXX")
    local dir = p:read("*l")
    p:close()
    return dir
  end

  it("unmatched records held before a restart are emitted after it, once", function()
    local dir = state_dir()
    local app = joined("left_join", { within = 100, grace = 0 })
    local d = testing.driver(app, { state_dir = dir })
    d:input("topic1"):pipe(0, "A0", 1):pipe(1, "A1", 2)
    assert.same({}, d:output("out"):read_all())
    d:close()   -- what the process held in memory is gone
    local d2 = testing.driver(app, { state_dir = dir })
    d2.offsets.topic1 = 2
    d2:input("topic2"):pipe(1, "a1", 50)
    assert.same({ { 1, "A1+a1", 50 } }, kvt(d2:output("out"):read_all()))
    d2:input("topic2"):pipe(9, "dummy", 401)
    assert.same({ { 0, "A0+nil", 1 } }, kvt(d2:output("out"):read_all()))
    d2:input("topic2"):pipe(9, "dummy", 1000)
    assert.same({}, d2:output("out"):read_all())
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("a record read again after a crash is not stored twice, so it does not join twice", function()
    local dir = state_dir()
    local app = joined("join", { within = 100, grace = 0 })
    local d = testing.driver(app, { state_dir = dir })
    d:input("topic1"):pipe(0, "A0", 1)
    d:close()
    -- restarted from the last commit: topic1 offset 0 is read again
    local d2 = testing.driver(app, { state_dir = dir })
    d2:input("topic1"):pipe(0, "A0", 1)
    d2:input("topic2"):pipe(0, "a0", 5)
    assert.same({ { 0, "A0+a0", 5 } }, kvt(d2:output("out"):read_all()))
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("class 7: a re-keyed stream repartitions by itself before a join", function()
  -- Kafka Streams' KStream#join: after a key-changing operation the stream
  -- goes through an internal repartition topic; the workshop's
  -- sales_enriched (INNER JOIN customers_tbl ON o.customer_id = ct.id) needs
  -- exactly that.
  local function app()
    return sh.app { id = "rk", topology = function(b)
      local customers = b:table("customers", IJ)
      b:stream("orders", IJ)
       :select_key(function(_, o) return o.customer_id end)
       :join(customers, function(o, c) return { order = o.id, name = c.name } end,
             { name = "by_customer" })
       :to("enriched", IJ)
      local details = b:stream("details", IJ):select_key(function(_, d) return d.order_id end)
      b:stream("orders2", IJ)
       :join(details, function(o, d) return { order = o.id, detail = d.id } end,
             { within = "1s", name = "od" })
       :to("order_details", IJ)
    end }
  end

  it("stream-table: through <id>-<name>-repartition, keyed by the table's key format", function()
    local d = testing.driver(app())
    assert.truthy(d:describe():find("rk-by_customer-repartition", 1, true))
    d:input("customers"):pipe(7, { name = "Ann" }, 0)
    d:input("orders"):pipe(1, { id = 1, customer_id = 7 }, 10,
                           { { key = "trace", value = "t1" } })
    local out = d:output("enriched"):read_all()
    assert.same({ { 7, { order = 1, name = "Ann" }, 10 } }, kvt(out))
    -- the record's own headers go on; the topology's origin header does not
    assert.same({ { key = "trace", value = "t1" } }, out[1].headers)
    d:close()
  end)

  it("stream-stream: only the re-keyed side is repartitioned", function()
    local d = testing.driver(app())
    local text = d:describe()
    assert.truthy(text:find("rk-od-right-repartition", 1, true))
    assert.falsy(text:find("rk-od-left-repartition", 1, true))
    d:input("details"):pipe(100, { id = 100, order_id = 5 }, 1000)
    d:input("orders2"):pipe(5, { id = 5 }, 1200)
    assert.same({ { 5, { order = 5, detail = 100 }, 1200 } },
                kvt(d:output("order_details"):read_all()))
    d:close()
  end)

  it("asks for the key format when neither side knows it", function()
    local ok, err = pcall(testing.driver, sh.app { id = "x", topology = function(b)
      local a = b:stream("a", IJ):map(function(_, v) return v.k, v end)
      local c = b:stream("c", IJ):map(function(_, v) return v.k, v end)
      a:join(c, plus, { within = "1s" })
    end })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("semantics_joins_spec.lua:%d+: join: the re%-keyed side"))
  end)
end)
