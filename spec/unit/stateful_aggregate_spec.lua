-- Grouping and aggregation through the test driver: group_by (repartition),
-- group_by_key, count, sum, reduce, aggregate, grouped tables with
-- subtract on updates and deletes, table filter/map_values/to_stream.
-- Every expected value is worked out by hand in the comments.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local function driver(topology)
  return testing.driver(sh.app { id = "agg", topology = topology })
end

local function kv(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = { r.key, r.value } end
  return out
end

describe("stream aggregations", function()
  it("group_by re-keys through <id>-<store>-repartition and counts per new key", function()
    local d = driver(function(b)
      b:stream("events", { key = "string", value = "json" })
       :group_by(function(_, v) return v.page end, { key = "string" })
       :count({ name = "per_page" })
       :to_stream():to("out", { key = "string", value = "long" })
    end)
    assert.truthy(d:describe():find("agg-per_page-repartition", 1, true))
    local input = d:input("events")
    input:pipe("alice", { page = "/a" }, 1)
    input:pipe("bob", { page = "/a" }, 2)
    input:pipe("alice", { page = "/b" }, 3)
    -- /a: 1, 2; /b: 1
    assert.same({ { "/a", 1 }, { "/a", 2 }, { "/b", 1 } }, kv(d:output("out"):read_all()))
    assert.equal(2, d:store("per_page"):get("/a"))
    assert.equal(1, d:store("per_page"):get("/b"))
    assert.is_nil(d:store("per_page"):get("alice"))
    d:close()
  end)

  it("group_by_key keeps the key: no repartition topic", function()
    local d = driver(function(b)
      b:stream("events", { key = "string", value = "long" })
       :group_by_key()
       :sum({ name = "totals" })
       :to_stream():to("out", { key = "string", value = "long" })
    end)
    assert.falsy(d:describe():find("repartition", 1, true))
    local input = d:input("events")
    input:pipe("a", 5, 1); input:pipe("b", 7, 2); input:pipe("a", -2, 3); input:pipe("a", 10, 4)
    -- a: 5, 3, 13; b: 7
    assert.same({ { "a", 5 }, { "b", 7 }, { "a", 3 }, { "a", 13 } }, kv(d:output("out"):read_all()))
    assert.same({ { key = "a", value = 13 }, { key = "b", value = 7 } },
                d:store("totals"):all())
    d:close()
  end)

  it("group_by_key after a key change repartitions (as Kafka Streams)", function()
    local d = driver(function(b)
      b:stream("events", { key = "string", value = "json" })
       :select_key(function(_, v) return v.user end)
       :group_by_key({ key = "string" })
       :count({ name = "per_user" })
    end)
    assert.truthy(d:describe():find("agg-per_user-repartition", 1, true))
    d:input("events"):pipe("x", { user = "u1" }, 1):pipe("y", { user = "u1" }, 2)
    assert.equal(2, d:store("per_user"):get("u1"))
    d:close()
  end)

  it("sum with a function, reduce and aggregate", function()
    local d = driver(function(b)
      local g = b:stream("sales", { key = "int", value = "json" }):group_by_key()
      g:sum(function(v) return v.qty end, { name = "qty" })
      g:reduce(function(a, v) return v.qty > a.qty and v or a end, { name = "biggest" })
      g:aggregate(function() return { n = 0, total = 0 } end,
                  function(agg, v) return { n = agg.n + 1, total = agg.total + v.qty * v.price } end,
                  { name = "revenue" })
        :to_stream():to("revenue", { key = "int", value = "json" })
    end)
    local input = d:input("sales")
    input:pipe(1, { qty = 2, price = 5 }, 1)
    input:pipe(1, { qty = 7, price = 1 }, 2)
    input:pipe(2, { qty = 1, price = 9 }, 3)
    input:pipe(1, { qty = 3, price = 2 }, 4)
    -- product 1: qty 2+7+3 = 12; biggest {7,1}; revenue n=3, 10+7+6 = 23
    -- product 2: qty 1; biggest {1,9}; revenue n=1, 9
    assert.equal(12, d:store("qty"):get(1))
    assert.equal(1, d:store("qty"):get(2))
    assert.same({ qty = 7, price = 1 }, d:store("biggest"):get(1))
    assert.same({ qty = 1, price = 9 }, d:store("biggest"):get(2))
    assert.same({ { 1, { n = 1, total = 10 } }, { 1, { n = 2, total = 17 } },
                  { 2, { n = 1, total = 9 } }, { 1, { n = 3, total = 23 } } },
                kv(d:output("revenue"):read_all()))
    d:close()
  end)

  it("drops and counts records with a nil key returned by group_by", function()
    local d = driver(function(b)
      b:stream("events", { key = "string", value = "json" })
       :group_by(function(_, v) return v.page end, { key = "string" })
       :count({ name = "per_page" })
    end)
    d:input("events"):pipe("a", { page = "/x" }, 1):pipe("b", { nopage = true }, 2)
    assert.equal(1, d:store("per_page"):get("/x"))
    assert.equal(1, d.inst.counts().dropped)
    d:close()
  end)
end)

describe("aggregations after a crash", function()
  local ffi = require "ffi"
  local C = require("streamhost.core").C

  -- the bytes RocksDB holds for a key of a string-keyed store
  local function raw(d, name, key)
    local slice = ffi.new("sh_ffi_slice_t[1]")
    local rc = C.sh_ffi_store_get(d.inst.stores[name]:handle(0), key, #key, slice)
    assert.equal(C.SH_OK, rc)
    return ffi.string(slice[0].data, slice[0].len)
  end

  it("counts a record read again once, whether its key is cached or read back from RocksDB", function()
    local p = io.popen("mktemp -d /tmp/streamhost-agg.XXXXXX")
    local dir = p:read("*l")
    p:close()
    local app = sh.app { id = "agg", topology = function(b)
      b:stream("events", { key = "string", value = "json" })
       :group_by_key():count({ name = "n" })
       :to_stream():to("out", { key = "string", value = "long" })
    end }
    local d = testing.driver(app, { state_dir = dir })
    local input = d:input("events")
    input:pipe("a", {}, 10):pipe("a", {}, 12):pipe("a", {}, 11) -- offsets 0, 1, 2
    -- offset 1 again, its key in the record cache: the count stays
    d.offsets.events = 1
    input:pipe("a", {}, 12)
    assert.same({ { "a", 1 }, { "a", 2 }, { "a", 3 }, { "a", 3 } }, kv(d:output("out"):read_all()))
    -- RocksDB and the changelog hold the count, then the largest input
    -- timestamp and the newest offset applied from events/0 as text
    assert.equal("3\n12;events/0@2.0", raw(d, "n", "a"))
    d:close()
    -- restarted on the same state: offsets 0 to 2 are replays, read back
    -- from RocksDB; offset 3 counts
    local d2 = testing.driver(app, { state_dir = dir })
    d2:input("events"):pipe("a", {}, 10):pipe("a", {}, 12):pipe("a", {}, 11):pipe("a", {}, 13)
    assert.same({ { "a", 3 }, { "a", 3 }, { "a", 3 }, { "a", 4 } }, kv(d2:output("out"):read_all()))
    assert.equal("4\n13;events/0@3.0", raw(d2, "n", "a"))
    d2:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe("aggregate markers", function()
  it("keep every origin partition, in order, through a parse, updates and text", function()
    local markers = require "streamhost.markers"
    local m = markers.markers_of("12;in/0@5.0;in/1@7.2")
    assert.equal("12;in/0@5.0;in/1@7.2", m:text())
    assert.equal("", markers.markers_of(nil):text())
    assert.equal("99", markers.markers_of("99"):text())
  end)

  it("write offsets past 1e14 in digits, so that they parse back", function()
    local markers = require "streamhost.markers"
    local m = markers.markers_of("1700000000123;in/0@5.0")
    markers.mark_at(m, "in/0", 2 ^ 53, 3, 1700000000123)
    assert.equal("1700000000123;in/0@9007199254740992.3", m:text())
    local parsed = markers.markers_of(m:text())
    assert.is_true(markers.replayed_at(parsed, "in/0", 2 ^ 53, 3))
    assert.is_false(markers.replayed_at(parsed, "in/0", 2 ^ 53, 4))
    assert.is_true(markers.replayed_at(parsed, "in/0", 2 ^ 53 - 1, 9))
  end)
end)

describe("grouped table aggregations", function()
  it("count subtracts the old row on an update that moves it and on a delete", function()
    local d = driver(function(b)
      b:table("users", { key = "string", value = "json" })
       :group_by(function(_, u) return u.region end, { key = "string" })
       :count({ name = "per_region" })
       :to_stream():to("out", { key = "string", value = "long" })
    end)
    local users = d:input("users")
    users:pipe("u1", { region = "A" }, 1)   -- A = 1
    users:pipe("u2", { region = "A" }, 2)   -- A = 2
    users:pipe("u1", { region = "B" }, 3)   -- u1 leaves A: A = 1, joins B: B = 1
    users:pipe("u2", nil, 4)                -- delete u2: A = 0
    assert.same({ { "A", 1 }, { "A", 2 }, { "A", 1 }, { "B", 1 }, { "A", 0 } },
                kv(d:output("out"):read_all()))
    assert.equal(0, d:store("per_region"):get("A"))
    assert.equal(1, d:store("per_region"):get("B"))
    d:close()
  end)

  it("aggregate with subtract: an update in place subtracts the old value and adds the new", function()
    local d = driver(function(b)
      b:table("scores", { key = "string", value = "json" })
       :group_by(function(_, s) return s.team, s.points end, { key = "string" })
       :aggregate(function() return 0 end,
                  function(agg, points) return agg + points end,
                  function(agg, points) return agg - points end,
                  { name = "team_points" })
       :to_stream():to("out", { key = "string", value = "long" })
    end)
    local scores = d:input("scores")
    scores:pipe("p1", { team = "red", points = 5 }, 1)    -- red 5
    scores:pipe("p2", { team = "red", points = 3 }, 2)    -- red 8
    scores:pipe("p1", { team = "red", points = 7 }, 3)    -- red 8 - 5 + 7 = 10
    scores:pipe("p2", { team = "blue", points = 3 }, 4)   -- red 7, blue 3
    scores:pipe("p1", nil, 5)                             -- red 0
    assert.same({ { "red", 5 }, { "red", 8 }, { "red", 10 }, { "red", 7 }, { "blue", 3 },
                  { "red", 0 } }, kv(d:output("out"):read_all()))
    d:close()
  end)

  it("reduce on a grouped table needs subtract, and sum subtracts on delete", function()
    assert.has_error(function()
      driver(function(b)
        b:table("t", { key = "string", value = "long" })
         :group_by(function(k, v) return k, v end, { key = "string" })
         :reduce(function(a, v) return a + v end)
      end)
    end)
    local d = driver(function(b)
      b:table("t", { key = "string", value = "json" })
       :group_by(function(_, v) return v.g, v.n end, { key = "string" })
       :sum({ name = "s" })
    end)
    d:input("t"):pipe("x", { g = "G", n = 4 }, 1):pipe("y", { g = "G", n = 6 }, 2):pipe("x", nil, 3)
    assert.equal(6, d:store("s"):get("G"))  -- 4 + 6 - 4
    d:close()
  end)
end)

describe("table operations", function()
  it("filter, map_values and to_stream: a row that stops passing becomes a tombstone", function()
    local d = driver(function(b)
      b:table("prices", { key = "string", value = "json", name = "prices_store" })
       :filter(function(_, v) return v.price > 10 end)
       :map_values(function(v) return v.price * 2 end)
       :to_stream()
       :to("out", { key = "string", value = "long" })
    end)
    local prices = d:input("prices")
    prices:pipe("a", { price = 5 }, 1)    -- filtered out, was absent: nothing
    prices:pipe("a", { price = 20 }, 2)   -- a -> 40
    prices:pipe("a", { price = 3 }, 3)    -- stops passing: tombstone for a
    prices:pipe("b", { price = 15 }, 4)   -- b -> 30
    prices:pipe("b", nil, 5)              -- deleted: tombstone for b
    prices:pipe("c", nil, 6)              -- deleting an absent row: nothing
    assert.same({
      { key = "a", value = 40, timestamp = 2, headers = {} },
      { key = "a", timestamp = 3, headers = {} },
      { key = "b", value = 30, timestamp = 4, headers = {} },
      { key = "b", timestamp = 5, headers = {} },
    }, d:output("out"):read_all())
    assert.same({ price = 3 }, d:store("prices_store"):get("a"))
    assert.is_nil(d:store("prices_store"):get("b"))
    d:close()
  end)
end)
