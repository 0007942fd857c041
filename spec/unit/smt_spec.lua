-- Connect's transforms (streamhost.smt) on the workshop's own events: the
-- Debezium change events of the orders database, as the CDC source writes
-- them, and the chain the workshop's connector posts (unwrap, sourcedc,
-- TopicRename, extractKey). Every expected result is written out by hand.
local sh = require "streamhost"
local smt = require "streamhost.smt"
local serde = require "streamhost.serde"
local testing = require "streamhost.testing"

local null = serde.null

-- A change event of orders.sales_orders, as Debezium's MySQL connector writes it.
local function envelope(op, before, after)
  return {
    before = before or null, after = after or null, op = op, ts_ms = 1589969387500,
    source = { version = "streamhost-0.1.0", connector = "mysql", name = "dc01",
               ts_ms = 1589969387000, snapshot = "false", db = "orders",
               table = "sales_orders", server_id = 1, gtid = "0-1-42",
               file = "binlog.000002", pos = 4479, row = 0 },
  }
end

local order = { id = 1, order_date = 1589969387000, customer_id = 14 }
local order_later = { id = 1, order_date = 1589969387000, customer_id = 7 }

local function rec(value, key, topic)
  return { topic = topic or "dc01.orders.sales_orders", key = key or { id = 1 }, value = value,
           headers = {}, timestamp = 1589969387000, partition = 0, offset = 5 }
end

