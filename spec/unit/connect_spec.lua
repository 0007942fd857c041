-- streamhost.connect: the workshop's connector JSON (as POSTed to Connect,
-- host names and credentials changed) turned into apps, through the test
-- driver where the driver can run them (the JDBC sink), and the transform
-- chain against the hand-written app's (examples/mysql_cdc/app.lua).
local cjson = require "cjson"
local connect = require "streamhost.connect"
local mysql = require "streamhost.mysql"
local smt = require "streamhost.smt"
local testing = require "streamhost.testing"

local helpers = require "spec.helpers"

local function helpers_read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

-- the workshop's mysql-source-connector and jdbc-mysql-sink
-- (spec/fixtures/workshop/), their hosts made local
local LOCAL = { { '"database.hostname": "mysql"', '"database.hostname": "127.0.0.1"' },
                { "broker:29092", "127.0.0.1:9092" },
                { "jdbc:mysql://mysql:3306/orders", "jdbc:mysql://127.0.0.1:3306/orders" } }
local SOURCE = helpers.workshop_connector("1-mysql-source-connector.sh", LOCAL)
local SINK = helpers.workshop_connector("5-jdbc-mysql-sink.sh", LOCAL)

local function envelope(table_name, id, name)
  return { topic = "dc01.orders." .. table_name, key = { id = id },
           value = { before = cjson.null, after = { id = id, name = name }, op = "c",
                     source = { db = "orders", table = table_name }, ts_ms = 1 },
           headers = {}, timestamp = 1 }
end

