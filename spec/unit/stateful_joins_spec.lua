-- Joins through the test driver: stream-stream (inner, left, outer) within
-- a window, stream-table (inner, left), table-table (inner, left, outer),
-- and the co-partitioning check at load time. Expected results by hand.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local KJ = { key = "string", value = "json" }

local function pair(l, r) return { l = l, r = r } end

local function kvt(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = { r.key, r.value, r.timestamp } end
  return out
end

local function stream_stream(method, grace)
  return testing.driver(sh.app { id = "ss", topology = function(b)
    local l = b:stream("left", KJ)
    local r = b:stream("right", KJ)
    l[method](l, r, pair, { within = "1s", grace = grace }):to("out", KJ)
  end })
end

describe("stream-stream joins", function()
  it("need within", function()
    assert.has_error(function()
      testing.driver(sh.app { id = "x", topology = function(b)
        b:stream("a", KJ):join(b:stream("b", KJ), pair)
      end })
    end, nil)
  end)

  -- The same input for every kind:
  --   left  a "l1" @1000        right a "r1" @1500  -> l1 & r1 (500 ms apart) @1500
  --   right a "r2" @2500: 1500 ms after l1, no left within 1 s
  --   left  a "l2" @2000: r1 (500 ms) and r2 (500 ms) -> two results @2000, @2500
  --   left  b "l3" @5000: no right b yet;  right b "r3" @5900 -> l3 & r3 @5900
  --   right c "r4" @7000: no left c ever
  local function feed(d)
    local l, r = d:input("left"), d:input("right")
    l:pipe("a", "l1", 1000)
    r:pipe("a", "r1", 1500)
    r:pipe("a", "r2", 2500)
    l:pipe("a", "l2", 2000)
    l:pipe("b", "l3", 5000)
    r:pipe("b", "r3", 5900)
    r:pipe("c", "r4", 7000)
  end

  it("inner: every pair of records within 1 s, stamped with the later timestamp", function()
    local d = stream_stream("join")
    feed(d)
    assert.same({
      { "a", pair("l1", "r1"), 1500 },
      { "a", pair("l2", "r1"), 2000 },
      { "a", pair("l2", "r2"), 2500 },
      { "b", pair("l3", "r3"), 5900 },
    }, kvt(d:output("out"):read_all()))
    d:close()
  end)

  -- left and outer joins emit an unmatched record only once its window has
  -- closed (Kafka Streams 3.1+), here with grace 0: at t + 1 s + 1 s < stream
  -- time. l4 never finds a right record; the right record at 10000 closes
  -- every window before 8000.
  it("left: an unmatched left record is emitted with nil once its window closes", function()
    local d = stream_stream("left_join", "0s")
    feed(d)
    d:input("left"):pipe("d", "l4", 6000)
    assert.same({
      { "a", pair("l1", "r1"), 1500 },
      { "a", pair("l2", "r1"), 2000 },
      { "a", pair("l2", "r2"), 2500 },
      { "b", pair("l3", "r3"), 5900 },
    }, kvt(d:output("out"):read_all()))
    d:input("right"):pipe("z", "r9", 10000)
    assert.same({ { "d", pair("l4", nil), 6000 } }, kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("outer: unmatched records of either side emit with nil for the other, in time order", function()
    local d = stream_stream("outer_join", "0s")
    feed(d)
    d:input("left"):pipe("d", "l4", 6000)
    d:input("right"):pipe("z", "r9", 10000)
    assert.same({
      { "a", pair("l1", "r1"), 1500 },
      { "a", pair("l2", "r1"), 2000 },
      { "a", pair("l2", "r2"), 2500 },
      { "b", pair("l3", "r3"), 5900 },
      { "d", pair("l4", nil), 6000 },
      { "c", pair(nil, "r4"), 7000 },
    }, kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("joins a record with every earlier record of the other side at the same key and time", function()
    local d = stream_stream("join")
    local l, r = d:input("left"), d:input("right")
    r:pipe("k", "d1", 100):pipe("k", "d2", 100):pipe("k", "d3", 100)
    l:pipe("k", "order", 100)
    assert.same({ { "k", pair("order", "d1"), 100 }, { "k", pair("order", "d2"), 100 },
                  { "k", pair("order", "d3"), 100 } }, kvt(d:output("out"):read_all()))
    d:close()
  end)
end)

local function stream_table(method)
  return testing.driver(sh.app { id = "st", topology = function(b)
    local t = b:table("table", KJ)
    local s = b:stream("stream", KJ)
    s[method](s, t, pair):to("out", KJ)
  end })
end

describe("stream-table joins", function()
  -- stream x "s1" (table has no x); table x = "t1" (no output); stream x "s2";
  -- table x = "t2"; stream x "s3"; table x deleted; stream x "s4"
  local function feed(d)
    local s, t = d:input("stream"), d:input("table")
    s:pipe("x", "s1", 1)
    t:pipe("x", "t1", 2)
    s:pipe("x", "s2", 3)
    t:pipe("x", "t2", 4)
    s:pipe("x", "s3", 5)
    t:pipe("x", nil, 6)
    s:pipe("x", "s4", 7)
  end

  it("inner: a stream record meets the table's current row; table updates emit nothing", function()
    local d = stream_table("join")
    feed(d)
    assert.same({ { "x", pair("s2", "t1"), 3 }, { "x", pair("s3", "t2"), 5 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("left: a stream record without a row emits (value, nil)", function()
    local d = stream_table("left_join")
    feed(d)
    assert.same({ { "x", pair("s1", nil), 1 }, { "x", pair("s2", "t1"), 3 },
                  { "x", pair("s3", "t2"), 5 }, { "x", pair("s4", nil), 7 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("has no outer form", function()
    assert.has_error(function() stream_table("outer_join") end)
  end)

  it("looks up a re-keyed stream by its new key", function()
    local d = testing.driver(sh.app { id = "st2", topology = function(b)
      local customers = b:table("customers", { key = "int", value = "json" })
      b:stream("orders", { key = "int", value = "json" })
       :select_key(function(_, o) return o.customer_id end)
       :join(customers, function(o, c) return { id = o.id, name = c.name } end)
       :to("out", { key = "int", value = "json" })
    end })
    d:input("customers"):pipe(14, { name = "Ann" }, 1)
    d:input("orders"):pipe(1, { id = 1, customer_id = 14 }, 2):pipe(2, { id = 2, customer_id = 7 }, 3)
    assert.same({ { 14, { id = 1, name = "Ann" }, 2 } }, kvt(d:output("out"):read_all()))
    d:close()
  end)
end)

local function table_table(method)
  return testing.driver(sh.app { id = "tt", topology = function(b)
    local a = b:table("a", KJ)
    local c = b:table("b", KJ)
    a[method](a, c, pair):to_stream():to("out", KJ)
  end })
end

describe("table-table joins", function()
  -- a k = "a1"; b k = "b1"; b j = "b2"; a k = "a2"; a k deleted; b j deleted
  local function feed(d)
    local a, b = d:input("a"), d:input("b")
    a:pipe("k", "a1", 1)
    b:pipe("k", "b1", 2)
    b:pipe("j", "b2", 3)
    a:pipe("k", "a2", 4)
    a:pipe("k", nil, 5)
    b:pipe("j", nil, 6)
  end

  it("inner: a row when both sides have the key, a tombstone when one goes", function()
    local d = table_table("join")
    feed(d)
    assert.same({ { "k", pair("a1", "b1"), 2 }, { "k", pair("a2", "b1"), 4 }, { "k", nil, 5 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("left: every left row, with the right one if any", function()
    local d = table_table("left_join")
    feed(d)
    assert.same({ { "k", pair("a1", nil), 1 }, { "k", pair("a1", "b1"), 2 },
                  { "k", pair("a2", "b1"), 4 }, { "k", nil, 5 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)

  it("outer: rows of either side; a delete leaves the other side's row", function()
    local d = table_table("outer_join")
    feed(d)
    assert.same({ { "k", pair("a1", nil), 1 }, { "k", pair("a1", "b1"), 2 },
                  { "j", pair(nil, "b2"), 3 }, { "k", pair("a2", "b1"), 4 },
                  { "k", pair(nil, "b1"), 5 }, { "j", nil, 6 } },
                kvt(d:output("out"):read_all()))
    d:close()
  end)
end)

describe("co-partitioning", function()
  it("fails at load time when the sides declare different partition counts", function()
    local ok, err = pcall(testing.driver, dofile("spec/fixtures/stateful_copartition_app.lua"))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("orders has 4 partitions and customers has 2", 1, true), err)
    assert.truthy(tostring(err):find("co-partitioned", 1, true), err)
    assert.truthy(tostring(err):find("partitions = 4", 1, true), err)
  end)

  it("streamhost describe reports it and exits non-zero", function()
    local p = io.popen("bin/streamhost describe spec/fixtures/stateful_copartition_app.lua 2>&1; echo rc=$?")
    local out = p:read("*a")
    p:close()
    assert.falsy(out:match("rc=0%s*$"), out)
    assert.truthy(out:find("orders has 4 partitions and customers has 2", 1, true), out)
  end)

  it("accepts sides with the same partition count, and joins them", function()
    local d = testing.driver(sh.app { id = "cp", topology = function(b)
      b:stream("o", { key = "int", value = "json", partitions = 3 })
       :join(b:table("c", { key = "int", value = "json", partitions = 3 }), pair)
       :to("out", { key = "int", value = "json" })
    end })
    d:input("c"):pipe(7, "alice", 1)
    d:input("o"):pipe(7, "order1", 2)
    d:input("o"):pipe(8, "no customer", 3)
    assert.same({ { 7, pair("order1", "alice"), 2 } }, kvt(d:output("out"):read_all()))
    d:close()
  end)
end)

describe("a stream-table join's table rows", function()
  it("are the same row for every record, whatever a joiner did to the one it got", function()
    local d = testing.driver(sh.app { id = "rows", topology = function(b)
      local t = b:table("t", { key = "string", value = "json", name = "rows" })
      b:stream("s", KJ):join(t, function(l, r)
        local seen = r.n
        r.n = r.n + 100 -- a joiner changing its row changes its own copy only
        return { l = l.x, n = seen, nested = r.tags[1] }
      end):to("out", KJ)
    end })
    d:input("t"):pipe("a", { n = 1, tags = { "x" } }, 1)
    d:input("s"):pipe("a", { x = 1 }, 2)
    d:input("s"):pipe("a", { x = 2 }, 3)
    d:input("s"):pipe("a", { x = 3 }, 4)
    local got = {}
    for i, r in ipairs(d:output("out"):read_all()) do got[i] = { r.value.l, r.value.n, r.value.nested } end
    assert.same({ { 1, 1, "x" }, { 2, 1, "x" }, { 3, 1, "x" } }, got)
    assert.same({ n = 1, tags = { "x" } }, d:store("rows"):get("a"))
  end)
end)
