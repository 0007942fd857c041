-- streamhost.record_schema: the schemas records carry from the CDC source,
-- how the SMTs change them as Connect's do, Connect's JSON form turned into
-- the avro serde's values, and the sink's column types.
local record_schema = require "streamhost.record_schema"
local smt = require "streamhost.smt"
local cjson = require "cjson"

local null = cjson.null

-- Debezium's schemas for a table t(id INT PRIMARY KEY, price DECIMAL(10,2),
-- bl BLOB, dt DATE), as runtime/mysql/debezium_schema.c writes them
local DECIMAL = [[{"type":"bytes","scale":2,"precision":10,"connect.version":1,
  "connect.parameters":{"scale":"2","connect.decimal.precision":"10"},
  "connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}]]
local CDC = [[{"key":{"type":"record","name":"Key","namespace":"p.db.t","fields":[
  {"name":"id","type":"int"}],"connect.name":"p.db.t.Key"},
 "value":{"type":"record","name":"Envelope","namespace":"p.db.t","fields":[
  {"name":"before","type":["null",{"type":"record","name":"Value","fields":[
    {"name":"id","type":"int"},
    {"name":"price","type":["null",]] .. DECIMAL .. [[],"default":null},
    {"name":"bl","type":["null","bytes"],"default":null},
    {"name":"dt","type":["null",{"type":"int","connect.version":1,
      "connect.name":"io.debezium.time.Date"}],"default":null}],
    "connect.name":"p.db.t.Value"}],"default":null},
  {"name":"after","type":["null","Value"],"default":null},
  {"name":"source","type":{"type":"record","name":"Source","namespace":"io.debezium.connector.mysql",
    "fields":[{"name":"db","type":"string"},{"name":"ts_ms","type":"long"}]}},
  {"name":"op","type":"string"},
  {"name":"ts_ms","type":["null","long"],"default":null}],
  "connect.name":"p.db.t.Envelope"}}]]

describe("record_schema", function()
  it("reads a CDC pair once per text", function()
    local k1, v1 = record_schema.from_cdc(CDC)
    local k2, v2 = record_schema.from_cdc(CDC)
    assert.equal(k1, k2)
    assert.equal(v1, v2)
    assert.equal("Envelope", v1.t.name)
    assert.is_true(v1.connect)
  end)

  it("turns Connect's JSON form into the avro serde's values, leaving the value alone", function()
    local _, envelope = record_schema.from_cdc(CDC)
    -- -12345.67 unscaled is -1234567: two's complement ed 29 79, base64 "7Sl5"
    local row = { id = 1, price = "7Sl5", bl = "AP8=", dt = 19782 }
    local value = { before = null, after = row, op = "c" }
    local out = record_schema.avro_value(envelope, value)
    assert.same({ id = 1, price = "-12345.67", bl = "\0\255", dt = 19782 }, out.after)
    assert.equal("7Sl5", value.after.price)
    assert.equal("0.00", record_schema.decimal_text("\0", 2))
    assert.equal("1.28", record_schema.decimal_text("\0\128", 2))
    assert.equal("-1.28", record_schema.decimal_text("\255\128", 2))
    assert.equal("-0.01", record_schema.decimal_text("\255", 2))
    assert.equal("12345678901234567890.0123456789",
                 record_schema.decimal_text(record_schema.from_base64("AY7pD/bDc+DuDATVFQ=="), 10))
  end)

  it("follows unwrap, insert_field, extract_field_key and regex_router as Connect does", function()
    local k, envelope = record_schema.from_cdc(CDC)
    local chain = smt.chain(smt.unwrap(),
                            smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" },
                            smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" },
                            smt.extract_field_key { field = "id" })
    local rec = chain({ topic = "p.db.t", key = { id = 1 },
                        value = { before = null, after = { id = 1, price = "7Sl5" }, op = "c" },
                        key_schema = k, value_schema = envelope })
    assert.equal("p_t", rec.topic)
    assert.equal(1, rec.key)
    assert.equal("int", rec.key_schema.t)
    local v = rec.value_schema.t
    assert.same({ "Value", "p.db.t", "p.db.t.Value" }, { v.name, v.namespace, v["connect.name"] })
    local last = v.fields[#v.fields]
    assert.same({ name = "sourcedc", type = { "null", "string" }, default = null }, last)
    assert.is_true(record_schema.covers(rec.value_schema, rec.value))
    -- the same steps give the same objects: one registration per schema
    local again = chain({ topic = "p.db.t", key = { id = 2 },
                          value = { before = null, after = { id = 2 }, op = "c" },
                          key_schema = k, value_schema = envelope })
    assert.equal(rec.value_schema, again.value_schema)
    -- a transform that reshapes the value without a schema leaves it unknown
    local cast = smt.cast { spec = "id:string" }({ value = { id = 1 }, value_schema = rec.value_schema })
    assert.is_nil(cast.value_schema)
  end)

  it("says a value no longer fits when it has a field the schema lacks or misses a required one",
     function()
    local _, envelope = record_schema.from_cdc(CDC)
    local row = record_schema.field(envelope, "after")
    assert.is_true(record_schema.covers(row, { id = 1 }))
    assert.is_false(record_schema.covers(row, { id = 1, extra = 2 }))
    assert.is_false(record_schema.covers(row, { price = "AA==" }))
  end)

  it("gives the sink's column types", function()
    local _, envelope = record_schema.from_cdc(CDC)
    local types = record_schema.sql_types(record_schema.field(envelope, "after"))
    assert.same({ "INT" }, types.id)
    assert.same({ "DECIMAL(10,2)" }, types.price)
    assert.same({ "LONGBLOB" }, types.bl)
    assert.same({ "DATE", "date_days" }, types.dt)
  end)
end)
