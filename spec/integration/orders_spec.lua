-- examples/supply_demand/orders.lua (the workshop's db-trans-simulator)
-- against a real MariaDB: it creates its schema, orders every interval, and
-- turns the rows the MySQL sink writes to dc01_out_of_stock_events into
-- purchase orders, never twice for one event.
local helpers = require "spec.helpers"

local ORDERS = "examples/supply_demand/orders.lua"

describe("the orders application", function()
  local db, database, dir, broker, pids

  local function count(sql)
    local ok, out = pcall(helpers.sql, database, sql)
    if not ok and out:find("doesn't exist", 1, true) then return 0 end
    assert(ok, out)
    return tonumber(out:match("%-?%d+"))
  end

  local function start_orders(log)
    local url = string.format("mysql://%s:%s@%s:%d/%s", db.user, db.password, db.host, db.port,
                              database)
    local pid = helpers.spawn("ORDERS_INTERVAL=100ms ORDERS_MYSQL_URL=" .. helpers.shell_quote(url) ..
                              " " .. helpers.bin .. " run " .. ORDERS .. " --bootstrap " ..
                              broker.bootstrap .. " --http off --no-rollback --state-dir " .. dir .. "/state",
                              log)
    pids[#pids + 1] = pid
    return pid
  end

  setup(function()
    db = helpers.mariadb()
    database = helpers.fresh_database("orders_spec")
    broker = helpers.start_broker({ dc01_out_of_stock_events = 1 })
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

  it("creates its schema and places a sales order every interval", function()
    local log = dir .. "/orders1.log"
    local pid = start_orders(log)
    helpers.wait_until("20 sales orders", 30000, function()
      return count("SELECT COUNT(*) FROM sales_orders") >= 20
    end)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    for _, t in ipairs({ "customers", "suppliers", "products" }) do
      assert.are.equal(30, count("SELECT COUNT(*) FROM " .. t))
    end
    -- the opening purchase order: 100 of every product
    assert.are.equal(1, count("SELECT COUNT(*) FROM purchase_orders"))
    assert.are.equal(30, count("SELECT COUNT(*) FROM purchase_order_details WHERE " ..
                               "purchase_order_id = 1 AND quantity = 100"))
    -- one detail line per sales order, quantity 1-10 at the product's price
    assert.are.equal(count("SELECT COUNT(*) FROM sales_orders"),
                     count("SELECT COUNT(*) FROM sales_order_details d JOIN products p ON " ..
                           "p.id = d.product_id WHERE d.quantity BETWEEN 1 AND 10 AND " ..
                           "d.price = p.price"))
    assert.is_nil(helpers.read_file(log):match("WARN") or helpers.read_file(log):match("ERROR"))
  end)

  it("raises one purchase order per out-of-stock event the sink writes, never two", function()
    -- the pipeline's events, sunk as the workshop's JDBC connector does
    local app = dir .. "/sink.lua"
    helpers.write_file(app, string.format([[
local sh = require "streamhost"
return sh.app {
  id = "oos-sink",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("dc01_out_of_stock_events", { key = "string", value = "json" })
     :to_mysql { ["connection.url"] = "jdbc:mysql://%s:%d/%s",
                 ["connection.user"] = %q, ["connection.password"] = %q,
                 ["insert.mode"] = "INSERT", ["batch.size"] = 3000, ["auto.create"] = true }
  end,
}
]], db.host, db.port, database, db.user, db.password))
    local events = dir .. "/events.txt"
    helpers.write_file(events, table.concat({
      '28|{"product_id":28,"window_start_time":"13:53:00","window_end_time":"13:56:00",' ..
        '"stock_level":-85,"demand_last_3mins":12,"quantity_to_purchase":97}',
      '4|{"product_id":4,"window_start_time":"13:53:00","window_end_time":"13:56:00",' ..
        '"stock_level":-128,"demand_last_3mins":26,"quantity_to_purchase":154}',
      '5|{"product_id":5,"window_start_time":"13:53:00","window_end_time":"13:56:00",' ..
        '"stock_level":-73,"demand_last_3mins":15,"quantity_to_purchase":88}',
    }, "\n") .. "\n")
    helpers.produce_file(broker.bootstrap, "dc01_out_of_stock_events", events)
    local sink_pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " ..
                                   broker.bootstrap .. " --http off --state-dir " .. dir ..
                                   "/sink-state", dir .. "/sink.log")
    pids[#pids + 1] = sink_pid
    local log = dir .. "/orders2.log"
    local pid = start_orders(log)
    local detail = "SELECT COUNT(*) FROM purchase_order_details WHERE (product_id, quantity) IN " ..
                   "((28, 97), (4, 154), (5, 88))"
    helpers.wait_until("three purchase orders", 30000, function() return count(detail) == 3 end)
    assert.are.equal(0, count("SELECT COUNT(*) FROM dc01_out_of_stock_events WHERE " ..
                              "purchase_order_id IS NULL"))
    -- a restart of the orders app orders nothing again
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)
    local before = count("SELECT COUNT(*) FROM purchase_orders")
    local sales = count("SELECT COUNT(*) FROM sales_orders")
    pid = start_orders(dir .. "/orders3.log")
    helpers.wait_until("five more ticks", 30000, function()
      return count("SELECT COUNT(*) FROM sales_orders") >= sales + 5
    end)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    helpers.kill(sink_pid, "TERM")
    helpers.wait_exit(sink_pid)
    assert.are.equal(before, count("SELECT COUNT(*) FROM purchase_orders"))
    assert.are.equal(3, count(detail))
    assert.matches("purchase order %d+: 97 of product 28", helpers.read_file(log))
  end)
end)
