-- `streamhost connect` on Avro: the workshop's Debezium and JDBC sink POSTs
-- with Confluent's AvroConverter for values (the workshop's worker
-- default), against `streamhost broker --registry` and MariaDB: the CDC's
-- rows go out with Debezium's Value schema, the sink creates its table
-- with the columns' types from that schema, and a column added in MySQL
-- reaches the sink's table.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local function curl(args)
  local p = io.popen("curl -s -w '\\n%{http_code}' " .. args .. " 2>&1")
  local out = p:read("*a")
  p:close()
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

describe("streamhost connect with AvroConverter", function()
  local db, database, dir, broker, worker, url, bootstrap, registry

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_mysqluser_database("connect_avro")
    helpers.sql(database, [[
      CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2),
                             added DATETIME(3));
      INSERT INTO products VALUES (1, 'tea', 2.50, '2024-01-02 03:04:05.678'), (2, 'jam', 7.25, NULL);]])
    dir = helpers.tmpdir()
    broker = helpers.start_registry_broker(dir, { "dc01_products:1" })
    bootstrap, registry = broker.bootstrap, broker.registry
    local wlog = dir .. "/worker.out"
    worker = helpers.spawn(helpers.bin .. " connect --port 0 --bootstrap " .. bootstrap ..
                           " --state-dir " .. dir .. "/connect", wlog)
    url = helpers.wait_until("the worker's URL", 10000, function()
      return helpers.read_file(wlog):match("connect%.url=(%S+)")
    end)
  end)

  teardown(function()
    if worker and helpers.alive(worker) then
      helpers.kill(worker, "TERM")
      helpers.wait_exit(worker, 60000)
    end
    if broker then broker.stop() end
    helpers.drop_database(database)
  end)

  it("carries the columns' types from MySQL through Kafka back into MySQL", function()
    -- the workshop's two POSTs (spec/fixtures/workshop/), run here with
    -- Avro values: hosts, ports and the database's name changed, then the
    -- properties this run differs in
    local changes = helpers.workshop_changes(url, db.port, database, bootstrap)
    local avro = { ["value.converter"] = "io.confluent.connect.avro.AvroConverter",
                   ["value.converter.schema.registry.url"] = registry }
    local function post(file, differences)
      local connector = helpers.workshop_connector(file, changes)
      for k, v in pairs(avro) do connector.config[k] = v end
      for k, v in pairs(differences) do connector.config[k] = v ~= false and v or nil end
      return curl([[-X POST -H "Content-Type:application/json" ]] .. url .. "/connectors/ -d " ..
                  helpers.shell_quote(cjson.encode(connector)))
    end
    local code, body = post("1-mysql-source-connector.sh", {
      ["database.server.id"] = "12346",
      ["table.blacklist"] = database .. ".products_copy",
      ["database.history.kafka.bootstrap.servers"] = false,
      ["database.history.kafka.topic"] = false,
      ["include.schema.changes"] = false,
    })
    assert.equal(201, code, body)
    code, body = post("5-jdbc-mysql-sink.sh", {
      topics = "dc01_products",
      ["insert.mode"] = "upsert",
      ["pk.mode"] = "record_key",
      ["pk.fields"] = "id",
      ["table.name.format"] = "products_copy",
      ["auto.evolve"] = "true",
      ["batch.size"] = false,
    })
    assert.equal(201, code, body)
    local function copied(sql)
      local ok, out = pcall(helpers.sql, database, sql)
      return ok and out or ""
    end
    helpers.wait_until("both rows in the copy", 60000, function()
      return copied("SELECT COUNT(*) FROM products_copy"):match("^2") ~= nil
    end)
    helpers.sql(database, "ALTER TABLE products ADD COLUMN origin VARCHAR(20) NULL; " ..
                          "INSERT INTO products VALUES (3, 'oats', 0.99, NULL, 'farm')")
    helpers.wait_until("the new column's row in the copy", 60000, function()
      return copied("SELECT origin FROM products_copy WHERE id = 3"):match("farm") ~= nil
    end)
    local types = copied("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE " ..
                         "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products_copy' " ..
                         "ORDER BY ORDINAL_POSITION")
    assert.equal("id\tint(11)\nadded\tdatetime(3)\nname\ttext\nprice\tdecimal(10,2)\n" ..
                 "sourcedc\ttext\norigin\ttext\n", types)
    assert.equal("1\ttea\t2.50\t2024-01-02 03:04:05.678\n2\tjam\t7.25\tNULL\n3\toats\t0.99\tNULL\n",
                 copied("SELECT id, name, price, added FROM products_copy ORDER BY id"))
    local versions = select(2, curl(registry .. "/subjects/dc01_products-value/versions"))
    assert.same({ 1, 2 }, cjson.decode(versions))
  end)
end)
