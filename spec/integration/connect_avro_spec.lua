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
  local db, database, dir, broker_pid, worker, url, bootstrap, registry

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_database("connect_avro")
    helpers.sql(nil, "GRANT ALL PRIVILEGES ON `" .. database .. "`.* TO 'mysqluser'@'%'")
    helpers.sql(database, [[
      CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2),
                             added DATETIME(3));
      INSERT INTO products VALUES (1, 'tea', 2.50, '2024-01-02 03:04:05.678'), (2, 'jam', 7.25, NULL);]])
    dir = helpers.tmpdir()
    local log = dir .. "/broker.log"
    broker_pid = helpers.spawn(helpers.bin .. " broker --registry --topic dc01_products:1", log)
    helpers.wait_until("the registry line", 20000, function()
      local text = helpers.read_file(log)
      bootstrap = text:match("bootstrap%.servers=(%S+)\n")
      registry = text:match("\nschema%.registry%.url=(%S+)\n")
      return bootstrap and registry
    end)
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
    if broker_pid then
      helpers.kill(broker_pid)
      helpers.wait_exit(broker_pid)
    end
    pcall(helpers.sql, nil, "DROP DATABASE " .. database)
  end)

  it("carries the columns' types from MySQL through Kafka back into MySQL", function()
    local avro = [[
          "value.converter": "io.confluent.connect.avro.AvroConverter",
          "value.converter.schema.registry.url": "]] .. registry .. [[",
          "key.converter": "org.apache.kafka.connect.converters.IntegerConverter"]]
    local code, body = curl([[-X POST -H "Content-Type:application/json" ]] .. url ..
                            [[/connectors/ -d '{
    "name": "mysql-source-connector",
    "config": {
          "connector.class": "io.debezium.connector.mysql.MySqlConnector",
          "database.hostname": "127.0.0.1",
          "database.port": "]] .. db.port .. [[",
          "database.user": "mysqluser",
          "database.password": "mysqlpw",
          "database.server.id": "12346",
          "database.server.name": "dc01",
          "database.whitelist": "]] .. database .. [[",
          "table.blacklist": "]] .. database .. [[.products_copy",
          "snapshot.mode": "when_needed",
          "transforms": "unwrap,sourcedc,TopicRename,extractKey",
          "transforms.unwrap.type": "io.debezium.transforms.UnwrapFromEnvelope",
          "transforms.sourcedc.type":"org.apache.kafka.connect.transforms.InsertField$Value",
          "transforms.sourcedc.static.field":"sourcedc",
          "transforms.sourcedc.static.value":"dc01",
          "transforms.TopicRename.type": "org.apache.kafka.connect.transforms.RegexRouter",
          "transforms.TopicRename.regex": "(.*)\\.(.*)\\.(.*)",
          "transforms.TopicRename.replacement": "$1_$3",
          "transforms.extractKey.type": "org.apache.kafka.connect.transforms.ExtractField$Key",
          "transforms.extractKey.field": "id",
]] .. avro .. [[
      }}']])
    assert.equal(201, code, body)
    code, body = curl([[-X POST -H "Content-Type:application/json" ]] .. url ..
                      [[/connectors/ -d '{
        "name": "jdbc-mysql-sink",
        "config": {
          "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
          "topics": "dc01_products",
          "connection.url": "jdbc:mysql://127.0.0.1:]] .. db.port .. "/" .. database .. [[",
          "connection.user": "mysqluser",
          "connection.password": "mysqlpw",
          "insert.mode": "upsert",
          "pk.mode": "record_key",
          "pk.fields": "id",
          "table.name.format": "products_copy",
          "auto.create": "true",
          "auto.evolve": "true",
]] .. avro .. [[
        }}']])
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
