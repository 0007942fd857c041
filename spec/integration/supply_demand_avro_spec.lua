-- examples/supply_demand on Avro topics end to end, with the example apps
-- as they are and VALUE_FORMAT=avro: the orders application writes MySQL,
-- examples/mysql_cdc/app.lua captures it with Debezium's schemas,
-- pipeline.lua reads and writes Avro, sink.lua writes the out-of-stock
-- events into MySQL (column types from their schema), where the orders
-- application turns them into purchase orders. Then ALTER TABLE products
-- ADD COLUMN mid-stream: a new schema version of dc01_products, which the
-- pipeline reads on, and a sink of dc01_products adds the column to its
-- copy of the table.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local READER = "/usr/bin/python3 spec/fixtures/avro_cdc.py"

describe("supply_demand on Avro", function()
  local db, database, dir, broker, bootstrap, registry
  local pids, logs = {}, {}

  local function start(name, env, app)
    local log = dir .. "/" .. name .. ".log"
    local pid = helpers.spawn(env .. " " .. helpers.bin .. " run " .. app .. " --http off " ..
                              "--no-rollback --bootstrap " .. bootstrap .. " --state-dir " .. dir ..
                              "/state-" .. name, log)
    pids[#pids + 1], logs[name] = pid, log
    return pid
  end

  local function count(sql)
    local ok, out = pcall(helpers.sql, database, sql)
    if not ok then return 0 end
    return tonumber(out:match("%-?%d+")) or 0
  end

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_mysqluser_database("sd_avro")
    dir = helpers.tmpdir()
    -- the embedded broker creates no topics for clients: the CDC's and the
    -- pipeline's, one partition each, as scripts/demo.sh makes them
    local topics = {}
    for _, t in ipairs({ "customers", "products", "suppliers", "sales_orders",
                         "sales_order_details", "purchase_orders", "purchase_order_details",
                         "out_of_stock_events", "sales_enriched", "purchases_enriched",
                         "product_supply_and_demand", "current_stock",
                         "product_demand_last_3mins" }) do
      topics[#topics + 1] = "dc01_" .. t .. ":1"
    end
    for _, t in ipairs({ "sales_orders_details-right", "sales_by_customer", "sales_by_product",
                         "purchase_orders_details-right", "purchases_by_supplier",
                         "purchases_by_product", "current_stock", "product_demand_last_3mins" }) do
      topics[#topics + 1] = "supply_demand-" .. t .. "-repartition:1"
    end
    broker = helpers.start_registry_broker(dir, topics)
    bootstrap, registry = broker.bootstrap, broker.registry
  end)

  teardown(function()
    for i = #pids, 1, -1 do
      if helpers.alive(pids[i]) then
        helpers.kill(pids[i], "TERM")
        helpers.wait_exit(pids[i], 30000)
      end
    end
    if broker then broker.stop() end
    helpers.drop_database(database)
  end)

  it("runs CDC -> pipeline -> sink on Avro, and an ADD COLUMN flows through", function()
    local avro = "VALUE_FORMAT=avro SCHEMA_REGISTRY_URL=" .. registry
    local root_url = string.format("mysql://%s:%s@%s:%d/%s", db.user, db.password, db.host,
                                   db.port, database)
    start("orders", "ORDERS_INTERVAL=20ms ORDERS_MYSQL_URL=" .. helpers.shell_quote(root_url),
          "examples/supply_demand/orders.lua")
    helpers.wait_until("the orders schema", 30000, function()
      return count("SELECT COUNT(*) FROM purchase_order_details") > 0
    end)
    start("cdc", avro .. " MYSQL_PORT=" .. db.port .. " MYSQL_DATABASE=" .. database,
          "examples/mysql_cdc/app.lua")
    start("pipeline", avro, "examples/supply_demand/pipeline.lua")
    start("sink", avro .. " SINK_MYSQL_URL=jdbc:mysql://127.0.0.1:" .. db.port .. "/" .. database,
          "examples/supply_demand/sink.lua")
    -- a copy of products, to watch a new column arrive
    helpers.write_file(dir .. "/products_sink.lua", string.format([[
local sh = require "streamhost"
return sh.app {
  id = "products-copy",
  kafka = { ["schema.registry.url"] = %q, ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("dc01_products", { key = "int", value = "avro" })
     :to_mysql { ["connection.url"] = "jdbc:mysql://127.0.0.1:%d/%s",
                 ["connection.user"] = "mysqluser", ["connection.password"] = "mysqlpw",
                 ["insert.mode"] = "upsert", ["pk.mode"] = "record_key", ["pk.fields"] = "id",
                 ["auto.create"] = true, ["auto.evolve"] = true,
                 ["table.name.format"] = "products_copy" }
  end,
}
]], registry, db.port, database))
    start("products_copy", "", dir .. "/products_sink.lua")

    -- the loop closes: events in MySQL, purchase orders raised for them
    helpers.wait_until("out-of-stock events with purchase orders", 240000, function()
      return count("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE purchase_order_id > 0") > 0
    end)
    local subjects = helpers.get_json(registry .. "/subjects")
    local have = {}
    for _, s in ipairs(subjects) do have[s] = true end
    for _, s in ipairs({ "dc01_products-value", "dc01_sales_orders-value",
                         "dc01_sales_enriched-value", "dc01_current_stock-value",
                         "dc01_out_of_stock_events-value" }) do
      assert.is_true(have[s], s .. " in " .. table.concat(subjects, ", "))
    end
    -- the CDC's rows carry Debezium's schema, decimals exact
    local products = cjson.decode(helpers.get_json(registry ..
                                           "/subjects/dc01_products-value/versions/1").schema)
    assert.equal("dc01." .. database .. ".products.Value", products["connect.name"])
    local p = io.popen(READER .. " " .. bootstrap .. " " .. registry .. " dc01_products 1")
    local first = cjson.decode(p:read("*l"))
    p:close()
    assert.is_true(first.same_bytes)
    assert.equal(1, first.key)
    local price = helpers.sql(database, "SELECT price FROM products WHERE id = 1"):gsub("%s+$", "")
    assert.equal(price, first.value.price)
    -- the events table: auto.create took the events' Avro types; product_id
    -- kept the int of products.id through the pipeline's derived schemas
    local types = helpers.sql(database, "SELECT COLUMN_NAME, COLUMN_TYPE FROM " ..
                              "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND " ..
                              "TABLE_NAME = 'dc01_out_of_stock_events' ORDER BY COLUMN_NAME")
    assert.matches("product_id\tint(11)", types, 1, true)
    assert.matches("stock_level\tbigint(20)", types, 1, true)
    assert.matches("window_start_time\ttext", types, 1, true)

    -- ADD COLUMN mid-stream
    local events_before = count("SELECT COUNT(*) FROM dc01_out_of_stock_events")
    helpers.sql(database, "ALTER TABLE products ADD COLUMN origin VARCHAR(20) NULL; " ..
                          "UPDATE products SET origin = 'farm' WHERE id = 1")
    helpers.wait_until("the new column in the copy", 60000, function()
      return count("SELECT COUNT(*) FROM products_copy WHERE id = 1 AND origin = 'farm'") == 1
    end)
    assert.same({ 1, 2 }, helpers.get_json(registry .. "/subjects/dc01_products-value/versions"))
    local v2 = cjson.decode(helpers.get_json(registry .. "/subjects/dc01_products-value/versions/2").schema)
    local origin
    for _, f in ipairs(v2.fields) do
      if f.name == "origin" then origin = f end
    end
    assert.same({ "null", "string" }, origin.type)
    -- the pipeline reads on past the new version
    helpers.wait_until("more out-of-stock events", 240000, function()
      return count("SELECT COUNT(*) FROM dc01_out_of_stock_events") > events_before
    end)
    assert.equal("decimal(10,2)",
                 (helpers.sql(database, "SELECT COLUMN_TYPE FROM information_schema.COLUMNS " ..
                              "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'products_copy' " ..
                              "AND COLUMN_NAME = 'price'"):gsub("%s+$", "")))
    for name, log in pairs(logs) do
      assert.is_nil(helpers.read_file(log):match("ERROR"), name .. ": " .. helpers.read_file(log))
    end
    assert.matches("added column origin TEXT to products_copy (auto.evolve)",
                   helpers.read_file(logs.products_copy), 1, true)
  end)
end)
