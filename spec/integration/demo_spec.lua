-- `make demo` (scripts/demo.sh) driven unattended: the workshop's whole
-- supply-and-demand loop on its two clusters (CDC, orders and the sink
-- on-prem, the pipeline in the "cloud", a Replicator each way, all four
-- connectors through `streamhost connect`) with orders sped up and capped,
-- so that it settles, then issue 11's invariants checked against MySQL and
-- the pipeline's pull queries, and after the stop no part left running or
-- listening.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local DIR = ".run/demo-spec"
-- the spec's copy of the pipeline, edited mid-run for a hot reload
local PIPELINE = ".run/demo-spec-pipeline.lua"
local FIELD = "quantity_to_purchase = -stock_level + pd.demand_last_3mins,"
local ORDERS = 1200          -- sales orders, one every 50 ms: about a minute

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  local ok = p:close()
  return out, ok
end

local function read_env(path)
  local env = {}
  for name, value in helpers.read_file(path):gmatch("\n?([A-Z_]+)=([^\n]*)") do env[name] = value end
  return env
end

describe("make demo", function()
  local pid, env, log, mysql_port

  -- rows of a query as lists of strings (tab-separated, no header)
  local function query(sql)
    local out, ok = sh("mariadb --no-defaults -h 127.0.0.1 -P " .. mysql_port ..
                       " -u mysqluser -pmysqlpw orders -N -B -e " .. helpers.shell_quote(sql))
    if not ok then return nil, out end
    local rows = {}
    for line in out:gmatch("[^\n]+") do
      local row = {}
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do row[#row + 1] = field end
      rows[#rows + 1] = row
    end
    return rows
  end

  local function number(sql)
    local rows = query(sql)
    return rows and rows[1] and tonumber(rows[1][1])
  end

  -- product id -> stock, from the pipeline's store over HTTP
  local function pulled_stock()
    local out = sh("curl -sf --max-time 5 '" .. env.PIPELINE_URL .. "/stores/current_stock?limit=100'")
    local ok, body = pcall(cjson.decode, out)
    if not ok or type(body) ~= "table" or not body.entries then return nil end
    local stock = {}
    for _, e in ipairs(body.entries) do stock[e.key] = e.value end
    return stock
  end

  -- product id -> 100 + purchased - sold, from the order tables
  local function mysql_stock()
    local rows = query([[
      SELECT p.id, COALESCE((SELECT SUM(quantity) FROM purchase_order_details WHERE product_id = p.id), 0)
                 - COALESCE((SELECT SUM(quantity) FROM sales_order_details WHERE product_id = p.id), 0)
        FROM products p]])
    local stock = {}
    for _, r in ipairs(rows or {}) do stock[tonumber(r[1])] = tonumber(r[2]) end
    return stock
  end

  local function same_stock()
    local pulled, computed = pulled_stock(), mysql_stock()
    if not pulled or not next(computed) then return false end
    for id, level in pairs(computed) do
      if pulled[id] ~= level then return false end
    end
    return true
  end

  setup(function()
    log = helpers.tmpdir() .. "/demo.out"
    os.execute("mkdir -p .run")
    local pipeline = helpers.read_file("examples/supply_demand/pipeline.lua")
    assert(pipeline:find(FIELD, 1, true), "pipeline.lua no longer has the line this spec edits")
    helpers.write_file(PIPELINE, pipeline)
    pid = helpers.spawn("DEMO_DIR=" .. DIR .. " DEMO_PIPELINE=" .. PIPELINE ..
                        " DEMO_SECONDS=900 DEMO_REFRESH=10 " ..
                        "DEMO_ORDERS_INTERVAL=50ms DEMO_ORDERS_LIMIT=" .. ORDERS .. " scripts/demo.sh", log)
    helpers.wait_until("the demo's addresses", 180000, function()
      assert(helpers.alive(pid), "demo.sh stopped: " .. helpers.read_file(log))
      return helpers.read_file(log):find("loop is running", 1, true)
    end)
    env = read_env(DIR .. ".env")
    mysql_port = assert(env.MYSQL_URL:match(":(%d+)/orders$"), env.MYSQL_URL)
  end)

  teardown(function()
    if pid and helpers.alive(pid) then
      helpers.kill(pid, "TERM")
      helpers.wait_exit(pid, 90000)
    end
    os.remove(PIPELINE)
  end)

  it("writes every part's address to DEMO_DIR.env, two clusters", function()
    for _, name in ipairs { "MYSQL_URL", "ONPREM_BOOTSTRAP", "CLOUD_BOOTSTRAP", "REGISTRY_URL",
                            "CONNECT_URL", "PIPELINE_URL" } do
      assert.truthy(env[name] and env[name] ~= "", name)
    end
    assert.are_not.equal(env.ONPREM_BOOTSTRAP, env.CLOUD_BOOTSTRAP)
    -- the pipeline reads the cloud, the CDC writes on-prem: the replicator joins them
    local connectors = cjson.decode((sh("curl -sf " .. env.CONNECT_URL .. "/connectors")))
    table.sort(connectors)
    assert.same({ "jdbc-mysql-sink", "mysql-source-connector", "replicator-ccloud-to-dc01",
                  "replicator-dc01-to-ccloud" }, connectors)
    assert.truthy(helpers.read_file(log):find("curl -s " .. env.PIPELINE_URL .. "/stores/current_stock/15",
                                              1, true))
  end)

  it("runs the loop: products run out, and every out-of-stock event gets exactly one purchase order",
     function()
    -- a hot reload once the first events are in: a new field on the events,
    -- which the sink adds as a column (auto.evolve)
    helpers.wait_until("the first out-of-stock event", 180000, function()
      return (number("SELECT COUNT(*) FROM dc01_out_of_stock_events") or 0) > 0
    end)
    helpers.write_file(PIPELINE, (helpers.read_file(PIPELINE):gsub(FIELD:gsub("%p", "%%%0"),
                                  FIELD .. " reloaded = 1,")))
    helpers.wait_until("the reload", 60000, function()
      return helpers.read_file(DIR .. "/pipeline.log"):find("reloaded ", 1, true)
    end)
    -- the reloaded version's first event, from the cloud topic through the
    -- replicator back and the sink into MySQL: seconds
    local on_cloud, in_mysql
    helpers.wait_until("a reloaded event in MySQL", 240000, function()
      assert(helpers.alive(pid), "demo.sh stopped: " .. helpers.read_file(log))
      if not on_cloud then
        -- JSON: the field in the cloud topic; Avro: the events' second schema
        -- registered, which the reloaded version does with its first event
        local out = sh("kcat -C -o beginning -e -q -b " .. env.CLOUD_BOOTSTRAP ..
                     " -t dc01_out_of_stock_events")
        local versions = sh("curl -s " .. env.REGISTRY_URL ..
                            "/subjects/dc01_out_of_stock_events-value/versions")
        if out:find('"reloaded"%s*:%s*1') or versions:match("^%[%d+,%s*%d+") then on_cloud = os.time() end
      end
      in_mysql = (number("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE reloaded = 1") or 0) > 0
      if in_mysql and not on_cloud then on_cloud = os.time() end
      return in_mysql
    end)
    local latency = os.time() - on_cloud
    print(string.format("demo_spec: a reloaded event reached MySQL %d s after the cloud topic", latency))
    assert.is_true(latency <= 15, "a reloaded event took " .. latency .. " s to reach MySQL")
    helpers.wait_until("all sales orders", 240000, function()
      assert(helpers.alive(pid), "demo.sh stopped: " .. helpers.read_file(log))
      return (number("SELECT COUNT(*) FROM sales_orders") or 0) >= ORDERS
    end)
    -- settled: every event ordered for, and the pipeline's stock is MySQL's
    helpers.wait_until("the loop to settle", 180000, function()
      local pending = number("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE purchase_order_id IS NULL")
      return pending == 0 and same_stock()
    end)

    local events = number("SELECT COUNT(*) FROM dc01_out_of_stock_events")
    assert.is_true(events > 0, "no product ran out of stock")
    -- one purchase order per event that asked for something, none for others
    local ordered = number("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE purchase_order_id > 0")
    assert.equal(ordered, number("SELECT COUNT(DISTINCT purchase_order_id) FROM dc01_out_of_stock_events " ..
                                 "WHERE purchase_order_id > 0"))
    assert.equal(ordered + 1, number("SELECT COUNT(*) FROM purchase_orders"))  -- + the opening one
    assert.equal(0, number([[
      SELECT COUNT(*) FROM dc01_out_of_stock_events e JOIN purchase_order_details d USING (purchase_order_id)
       WHERE d.product_id <> e.product_id OR d.quantity <> e.quantity_to_purchase]]))
    -- no event twice: a demand window's sum grows with every sale, so an
    -- event's (product, window, demand, stock) is unique unless delivered twice
    assert.equal(0, number([[
      SELECT COUNT(*) FROM (SELECT 1 FROM dc01_out_of_stock_events
        GROUP BY product_id, window_start, demand_last_3mins, stock_level HAVING COUNT(*) > 1) d]]))
    -- every stock level is 100 + purchased - sold, across the reload
    assert.is_true(same_stock())
    -- and so is the workshop's pull query's answer (ksqlDB's shape)
    local answer = cjson.decode((sh("curl -s -X POST " .. env.PIPELINE_URL .. "/query " ..
      "-H 'Content-Type: application/vnd.ksql.v1+json; charset=utf-8' -d " ..
      helpers.shell_quote('{ "ksql": "select product_id, stock_level from current_stock ' ..
                          'where rowkey=15;" }'))))
    assert.same({ 15, mysql_stock()[15] }, answer[2].row.columns)
    -- the reloaded version's events are in MySQL with the new column
    assert.is_true(number("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE reloaded = 1") > 0)
  end)

  it("stops every part on SIGTERM, as on Ctrl-C, and leaves nothing running", function()
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid, 90000)
    local out = helpers.read_file(log)
    assert.truthy(out:find("stopped mariadb", 1, true), out)
    -- by this checkout's absolute path: another checkout may run its own demo
    local root = sh("pwd"):gsub("%s+$", "")
    local left = sh("ps -eo args | grep -F -- " .. helpers.shell_quote(root .. "/" .. DIR .. "/") ..
                    " | grep -v grep || true")
    assert.equal("", left)
    for _, address in ipairs { env.ONPREM_BOOTSTRAP, env.CLOUD_BOOTSTRAP, env.REGISTRY_URL,
                               env.PIPELINE_URL, env.MYSQL_URL, env.CONNECT_URL } do
      local port = address:match(":(%d+)/?[%w_]*$")
      assert.equal("", sh("ss -ltnH 'sport = :" .. port .. "'"), address)
    end
    assert.is_nil(io.open(DIR .. ".env"))
    for _, part in ipairs { "broker-onprem", "broker-cloud", "orders", "connect", "pipeline",
                            "connect/mysql-source-connector", "connect/replicator-dc01-to-ccloud",
                            "connect/replicator-ccloud-to-dc01", "connect/jdbc-mysql-sink" } do
      local text = helpers.read_file(DIR .. "/" .. part .. ".log")
      -- quiet: no part complains, not even of a peer that stopped first
      assert.is_nil(text:find(" ERROR ", 1, true), part .. ": " .. text:sub(1, 2000))
      assert.is_nil(text:find(" WARN ", 1, true), part .. ": " .. text:sub(1, 2000))
    end
  end)
end)
