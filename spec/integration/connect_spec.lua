-- `streamhost connect` against a real MariaDB and `streamhost broker`: the
-- workshop's curl commands for the Debezium source and the JDBC sink, as
-- written but for host names, ports, credentials and the database's name,
-- then Connect's REST calls around them, and a restarted worker that runs
-- its connectors again from what connect-configs, connect-status and
-- connect-offsets hold.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

-- status code and body of a curl call
local function curl(args)
  local out = sh("curl -s -w '\\n%{http_code}' " .. args)
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

describe("streamhost connect", function()
  local db, database, broker, dir, worker, url

  local starts = 0
  local function start_worker()
    starts = starts + 1
    local log = dir .. "/worker-" .. starts .. ".out"
    worker = helpers.spawn(helpers.bin .. " connect --port 0 --bootstrap " .. broker.bootstrap ..
                           " --state-dir " .. dir .. "/connect", log)
    url = helpers.wait_until("the worker's URL", 10000, function()
      return helpers.read_file(log):match("connect%.url=(%S+)")
    end)
  end

  -- what the workshop's POSTs change to run here: the worker's URL, hosts,
  -- ports and the database's name
  local function local_changes()
    return helpers.workshop_changes(url, db.port, database, broker.bootstrap)
  end

  local function status(name)
    local _, body = curl(url .. "/connectors/" .. name .. "/status")
    local ok, s = pcall(cjson.decode, body)
    return ok and type(s) == "table" and s.connector and s.connector.state
  end

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_mysqluser_database("connect_spec")
    -- the workshop's account writes the sink's table, as it does in orders
    helpers.sql(database, [[
      CREATE TABLE customers (id INT PRIMARY KEY, first_name VARCHAR(50));
      INSERT INTO customers VALUES (1, 'Ann'), (2, 'Bo');]])
    broker = helpers.start_broker { dc01_customers = 1, dc01_out_of_stock_events = 1 }
    dir = helpers.tmpdir()
    start_worker()
  end)

  teardown(function()
    if worker and helpers.alive(worker) then
      helpers.kill(worker, "TERM")
      helpers.wait_exit(worker, 60000)
    end
    if broker then broker.stop() end
  end)

  it("runs the workshop's Debezium POST: every row in dc01_<table>, keyed by id", function()
    -- the workshop's command (spec/fixtures/workshop/), as it is written
    -- but for hosts, ports and the database's name
    local code = curl((helpers.workshop_command("1-mysql-source-connector.sh", local_changes())
                       :gsub("^curl ", "")))
    assert.equal(201, code)
    assert.equal("RUNNING", status("mysql-source-connector"))
    local records = helpers.wait_records(broker.bootstrap, "dc01_customers", 2, 60000)
    local ann = cjson.decode(records[1].value)
    assert.same({ id = 1, first_name = "Ann", sourcedc = "dc01" }, ann)
    assert.equal("\0\0\0\1", records[1].key)   -- IntegerConverter
    helpers.sql(database, "INSERT INTO customers VALUES (3, 'Cy')")
    helpers.wait_records(broker.bootstrap, "dc01_customers", 3, 30000)
  end)

  it("runs the workshop's JDBC sink POST: each event a row in MySQL", function()
    -- the key read as a string, not the workshop's integer: kcat writes the
    -- events below without a key
    local changes = local_changes()
    changes[#changes + 1] = { "org.apache.kafka.connect.converters.IntegerConverter",
                              "org.apache.kafka.connect.storage.StringConverter" }
    local code = curl((helpers.workshop_command("5-jdbc-mysql-sink.sh", changes):gsub("^curl ", "")))
    assert.equal(201, code)
    local event = '{"product_id":28,"stock_level":-85,"demand_last_3mins":12,' ..
                  '"quantity_to_purchase":97}'
    sh("echo " .. helpers.shell_quote(event) .. " | kcat -P -b " .. broker.bootstrap ..
       " -t dc01_out_of_stock_events")
    helpers.wait_until("the event in MySQL", 60000, function()
      local ok, out = pcall(helpers.sql, database,
                            "SELECT quantity_to_purchase FROM dc01_out_of_stock_events")
      return ok and out:match("97")
    end)
    assert.equal("RUNNING", status("jdbc-mysql-sink"))
  end)

  it("answers Connect's REST calls: list, info, config, plugins, 400, 404, 409", function()
    local code, body = curl(url .. "/connectors")
    assert.equal(200, code)
    local names = cjson.decode(body)
    table.sort(names)
    assert.same({ "jdbc-mysql-sink", "mysql-source-connector" }, names)
    code, body = curl("'" .. url .. "/connectors?expand=status&expand=info'")
    assert.equal(200, code)
    local expanded = cjson.decode(body)
    assert.equal("RUNNING", expanded["jdbc-mysql-sink"].status.connector.state)
    assert.equal("source", expanded["mysql-source-connector"].info.type)
    code, body = curl(url .. "/connectors/jdbc-mysql-sink")
    assert.equal(200, code)
    assert.equal("sink", cjson.decode(body).type)
    body = select(2, curl(url .. "/connectors/jdbc-mysql-sink/config"))
    assert.equal("INSERT", cjson.decode(body)["insert.mode"])
    body = select(2, curl(url .. "/connector-plugins"))
    assert.matches("io.debezium.connector.mysql.MySqlConnector", body, 1, true)
    code, body = curl("-X POST -H 'Content-Type: application/json' " .. url .. "/connectors -d " ..
                      helpers.shell_quote('{"name":"x","config":{"connector.class":"com.example.Nope"}}'))
    assert.equal(400, code)
    assert.matches("io.confluent.connect.jdbc.JdbcSinkConnector", cjson.decode(body).message, 1, true)
    code = curl(url .. "/connectors/nope/status")
    assert.equal(404, code)
    code = curl("-X POST -H 'Content-Type: application/json' " .. url .. "/connectors -d " ..
                helpers.shell_quote(cjson.encode { name = "jdbc-mysql-sink", config = {
                  ["connector.class"] = "io.confluent.connect.jdbc.JdbcSinkConnector",
                  topics = "dc01_out_of_stock_events",
                  ["connection.url"] = "jdbc:mysql://127.0.0.1:1/x" } }))
    assert.equal(409, code)
  end)

  it("pauses, resumes, restarts and deletes", function()
    assert.equal(202, (curl("-X PUT " .. url .. "/connectors/jdbc-mysql-sink/pause")))
    assert.equal("PAUSED", status("jdbc-mysql-sink"))
    assert.equal(202, (curl("-X PUT " .. url .. "/connectors/jdbc-mysql-sink/resume")))
    assert.equal("RUNNING", status("jdbc-mysql-sink"))
    assert.equal(204, (curl("-X POST " .. url .. "/connectors/jdbc-mysql-sink/restart")))
    assert.equal("RUNNING", status("jdbc-mysql-sink"))
    assert.equal(204, (curl("-X DELETE " .. url .. "/connectors/jdbc-mysql-sink")))
    assert.equal(404, (curl(url .. "/connectors/jdbc-mysql-sink")))
  end)

  it("runs its connectors again after a restart, and leaves no child behind when stopped", function()
    helpers.kill(worker, "TERM")
    helpers.wait_exit(worker, 60000)
    -- "[/]": the pattern does not match pgrep's own shell
    local pattern = "state-dir [/]" .. dir:sub(2) .. "/connect/"
    assert.equal("", sh("pgrep -f -- " .. helpers.shell_quote(pattern) .. " || true"))
    start_worker()
    assert.equal("RUNNING", status("mysql-source-connector"))
    helpers.sql(database, "INSERT INTO customers VALUES (4, 'Di')")
    local records = helpers.wait_records(broker.bootstrap, "dc01_customers", 4, 60000)
    assert.equal(4, cjson.decode(records[#records].value).id)
    -- resumed from its position: each row once, none lost
    helpers.sql(database, "INSERT INTO customers VALUES (5, 'Ed')")
    records = helpers.wait_records(broker.bootstrap, "dc01_customers", 5, 60000)
    local ids = {}
    for _, r in ipairs(records) do ids[#ids + 1] = cjson.decode(r.value).id end
    assert.same({ 1, 2, 3, 4, 5 }, ids)
  end)

  it("keeps configs, statuses and offsets in Kafka as Connect's distributed mode does", function()
    local function latest(topic)
      local by_key = {}
      for _, r in ipairs(helpers.consume_all(broker.bootstrap, topic)) do
        by_key[r.key] = r.value and cjson.decode(r.value) or false
      end
      return by_key
    end
    local configs = latest("connect-configs")
    assert.equal("io.debezium.connector.mysql.MySqlConnector",
                 configs["connector-mysql-source-connector"].properties["connector.class"])
    assert.equal("dc01", configs["task-mysql-source-connector-0"].properties["database.server.name"])
    assert.same({ tasks = 1 }, configs["commit-mysql-source-connector"])
    assert.same({ state = "STARTED" }, configs["target-state-mysql-source-connector"])
    -- the deleted sink: tombstones
    assert.is_false(configs["connector-jdbc-mysql-sink"])
    local statuses = latest("connect-status")
    assert.equal("RUNNING", statuses["status-connector-mysql-source-connector"].state)
    assert.equal("RUNNING", statuses["status-task-mysql-source-connector-0"].state)
    -- the CDC's position under Debezium's key, in the worker's offsets topic
    local offsets = latest("connect-offsets")
    local position = offsets['["mysql-source-connector",{"server":"dc01"}]']
    assert.is_table(position)
    assert.is_nil(io.open(dir .. "/connect/connectors.json"))
    -- a pause is a target state a restarted worker keeps
    assert.equal(202, (curl("-X PUT " .. url .. "/connectors/mysql-source-connector/pause")))
    helpers.kill(worker, "TERM")
    helpers.wait_exit(worker, 60000)
    start_worker()
    assert.equal("PAUSED", status("mysql-source-connector"))
    assert.equal(202, (curl("-X PUT " .. url .. "/connectors/mysql-source-connector/resume")))
    assert.equal("RUNNING", status("mysql-source-connector"))
  end)

  it("stops its connectors when it is killed, and a new worker resumes the CDC", function()
    helpers.kill(worker, "KILL")
    helpers.wait_exit(worker, 10000)
    local pattern = "state-dir [/]" .. dir:sub(2) .. "/connect/"
    helpers.wait_until("the connectors to stop with their worker", 60000, function()
      return sh("pgrep -f -- " .. helpers.shell_quote(pattern) .. " || true") == ""
    end)
    start_worker()
    assert.equal("RUNNING", status("mysql-source-connector"))
    helpers.sql(database, "INSERT INTO customers VALUES (6, 'Fay')")
    local records = helpers.wait_records(broker.bootstrap, "dc01_customers", 6, 60000)
    local ids = {}
    for _, r in ipairs(records) do ids[#ids + 1] = cjson.decode(r.value).id end
    assert.same({ 1, 2, 3, 4, 5, 6 }, ids)
  end)
end)
