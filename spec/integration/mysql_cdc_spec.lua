-- The MySQL CDC source against a real MariaDB (scripts/mariadb.sh) and
-- `streamhost broker`, read back with kcat as an outside client: Debezium's
-- events for inserts, updates and deletes, every column type, DDL while
-- streaming, a 100k-row snapshot with writes going on meanwhile, and
-- SIGKILL mid-snapshot and mid-stream. "Rebuilt" means: the last value of
-- each key in the topics, which must equal SELECT * of the table.
local helpers = require "spec.helpers"
local cjson = require "cjson"

math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000)
local RUN = tostring(os.time() % 100000) .. tostring(math.random(100, 999))

-- An app over database `db`. mode "envelope": Debezium's events as they
-- are; mode "rows": unwrapped rows keyed by id (int), tombstones kept.
local function app_text(id, db, port, mode, extra)
  local props = string.format([[
      ["database.hostname"] = "127.0.0.1", ["database.port"] = %d,
      ["database.user"] = "mysqluser", ["database.password"] = "mysqlpw",
      ["database.server.id"] = %d, ["topic.prefix"] = "%s",
      ["database.include.list"] = "%s", ["decimal.handling.mode"] = "string",
      %s]], port, 5000 + math.random(1, 90000), id, db, extra or "")
  local chain = mode == "rows" and [[
     :transform(smt.unwrap { ["drop.tombstones"] = false })
     :transform(smt.extract_field_key { field = "id" })
     :transform(smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" })
     :to(function(_, _, rec) return rec.topic end, { key = "int", value = "json" })]] or [[
     :to(function(_, _, rec) return rec.topic end, { key = "json", value = "json" })]]
  return ([[
local sh, smt = require "streamhost", require "streamhost.smt"
return sh.app {
  id = "%s",
  topology = function(b)
    b:mysql_cdc {
%s
    }
%s
  end,
}
]]):format(id, props, chain)
end

-- kcat's view of a topic: { {key =, value = (nil: tombstone)}, ... }
local function read_topic(bootstrap, topic, int_keys)
  local cmd = "kcat -C -b " .. bootstrap .. " -t " .. topic .. " -o beginning -e -q -Z " ..
              (int_keys and "-s key='>i' " or "") .. "-f '%k\\t%s\\n' 2>/dev/null"
  local p = io.popen(cmd)
  local list = {}
  for line in p:lines() do
    local k, v = line:match("^(.-)\t(.*)$")
    if k then
      list[#list + 1] = { key = int_keys and tonumber(k) or k,
                          value = v ~= "NULL" and cjson.decode(v) or nil }
    end
  end
  p:close()
  return list
end

-- The table as the topics tell it: key -> row, deletes removed.
local function rebuilt(bootstrap, topic)
  local state, n = {}, 0
  for _, r in ipairs(read_topic(bootstrap, topic, true)) do
    state[r.key] = r.value
    n = n + 1
  end
  return state, n
end

local function table_rows(db, sql)
  local state = {}
  for _, row in ipairs(db.sql(sql)) do state[tonumber(row[1])] = tonumber(row[2]) end
  return state
end

-- Whether the rebuilt topic holds exactly the (id, v) rows of the table.
local function same_as_table(bootstrap, topic, expected)
  local state = rebuilt(bootstrap, topic)
  for id, v in pairs(expected) do
    if not state[id] or state[id].v ~= v then
      return false, "id " .. id .. ": table " .. v .. ", topic " ..
                    (state[id] and tostring(state[id].v) or "none")
    end
  end
  for id in pairs(state) do
    if expected[id] == nil then return false, "extra id " .. id end
  end
  return true
end

describe("mysql_cdc under streamhost run", function()
  local db, broker, dir
  local pids = {}

  local function start_app(id, database, mode, extra)
    local app = dir .. "/" .. id .. ".lua"
    helpers.write_file(app, app_text(id, database, db.port, mode, extra))
    local log = dir .. "/" .. id .. "." .. (#pids + 1) .. ".log"
    local pid = helpers.spawn(helpers.bin .. " run " .. app .. " --http off --bootstrap " ..
                              broker.bootstrap .. " --state-dir " .. dir .. "/state-" .. id, log)
    pids[#pids + 1] = pid
    return pid, log
  end

  local function stop(pid, signal)
    helpers.kill(pid, signal or "TERM")
    helpers.wait_exit(pid, 30000)
  end

  setup(function()
    db = helpers.mariadb()
    dir = helpers.tmpdir()
    local topics = {}
    for _, t in ipairs({ "big", "gone" }) do
      topics["cdc-" .. t .. "-" .. RUN .. "_" .. t] = 8
    end
    -- one partition where a spec reads events of several keys in order
    for kind, tbl in pairs({ ops = "customers", types = "t", ddl = "grows" }) do
      topics[("cdc-%s-%s.cdc_%s_%s.%s"):format(kind, RUN, kind, RUN, tbl)] = 1
    end
    broker = helpers.start_broker(topics)
  end)

  teardown(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    if broker then broker.stop() end
    if db then db.sql("DROP DATABASE IF EXISTS cdc_ops_" .. RUN .. "; DROP DATABASE IF EXISTS " ..
                      "cdc_types_" .. RUN .. "; DROP DATABASE IF EXISTS cdc_big_" .. RUN ..
                      "; DROP DATABASE IF EXISTS cdc_gone_" .. RUN .. "; DROP DATABASE IF EXISTS cdc_ddl_" ..
                      RUN) end
  end)

  it("emits Debezium's events for a snapshot, inserts, updates and deletes, with tombstones",
     function()
    local name = "cdc_ops_" .. RUN
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE customers (id INT PRIMARY KEY, " ..
            "name VARCHAR(40), city VARCHAR(40)); INSERT INTO customers VALUES (1, 'Ann', 'Oslo');")
           :format(name, name))
    local id = "cdc-ops-" .. RUN
    local pid, log = start_app(id, name, "envelope")
    local topic = id .. "." .. name .. ".customers"
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO customers VALUES (2, 'Bo', 'Rome'); " ..
            "UPDATE customers SET city = 'Bergen' WHERE id = 1; DELETE FROM customers WHERE id = 2;")
           :format(name))
    helpers.wait_records(broker.bootstrap, topic, 5, 30000)
    stop(pid)
    local events = read_topic(broker.bootstrap, topic)
    assert.equal(5, #events)
    local ops = {}
    for i, e in ipairs(events) do ops[i] = e.value and e.value.op or "tombstone" end
    assert.same({ "r", "c", "u", "d", "tombstone" }, ops)
    assert.same({ id = 1 }, cjson.decode(events[1].key))
    assert.same({ id = 1, name = "Ann", city = "Oslo" }, events[1].value.after)
    assert.equal(cjson.null, events[1].value.before)
    assert.equal("last", events[1].value.source.snapshot)
    assert.same({ id = 2, name = "Bo", city = "Rome" }, events[2].value.after)
    assert.same({ id = 1, name = "Ann", city = "Oslo" }, events[3].value.before)
    assert.same({ id = 1, name = "Ann", city = "Bergen" }, events[3].value.after)
    assert.same({ id = 2, name = "Bo", city = "Rome" }, events[4].value.before)
    assert.equal(cjson.null, events[4].value.after)
    assert.same({ id = 2 }, cjson.decode(events[5].key))
    local source = events[2].value.source
    assert.equal("mysql", source.connector)
    assert.equal(id, source.name)
    assert.equal(name, source.db)
    assert.equal("customers", source.table)
    assert.equal("false", source.snapshot)
    assert.matches("^binlog%.%d+$", source.file)
    assert.matches("^0%-1%-%d+$", source.gtid)
    assert.is_true(source.pos > 0)
    local text = helpers.read_file(log)
    assert.matches("snapshot of " .. name .. ".customers: 1 rows in", text, 1, true)
    assert.is_nil(text:match("ERROR"))
  end)

  it("maps every column type as Debezium's MySQL connector does, snapshot and binlog alike",
     function()
    local name = "cdc_types_" .. RUN
    local columns = [[id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT,
      mi MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, f FLOAT, d DOUBLE,
      dec1 DECIMAL(10,2), dec2 DECIMAL(30,10), c CHAR(5), vc VARCHAR(20), tx TEXT, bl BLOB,
      vb VARBINARY(8), dt DATE, dtm DATETIME, dtm3 DATETIME(3), ts TIMESTAMP(3) NULL, tm TIME,
      tm3 TIME(3), yr YEAR, e ENUM('a','b','c'), s SET('x','y','z'), j JSON, b1 BIT(1),
      b BIT(10), n INT NULL]]
    local values = [[-5, 250, -300, 16000000, -2000000000, 4000000000, 1234567890123, 1.5, 2.25,
      -12345.67, '12345678901234567890.0123456789', 'ab', 'héllo "q"', 'line\nbreak', X'00FF01',
      X'DEAD', '2024-02-29', '2024-01-02 03:04:05', '2024-01-02 03:04:05.123',
      '2024-01-02 03:04:05.789', '-12:34:56', '838:59:59.999', 2024, 'b', 'x,z', '{"a":1}', b'1',
      b'1010101010', NULL]]
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE t (%s); INSERT INTO t VALUES (1, %s);")
           :format(name, name, columns, values))
    local id = "cdc-types-" .. RUN
    local pid = start_app(id, name, "envelope")
    local topic = id .. "." .. name .. ".t"
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO t VALUES (2, %s);"):format(name, values))
    local events = helpers.wait_records(broker.bootstrap, topic, 2, 30000) and
                   read_topic(broker.bootstrap, topic)
    stop(pid)
    local snap, streamed = events[1].value.after, events[2].value.after
    assert.equal("r", events[1].value.op)
    assert.equal("c", events[2].value.op)
    local expected = {
      ti = -5, tu = 250, si = -300, mi = 16000000, i = -2000000000, iu = 4000000000,
      bi = 1234567890123, f = 1.5, d = 2.25,
      dec1 = "-12345.67", dec2 = "12345678901234567890.0123456789", -- decimal.handling.mode string
      c = "ab", vc = 'héllo "q"', tx = "line\nbreak",
      bl = "AP8B", vb = "3q0=",                 -- bytes: base64, as Connect's JSON converter
      dt = 19782,                                -- io.debezium.time.Date: days
      dtm = 1704164645000,                       -- io.debezium.time.Timestamp: ms
      dtm3 = 1704164645123,
      ts = "2024-01-02T03:04:05.789Z",          -- io.debezium.time.ZonedTimestamp
      tm = -45296000000,                         -- io.debezium.time.MicroTime: us
      tm3 = 3020399999000,
      yr = 2024,                                 -- io.debezium.time.Year
      e = "b", s = "x,z",                        -- io.debezium.data.Enum / EnumSet
      j = '{"a":1}',                             -- io.debezium.data.Json
      b1 = true,                                 -- BIT(1): BOOLEAN
      b = "qgI=",                                -- io.debezium.data.Bits: little-endian bytes
      n = cjson.null,
    }
    for column, want in pairs(expected) do
      assert.are.same(want, snap[column], "snapshot, column " .. column)
      assert.are.same(want, streamed[column], "binlog, column " .. column)
    end
  end)

  it("reads tables and columns with hostile names, whose topic Kafka can take", function()
    local name = "cdc_ops_" .. RUN .. "h"
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE `we\"ird``t` (id INT PRIMARY KEY, " ..
            "`x``; DROP TABLE y; --` VARCHAR(20)); INSERT INTO `we\"ird``t` VALUES (1, 'a`b');")
           :format(name, name))
    local id = "cdc-hostile-" .. RUN
    local pid = start_app(id, name, "envelope")
    local topic = id .. "." .. name .. ".we_ird_t"
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO `we\"ird``t` VALUES (2, '\"}{');"):format(name))
    helpers.wait_records(broker.bootstrap, topic, 2, 30000)
    stop(pid)
    local events = read_topic(broker.bootstrap, topic)
    local rows = {}
    for _, e in ipairs(events) do rows[e.value.after.id] = e.value.after["x`; DROP TABLE y; --"] end
    assert.same({ "a`b", '"}{' }, rows)
    assert.equal('we"ird`t', events[1].value.source.table)
    db.sql("DROP DATABASE " .. name)
  end)

  it("reconnects when the server kills its binlog session, and loses nothing", function()
    local name = "cdc_ops_" .. RUN .. "r"
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE r (id INT PRIMARY KEY, v INT); " ..
            "INSERT INTO r VALUES (1, 1);"):format(name, name))
    local id = "cdc-reconnect-" .. RUN
    local pid, log = start_app(id, name, "rows")
    local topic = id .. "_r"
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    local dumps = db.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE " ..
                         "'Binlog Dump%' AND USER = 'mysqluser'")
    assert.is_true(#dumps >= 1)
    for _, row in ipairs(dumps) do db.sql("KILL " .. row[1]) end
    db.sql(("USE %s; INSERT INTO r VALUES (2, 2); UPDATE r SET v = 10 WHERE id = 1;"):format(name))
    local why
    local ok = pcall(helpers.wait_until, "the topic to hold the table", 30000, function()
      local same
      same, why = same_as_table(broker.bootstrap, topic,
                                table_rows(db, "SELECT id, v FROM " .. name .. ".r"))
      return same
    end)
    assert(ok, "the topic never held the table: " .. tostring(why))
    stop(pid)
    assert.matches("reconnecting in", helpers.read_file(log), 1, true)
    assert.equal(3, #read_topic(broker.bootstrap, topic, true)) -- none twice
    db.sql("DROP DATABASE " .. name)
  end)

  it("snapshots again with when_needed once its binlog position is purged, and says so " ..
     "with initial", function()
    local name = "cdc_ops_" .. RUN .. "p"
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE p (id INT PRIMARY KEY, v INT); " ..
            "INSERT INTO p VALUES (1, 1);"):format(name, name))
    local id = "cdc-purge-" .. RUN
    local topic = id .. "_p"
    local pid = start_app(id, name, "rows", '["snapshot.mode"] = "when_needed",')
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO p VALUES (2, 2);"):format(name))
    helpers.wait_until("the position to be stored past the snapshot", 30000, function()
      local stored = read_topic(broker.bootstrap, id .. "-offsets")
      return #stored > 0 and stored[#stored].value.row > 0
    end)
    stop(pid)
    -- changes made while it is away, then their binlog is gone (a delete
    -- would be lost for good, as with Debezium: a snapshot shows no deletes)
    db.sql(("USE %s; INSERT INTO p VALUES (3, 3); UPDATE p SET v = 100 WHERE id = 1; " ..
            "FLUSH BINARY LOGS;"):format(name))
    local newest = db.sql("SHOW MASTER STATUS")[1][1]
    -- the server keeps a file a dump thread still reads: wait for it to let go
    helpers.wait_until("the old binlogs to be purged", 30000, function()
      db.sql("PURGE BINARY LOGS TO '" .. newest .. "'")
      return #db.sql("SHOW BINARY LOGS") == 1
    end)
    local log
    pid, log = start_app(id, name, "rows", '["snapshot.mode"] = "initial",')
    helpers.wait_exit(pid, 30000)
    assert.matches("is gone from the server", helpers.read_file(log), 1, true)
    assert.matches("Set snapshot.mode = when_needed", helpers.read_file(log), 1, true)
    pid, log = start_app(id, name, "rows", '["snapshot.mode"] = "when_needed",')
    local why
    local ok = pcall(helpers.wait_until, "the topic to hold the table", 30000, function()
      local same
      same, why = same_as_table(broker.bootstrap, topic,
                                table_rows(db, "SELECT id, v FROM " .. name .. ".p"))
      return same
    end)
    stop(pid)
    assert(ok, "the topic never held the table: " .. tostring(why))
    assert.matches("snapshotting again (snapshot.mode = when_needed)", helpers.read_file(log), 1,
                   true)
    db.sql("DROP DATABASE " .. name)
  end)

  it("snapshots and stops streaming with initial_only; streams history with never", function()
    local name = "cdc_ops_" .. RUN .. "m"
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE m (id INT PRIMARY KEY, v INT); " ..
            "INSERT INTO m VALUES (1, 1), (2, 2);"):format(name, name))
    local id = "cdc-only-" .. RUN
    local pid, log = start_app(id, name, "rows", '["snapshot.mode"] = "initial_only",')
    helpers.wait_until("the snapshot to be stored", 30000, function()
      local stored = read_topic(broker.bootstrap, id .. "-offsets")
      return #stored > 0 and stored[#stored].value.snapshot == false
    end)
    db.sql(("USE %s; INSERT INTO m VALUES (3, 3);"):format(name))
    helpers.wait_until("the app to say it streams nothing", 30000, function()
      return helpers.read_file(log):match("no changes are streamed")
    end)
    stop(pid)
    assert.equal(2, #read_topic(broker.bootstrap, id .. "_m", true))

    -- never: no snapshot, the binlog from its oldest file, so the inserts as "c"
    id = "cdc-never-" .. RUN
    pid, log = start_app(id, name, "envelope", '["snapshot.mode"] = "never",')
    local topic = id .. "." .. name .. ".m"
    helpers.wait_records(broker.bootstrap, topic, 3, 30000)
    stop(pid)
    local ops = {}
    for _, e in ipairs(read_topic(broker.bootstrap, topic)) do
      ops[#ops + 1] = e.value.op .. e.value.after.id
    end
    table.sort(ops)
    assert.same({ "c1", "c2", "c3" }, ops)
    assert.is_nil(helpers.read_file(log):match("snapshot at binlog"))
    db.sql("DROP DATABASE " .. name)
  end)

  it("stops with a clear error when the server refuses its account", function()
    local id = "cdc-denied-" .. RUN
    local app = dir .. "/" .. id .. ".lua"
    helpers.write_file(app, app_text(id, "nothing", db.port, "envelope")
                              :gsub('"mysqlpw"', '"wrong"'))
    local log = dir .. "/" .. id .. ".log"
    local pid = helpers.spawn(helpers.bin .. " run " .. app .. " --http off --bootstrap " ..
                              broker.bootstrap .. " --state-dir " .. dir .. "/state-" .. id, log)
    pids[#pids + 1] = pid
    helpers.wait_exit(pid, 30000)
    assert.matches("cannot connect to mysqluser@127.0.0.1:" .. db.port .. ": Access denied",
                   helpers.read_file(log), 1, true)
  end)

  it("follows ALTER TABLE ADD COLUMN while streaming", function()
    local name = "cdc_ddl_" .. RUN
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE grows (id INT PRIMARY KEY, a INT); " ..
            "INSERT INTO grows VALUES (1, 1);"):format(name, name))
    local id = "cdc-ddl-" .. RUN
    local pid = start_app(id, name, "envelope")
    local topic = id .. "." .. name .. ".grows"
    helpers.wait_records(broker.bootstrap, topic, 1, 30000)
    db.sql(("USE %s; INSERT INTO grows VALUES (2, 2); ALTER TABLE grows ADD COLUMN b VARCHAR(10) " ..
            "DEFAULT 'new'; INSERT INTO grows VALUES (3, 3, 'x'); UPDATE grows SET a = 10 WHERE id = 1;")
           :format(name))
    helpers.wait_records(broker.bootstrap, topic, 4, 30000)
    stop(pid)
    local events = read_topic(broker.bootstrap, topic)
    assert.equal(4, #events, cjson.encode(events))
    assert.same({ id = 2, a = 2 }, events[2].value.after, cjson.encode(events))
    assert.same({ id = 3, a = 3, b = "x" }, events[3].value.after)
    assert.same({ id = 1, a = 1, b = "new" }, events[4].value.before)
    assert.same({ id = 1, a = 10, b = "new" }, events[4].value.after)
  end)

  it("snapshots 100k rows while writes go on, then streams: none lost, none reordered",
     function()
    local name = "cdc_big_" .. RUN
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE big (id INT PRIMARY KEY, v INT); " ..
            "INSERT INTO big SELECT seq, seq FROM seq_1_to_100000;"):format(name, name))
    local id = "cdc-big-" .. RUN
    local pid, log = start_app(id, name, "rows", '["snapshot.mode"] = "initial",')
    local topic = id .. "_big"
    -- writes while the snapshot runs: updates of snapshot rows, new rows, deletes
    helpers.wait_until("the snapshot to start", 30000, function()
      return helpers.read_file(log):match("snapshot at binlog")
    end)
    for round = 1, 20 do
      db.sql(("USE %s; UPDATE big SET v = v + 1 WHERE id %% 97 = %d; " ..
              "INSERT INTO big VALUES (%d, %d); DELETE FROM big WHERE id = %d;")
             :format(name, round, 200000 + round, round, round * 1000))
    end
    local expected = table_rows(db, "SELECT id, v FROM " .. name .. ".big")
    local why
    local ok = pcall(helpers.wait_until, "the topic to hold the table", 120000, function()
      local same
      same, why = same_as_table(broker.bootstrap, topic, expected)
      return same
    end)
    assert(ok, "the topic never held the table: " .. tostring(why))
    stop(pid)
    local text = helpers.read_file(log)
    local rows, rate = text:match("snapshot of " .. name .. "%.big: (%d+) rows in [%d.]+ s %((%d+) rows/s%)")
    assert.equal("100000", rows)
    print(("\n    snapshot: 100000 rows at %s rows/s"):format(rate))
    assert.is_nil(text:match("ERROR"))
  end)

  it("resumes after SIGKILL mid-snapshot and mid-stream with nothing lost", function()
    local name = "cdc_gone_" .. RUN
    db.sql(("CREATE DATABASE %s; USE %s; CREATE TABLE gone (id INT PRIMARY KEY, v INT); " ..
            "INSERT INTO gone SELECT seq, seq FROM seq_1_to_100000;"):format(name, name))
    local id = "cdc-gone-" .. RUN
    local topic = id .. "_gone"
    local pid = start_app(id, name, "rows", '["snapshot.mode"] = "when_needed",')
    helpers.wait_until("part of the snapshot", 60000, function()
      local _, n = rebuilt(broker.bootstrap, topic)
      return n >= 10000
    end)
    stop(pid, "KILL") -- mid-snapshot
    pid = start_app(id, name, "rows", '["snapshot.mode"] = "when_needed",')
    helpers.wait_until("the redone snapshot's position to be stored", 60000, function()
      local stored = read_topic(broker.bootstrap, id .. "-offsets")
      return #stored > 0 and stored[#stored].value.snapshot == false
    end)
    for round = 1, 30 do
      db.sql(("USE %s; UPDATE gone SET v = v * 2 WHERE id %% 50 = %d; INSERT INTO gone VALUES (%d, 1);")
             :format(name, round, 300000 + round))
      if round == 15 then stop(pid, "KILL") end -- mid-stream
    end
    local log
    pid, log = start_app(id, name, "rows", '["snapshot.mode"] = "when_needed",')
    local expected = table_rows(db, "SELECT id, v FROM " .. name .. ".gone")
    local why
    local ok = pcall(helpers.wait_until, "the topic to hold the table", 120000, function()
      local same
      same, why = same_as_table(broker.bootstrap, topic, expected)
      return same
    end)
    assert(ok, "the topic never held the table: " .. tostring(why))
    stop(pid)
    local text = helpers.read_file(log)
    assert.matches("mysql_cdc: stored position", text, 1, true)
    assert.is_nil(text:match("snapshot at binlog")) -- streamed on, no third snapshot
  end)
end)
