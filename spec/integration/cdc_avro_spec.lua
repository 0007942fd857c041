-- The MySQL CDC source and the MySQL sink on Avro, against a real MariaDB
-- and `streamhost broker --registry`, read back by Debian's python3-avro
-- (spec/fixtures/avro_cdc.py) with the schemas it fetches from the
-- registry: Debezium's schemas (record names, io.debezium.time names,
-- nullable unions, decimals exact), one schema for a snapshot row and a
-- streamed one, ALTER TABLE ADD COLUMN as a new BACKWARD-compatible
-- version, decimal.handling.mode's three forms, and a sink whose
-- auto.create/auto.evolve take the column types from the schemas.
local helpers = require "spec.helpers"
local cjson = require "cjson"

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000)
local RUN = tostring(os.time() % 100000) .. tostring(math.random(100, 999))
-- one database per test, so that none depends on another's writes
local function db_name(kind) return "cdc_avro_" .. kind .. "_" .. RUN end
local READER = "/usr/bin/python3 spec/fixtures/avro_cdc.py"

local COLUMNS = [[id INT PRIMARY KEY, ti TINYINT, su SMALLINT UNSIGNED, iu INT UNSIGNED,
  bi BIGINT NOT NULL, f FLOAT, d DOUBLE, dec1 DECIMAL(10,2), dec2 DECIMAL(30,10) NOT NULL,
  c CHAR(5), bl BLOB, dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME,
  yr YEAR, e ENUM('a','b'), s SET('x','y'), b1 BIT(1), b BIT(10)]]
local VALUES = [[-5, 60000, 4000000000, 123, 1.5, 2.25, -12345.67,
  '12345678901234567890.0123456789', 'ab', X'00FF', '2024-02-29', '2024-01-02 03:04:05',
  '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.789', '-12:34:56', 2024, 'b', 'x,y', b'1',
  b'1010101010']]

