-- stream:to_mysql through the test driver (no server): the JDBC sink's
-- properties checked at the app's line, and the rows it hands the C sink
-- for each pk.mode, fields.whitelist, tombstones and exactly.once.
local sh = require "streamhost"
local testing = require "streamhost.testing"
local mysql = require "streamhost.mysql"

local URL = "jdbc:mysql://127.0.0.1:3306/orders"

local function app(props, key)
  return sh.app {
    id = "to-mysql-unit",
    on_error = "skip",
    topology = function(b)
      props["connection.url"] = props["connection.url"] or URL
      b:stream("events", { key = key or "string", value = "json" }):to_mysql(props)
    end,
  }
end

local function rows(d, tbl)
  local list = {}
  for _, r in ipairs(d:output("mysql:" .. tbl, { key = "bytes", value = "bytes" }):read_all()) do
    local row = mysql.decode_row(r.value)
    row.headers = r.headers
    list[#list + 1] = row
  end
  return list
end

describe("stream:to_mysql", function()
  it("checks the properties where the app declares them", function()
    local function err(props, key)
      local ok, e = pcall(testing.driver, app(props, key))
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("unknown property 'insert.modes'", err({ ["insert.modes"] = "insert" }))
    assert.matches("insert.mode must be insert, upsert or update", err({ ["insert.mode"] = "merge" }))
    assert.matches("insert.mode upsert needs a primary key", err({ ["insert.mode"] = "upsert" }))
    assert.matches("delete.enabled needs pk.mode = record_key",
                   err({ ["delete.enabled"] = true, ["pk.mode"] = "record_value" }))
    assert.matches("pk.mode record_key with a int key needs pk.fields",
                   err({ ["pk.mode"] = "record_key" }, "int"))
    assert.matches("batch.size must be a whole number", err({ ["batch.size"] = 0 }))
    local ok, e = pcall(testing.driver, sh.app {
      id = "to-mysql-unit",
      topology = function(b)
        b:stream("events", { key = "string", value = "json" }):to_mysql { topics = "ignored" }
      end,
    })
    assert.is_false(ok)
    assert.matches("mysql_sink_spec.lua:%d+: to_mysql: 'connection.url' is required", e)
  end)

  it("refuses two exactly.once to_mysql on one table", function()
    local ok, e = pcall(testing.driver, sh.app {
      id = "to-mysql-unit",
      topology = function(b)
        local s = b:stream("events", { key = "string", value = "json" })
        s:to_mysql { ["connection.url"] = URL, ["exactly.once"] = true, ["table.name.format"] = "t" }
        s:to_mysql { ["connection.url"] = URL, ["table.name.format"] = "t" }
      end,
    })
    assert.is_false(ok)
    assert.matches("mysql_sink_spec.lua:%d+: to_mysql: table 't' is already written by another", e)
  end)

  it("writes the value's fields, sorted, typed, with no key for pk.mode none", function()
    local d = testing.driver(app({ ["auto.create"] = true }))
    d:input("events"):pipe("k1", { n = 1, name = "a", price = 2.5, ok = true, tags = { 1, 2 },
                                   gone = sh.null or nil }, 10)
    local r = rows(d, "events")
    assert.equal(1, #r)
    assert.equal("W", r[1].op)
    assert.same({ n = "1", name = "a", price = "2.5", ok = "1", tags = "[1,2]" }, r[1].fields)
    assert.same({ n = "i", name = "s", price = "f", ok = "b", tags = "j" }, r[1].types)
    assert.same({}, r[1].keys)
    assert.same({}, r[1].headers) -- no position without exactly.once
    d:close()
  end)

  it("takes the key columns from pk.mode and leaves the value's copy out", function()
    local d = testing.driver(app({ ["insert.mode"] = "upsert", ["pk.mode"] = "record_key",
                                   ["pk.fields"] = "id" }, "int"))
    d:input("events"):pipe(7, { id = 7, qty = 3 }, 10)
    local r = rows(d, "events")[1]
    assert.same({ id = "7", qty = "3" }, r.fields)
    assert.same({ id = true }, r.keys)
    d:close()

    d = testing.driver(app({ ["insert.mode"] = "upsert", ["pk.mode"] = "record_value",
                             ["pk.fields"] = "a,b", ["fields.whitelist"] = "c" }))
    d:input("events"):pipe("x", { a = 1, b = "two", c = 3, d = 4 }, 10)
    r = rows(d, "events")[1]
    assert.same({ a = "1", b = "two", c = "3" }, r.fields)
    assert.same({ a = true, b = true }, r.keys)
    d:close()

    d = testing.driver(app({ ["pk.mode"] = "kafka" }))
    d:input("events"):pipe("x", { v = 1 }, 10)
    r = rows(d, "events")[1]
    assert.same({ __connect_topic = "events", __connect_partition = "0", __connect_offset = "0",
                  v = "1" }, r.fields)
    assert.same({ __connect_topic = true, __connect_partition = true, __connect_offset = true },
                r.keys)
    d:close()
  end)

  it("deletes on a tombstone with delete.enabled, and refuses one without", function()
    local d = testing.driver(app({ ["pk.mode"] = "record_key", ["pk.fields"] = "id",
                                   ["delete.enabled"] = true }))
    d:input("events"):pipe("k9", nil, 10)
    local r = rows(d, "events")[1]
    assert.equal("D", r.op)
    assert.same({ id = "k9" }, r.fields)
    d:close()

    d = testing.driver(app({}))
    d:input("events"):pipe("k9", nil, 10) -- on_error = skip
    d:input("events"):pipe("k10", "not an object", 11)
    assert.equal(0, #rows(d, "events"))
    d:close()
  end)

  it("names each table from table.name.format and the record's topic", function()
    local d = testing.driver(sh.app {
      id = "to-mysql-unit",
      topology = function(b)
        b:stream({ "a", "b" }, { key = "string", value = "json" })
         :to_mysql { ["connection.url"] = URL, ["table.name.format"] = "kafka_${topic}" }
      end,
    })
    d:input("a"):pipe("k", { v = 1 }, 1)
    d:input("b"):pipe("k", { v = 2 }, 2)
    assert.equal("1", rows(d, "kafka_a")[1].fields.v)
    assert.equal("2", rows(d, "kafka_b")[1].fields.v)
    assert.truthy(d:describe():find("MySQL table: kafka_a, kafka_b", 1, true))
    d:close()
  end)

  it("passes each row's input position for exactly.once, ranked per input", function()
    local d = testing.driver(sh.app {
      id = "to-mysql-unit",
      topology = function(b)
        b:stream("events", { key = "string", value = "json" })
         :flat_map_values(function(v) return { v, v } end)
         :to_mysql { ["connection.url"] = URL, ["exactly.once"] = true }
      end,
    })
    d:input("events"):pipe("k", { v = 1 }, 1)
    d:input("events"):pipe("k", { v = 2 }, 2)
    local origins = {}
    for _, r in ipairs(rows(d, "events")) do origins[#origins + 1] = r.headers[1].value end
    assert.same({ "events/0:0:0", "events/0:0:1", "events/0:1:0", "events/0:1:1" }, origins)
    d:close()
  end)
end)
