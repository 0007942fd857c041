-- Drives examples/supply_demand/pipeline.lua through the test driver with a
-- fixed data set (30 customers, products and suppliers, 300 sales orders
-- over 10 simulated minutes, purchase orders now and then) and checks every
-- current_stock value and every out-of-stock event against a reference
-- computed here with plain loops: the workshop's arithmetic, not the DSL.
local testing = require "streamhost.testing"

local PIPELINE = "examples/supply_demand/pipeline.lua"
local MIN = 60000
local T0 = 1589969387000 -- 2020-05-20 10:09:47 UTC, as in the workshop's PRINT (not on a minute)

-- Park-Miller: deterministic, exact in doubles
local function rng(seed)
  local s = seed
  return function(n)
    s = (s * 16807) % 2147483647
    return s % n + 1
  end
end

-- The fixed data set, as a list of steps in piping order.
local function data_set()
  local rand = rng(42)
  local steps = {}
  local function add(topic, key, value, ts)
    steps[#steps + 1] = { topic = topic, key = key, value = value, ts = ts }
  end
  for id = 1, 30 do
    add("dc01_customers", id, { id = id, first_name = "first" .. id, last_name = "last" .. id,
                                email = "c" .. id .. "@example.com", dob = "1980-01-01",
                                sex = id % 2 == 0 and "F" or "M", city = "city" .. id,
                                country = "UK" }, T0 - 10000)
    add("dc01_products", id, { id = id, name = "product" .. id, description = "desc" .. id,
                               price = 5, cost = 3 }, T0 - 10000)
    add("dc01_suppliers", id, { id = id, name = "supplier" .. id, email = "s" .. id .. "@example.com",
                                city = "city" .. id, country = "UK" }, T0 - 10000)
  end
  local po, pod, so, sod = 0, 0, 0, 0
  local function purchase(ts, lines)
    po = po + 1
    add("dc01_purchase_orders", po, { id = po, order_date = ts, supplier_id = rand(30) }, ts)
    for _, l in ipairs(lines) do
      pod = pod + 1
      add("dc01_purchase_order_details", pod, { id = pod, purchase_order_id = po,
                                                product_id = l[1], quantity = l[2], cost = 3 }, ts)
    end
  end
  -- the workshop's opening purchase order: some stock of every product
  local opening = {}
  for p = 1, 30 do opening[p] = { p, 20 } end
  purchase(T0, opening)
  for i = 1, 300 do
    local ts = T0 + 1000 + i * 2000
    so = so + 1
    local customer = rand(30)
    if i == 77 then customer = 99 end -- unknown customer: the inner join drops the order
    add("dc01_sales_orders", so, { id = so, order_date = ts, customer_id = customer }, ts)
    for _ = 1, rand(3) do
      sod = sod + 1
      local product = rand(30)
      local detail_ts = ts
      if i == 150 and sod % 2 == 0 then detail_ts = ts + 1500 end -- beyond WITHIN 1 SECONDS
      if i == 200 then product = 31 end -- unknown product: dropped too
      add("dc01_sales_order_details", sod, { id = sod, sales_order_id = so, product_id = product,
                                             quantity = rand(10), price = 5 }, detail_ts)
    end
    if i % 40 == 0 then
      purchase(ts + 500, { { rand(30), 50 }, { rand(30), 50 }, { rand(30), 50 } })
    end
  end
  return steps
end

-- The reference: plain loops over the same steps.
local function reference(steps)
  local customers, products, suppliers = {}, {}, {}
  local orders, porders = {}, {}
  local stock, demand = {}, {}
  local stock_updates, events = {}, {}
  local function change_stock(p, q)
    stock[p] = (stock[p] or 0) + q
    stock_updates[#stock_updates + 1] = { key = p, value = { product_id = p, stock_level = stock[p] } }
  end
  for _, s in ipairs(steps) do
    local v = s.value
    if s.topic == "dc01_customers" then customers[s.key] = v
    elseif s.topic == "dc01_products" then products[s.key] = v
    elseif s.topic == "dc01_suppliers" then suppliers[s.key] = v
    elseif s.topic == "dc01_sales_orders" then orders[v.id] = v
    elseif s.topic == "dc01_purchase_orders" then porders[v.id] = v
    elseif s.topic == "dc01_purchase_order_details" then
      local o = porders[v.purchase_order_id]
      if o and math.abs(o.order_date - s.ts) <= 1000 and suppliers[o.supplier_id]
         and products[v.product_id] then
        change_stock(v.product_id, v.quantity)
      end
    elseif s.topic == "dc01_sales_order_details" then
      local o = orders[v.sales_order_id]
      if o and math.abs(o.order_date - s.ts) <= 1000 and customers[o.customer_id]
         and products[v.product_id] then
        local p, q = v.product_id, v.quantity
        change_stock(p, -q)
        -- hopping 3m/1m: the windows [start, start + 3m) holding ts, oldest first
        local last = s.ts - s.ts % MIN
        for start = last - 2 * MIN, last, MIN do
          demand[p] = demand[p] or {}
          demand[p][start] = (demand[p][start] or 0) + q
          if stock[p] <= 0 then
            events[#events + 1] = { key = p, value = {
              product_id = p, window_start = start, window_end = start + 3 * MIN,
              window_start_time = os.date("!%H:%M:%S", start / 1000),
              window_end_time = os.date("!%H:%M:%S", (start + 3 * MIN) / 1000),
              stock_level = stock[p], demand_last_3mins = demand[p][start],
              quantity_to_purchase = -stock[p] + demand[p][start] } }
          end
        end
      end
    end
  end
  return { stock = stock, demand = demand, stock_updates = stock_updates, events = events }
end

local function run(steps)
  local d = testing.driver(PIPELINE)
  local inputs = {}
  for _, s in ipairs(steps) do
    inputs[s.topic] = inputs[s.topic] or d:input(s.topic)
    inputs[s.topic]:pipe(s.key, s.value, s.ts)
  end
  return d
end

local function strip(records)
  local out = {}
  for i, r in ipairs(records) do out[i] = { key = r.key, value = r.value } end
  return out
end

describe("supply_demand pipeline", function()
  local steps = data_set()
  local ref = reference(steps)
  local d

  setup(function() d = run(steps) end)
  teardown(function() d:close() end)

  it("the data set is the one described (sanity of the fixture itself)", function()
    local n = 0
    for _, s in ipairs(steps) do if s.topic == "dc01_sales_orders" then n = n + 1 end end
    assert.equal(300, n)
    assert.is_true(#ref.events > 50)   -- products do run out
    assert.is_true(#ref.stock_updates > 500)
  end)

  it("writes every current_stock change, in order, to dc01_current_stock", function()
    assert.same(ref.stock_updates, strip(d:output("dc01_current_stock"):read_all()))
  end)

  it("holds every product's stock level in the current_stock store", function()
    for p = 1, 30 do
      assert.equal(ref.stock[p], d:store("current_stock"):get(p))
    end
    assert.is_nil(d:store("current_stock"):get(31))
  end)

  it("writes every out-of-stock event, with quantity_to_purchase = -stock_level + demand", function()
    assert.same(ref.events, strip(d:output("dc01_out_of_stock_events"):read_all()))
  end)

  it("keeps the latest demand windows per product in product_demand_last_3mins", function()
    local last_ts = steps[#steps].ts
    local from = last_ts - last_ts % MIN - 2 * MIN
    for p = 1, 30 do
      local expected = {}
      for start, sum in pairs(ref.demand[p] or {}) do
        if start >= from then
          expected[#expected + 1] = { start = start, ["end"] = start + 3 * MIN, value = sum }
        end
      end
      table.sort(expected, function(a, b) return a.start < b.start end)
      local got = {}
      for _, w in ipairs(d:store("product_demand_last_3mins"):fetch(p, from, last_ts)) do
        got[#got + 1] = { start = w.start, ["end"] = w["end"], value = w.value }
      end
      assert.same(expected, got)
    end
  end)
end)

describe("supply_demand enrichment", function()
  local function tables(d)
    d:input("dc01_customers"):pipe(14, { id = 14, first_name = "Ann", last_name = "Lee",
                                         email = "ann@example.com", dob = "1990-02-03", sex = "F",
                                         city = "Leeds", country = "UK" }, 0)
    d:input("dc01_products"):pipe(1, { id = 1, name = "tea", description = "green tea",
                                       price = 2.68, cost = 1 }, 0)
    d:input("dc01_products"):pipe(23, { id = 23, name = "milk", description = "oat milk",
                                        price = 9.01, cost = 4 }, 0)
    d:input("dc01_suppliers"):pipe(3, { id = 3, name = "Acme", email = "acme@example.com",
                                        city = "York", country = "UK" }, 0)
  end

  it("joins an order with its details and the customer and product tables", function()
    local d = testing.driver(PIPELINE)
    tables(d)
    local ts = 1589969387000
    -- details first, then the order: the order meets both within 1 s
    d:input("dc01_sales_order_details"):pipe(1, { id = 1, sales_order_id = 1, product_id = 1,
                                                  quantity = 10, price = 2.68 }, ts)
    d:input("dc01_sales_order_details"):pipe(2, { id = 2, sales_order_id = 1, product_id = 23,
                                                  quantity = 1, price = 9.01 }, ts + 200)
    d:input("dc01_sales_orders"):pipe(1, { id = 1, order_date = ts, customer_id = 14 }, ts + 100)
    local base = { order_id = 1, order_date = ts, customer_id = 14, customer_fname = "Ann",
                   customer_lname = "Lee", customer_email = "ann@example.com",
                   customer_dob = "1990-02-03", customer_sex = "F", customer_city = "Leeds",
                   customer_country = "UK" }
    local function with(t)
      local e = {}
      for k, v in pairs(base) do e[k] = v end
      for k, v in pairs(t) do e[k] = v end
      return e
    end
    assert.same({
      { key = 1, value = with { order_details_id = 1, product_id = 1, product_price = 2.68,
                                product_qty = 10, product_name = "tea",
                                product_desc = "green tea" }, timestamp = ts + 100, headers = {} },
      { key = 23, value = with { order_details_id = 2, product_id = 23, product_price = 9.01,
                                 product_qty = 1, product_name = "milk",
                                 product_desc = "oat milk" }, timestamp = ts + 200, headers = {} },
    }, d:output("dc01_sales_enriched"):read_all())
    -- stock: both products start at nothing, so both are out of stock at once
    assert.equal(-10, d:store("current_stock"):get(1))
    assert.equal(-1, d:store("current_stock"):get(23))
    d:close()
  end)

  it("enriches purchases with the supplier and counts them as supply", function()
    local d = testing.driver(PIPELINE)
    tables(d)
    local ts = 1589969400000
    d:input("dc01_purchase_orders"):pipe(1, { id = 1, order_date = ts, supplier_id = 3 }, ts)
    d:input("dc01_purchase_order_details"):pipe(1, { id = 1, purchase_order_id = 1, product_id = 1,
                                                     quantity = 100, cost = 6.82 }, ts)
    assert.same({
      { key = 1, value = { purchase_order_id = 1, purchase_order_details_id = 1, order_date = ts,
                           supplier_id = 3, supplier_name = "Acme",
                           supplier_email = "acme@example.com", supplier_city = "York",
                           supplier_country = "UK", product_id = 1, product_cost = 6.82,
                           product_qty = 100, product_name = "tea", product_desc = "green tea" },
        timestamp = ts, headers = {} },
    }, d:output("dc01_purchases_enriched"):read_all())
    assert.same({ { key = 1, value = { product_id = 1, quantity = 100 }, timestamp = ts, headers = {} } },
                d:output("dc01_product_supply_and_demand"):read_all())
    assert.equal(100, d:store("current_stock"):get(1))
    -- supply alone never makes demand, so no out-of-stock event
    assert.same({}, d:output("dc01_out_of_stock_events"):read_all())
    d:close()
  end)

  it("emits an out-of-stock event per hopping window, as the workshop's table shows", function()
    local d = testing.driver(PIPELINE)
    tables(d)
    -- 13:54:10 UTC: inside windows starting 13:52, 13:53 and 13:54
    local ts = 1589982850000
    assert.equal("13:54:10", os.date("!%H:%M:%S", ts / 1000))
    d:input("dc01_sales_orders"):pipe(5, { id = 5, order_date = ts, customer_id = 14 }, ts)
    d:input("dc01_sales_order_details"):pipe(9, { id = 9, sales_order_id = 5, product_id = 1,
                                                  quantity = 7, price = 2.68 }, ts)
    local events = {}
    for _, r in ipairs(d:output("dc01_out_of_stock_events"):read_all()) do
      events[#events + 1] = { r.value.window_start_time, r.value.window_end_time,
                              r.value.stock_level, r.value.demand_last_3mins,
                              r.value.quantity_to_purchase }
    end
    assert.same({
      { "13:52:00", "13:55:00", -7, 7, 14 },
      { "13:53:00", "13:56:00", -7, 7, 14 },
      { "13:54:00", "13:57:00", -7, 7, 14 },
    }, events)
    d:close()
  end)
end)

describe("examples/supply_demand/generate.lua", function()
  it("produces rows that all join: one sales_enriched record per detail, stock as summed", function()
    local json = require("streamhost.serde").get("json")
    local p = assert(io.popen("luajit examples/supply_demand/generate.lua --orders 60 --seed 7"))
    local d = testing.driver(PIPELINE)
    local inputs, dates, porder_dates = {}, {}, {}
    local stock, details = {}, 0
    for line in p:lines() do
      local topic, key, body = line:match("^([^|]+)|(%d+)|(.*)$")
      local v = json.decode(body)
      -- timestamps: an order's date; a detail row takes its order's
      local ts = 0
      if topic == "dc01_sales_orders" then dates[v.id] = v.order_date; ts = v.order_date
      elseif topic == "dc01_purchase_orders" then porder_dates[v.id] = v.order_date; ts = v.order_date
      elseif topic == "dc01_sales_order_details" then
        ts = dates[v.sales_order_id]
        details = details + 1
        stock[v.product_id] = (stock[v.product_id] or 0) - v.quantity
      elseif topic == "dc01_purchase_order_details" then
        ts = porder_dates[v.purchase_order_id]
        stock[v.product_id] = (stock[v.product_id] or 0) + v.quantity
      end
      inputs[topic] = inputs[topic] or d:input(topic)
      inputs[topic]:pipe(tonumber(key), v, ts)
    end
    p:close()
    assert.is_true(details >= 60)
    assert.equal(details, #d:output("dc01_sales_enriched"):read_all())
    for product = 1, 30 do assert.equal(stock[product], d:store("current_stock"):get(product)) end
    d:close()
  end)
end)