local function app_text(id, port, registry, mode, database, decimal_mode)
  local props = string.format([[
      ["database.hostname"] = "127.0.0.1", ["database.port"] = %d,
      ["database.user"] = "mysqluser", ["database.password"] = "mysqlpw",
      ["database.server.id"] = %d, ["topic.prefix"] = "%s",
      ["database.include.list"] = "%s", ["decimal.handling.mode"] = "%s",]],
      port, 5000 + math.random(1, 90000), id, database, decimal_mode or "precise")
  local chain = mode == "rows" and [[
     :transform(smt.unwrap())
     :transform(smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" })
     :transform(smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" })
     :transform(smt.extract_field_key { field = "id" })
     :to(function(_, _, rec) return rec.topic end, { key = "int", value = "avro" })]] or [[
     :to(function(_, _, rec) return rec.topic end, { key = "avro", value = "avro" })]]
  return ([[
local sh, smt = require "streamhost", require "streamhost.smt"
return sh.app {
  id = "%s",
  kafka = { ["schema.registry.url"] = "%s" },
  topology = function(b)
    b:mysql_cdc {
%s
    }
%s
  end,
}
]]):format(id, registry, props, chain)
end

local function read_avro(bootstrap, registry, topic, n)
  local p = io.popen(READER .. " " .. bootstrap .. " " .. registry .. " " .. topic .. " " .. n ..
                     " 2>&1")
  local list = {}
  for line in p:lines() do
    local ok, r = pcall(cjson.decode, line)
    assert(ok, line)
    list[#list + 1] = r
  end
  p:close()
  return list
end

-- a record schema's field types by name
local function fields_of(schema)
  local by_name = {}
  for _, f in ipairs(schema.fields) do by_name[f.name] = f end
  return by_name
end

describe("mysql_cdc and to_mysql on Avro", function()
  local db, dir, broker, bootstrap, registry
  local pids = {}

  local function start_app(id, text)
    local app = dir .. "/" .. id .. ".lua"
    helpers.write_file(app, text)
    local log = dir .. "/" .. id .. ".log"
    local pid = helpers.spawn(helpers.bin .. " run " .. app .. " --http off --bootstrap " ..
                              bootstrap .. " --state-dir " .. dir .. "/state-" .. id, log)
    pids[#pids + 1] = pid
    return pid, log
  end

  local function stop(pid)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid, 30000)
  end

  setup(function()
    db = helpers.mariadb()
    dir = helpers.tmpdir()
    local topics = {}
    for kind, id in pairs({ env = "cav-env-" .. RUN, str = "cav-str-" .. RUN,
                            dbl = "cav-dbl-" .. RUN }) do
      topics[#topics + 1] = id .. "." .. db_name(kind) .. ".t:1"
    end
    topics[#topics + 1] = "cav-rows-" .. RUN .. "_t:1"
    broker = helpers.start_registry_broker(dir, topics)
    bootstrap, registry = broker.bootstrap, broker.registry
    for _, kind in ipairs({ "env", "rows", "str", "dbl" }) do
      local name = db_name(kind)
      db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE t (%s); INSERT INTO t VALUES (1, %s);")
             :format(name, name, COLUMNS, VALUES))
    end
  end)

  teardown(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    if broker then broker.stop() end
    if db then
      for _, kind in ipairs({ "env", "rows", "str", "dbl" }) do
        db.sql("DROP DATABASE IF EXISTS " .. db_name(kind))
      end
    end
  end)

  it("writes Debezium's Key and Envelope schemas, snapshot and binlog alike, as python3-avro reads them",
     function()
    local id, DB = "cav-env-" .. RUN, db_name("env")
    local pid, log = start_app(id, app_text(id, db.port, registry, "envelope", DB))
    local topic = id .. "." .. DB .. ".t"
    helpers.wait_records(bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO t VALUES (2, %s); UPDATE t SET dec1 = 0.5 WHERE id = 2;")
           :format(DB, VALUES))
    local events = read_avro(bootstrap, registry, topic, 3)
    stop(pid)
    assert.equal(3, #events)
    local ns = id:gsub("-", "_") .. "." .. DB .. ".t"
    for _, e in ipairs(events) do
      assert.equal(ns .. ".Envelope", e.schema)
      assert.equal(ns .. ".Key", e.key_schema)
      -- python3-avro, writing what it read with the same schema, makes the same bytes
      assert.is_true(e.same_bytes)
      assert.is_true(e.key_same_bytes)
    end
    -- the snapshot row and the streamed ones share one schema (one id)
    assert.equal(events[1].schema_id, events[2].schema_id)
    assert.equal(events[1].schema_id, events[3].schema_id)
    assert.same({ "r", "c", "u" }, { events[1].value.op, events[2].value.op, events[3].value.op })
    assert.same({ id = 2 }, events[2].key)
    local row = events[2].value.after
    local want = { id = 2, ti = -5, su = 60000, iu = 4000000000, bi = 123, f = 1.5, d = 2.25,
                   dec1 = "-12345.67", dec2 = "12345678901234567890.0123456789", c = "ab",
                   bl = "00ff", dt = 19782, dtm = 1704164645000, dtm6 = 1704164645123456,
                   ts = "2024-01-02T03:04:05.789Z", tm = -45296000000, yr = 2024, e = "b",
                   s = "x,y", b1 = true, b = "aa02" }
    for column, value in pairs(want) do
      assert.same(value, row[column], "binlog, column " .. column)
      if column ~= "id" then
        assert.same(value, events[1].value.after[column], "snapshot, column " .. column)
      end
    end
    assert.equal("0.50", events[3].value.after.dec1)
    assert.equal("-12345.67", events[3].value.before.dec1)
    assert.equal("mysql", events[2].value.source.connector)
    assert.equal("false", events[2].value.source.snapshot)
    assert.equal("last", events[1].value.source.snapshot)
    -- the registered schema: Debezium's names and types
    local latest = helpers.get_json(registry .. "/subjects/" .. topic .. "-value/versions/latest")
    local envelope = cjson.decode(latest.schema)
    assert.equal("Envelope", envelope.name)
    assert.equal(ns, envelope.namespace)
    assert.equal(ns .. ".Envelope", envelope["connect.name"])
    local env_fields = fields_of(envelope)
    local value = env_fields.before.type[2]
    assert.equal("Value", value.name)
    assert.equal(ns .. ".Value", value["connect.name"])
    assert.same({ "null", "Value" }, env_fields.after.type)
    assert.equal("io.debezium.connector.mysql.Source", env_fields.source.type["connect.name"])
    local cols = fields_of(value)
    assert.equal("int", cols.id.type)                               -- the key: not null
    assert.equal("long", cols.bi.type)                              -- NOT NULL: no union
    assert.same({ "null", "long" }, cols.iu.type)                   -- INT UNSIGNED: INT64
    assert.equal("int16", cols.ti.type[2]["connect.type"])          -- TINYINT: INT16
    assert.equal(cjson.null, cols.ti.default)
    local dec = cols.dec1.type[2]
    assert.same({ "bytes", "decimal", 10, 2, "org.apache.kafka.connect.data.Decimal" },
                { dec.type, dec.logicalType, dec.precision, dec.scale, dec["connect.name"] })
    assert.equal("30", cols.dec2.type["connect.parameters"]["connect.decimal.precision"])
    local names = { dt = "io.debezium.time.Date", dtm = "io.debezium.time.Timestamp",
                    dtm6 = "io.debezium.time.MicroTimestamp",
                    ts = "io.debezium.time.ZonedTimestamp", tm = "io.debezium.time.MicroTime",
                    yr = "io.debezium.time.Year", e = "io.debezium.data.Enum",
                    s = "io.debezium.data.EnumSet", b = "io.debezium.data.Bits" }
    for column, name in pairs(names) do
      assert.equal(name, cols[column].type[2]["connect.name"], column)
    end
    local key = cjson.decode(helpers.get_json(registry .. "/subjects/" .. topic ..
                                      "-key/versions/latest").schema)
    assert.same({ "Key", ns, 1 }, { key.name, key.namespace, #key.fields })
    assert.is_nil(helpers.read_file(log):match("ERROR"))
  end)

  it("registers a new version on ALTER TABLE ADD COLUMN (BACKWARD), which the sink's auto.evolve follows",
     function()
    local id, DB = "cav-rows-" .. RUN, db_name("rows")
    local cdc_pid, cdc_log = start_app(id, app_text(id, db.port, registry, "rows", DB))
    local topic = id .. "_t"
    -- the sink, its column types from the rows' schema
    local sink_id = "cav-sink-" .. RUN
    local sink_pid, sink_log = start_app(sink_id, string.format([[
local sh = require "streamhost"
return sh.app {
  id = "%s",
  kafka = { ["schema.registry.url"] = "%s", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("%s", { key = "int", value = "avro" })
     :to_mysql { ["connection.url"] = "jdbc:mysql://127.0.0.1:%d/%s",
                 ["connection.user"] = "root", ["connection.password"] = %q,
                 ["insert.mode"] = "upsert", ["pk.mode"] = "record_value", ["pk.fields"] = "id",
                 ["auto.create"] = true, ["auto.evolve"] = true, ["table.name.format"] = "copy" }
  end,
}
]], sink_id, registry, topic, db.port, DB, db.password))
    local function count()
      local ok, rows = pcall(db.sql, "SELECT COUNT(*) FROM " .. DB .. ".copy")
      return ok and tonumber(rows[1][1]) or 0
    end
    db.sql(("USE %s; INSERT INTO t VALUES (2, %s);"):format(DB, VALUES))
    helpers.wait_until("2 rows in the copy", 30000, function() return count() >= 2 end)
    db.sql(("USE %s; ALTER TABLE t ADD COLUMN note VARCHAR(20) NULL; " ..
            "INSERT INTO t (id, bi, dec2, note) VALUES (3, 7, 2.5, 'new');"):format(DB))
    helpers.wait_until("3 rows in the copy", 30000, function() return count() >= 3 end)
    local rows = read_avro(bootstrap, registry, topic, 3)
    stop(cdc_pid)
    stop(sink_pid)
    assert.equal(3, #rows)
    local ns = id:gsub("-", "_") .. "." .. DB .. ".t"
    assert.equal(ns .. ".Value", rows[1].schema)      -- unwrap keeps Debezium's Value
    assert.equal(1, rows[1].key)                       -- extract_field_key: the id
    assert.equal("dc01", rows[1].value.sourcedc)       -- insert_field's optional string
    assert.equal("new", rows[3].value.note)
    assert.equal("2.5000000000", rows[3].value.dec2)
    assert.is_true(rows[1].same_bytes)
    assert.is_true(rows[3].same_bytes)
    assert.equal(rows[1].schema_id, rows[2].schema_id)
    assert.not_equal(rows[1].schema_id, rows[3].schema_id)
    assert.same({ 1, 2 }, helpers.get_json(registry .. "/subjects/" .. topic .. "-value/versions"))
    assert.equal("BACKWARD", helpers.get_json(registry .. "/config").compatibilityLevel)
    local v2 = fields_of(cjson.decode(helpers.get_json(registry .. "/subjects/" .. topic ..
                                               "-value/versions/2").schema))
    assert.same({ "null", "string" }, v2.note.type)
    assert.equal(cjson.null, v2.note.default)
    assert.same({ "null", "string" }, v2.sourcedc.type)
    -- the copy: typed columns, exact values, the new column added
    local types = {}
    for _, r in ipairs(db.sql("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS " ..
                              "WHERE TABLE_SCHEMA = '" .. DB .. "' AND TABLE_NAME = 'copy'")) do
      types[r[1]] = r[2]
    end
    assert.same({ id = "int(11)", dec1 = "decimal(10,2)", dec2 = "decimal(30,10)",
                  dt = "date", dtm = "datetime(3)", dtm6 = "datetime(6)", tm = "time(6)",
                  ti = "smallint(6)", iu = "bigint(20)", bi = "bigint(20)", f = "float",
                  d = "double", bl = "longblob", b1 = "tinyint(1)", note = "text",
                  sourcedc = "text" },
                { id = types.id, dec1 = types.dec1, dec2 = types.dec2, dt = types.dt,
                  dtm = types.dtm, dtm6 = types.dtm6, tm = types.tm, ti = types.ti,
                  iu = types.iu, bi = types.bi, f = types.f, d = types.d, bl = types.bl,
                  b1 = types.b1, note = types.note, sourcedc = types.sourcedc })
    local copy = db.sql("SELECT id, dec1, dec2, dt, dtm, dtm6, tm, HEX(bl), note FROM " .. DB ..
                        ".copy ORDER BY id")
    assert.same({ "1", "-12345.67", "12345678901234567890.0123456789", "2024-02-29",
                  "2024-01-02 03:04:05.000", "2024-01-02 03:04:05.123456", "-12:34:56.000000",
                  "00FF" }, copy[1])
    assert.same({ "3", nil, "2.5000000000", nil, nil, nil, nil, nil, "new" },
                { copy[3][1], copy[3][2], copy[3][3], copy[3][4], copy[3][5], copy[3][6],
                  copy[3][7], copy[3][8], copy[3][9] })
    local text = helpers.read_file(sink_log)
    assert.matches("added column note TEXT to copy (auto.evolve)", text, 1, true)
    assert.is_nil(text:match("ERROR"))
    assert.is_nil(helpers.read_file(cdc_log):match("ERROR"))
  end)

  it("follows decimal.handling.mode: string and double", function()
    for mode, kind in pairs({ string = "str", double = "dbl" }) do
      local id, DB = "cav-" .. kind .. "-" .. RUN, db_name(kind)
      local pid = start_app(id, app_text(id, db.port, registry, "envelope", DB, mode))
      local topic = id .. "." .. DB .. ".t"
      local events = read_avro(bootstrap, registry, topic, 1)
      stop(pid)
      assert.equal(1, #events)
      local latest = cjson.decode(helpers.get_json(registry .. "/subjects/" .. topic ..
                                           "-value/versions/latest").schema)
      local cols = fields_of(fields_of(latest).before.type[2])
      if mode == "string" then
        assert.same({ "null", "string" }, cols.dec1.type)
        assert.equal("-12345.67", events[1].value.after.dec1)
        assert.equal("12345678901234567890.0123456789", events[1].value.after.dec2)
      else
        assert.same({ "null", "double" }, cols.dec1.type)
        assert.equal("double", cols.dec2.type)
        assert.equal(-12345.67, events[1].value.after.dec1)
      end
    end
  end)

end)
