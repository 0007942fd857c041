-- stream:to_mysql under `streamhost run`, against a real MariaDB
-- (scripts/mariadb.sh) and the embedded broker, with kcat as the outside
-- producer: insert/upsert/update/delete, auto.create and auto.evolve,
-- replays that leave CHECKSUM TABLE unchanged, SIGKILL mid-batch with
-- exactly.once, and hostile field names that never reach a statement.
local ffi = require "ffi"
local helpers = require "spec.helpers"

ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } sink_spec_timespec_t;
  int clock_gettime(int clock, sink_spec_timespec_t *ts);
]]
local function now_ms()
  local ts = ffi.new("sink_spec_timespec_t")
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local N = 100000 -- the realistic size: several transactions per partition

local broker, dir, database, db, pids

local function props_text(props)
  local parts = {}
  for k, v in pairs(props) do
    parts[#parts + 1] = string.format("[%q] = %s", k, type(v) == "string" and string.format("%q", v)
                                      or tostring(v))
  end
  table.sort(parts)
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function sink_props(extra)
  local props = { ["connection.url"] = string.format("jdbc:mysql://%s:%d/%s", db.host, db.port,
                                                      database),
                  ["connection.user"] = db.user, ["connection.password"] = db.password }
  for k, v in pairs(extra) do props[k] = v end
  return props_text(props)
end

-- Writes an app reading `topic` (string keys, json values) into MySQL.
local function write_app(id, body, settings)
  local path = dir .. "/" .. id .. ".lua"
  helpers.write_file(path, string.format([[
local sh = require "streamhost"
return sh.app {
  id = %q,
  kafka = { ["auto.offset.reset"] = "earliest" },
  %s
  topology = function(b)
    %s
  end,
}
]], id, settings or "", body))
  return path
end