describe("smt", function()
  describe("unwrap (ExtractNewRecordState)", function()
    it("turns a create into the row after it", function()
      local out = smt.unwrap()(rec(envelope("c", nil, order)))
      assert.same(order, out.value)
      assert.same({ id = 1 }, out.key)
    end)

    it("turns an update into the row after it", function()
      assert.same(order_later, smt.unwrap()(rec(envelope("u", order, order_later))).value)
    end)

    it("keeps snapshot reads (op r)", function()
      assert.same(order, smt.unwrap()(rec(envelope("r", nil, order))).value)
    end)

    it("drops deletes and tombstones by default", function()
      assert.is_nil(smt.unwrap()(rec(envelope("d", order, nil))))
      assert.is_nil(smt.unwrap()(rec(nil)))
    end)

    it("rewrites deletes with __deleted when asked, and marks the others false", function()
      local t = smt.unwrap { ["delete.handling.mode"] = "rewrite" }
      local deleted = t(rec(envelope("d", order, nil))).value
      assert.same({ id = 1, order_date = 1589969387000, customer_id = 14, __deleted = "true" },
                  deleted)
      assert.equal("false", t(rec(envelope("c", nil, order))).value.__deleted)
    end)

    it("keeps deletes as null values with delete.handling.mode none, and tombstones when asked",
       function()
      local t = smt.unwrap { ["delete.handling.mode"] = "none", ["drop.tombstones"] = false }
      local out = t(rec(envelope("d", order, nil)))
      assert.is_nil(out.value)
      assert.is_nil(t(rec(nil)).value)
    end)

    it("adds the fields and headers it is asked for, with Debezium's __ prefix", function()
      local t = smt.unwrap { ["add.fields"] = "op,table,source.ts_ms", ["add.headers"] = "db" }
      local out = t(rec(envelope("c", nil, order)))
      assert.same({ id = 1, order_date = 1589969387000, customer_id = 14, __op = "c",
                    __table = "sales_orders", __source_ts_ms = 1589969387000 }, out.value)
      assert.same({ { key = "__db", value = "orders" } }, out.headers)
    end)

    it("passes records that are no change events through", function()
      local plain = rec({ product_id = 3 })
      assert.equal(plain, smt.unwrap()(plain))
    end)

    it("refuses an unknown delete.handling.mode at the app's line", function()
      assert.has_error(function() smt.unwrap { ["delete.handling.mode"] = "keep" } end,
        "smt.unwrap: delete.handling.mode must be drop, rewrite or none, got 'keep'")
    end)
  end)

  describe("insert_field", function()
    it("adds the static field the workshop's sourcedc transform adds", function()
      local t = smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" }
      assert.same({ id = 1, order_date = 1589969387000, customer_id = 14, sourcedc = "dc01" },
                  t(rec(order)).value)
    end)

    it("adds topic, partition, offset and timestamp fields", function()
      local t = smt.insert_field { ["topic.field"] = "t", ["partition.field"] = "p",
                                   ["offset.field"] = "o!", ["timestamp.field"] = "ts?" }
      local v = t(rec({ id = 1 })).value
      assert.same({ id = 1, t = "dc01.orders.sales_orders", p = 0, o = 5, ts = 1589969387000 }, v)
    end)

    it("leaves tombstones alone and adds to keys with insert_field_key", function()
      assert.is_nil(smt.insert_field { ["static.field"] = "x", ["static.value"] = 1 }(rec(nil)).value)
      local t = smt.insert_field_key { ["static.field"] = "dc", ["static.value"] = "dc01" }
      assert.same({ id = 1, dc = "dc01" }, t(rec(order)).key)
    end)
  end)

  describe("regex_router", function()
    it("renames dc01.orders.sales_orders to dc01_sales_orders, as TopicRename does", function()
      local t = smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" }
      assert.equal("dc01_sales_orders", t(rec(order)).topic)
    end)

    it("leaves topics that do not match as a whole", function()
      local t = smt.regex_router { regex = "dc01\\.orders\\.(.*)", replacement = "orders-$1" }
      assert.equal("dc02.orders.products", t(rec(order, nil, "dc02.orders.products")).topic)
      assert.equal("orders-products", t(rec(order, nil, "dc01.orders.products")).topic)
    end)
  end)

  describe("extract_field_key / extract_field_value", function()
    it("makes the key the id, as the workshop's extractKey", function()
      assert.equal(1, smt.extract_field_key { field = "id" }(rec(order)).key)
    end)

    it("makes the value one field", function()
      assert.equal(14, smt.extract_field_value { field = "customer_id" }(rec(order)).value)
    end)
  end)

  it("value_to_key builds the key from value fields", function()
    local t = smt.value_to_key { fields = "id,customer_id" }
    assert.same({ id = 1, customer_id = 14 }, t(rec(order, "ignored")).key)
  end)

  describe("replace_field", function()
    it("keeps the included fields and renames", function()
      local t = smt.replace_field { include = "id,customer_id", renames = "customer_id:customer" }
      assert.same({ id = 1, customer = 14 }, t(rec(order)).value)
    end)

    it("drops the excluded fields (blacklist, as Connect 1.x called it)", function()
      local t = smt.replace_field { blacklist = "order_date" }
      assert.same({ id = 1, customer_id = 14 }, t(rec(order)).value)
    end)
  end)

  describe("cast", function()
    it("casts fields of the value", function()
      local t = smt.cast { spec = "id:string,customer_id:float64,order_date:int64" }
      assert.same({ id = "1", order_date = 1589969387000, customer_id = 14 }, t(rec(order)).value)
    end)

    it("casts the whole key, and refuses unknown types", function()
      assert.equal("1", smt.cast_key { spec = "string" }(rec(order, 1)).key)
      assert.has_error(function() smt.cast { spec = "id:uuid" } end)
      assert.has_error(function() smt.cast { spec = "id:int8" }(rec({ id = 300 })) end)
    end)
  end)

  describe("timestamp_converter", function()
    it("formats order_date as a string, SimpleDateFormat style, in UTC", function()
      local t = smt.timestamp_converter { field = "order_date", ["target.type"] = "string",
                                          format = "yyyy-MM-dd'T'HH:mm:ss.SSS" }
      assert.equal("2020-05-20T10:09:47.000", t(rec(order)).value.order_date)
    end)

    it("reads strings back to unix time, in the precision asked", function()
      local t = smt.timestamp_converter { field = "d", ["target.type"] = "unix",
                                          format = "yyyy-MM-dd HH:mm:ss",
                                          ["unix.precision"] = "seconds" }
      assert.equal(1589969387, t(rec({ d = "2020-05-20 10:09:47" })).value.d)
    end)

    it("truncates to the day for Date", function()
      local t = smt.timestamp_converter { field = "order_date", ["target.type"] = "Date" }
      assert.equal(1589932800000, t(rec(order)).value.order_date)
    end)
  end)

  describe("filter with predicates", function()
    it("drops the records the predicate holds for", function()
      local t = smt.filter { predicate = smt.topic_name_matches { pattern = ".*\\.products" } }
      assert.is_nil(t(rec(order, nil, "dc01.orders.products")))
      assert.is_not_nil(t(rec(order)))
    end)

    it("keeps only them with negate", function()
      local t = smt.filter { predicate = smt.record_is_tombstone(), negate = true }
      assert.is_nil(t(rec(order)))
      assert.is_not_nil(t(rec(nil)))
    end)

    it("tests headers", function()
      local r = rec(order)
      r.headers = { { key = "__db", value = "orders" } }
      assert.is_nil(smt.filter { predicate = smt.has_header_key { name = "__db" } }(r))
    end)
  end)

  it("mask_field blanks the fields by type", function()
    local t = smt.mask_field { fields = "customer_id,name" }
    assert.same({ id = 1, customer_id = 0, name = "" },
                t(rec({ id = 1, customer_id = 14, name = "Ann" })).value)
    local r = smt.mask_field { fields = "name", replacement = "***" }(rec({ name = "Ann" }))
    assert.equal("***", r.value.name)
  end)

  it("hoist_field wraps the value (and key) in a struct", function()
    assert.same({ qty = 10 }, smt.hoist_field { field = "qty" }(rec(10)).value)
    assert.same({ id = 1 }, smt.hoist_field_key { field = "id" }(rec(order, 1)).key)
  end)

  it("chain applies transforms in order and stops at a drop", function()
    local t = smt.chain(smt.unwrap(), smt.extract_field_key { field = "id" })
    assert.equal(1, t(rec(envelope("c", nil, order))).key)
    assert.is_nil(t(rec(envelope("d", order, nil))))
  end)

  describe("in a topology", function()
    -- The workshop's connector, as an app: CDC records in, dc01_* topics out.
    local function workshop_app()
      return sh.app {
        id = "mysql-source-connector",
        topology = function(b)
          b:mysql_cdc { ["database.server.id"] = 12345, ["topic.prefix"] = "dc01",
                        ["database.include.list"] = "orders" }
           :transform(smt.unwrap())
           :transform(smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" })
           :transform(smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" })
           :transform(smt.extract_field_key { field = "id" })
           :to(function(_, _, r) return r.topic end, { key = "int", value = "json" })
        end,
      }
    end

    it("routes each table's events to its dc01_<table> topic with int keys", function()
      local d = testing.driver(workshop_app())
      local input = d:input("mysql-cdc:dc01")
      input:pipe({ id = 1 }, envelope("r", nil, order), 1000, nil, "dc01.orders.sales_orders")
      input:pipe({ id = 3 }, envelope("c", nil, { id = 3, name = "widget", price = "2.68" }), 1001,
                 nil, "dc01.orders.products")
      input:pipe({ id = 1 }, envelope("u", order, order_later), 1002, nil, "dc01.orders.sales_orders")
      input:pipe({ id = 1 }, envelope("d", order_later, nil), 1003, nil, "dc01.orders.sales_orders")
      input:pipe({ id = 1 }, nil, 1003, nil, "dc01.orders.sales_orders") -- the tombstone
      local orders = d:output("dc01_sales_orders"):read_all()
      assert.same({ 1, 1 }, { orders[1].key, orders[2].key })
      assert.same({ id = 1, order_date = 1589969387000, customer_id = 14, sourcedc = "dc01" },
                  orders[1].value)
      assert.same({ id = 1, order_date = 1589969387000, customer_id = 7, sourcedc = "dc01" },
                  orders[2].value)
      assert.equal(2, #orders)
      local products = d:output("dc01_products"):read_all()
      assert.same({ { key = 3, value = { id = 3, name = "widget", price = "2.68", sourcedc = "dc01" },
                      timestamp = 1001, headers = {} } }, products)
      d:close()
    end)

    it("describes the topic function as such", function()
      local d = testing.driver(workshop_app())
      assert.matches("Sink: KSTREAM%-SINK%-%d+ %(topic: <topic function>%)", d:describe())
      d:close()
    end)

    it("refuses a topic function that returns no name, naming the record", function()
      local d = testing.driver(sh.app {
        id = "bad-topic",
        topology = function(b)
          b:stream("in", { key = "string", value = "json" })
           :to(function() return nil end, { key = "string", value = "json" })
        end,
      })
      assert.has_error(function() d:input("in"):pipe("k", { a = 1 }) end)
      d:close()
    end)

    it("refuses mysql_cdc without a topic prefix", function()
      assert.has_error(function()
        testing.driver(sh.app { id = "x", topology = function(b)
          b:mysql_cdc { ["database.server.id"] = 1 }
        end })
      end)
    end)
  end)
end)
