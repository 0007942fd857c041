-- Synthetic rows of the workshop's MySQL schema, as its Debezium CDC would
-- produce them after unwrap: JSON objects of the table's columns keyed by
-- id, written as `key|json` lines for `kcat -P -K '|'`.
--
--   luajit generate.lua [options]
--     --orders N      sales orders to generate (default 150, as the workshop's count)
--     --seed S        random seed (default 1): same seed, same rows
--     --start MS      order_date of the first order (default 1589969387000)
--     --every MS      simulated time between two sales orders (default 2000)
--     --topic T       print only topic T's lines (T: dc01_customers, ...)
--     --out DIR       write DIR/<topic>.txt for every topic and DIR/summary.json
--     --tagged        print `topic|key|json` lines in generation order (default
--                     when neither --topic nor --out is given)
--
-- Rows: 30 customers, products and suppliers; an opening purchase order of
-- 100 of every product; sales orders of 1-3 detail rows (quantity 1-10) at
-- the order's date; every 25 sales orders a purchase order of 3 products,
-- 50 each. Every row joins (all ids exist), so the pipeline's sales_enriched
-- gets one record per sales detail; summary.json says how many.
local args = { orders = 150, seed = 1, start = 1589969387000, every = 2000 }
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == "--tagged" then args.tagged = true; i = i + 1
  elseif a:match("^%-%-") and arg[i + 1] then args[a:sub(3)] = arg[i + 1]; i = i + 2
  else io.stderr:write("generate.lua: unknown argument ", a, " (see the header for usage)\n"); os.exit(2) end
end
local orders = tonumber(args.orders)
local every, start = tonumber(args.every), tonumber(args.start)

-- Park-Miller: exact in doubles, the same sequence everywhere
local seed = tonumber(args.seed) % 2147483646 + 1
local function rand(n)
  seed = (seed * 16807) % 2147483647
  return seed % n + 1
end

local TOPICS = { "dc01_customers", "dc01_products", "dc01_suppliers", "dc01_sales_orders",
                 "dc01_sales_order_details", "dc01_purchase_orders", "dc01_purchase_order_details" }
local files, counts = {}, {}
for _, t in ipairs(TOPICS) do counts[t] = 0 end
if args.out then
  os.execute("mkdir -p '" .. args.out .. "'")
  for _, t in ipairs(TOPICS) do files[t] = assert(io.open(args.out .. "/" .. t .. ".txt", "w")) end
end
local only = args.topic
local out = io.stdout

local function emit(topic, id, json)
  counts[topic] = counts[topic] + 1
  if args.out then
    files[topic]:write(id, "|", json, "\n")
  elseif only then
    if topic == only then out:write(id, "|", json, "\n") end
  else
    out:write(topic, "|", id, "|", json, "\n")
  end
end

local FIRST = { "Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon" }
local LAST = { "Lee", "Kim", "Roe", "Fox", "Day" }
local CITIES = { "Leeds", "York", "Bath", "Hull", "Ely" }
local PRODUCTS = { "tea", "coffee", "milk", "bread", "rice", "pasta", "soap", "salt", "jam", "oats" }

local fmt = string.format
for id = 1, 30 do
  emit("dc01_customers", id, fmt('{"id":%d,"first_name":"%s","last_name":"%s","email":"c%d@example.com",' ..
    '"dob":"19%02d-%02d-%02d","sex":"%s","city":"%s","country":"UK"}', id, FIRST[(id - 1) % 10 + 1],
    LAST[(id - 1) % 5 + 1], id, 50 + id, id % 12 + 1, id % 28 + 1, id % 2 == 0 and "F" or "M",
    CITIES[(id - 1) % 5 + 1]))
  emit("dc01_products", id, fmt('{"id":%d,"name":"%s %d","description":"%s, pack of %d",' ..
    '"price":%.2f,"cost":%.2f}', id, PRODUCTS[(id - 1) % 10 + 1], id, PRODUCTS[(id - 1) % 10 + 1],
    id, 2 + id % 8 + 0.5, 1 + id % 5 + 0.25))
  emit("dc01_suppliers", id, fmt('{"id":%d,"name":"Supplier %d","email":"s%d@example.com",' ..
    '"city":"%s","country":"UK"}', id, id, id, CITIES[(id + 2) % 5 + 1]))
end

local po, pod, sod = 0, 0, 0
local function purchase(ts, lines)
  po = po + 1
  emit("dc01_purchase_orders", po, fmt('{"id":%d,"order_date":%d,"supplier_id":%d}', po, ts, rand(30)))
  for _, l in ipairs(lines) do
    pod = pod + 1
    emit("dc01_purchase_order_details", pod, fmt('{"id":%d,"purchase_order_id":%d,"product_id":%d,' ..
      '"quantity":%d,"cost":%.2f}', pod, po, l[1], l[2], 1 + l[1] % 5 + 0.25))
  end
end

local opening = {}
for p = 1, 30 do opening[p] = { p, 100 } end
purchase(start - 1000, opening)
for so = 1, orders do
  local ts = start + (so - 1) * every
  emit("dc01_sales_orders", so, fmt('{"id":%d,"order_date":%d,"customer_id":%d}', so, ts, rand(30)))
  for _ = 1, rand(3) do
    sod = sod + 1
    local product = rand(30)
    emit("dc01_sales_order_details", sod, fmt('{"id":%d,"sales_order_id":%d,"product_id":%d,' ..
      '"quantity":%d,"price":%.2f}', sod, so, product, rand(10), 2 + product % 8 + 0.5))
  end
  if so % 25 == 0 then
    purchase(ts + math.floor(every / 2), { { rand(30), 50 }, { rand(30), 50 }, { rand(30), 50 } })
  end
end

if args.out then
  for _, t in ipairs(TOPICS) do files[t]:close() end
  local f = assert(io.open(args.out .. "/summary.json", "w"))
  local parts = {}
  for _, t in ipairs(TOPICS) do parts[#parts + 1] = fmt('"%s":%d', t, counts[t]) end
  -- every detail row joins: one sales_enriched / purchases_enriched record each
  f:write("{", table.concat(parts, ","), fmt(',"sales_enriched":%d,"purchases_enriched":%d}\n',
                                             counts.dc01_sales_order_details,
                                             counts.dc01_purchase_order_details))
  f:close()
end
