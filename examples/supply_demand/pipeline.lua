-- The supply-and-demand application of the "bridge to cloud" workshop
-- (shared/reference/workshop-bridge-to-cloud.txt, Labs 6-10), rewritten from
-- ksqlDB into the streamhost DSL. Each block names the ksqlDB statement it
-- replaces.
--
-- Inputs are the rows the workshop's Debezium CDC produces (after unwrap):
-- JSON objects of the MySQL table's columns, keyed by id (int).
--   dc01_customers           {id, first_name, last_name, email, dob, sex, city, country}
--   dc01_products            {id, name, description, price, cost}
--   dc01_suppliers           {id, name, email, city, country}
--   dc01_sales_orders        {id, order_date, customer_id}
--   dc01_sales_order_details {id, sales_order_id, product_id, quantity, price}
--   dc01_purchase_orders     {id, order_date, supplier_id}
--   dc01_purchase_order_details {id, purchase_order_id, product_id, quantity, cost}
--
-- VALUE_FORMAT=avro reads and writes every value as Avro (the workshop's
-- AvroConverter) with the registry at SCHEMA_REGISTRY_URL (an app on the
-- embedded broker uses its own); json (the default) as schemaless JSON.
local sh = require "streamhost"

local VALUE = os.getenv("VALUE_FORMAT") or "json"
local INT_JSON = { key = "int", value = VALUE }

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

