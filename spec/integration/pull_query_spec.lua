-- The workshop's pull query, as its curl sends it, against the supply and
-- demand pipeline under `streamhost run`: ksqlDB's answer (a header with the
-- schema, then the row) with the same number GET /stores gives; windowed
-- stores with WINDOWSTART bounds; a statement it does not serve is a 400
-- that says what it does.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local REPARTITIONS = { "sales_orders_details-right", "sales_by_customer", "sales_by_product",
                       "purchase_orders_details-right", "purchases_by_supplier",
                       "purchases_by_product", "current_stock", "product_demand_last_3mins" }

local function curl(args)
  local p = io.popen("curl -s -w '\\n%{http_code}' " .. args)
  local out = p:read("*a")
  p:close()
  local body, code = out:match("^(.*)\n(%d+)$")
  return body, tonumber(code)
end

local function query(port, statement)
  -- the workshop's command, host and port aside
  return curl("-X POST http://127.0.0.1:" .. port .. "/query" ..
              " -H 'Content-Type: application/vnd.ksql.v1+json; charset=utf-8'" ..
              " -d " .. helpers.shell_quote('{ "ksql": "' .. statement .. '" }'))
end

describe("POST /query (ksqlDB pull queries)", function()
  local broker, dir, pid

  setup(function()
    local topics = { dc01_customers = 1, dc01_products = 1, dc01_suppliers = 1,
                     dc01_sales_orders = 1, dc01_sales_order_details = 1,
                     dc01_purchase_orders = 1, dc01_purchase_order_details = 1,
                     dc01_out_of_stock_events = 1 }
    for _, t in ipairs(REPARTITIONS) do topics["supply_demand-" .. t .. "-repartition"] = 1 end
    broker = helpers.start_broker(topics)
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("answers the workshop's pull query in ksqlDB's shape", function()
    assert.is_true(os.execute("luajit examples/supply_demand/generate.lua --orders 300 | " ..
                              "/usr/bin/python3 examples/supply_demand/load.py " ..
                              broker.bootstrap) == 0)
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run examples/supply_demand/pipeline.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. dir .. "/state --http 127.0.0.1:0",
                        log)
    local port = helpers.wait_until("the HTTP port", 30000, function()
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    local stock
    helpers.wait_until("product 15's stock", 60000, function()
      local body, code = curl("http://127.0.0.1:" .. port .. "/stores/current_stock/15")
      if code ~= 200 then return false end
      stock = cjson.decode(body).value
      return true
    end)
    -- settled: two reads a second apart agree
    helpers.wait_until("the stock to settle", 60000, function()
      helpers.sleep_ms(1000)
      local body = curl("http://127.0.0.1:" .. port .. "/stores/current_stock/15")
      local now = cjson.decode(body).value
      local settled = now == stock
      stock = now
      return settled
    end)

    local body, code = query(port, "select product_id, stock_level from current_stock where rowkey=15;")
    assert.are.equal(200, code, body)
    local doc = cjson.decode(body)
    assert.are.equal(2, #doc)
    assert.matches("^query_%d+$", doc[1].header.queryId)
    assert.are.equal("`PRODUCT_ID` INTEGER, `STOCK_LEVEL` BIGINT", doc[1].header.schema)
    assert.are.same({ 15, stock }, doc[2].row.columns)

    -- the key column's name in WHERE, SELECT *
    body, code = query(port, "SELECT * FROM CURRENT_STOCK WHERE PRODUCT_ID = 15")
    assert.are.equal(200, code)
    doc = cjson.decode(body)
    assert.are.equal("`PRODUCT_ID` INTEGER, `VALUE` BIGINT", doc[1].header.schema)
    assert.are.same({ 15, stock }, doc[2].row.columns)

    -- a windowed store: every window, then those from a start on
    body, code = query(port, "select * from product_demand_last_3mins where rowkey=15;")
    assert.are.equal(200, code)
    doc = cjson.decode(body)
    assert.matches("^`ROWKEY` INTEGER, `WINDOWSTART` BIGINT, `WINDOWEND` BIGINT", doc[1].header.schema)
    assert.is_true(#doc >= 2)
    local last = doc[#doc].row.columns[2]
    body, code = query(port, "select rowkey, windowstart from product_demand_last_3mins " ..
                             "where rowkey=15 and windowstart >= " .. last .. ";")
    assert.are.equal(200, code)
    doc = cjson.decode(body)
    assert.are.equal(2, #doc)
    assert.are.same({ 15, last }, doc[2].row.columns)

    -- what it does not serve
    body, code = query(port, "select * from current_stock emit changes;")
    assert.are.equal(400, code)
    doc = cjson.decode(body)
    assert.are.equal("statement_error", doc["@type"])
    assert.matches("push queries", doc.message, 1, true)
    assert.matches("supported: pull queries on one key", doc.message, 1, true)

    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    assert.is_nil(helpers.read_file(log):match("ERROR"))
  end)
end)