-- Each app keeps its state (and main's saved last-good version) under this
-- spec's directory, so nothing of an earlier run of the spec is picked up.
local function state_dir(app) return app:gsub("%.lua$", "") .. "-state" end

local function run(app, log, extra)
  local pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                            " --http off --state-dir " .. state_dir(app) .. " " .. (extra or ""),
                            log)
  pids[#pids + 1] = pid
  return pid
end

local function stop(pid)
  helpers.kill(pid, "TERM")
  helpers.wait_exit(pid, 60000)
end

-- Rows in tbl (0 while it does not exist yet).
local function count(tbl, where)
  local ok, out = pcall(helpers.sql, database, "SELECT COUNT(*) FROM " .. tbl ..
                                               (where and (" WHERE " .. where) or ""))
  if not ok and out:find("doesn't exist", 1, true) then return 0 end
  assert(ok, out)
  return tonumber(out)
end

local function checksum(tbl)
  return helpers.sql(database, "CHECKSUM TABLE " .. tbl):match("%s(%S+)%s*$")
end

local function reset(app)
  assert(os.execute(helpers.bin .. " reset " .. app .. " --yes --bootstrap " .. broker.bootstrap ..
                    " --state-dir " .. state_dir(app) .. " >/dev/null 2>&1") == 0,
         "streamhost reset failed")
end

-- Writes n lines "k<i>|<json>" to a file and produces them.
local function produce_generated(topic, n, value_of)
  local path = dir .. "/" .. topic .. ".txt"
  local f = assert(io.open(path, "wb"))
  for i = 1, n do f:write("k", i, "|", value_of(i), "\n") end
  f:close()
  helpers.produce_file(broker.bootstrap, topic, path)
end

describe("stream:to_mysql", function()
  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_database("sink_spec")
    broker = helpers.start_broker({ bulk = 2, up = 1, eo = 1, killed = 2, people = 1, evo = 1,
                                    fixed = 1, hostile = 1, lost = 1, denied = 1,
                                    widen = 1, narrow = 1, kept = 1 })
    dir = helpers.tmpdir()
    pids = {}
  end)

  teardown(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    broker.stop()
    helpers.drop_database(database)
  end)

  it("inserts 100k records from two partitions on two threads, creating the table", function()
    local app = write_app("bulk-app", [[
    b:stream("bulk", { key = "string", value = "json", partitions = 2 })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["batch.size"] = 3000 }),
                          "threads = 2,")
    local log = dir .. "/bulk.log"
    local pid = run(app, log)
    -- at-least-once: records read before the second thread's rebalance may
    -- be read again (and inserted twice, pk.mode none); start once both
    -- threads hold their partition
    helpers.wait_until("both threads assigned", 60000, function()
      local text = helpers.read_file(log)
      return helpers.count_matches(text, "assigned 1 partition") -
             helpers.count_matches(text, "revoking") >= 2
    end)
    -- every price a fraction: each thread creates (or finds) price DOUBLE
    -- whatever its first batch holds; whole numbers then fractions are the
    -- widening spec's
    produce_generated("bulk", N, function(i)
      return string.format('{"n":%d,"name":"item %d","price":%s,"ok":%s,"tags":{"i":%d}}', i, i,
                           i + 0.25, i % 2 == 0 and "true" or "false", i)
    end)
    helpers.wait_until("the first rows", 60000, function() return count("bulk") > 0 end)
    local first = now_ms()
    helpers.wait_until("100k rows", 120000, function() return count("bulk") >= N end)
    local ms = now_ms() - first
    stop(pid)
    assert.are.equal(N, count("bulk"))
    assert.are.equal(N, tonumber(helpers.sql(database, "SELECT COUNT(DISTINCT n) FROM bulk")))
    local types = helpers.sql(database, "SELECT COLUMN_NAME, DATA_TYPE FROM " ..
                                        "information_schema.COLUMNS WHERE TABLE_SCHEMA = '" ..
                                        database .. "' AND TABLE_NAME = 'bulk' ORDER BY 1")
    assert.are.equal("n\tbigint\nname\ttext\nok\ttinyint\nprice\tdouble\ntags\tlongtext\n", types)
    assert.are.equal("item 7\t7.25\t0\t{\"i\":7}\n",
                     helpers.sql(database, "SELECT name, price, ok, tags FROM bulk WHERE n = 7"))
    local text = helpers.read_file(log)
    assert.matches("created table bulk (auto.create)", text, 1, true)
    assert.is_nil(text:match("ERROR"))
    print(string.format("\n  mysql sink: %d rows from the first to the last in %.1f s (%d rows/s, " ..
                        "2 threads, batch.size 3000)", N, ms / 1000, math.floor(N / ms * 1000)))
  end)

  it("upserts: the last value per key wins, and a replay leaves CHECKSUM TABLE unchanged",
     function()
    produce_generated("up", 20000, function(i)
      return string.format('{"id":%d,"qty":%d,"note":"v%d"}', i % 5000, i, i)
    end)
    local app = write_app("up-app", [[
    b:stream("up", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["insert.mode"] = "upsert",
                                  ["pk.mode"] = "record_value", ["pk.fields"] = "id" }))
    local pid = run(app, dir .. "/up1.log")
    -- id 0 is last written by record 20000
    helpers.wait_until("the upserts", 60000, function()
      return count("up") == 5000 and count("up", "id = 0 AND qty = 20000") == 1
    end)
    stop(pid)
    assert.are.equal(5000, count("up", "qty > 15000"))
    local before = checksum("up")
    -- replay everything; the row of id 0 is gone until the replay rewrites it
    reset(app)
    helpers.sql(database, "DELETE FROM up WHERE id = 0")
    pid = run(app, dir .. "/up2.log")
    helpers.wait_until("the replay", 60000, function()
      return count("up", "id = 0 AND qty = 20000") == 1
    end)
    stop(pid)
    assert.are.equal(before, checksum("up"))
  end)

  it("exactly.once: a replay of the same records writes nothing again", function()
    produce_generated("eo", 20000, function(i) return string.format('{"n":%d}', i) end)
    -- no key in the table: a second write of a record would be a second row
    local app = write_app("eo-app", [[
    local s = b:stream("eo", { key = "string", value = "json" })
    s:to_mysql ]] .. sink_props({ ["auto.create"] = true, ["exactly.once"] = true }) .. [[

    s:to("eo-progress", { value = "json" })]])
    local pid = run(app, dir .. "/eo1.log")
    helpers.wait_until("20k rows", 60000, function() return count("eo") == 20000 end)
    stop(pid)
    local before = checksum("eo")
    assert.are.equal("20000", helpers.sql(database, "SELECT last_offset + 1 FROM " ..
                                                    "streamhost_sink_offsets WHERE consumer = " ..
                                                    "'eo-app' AND table_name = 'eo'"):match("%d+"))
    reset(app)
    local log = dir .. "/eo2.log"
    pid = run(app, log)
    -- the Kafka output of the same app shows when the replay is through
    helpers.wait_records(broker.bootstrap, "eo-progress", 40000, 60000)
    stop(pid)
    assert.are.equal(20000, count("eo"))
    assert.are.equal(before, checksum("eo"))
    assert.matches("stopped after 20000 records in, 40000 out", helpers.read_file(log), 1, true)
  end)

  it("exactly.once: SIGKILL in the middle of batches loses and doubles nothing", function()
    produce_generated("killed", N, function(i) return string.format('{"n":%d,"pad":"%s"}', i,
                                                                  string.rep("x", 40)) end)
    local app = write_app("kill-app", [[
    b:stream("killed", { key = "string", value = "json", partitions = 2 })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["exactly.once"] = true,
                                  ["batch.size"] = 1000 }), "threads = 2,")
    for round, at in ipairs({ 15000, 45000, 75000 }) do
      -- the same version restarted after a crash, not main's rollback to an older one
      local pid = run(app, dir .. "/kill" .. round .. ".log", "--no-rollback")
      helpers.wait_until(at .. " rows", 120000, function()
        return count("killed") >= at
      end)
      helpers.kill(pid, "KILL")
      helpers.wait_exit(pid)
    end
    local pid = run(app, dir .. "/kill-last.log", "--no-rollback")
    helpers.wait_until("every row", 120000, function() return count("killed") >= N end)
    stop(pid)
    assert.are.equal(N, count("killed"))
    assert.are.equal(N, tonumber(helpers.sql(database, "SELECT COUNT(DISTINCT n) FROM killed")))
  end)

  it("updates rows by key and deletes them on tombstones (delete.enabled)", function()
    helpers.sql(database, "CREATE TABLE people (id VARCHAR(64) PRIMARY KEY, name TEXT, age INT);" ..
                          "INSERT INTO people VALUES ('p1','ann',30),('p2','bob',40),('p3','cy',50)")
    local path = dir .. "/people.txt"
    helpers.write_file(path, 'p1|{"name":"ann2","age":31}\np2|\np9|{"name":"ghost","age":1}\n' ..
                             'p3|{"age":51}\n')
    helpers.produce_file(broker.bootstrap, "people", path, "-Z")
    local app = write_app("people-app", [[
    b:stream("people", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["insert.mode"] = "update", ["pk.mode"] = "record_key",
                                  ["pk.fields"] = "id", ["delete.enabled"] = true }))
    local pid = run(app, dir .. "/people.log")
    helpers.wait_until("the update of p3", 60000, function() return count("people", "age = 51") == 1 end)
    stop(pid)
    assert.are.equal("p1\tann2\t31\np3\tcy\t51\n",
                     helpers.sql(database, "SELECT id, name, age FROM people ORDER BY id"))
  end)

  it("adds a column for a new field with auto.evolve, and stops without it", function()
    local path = dir .. "/evo.txt"
    helpers.write_file(path, 'a|{"a":1}\n')
    helpers.produce_file(broker.bootstrap, "evo", path)
    local app = write_app("evo-app", [[
    b:stream("evo", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["auto.evolve"] = true }))
    local log = dir .. "/evo.log"
    local pid = run(app, log)
    helpers.wait_until("the first row", 60000, function() return count("evo") == 1 end)
    -- later records bring new fields: the table grows a column for each
    helpers.write_file(path, 'b|{"a":2,"b":"x"}\nc|{"a":3,"b":"y","c":2.5}\n')
    helpers.produce_file(broker.bootstrap, "evo", path)
    helpers.wait_until("3 rows", 60000, function() return count("evo") == 3 end)
    stop(pid)
    assert.are.equal("1\tNULL\tNULL\n2\tx\tNULL\n3\ty\t2.5\n",
                     helpers.sql(database, "SELECT a, b, c FROM evo ORDER BY a"))
    assert.matches("added column b TEXT to evo (auto.evolve)", helpers.read_file(log), 1, true)
    assert.matches("added column c DOUBLE to evo (auto.evolve)", helpers.read_file(log), 1, true)

    -- records with a new field into a table that has only `a`, auto.evolve off
    helpers.sql(database, "CREATE TABLE fixed (a BIGINT)")
    helpers.write_file(path, 'a|{"a":1}\nb|{"a":2,"b":"x"}\n')
    helpers.produce_file(broker.bootstrap, "fixed", path)
    app = write_app("fixed-app", [[
    b:stream("fixed", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({}))
    log = dir .. "/fixed.log"
    pid = helpers.spawn("{ " .. helpers.bin .. " run " .. app .. " --bootstrap " ..
                        broker.bootstrap .. " --http off --state-dir " .. state_dir(app) ..
                        "; echo exit=$?; }", log)
    pids[#pids + 1] = pid
    helpers.wait_until("the app to stop", 60000, function()
      return helpers.read_file(log):match("exit=%d+")
    end)
    local text = helpers.read_file(log)
    assert.matches("exit=1", text, 1, true)
    assert.matches('table fixed has no column "b" and auto.evolve is false', text, 1, true)
    -- one transaction: not even the row before it is in
    assert.are.equal(0, count("fixed"))
  end)

  -- the type of a column's SQL text from information_schema, e.g. "price\tdouble\tYES\tNULL"
  local function column_of(tbl, name)
    return helpers.sql(database, "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT " ..
                                 "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '" ..
                                 database .. "' AND TABLE_NAME = '" .. tbl ..
                                 "' AND COLUMN_NAME = '" .. name .. "'")
  end

  it("widens an integer column to DOUBLE for a later fraction with auto.evolve", function()
    local path = dir .. "/widen.txt"
    helpers.write_file(path, 'a|{"n":1,"price":2}\n')
    helpers.produce_file(broker.bootstrap, "widen", path)
    local app = write_app("widen-app", [[
    b:stream("widen", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["auto.evolve"] = true }))
    local log = dir .. "/widen.log"
    local pid = run(app, log)
    helpers.wait_until("the first row", 60000, function() return count("widen") == 1 end)
    assert.are.equal("price\tbigint\tYES\tNULL\n", column_of("widen", "price"))
    helpers.write_file(path, 'b|{"n":2,"price":2.5}\n')
    helpers.produce_file(broker.bootstrap, "widen", path)
    helpers.wait_until("the second row", 60000, function() return count("widen") == 2 end)
    assert.are.equal("price\tdouble\tYES\tNULL\n", column_of("widen", "price"))
    assert.are.equal("1\t2\n2\t2.5\n", helpers.sql(database, "SELECT n, price FROM widen ORDER BY n"))

    -- a table of its own: NOT NULL and a whole-number default are kept
    helpers.sql(database, "CREATE TABLE kept (n BIGINT, price INT NOT NULL DEFAULT 7)")
    helpers.write_file(path, 'a|{"n":1,"price":12.25}\n')
    helpers.produce_file(broker.bootstrap, "kept", path)
    stop(pid)
    app = write_app("kept-app", [[
    b:stream("kept", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.evolve"] = true }))
    local kept_log = dir .. "/kept.log"
    pid = run(app, kept_log)
    helpers.wait_until("the row", 60000, function() return count("kept") == 1 end)
    stop(pid)
    assert.are.equal("price\tdouble\tNO\t7\n", column_of("kept", "price"))
    assert.are.equal("12.25\n", helpers.sql(database, "SELECT price FROM kept"))
    for _, text in ipairs({ helpers.read_file(log), helpers.read_file(kept_log) }) do
      assert.is_nil(text:match("ERROR"))
    end
    assert.matches("widened column price of widen from bigint to double (auto.evolve)",
                   helpers.read_file(log), 1, true)
    assert.matches("widened column price of kept from int to double (auto.evolve)",
                   helpers.read_file(kept_log), 1, true)
  end)

  it("refuses a fraction for an integer column without auto.evolve, under on_error", function()
    helpers.sql(database, "CREATE TABLE narrow (n BIGINT, price INT)")
    local path = dir .. "/narrow.txt"
    helpers.write_file(path, 'a|{"n":1,"price":2}\nb|{"n":2,"price":2.5}\nc|{"n":3,"price":3}\n')
    helpers.produce_file(broker.bootstrap, "narrow", path)
    local app = write_app("narrow-app", [[
    b:stream("narrow", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true }), 'on_error = "skip",')
    local log = dir .. "/narrow.log"
    local pid = run(app, log)
    helpers.wait_until("the good rows", 60000, function() return count("narrow") == 2 end)
    stop(pid)
    -- nothing rounded: the fraction's record was skipped, logged, counted
    assert.are.equal("1\t2\n3\t3\n", helpers.sql(database, "SELECT n, price FROM narrow ORDER BY n"))
    assert.are.equal("price\tint\tYES\tNULL\n", column_of("narrow", "price"))
    assert.matches("skipped record narrow [0] @ 1 (on_error = skip, 1 skipped): record for MySQL " ..
                   "table narrow refused: column price of table narrow is int and the value 2.5 " ..
                   "is a fraction (double); auto.evolve is false", helpers.read_file(log), 1, true)
  end)

  it("refuses hostile field names: no statement runs, the record follows on_error", function()
    helpers.sql(database, "CREATE TABLE y (v INT); SET GLOBAL log_output = 'TABLE'; " ..
                          "TRUNCATE mysql.general_log; SET GLOBAL general_log = 1")
    local path = dir .. "/hostile.txt"
    helpers.write_file(path, table.concat({
      'a|{"n":1}',
      'b|{"n":2,"x`; DROP TABLE y; --":1}',
      'c|{"n":3,"it\'s":1}',
      'd|{"n":4,"sp ace":1}',
      'e|{"n":5}',
    }, "\n") .. "\n")
    helpers.produce_file(broker.bootstrap, "hostile", path)
    local app = write_app("hostile-app", [[
    b:stream("hostile", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true }), 'on_error = "skip",')
    local log = dir .. "/hostile.log"
    local pid = run(app, log)
    helpers.wait_until("the good rows", 60000, function() return count("hostile") == 2 end)
    stop(pid)
    local statements = helpers.sql(nil, "SET GLOBAL general_log = 0; SELECT COUNT(*) FROM " ..
                                        "mysql.general_log WHERE argument LIKE '%DROP TABLE y%' " ..
                                        "OR argument LIKE '%it''s%' OR argument LIKE '%sp ace%'")
    assert.are.equal("0", statements:match("%d+"))
    assert.are.equal("1\n5\n", helpers.sql(database, "SELECT n FROM hostile ORDER BY n"))
    assert.are.equal(0, count("y")) -- still there
    local text = helpers.read_file(log)
    assert.matches("skipped record hostile [0] @ 1 (on_error = skip, 1 skipped): record for " ..
                   "MySQL table hostile refused: name \"x`; DROP TABLE y; --\" is refused",
                   text, 1, true)
    assert.matches("skipped record hostile [0] @ 2", text, 1, true)
    assert.matches("skipped record hostile [0] @ 3", text, 1, true)
  end)
  it("retries a lost connection with backoff and loses nothing", function()
    produce_generated("lost", N, function(i) return string.format('{"n":%d,"v":%d}', i, i * 3) end)
    local app = write_app("lost-app", [[
    b:stream("lost", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["insert.mode"] = "upsert",
                                  ["pk.mode"] = "record_value", ["pk.fields"] = "n",
                                  ["batch.size"] = 500, ["retry.backoff.ms"] = 200 }))
    local log = dir .. "/lost.log"
    local pid = run(app, log)
    -- kill the sink's connections from the server side while it writes
    local kills = 0
    helpers.wait_until("every row", 120000, function()
      local n = count("lost")
      if n > 0 and n < N and kills < 5 then
        local ids = helpers.sql(nil, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" ..
                                     database .. "' AND ID <> CONNECTION_ID()")
        for id in ids:gmatch("%d+") do
          if pcall(helpers.sql, nil, "KILL CONNECTION " .. id) then kills = kills + 1 end
        end
      end
      return n >= N
    end)
    stop(pid)
    assert.is_true(kills > 0)
    assert.are.equal(N, count("lost"))
    assert.are.equal(N, count("lost", "v = n * 3"))
    local text = helpers.read_file(log)
    assert.matches("WARN  mysql sink: [^\n]+; retry 1 of 10 in 100 ms", text)
    assert.matches("written after %d+ attempts", text)
    assert.is_nil(text:match("ERROR"))
  end)
  it("stops at once on a wrong password, naming the database, without retrying", function()
    helpers.write_file(dir .. "/denied.txt", 'a|{"n":1}\n')
    helpers.produce_file(broker.bootstrap, "denied", dir .. "/denied.txt")
    local app = write_app("denied-app", [[
    b:stream("denied", { key = "string", value = "json" })
     :to_mysql ]] .. sink_props({ ["auto.create"] = true, ["connection.password"] = "wrong" }))
    local log = dir .. "/denied.log"
    pids[#pids + 1] = helpers.spawn("{ " .. helpers.bin .. " run " .. app .. " --bootstrap " ..
                                    broker.bootstrap .. " --http off --state-dir " ..
                                    state_dir(app) .. "; echo exit=$?; }", log)
    helpers.wait_until("the app to stop", 30000, function()
      return helpers.read_file(log):match("exit=%d+")
    end)
    local text = helpers.read_file(log)
    assert.matches("exit=1", text, 1, true)
    assert.matches("cannot connect to " .. db.user .. "@" .. db.host .. ":" .. db.port .. "/" ..
                   database .. ": Access denied", text, 1, true)
    assert.is_nil(text:match("retry"))
    assert.are.equal(0, count("denied"))
  end)
end)
