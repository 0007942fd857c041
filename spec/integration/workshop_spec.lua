-- The workshop's own curl commands (spec/fixtures/workshop/: the four
-- connector POSTs and the ksqlDB pull query) run by bash as the workshop
-- prints them, with only host names, ports, the database's name and
-- credentials changed, against the workshop's topology: an "on-prem"
-- cluster with its Connect worker (the workshop's port 18083) and a "cloud"
-- one with its own (18084) and the pipeline (ksqlDB's 8088), the orders
-- application writing to MySQL. The loop closes: an out-of-stock event
-- computed in the cloud reaches MySQL and gets its purchase order.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local REPARTITIONS = { "sales_orders_details-right", "sales_by_customer", "sales_by_product",
                       "purchase_orders_details-right", "purchases_by_supplier",
                       "purchases_by_product", "current_stock", "product_demand_last_3mins" }
local TABLES = { "customers", "products", "suppliers", "sales_orders", "sales_order_details",
                 "purchase_orders", "purchase_order_details", "out_of_stock_events",
                 "sales_enriched", "purchases_enriched", "product_supply_and_demand",
                 "current_stock", "product_demand_last_3mins" }

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  p:close()
  return out
end

describe("the workshop's curl commands", function()
  local db, database, onprem, cloud, dir, workers, orders, pipeline, pipeline_url
  local changes, onprem_url, cloud_url -- the two Connect workers' URLs

  -- the fixture's command with the changes applied, run by bash
  local function run(file)
    local command = helpers.workshop_command(file, changes)
    local script = dir .. "/" .. file
    helpers.write_file(script, command)
    return sh("bash " .. script)
  end

  local function start_worker(name, bootstrap)
    local log = dir .. "/" .. name .. ".out"
    local pid = helpers.spawn(helpers.bin .. " connect --port 0 --bootstrap " .. bootstrap ..
                              " --state-dir " .. dir .. "/" .. name, log)
    local url = helpers.wait_until(name .. "'s URL", 20000, function()
      return helpers.read_file(log):match("connect%.url=(%S+)")
    end)
    workers[#workers + 1] = pid
    return url
  end

  local function state(url, name)
    local out = sh("curl -s " .. url .. "/connectors/" .. name .. "/status")
    local ok, s = pcall(cjson.decode, out)
    return ok and type(s) == "table" and s.connector and s.connector.state
  end

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_mysqluser_database("workshop_spec")
    local topics = {}
    for _, t in ipairs(TABLES) do topics["dc01_" .. t] = 1 end
    for _, t in ipairs(REPARTITIONS) do topics["supply_demand-" .. t .. "-repartition"] = 1 end
    onprem = helpers.start_broker(topics)
    cloud = helpers.start_broker(topics)
    dir = helpers.tmpdir()
    workers = {}
    orders = helpers.spawn("ORDERS_MYSQL_URL=mysql://mysqluser:mysqlpw@127.0.0.1:" .. db.port .. "/" ..
                           database .. " ORDERS_INTERVAL=20ms ORDERS_LIMIT=1000 " .. helpers.bin ..
                           " run examples/supply_demand/orders.lua --bootstrap " .. onprem.bootstrap ..
                           " --http off --state-dir " .. dir .. "/orders", dir .. "/orders.log")
    helpers.wait_until("the orders schema", 60000, function()
      local ok = pcall(helpers.sql, database, "SELECT 1 FROM purchase_order_details LIMIT 1")
      return ok
    end)
    onprem_url = start_worker("connect-onprem", onprem.bootstrap)
    cloud_url = start_worker("connect-ccloud", cloud.bootstrap)
    pipeline = helpers.spawn(helpers.bin .. " run examples/supply_demand/pipeline.lua --bootstrap " ..
                             cloud.bootstrap .. " --state-dir " .. dir .. "/pipeline --http 127.0.0.1:0",
                             dir .. "/pipeline.log")
    pipeline_url = helpers.wait_until("the pipeline's port", 30000, function()
      return helpers.read_file(dir .. "/pipeline.log"):match("pull queries on (http://127%.0%.0%.1:%d+)/")
    end)
    -- host names, ports, the database's name and credentials: nothing else
    changes = helpers.workshop_changes(onprem_url, db.port, database, onprem.bootstrap)
    for _, change in ipairs {
      { "http://localhost:18084", cloud_url }, { "http://localhost:8088", pipeline_url },
      { "${file:/secrets.properties:CCLOUD_CLUSTER_ENDPOINT}", cloud.bootstrap },
      { "${file:/secrets.properties:CCLOUD_API_KEY}", "key" },
      { "${file:/secrets.properties:CCLOUD_API_SECRET}", "secret" },
      -- the embedded cloud cluster is plaintext
      { '"SASL_SSL"', '"PLAINTEXT"' },
      -- a replication factor of 3 needs three brokers
      { '"dest.kafka.replication.factor": 3', '"dest.kafka.replication.factor": 1' },
    } do changes[#changes + 1] = change end
  end)

  teardown(function()
    for _, pid in ipairs { pipeline, orders, workers[2], workers[1] } do
      if pid and helpers.alive(pid) then
        helpers.kill(pid, "TERM")
        helpers.wait_exit(pid, 60000)
      end
    end
    if cloud then cloud.stop() end
    if onprem then onprem.stop() end
  end)

  it("creates the four connectors, each RUNNING", function()
    for _, post in ipairs { { "1-mysql-source-connector.sh", 1 }, { "2-replicator-dc01-to-ccloud.sh", 2 },
                            { "4-replicator-ccloud-to-dc01.sh", 1 }, { "5-jdbc-mysql-sink.sh", 1 } } do
      local out = run(post[1])
      assert.matches("HTTP/1.1 201 Created", out, 1, true)
      local name = cjson.decode(out:match("\r\n\r\n(.*)$")).name
      assert.equal("RUNNING", state(post[2] == 1 and onprem_url or cloud_url, name))
    end
  end)

  it("answers the pull query in ksqlDB's shape, as the pipeline's store has it", function()
    local rows
    helpers.wait_until("product 15's stock in the cloud", 120000, function()
      local ok, answer = pcall(cjson.decode, run("3-pull-query.sh"))
      rows = ok and type(answer) == "table" and answer
      return rows and rows[2] and rows[2].row
    end)
    assert.is_table(rows[1].header)
    assert.matches("PRODUCT_ID", rows[1].header.schema, 1, true)
    assert.equal(15, rows[2].row.columns[1])
    assert.is_number(rows[2].row.columns[2])
  end)

  it("closes the loop: an out-of-stock event from the cloud in MySQL, with its purchase order", function()
    helpers.wait_until("an event with its purchase order", 240000, function()
      assert(helpers.alive(pipeline), helpers.read_file(dir .. "/pipeline.log"))
      local ok, out = pcall(helpers.sql, database,
                            "SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE purchase_order_id > 0")
      return ok and tonumber(out:match("%d+")) and tonumber(out:match("%d+")) > 0
    end)
    -- the events came back through the replicator: Replicator's provenance header
    local records = helpers.consume_all(onprem.bootstrap, "dc01_out_of_stock_events")
    assert.is_true(#records > 0)
    local headers = records[1].headers or {}
    assert.equal("__replicator_id", headers[1])
    for _, log in ipairs { "connect-onprem/mysql-source-connector",
                           "connect-ccloud/replicator-dc01-to-ccloud",
                           "connect-onprem/replicator-ccloud-to-dc01", "connect-onprem/jdbc-mysql-sink",
                           "pipeline", "orders" } do
      local text = helpers.read_file(dir .. "/" .. log .. ".log")
      assert.is_nil(text:find(" ERROR ", 1, true), log .. ": " .. text:sub(1, 2000))
    end
  end)
end)