describe("streamhost.connect", function()
  it("lists the connector classes it has, and refuses another with that list", function()
    local classes = {}
    for _, p in ipairs(connect.plugins()) do classes[p.class] = p.type end
    assert.equal("source", classes["io.debezium.connector.mysql.MySqlConnector"])
    assert.equal("sink", classes["io.confluent.connect.jdbc.JdbcSinkConnector"])
    local spec, err = connect.app { name = "x", config = { ["connector.class"] = "com.example.Nope" } }
    assert.is_nil(spec)
    assert.matches("com.example.Nope", err, 1, true)
    assert.matches("io.debezium.connector.mysql.MySqlConnector", err, 1, true)
    assert.matches("io.confluent.connect.jdbc.JdbcSinkConnector", err, 1, true)
  end)

  it("refuses unknown transforms and converters, naming the alias", function()
    local config = {}
    for k, v in pairs(SOURCE.config) do config[k] = v end
    config["transforms.unwrap.type"] = "com.example.Magic"
    local _, err = connect.app { name = "x", config = config }
    assert.matches("transform unwrap: unknown type com.example.Magic", err, 1, true)
    config["transforms.unwrap.type"] = "io.debezium.transforms.ExtractNewRecordState"
    config["key.converter"] = "com.example.Converter"
    local spec = assert(connect.app { name = "x", config = config })
    local _, build_err = pcall(spec.topology, require("streamhost.builder").new("x"))
    assert.matches("key.converter: unknown class com.example.Converter", build_err, 1, true)
    local _, check_err = connect.check { name = "x", config = config }
    assert.matches("key.converter: unknown class", check_err, 1, true)
  end)

  it("runs the workshop's four transforms as examples/mysql_cdc/app.lua does", function()
    local chain = connect.transform_chain(SOURCE.config)
    local by_hand = smt.chain(
      smt.unwrap(),
      smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" },
      smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" },
      smt.extract_field_key { field = "id" })
    for _, row in ipairs { { "customers", 1, "Ann" }, { "products", 7, "tea" } } do
      assert.same(by_hand(envelope(unpack(row))), chain(envelope(unpack(row))))
    end
    local out = chain(envelope("customers", 2, "Bo"))
    assert.equal("dc01_customers", out.topic)
    assert.equal(2, out.key)
    assert.same({ id = 2, name = "Bo", sourcedc = "dc01" }, out.value)
  end)

  it("gives the CDC source Debezium's properties and none of Connect's own", function()
    local spec = assert(connect.check(SOURCE, { bootstrap = "127.0.0.1:1" }))
    assert.equal("mysql-source-connector", spec.id)
    assert.equal("127.0.0.1:1", spec.kafka["bootstrap.servers"])
    local b = require("streamhost.builder").new(spec.id)
    spec.topology(b)
    local props = {}
    for _, kv in ipairs(b.mysql_cdc_props) do props[kv[1]] = kv[2] end
    assert.equal("12345", props["database.server.id"])
    assert.equal("when_needed", props["snapshot.mode"])
    assert.is_nil(props["connector.class"])
    assert.is_nil(props["transforms"])
    assert.is_nil(props["key.converter"])
  end)

  it("runs the workshop's JDBC sink: each event a row of its topic's table", function()
    local spec = assert(connect.check(SINK))
    local d = testing.driver(spec)
    d:input("dc01_out_of_stock_events", { key = "int", value = "json" })
     :pipe(28, { product_id = 28, stock_level = -85, demand_last_3mins = 12, quantity_to_purchase = 97 }, 1)
    local rows = d:output("mysql:dc01_out_of_stock_events", { key = "bytes", value = "bytes" }):read_all()
    assert.equal(1, #rows)
    local row = mysql.decode_row(rows[1].value)
    local text = cjson.encode(row)
    assert.matches("quantity_to_purchase", text, 1, true)
    assert.matches("97", text, 1, true)
    d:close()
  end)

  it("applies a transform only where its predicate holds, and Filter drops", function()
    local chain = connect.transform_chain {
      transforms = "dropTombstones,tag",
      ["transforms.dropTombstones.type"] = "org.apache.kafka.connect.transforms.Filter",
      ["transforms.dropTombstones.predicate"] = "isTombstone",
      ["transforms.tag.type"] = "org.apache.kafka.connect.transforms.InsertField$Value",
      ["transforms.tag.static.field"] = "tagged",
      ["transforms.tag.static.value"] = "yes",
      ["transforms.tag.predicate"] = "onOrders",
      predicates = "isTombstone,onOrders",
      ["predicates.isTombstone.type"] = "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
      ["predicates.onOrders.type"] = "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
      ["predicates.onOrders.pattern"] = "orders.*",
    }
    assert.is_nil(chain { topic = "orders", key = 1, value = nil, headers = {} })
    assert.equal("yes", chain({ topic = "orders", key = 1, value = { a = 1 }, headers = {} }).value.tagged)
    assert.is_nil(chain({ topic = "other", key = 1, value = { a = 1 }, headers = {} }).value.tagged)
  end)

  it("runs from examples/connect/connector.lua with the JSON in STREAMHOST_CONNECTOR", function()
    -- the app file is loaded sandboxed, as `run` loads it; the spec cannot
    -- set the variable, so the file's refusal without it is what is checked
    local ok, err = pcall(testing.load, "examples/connect/connector.lua")
    if os.getenv("STREAMHOST_CONNECTOR") then
      assert.is_true(ok, tostring(err))
    else
      assert.is_false(ok)
      assert.matches("set STREAMHOST_CONNECTOR", tostring(err), 1, true)
    end
  end)
  it("takes Replicator's JSON as a connector run by `streamhost replicate`, checked at POST", function()
    local replicator = cjson.decode(helpers_read("examples/replicator/replicator-dc01-to-ccloud.json"))
    replicator.config[""] = "SASL_SSL"   -- a key the workshop's text lost: ignored
    assert.is_truthy(connect.check(replicator))
    assert.equal("replicate", connect.command_of(replicator.config["connector.class"]))
    assert.is_nil(connect.command_of("io.confluent.connect.jdbc.JdbcSinkConnector"))
    assert.equal("source", connect.type_of(replicator.config["connector.class"]))
    local _, err = connect.app(replicator)
    assert.matches("streamhost replicate", err, 1, true)
    replicator.config["topic.regexp"] = "x"
    _, err = connect.check(replicator)
    assert.matches("unknown property 'topic.regexp'", err, 1, true)
    replicator.config["topic.regexp"] = nil
    replicator.config["dest.kafka.bootstrap.servers"] = nil
    _, err = connect.check(replicator)
    assert.matches("dest.kafka.bootstrap.servers is required", err, 1, true)
  end)
end)