return sh.app {
  id = "supply_demand",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest",
            ["schema.registry.url"] = os.getenv("SCHEMA_REGISTRY_URL") },
  topology = function(b)
    -- CREATE TABLE customers_tbl / products_tbl / suppliers_tbl (... PRIMARY KEY id)
    local customers = b:table("dc01_customers", INT_JSON)
    local products = b:table("dc01_products", INT_JSON)
    local suppliers = b:table("dc01_suppliers", INT_JSON)

    -- CREATE STREAM sales_enriched AS SELECT ...
    --   FROM sales_orders o
    --   INNER JOIN sales_order_details od WITHIN 1 SECONDS ON (o.id = od.sales_order_id)
    --   INNER JOIN customers_tbl ct ON (o.customer_id = ct.id)
    --   INNER JOIN products_tbl pt ON (od.product_id = pt.id);
    -- The stream-table joins look the table up by the stream's key, so the
    -- stream is re-keyed (select_key) before each; a re-keyed stream goes
    -- through supply_demand-<name>-repartition on its own, so that it meets
    -- its table row in the same task at any partition count (the names
    -- keep those topics stable across edits).
    local sales_orders = b:stream("dc01_sales_orders", INT_JSON)
    local sales_order_details = b:stream("dc01_sales_order_details", INT_JSON)
      :select_key(function(_, od) return od.sales_order_id end)

    local sales_enriched = sales_orders
      :join(sales_order_details, function(o, od)
        return { order_id = o.id, order_details_id = od.id, order_date = o.order_date,
                 customer_id = o.customer_id, product_id = od.product_id,
                 product_price = od.price, product_qty = od.quantity }
      end, { within = "1s", name = "sales_orders_details" })
      :select_key(function(_, s) return s.customer_id end)
      :join(customers, function(s, ct)
        local e = copy(s)
        e.customer_fname, e.customer_lname, e.customer_email = ct.first_name, ct.last_name, ct.email
        e.customer_dob, e.customer_sex = ct.dob, ct.sex
        e.customer_city, e.customer_country = ct.city, ct.country
        return e
      end, { name = "sales_by_customer" })
      :select_key(function(_, s) return s.product_id end)
      :join(products, function(s, pt)
        local e = copy(s)
        e.product_name, e.product_desc = pt.name, pt.description
        return e
      end, { name = "sales_by_product" })
    sales_enriched:to("dc01_sales_enriched", INT_JSON)

    -- CREATE STREAM purchases_enriched AS SELECT ...
    --   FROM purchase_orders o
    --   INNER JOIN purchase_order_details od WITHIN 1 SECONDS ON (o.id = od.purchase_order_id)
    --   INNER JOIN suppliers_tbl sp ON (o.supplier_id = sp.id)
    --   INNER JOIN products_tbl pt ON (od.product_id = pt.id);
    local purchase_orders = b:stream("dc01_purchase_orders", INT_JSON)
    local purchase_order_details = b:stream("dc01_purchase_order_details", INT_JSON)
      :select_key(function(_, od) return od.purchase_order_id end)

    local purchases_enriched = purchase_orders
      :join(purchase_order_details, function(o, od)
        return { purchase_order_id = o.id, purchase_order_details_id = od.id,
                 order_date = o.order_date, supplier_id = o.supplier_id,
                 product_id = od.product_id, product_cost = od.cost,
                 product_qty = od.quantity }
      end, { within = "1s", name = "purchase_orders_details" })
      :select_key(function(_, p) return p.supplier_id end)
      :join(suppliers, function(p, sp)
        local e = copy(p)
        e.supplier_name, e.supplier_email = sp.name, sp.email
        e.supplier_city, e.supplier_country = sp.city, sp.country
        return e
      end, { name = "purchases_by_supplier" })
      :select_key(function(_, p) return p.product_id end)
      :join(products, function(p, pt)
        local e = copy(p)
        e.product_name, e.product_desc = pt.name, pt.description
        return e
      end, { name = "purchases_by_product" })
    purchases_enriched:to("dc01_purchases_enriched", INT_JSON)

    -- CREATE STREAM product_supply_and_demand AS
    --   SELECT product_id, product_qty * -1 "QUANTITY" FROM sales_enriched;
    -- INSERT INTO product_supply_and_demand
    --   SELECT product_id, product_qty "QUANTITY" FROM purchases_enriched;
    local product_supply_and_demand = sales_enriched
      :map_values(function(s) return { product_id = s.product_id, quantity = -s.product_qty } end)
      :merge(purchases_enriched:map_values(function(p)
        return { product_id = p.product_id, quantity = p.product_qty }
      end))
    product_supply_and_demand:to("dc01_product_supply_and_demand", INT_JSON)

    -- CREATE TABLE current_stock AS SELECT product_id, SUM(quantity) "STOCK_LEVEL"
    --   FROM product_supply_and_demand GROUP BY product_id;
    local current_stock = product_supply_and_demand
      :group_by(function(_, v) return v.product_id end, { key = "int" })
      :sum(function(v) return v.quantity end, { name = "current_stock" })
    current_stock:to_stream()
      :map_values(function(level, product_id)
        return { product_id = product_id, stock_level = level }
      end)
      :to("dc01_current_stock", INT_JSON)

    -- CREATE TABLE product_demand_last_3mins_tbl AS SELECT
    --   timestamptostring(windowStart,'HH:mm:ss') "WINDOW_START_TIME",
    --   timestamptostring(windowEnd,'HH:mm:ss') "WINDOW_END_TIME",
    --   product_id, SUM(product_qty) "DEMAND_LAST_3MINS"
    -- FROM sales_enriched WINDOW HOPPING (SIZE 3 MINUTES, ADVANCE BY 1 MINUTE)
    -- GROUP BY product_id;
    -- CREATE STREAM product_demand_last_3mins (over the table's topic)
    local product_demand_last_3mins = sales_enriched
      :group_by(function(_, s) return s.product_id end, { key = "int" })
      :window(sh.hopping { size = "3m", advance = "1m", grace = "30s" })
      :sum(function(s) return s.product_qty end, { name = "product_demand_last_3mins" })
      :to_stream()
      :map_values(function(demand, product_id, rec)
        return {
          product_id = product_id,
          window_start = rec.window.start,
          window_end = rec.window["end"],
          window_start_time = sh.timestamp_to_string(rec.window.start, "HH:mm:ss"),
          window_end_time = sh.timestamp_to_string(rec.window["end"], "HH:mm:ss"),
          demand_last_3mins = demand,
        }
      end)
    -- the table's topic, its key the product id then the window start, as
    -- ksqlDB writes a hopping table (read it back as a stream with
    -- { key = sh.windowed("int", { size = "3m" }) })
    product_demand_last_3mins:to("dc01_product_demand_last_3mins", { value = VALUE })

    -- CREATE STREAM out_of_stock_events AS SELECT
    --   cs.product_id "PRODUCT_ID", pd.window_start_time, pd.window_end_time,
    --   cs.stock_level, pd.demand_last_3mins,
    --   (cs.stock_level * -1) + pd.DEMAND_LAST_3MINS "QUANTITY_TO_PURCHASE"
    -- FROM product_demand_last_3mins pd
    -- INNER JOIN current_stock cs ON pd.product_id = cs.product_id
    -- WHERE stock_level <= 0;
    product_demand_last_3mins
      :join(current_stock, function(pd, stock_level, product_id)
        return {
          product_id = product_id,
          window_start_time = pd.window_start_time,
          window_end_time = pd.window_end_time,
          window_start = pd.window_start,
          window_end = pd.window_end,
          stock_level = stock_level,
          demand_last_3mins = pd.demand_last_3mins,
          quantity_to_purchase = -stock_level + pd.demand_last_3mins,
        }
      end)
      :filter(function(_, e) return e.stock_level <= 0 end)
      :to("dc01_out_of_stock_events", INT_JSON)
  end,
}
