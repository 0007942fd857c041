-- The orders application of the "bridge to cloud" workshop (its
-- db-trans-simulator), as a streamhost app: it talks to MySQL only, through
-- a connection the C core owns (streamhost.mysql), from a wall-clock timer.
--
-- On its first tick it creates the `orders` database and its tables when
-- they are missing, with the columns the workshop's queries use, and fills
-- an empty one with 30 customers, suppliers and products and one purchase
-- order of 100 of each product. Then, every `interval`:
--   - one sales order with one detail line: a random customer and product,
--     quantity 1-10, at the product's price;
--   - for every new row of dc01_out_of_stock_events (written there by the
--     pipeline's MySQL sink), one purchase order of quantity_to_purchase of
--     the product, and the event marked with that order's id in the same
--     transaction, so no event is ordered twice, even across a crash.
--
--   ORDERS_MYSQL_URL  mysql://user:password@host:port/orders
--                     (default mysql://mysqluser:mysqlpw@127.0.0.1:3306/orders)
--   ORDERS_INTERVAL   time between two sales orders (default 1s)
--   ORDERS_LIMIT      place at most this many sales orders (this process),
--                     then only purchase orders: the loop settles, so a test
--                     can compare stock with the order tables (default none)
local sh = require "streamhost"

local URL = os.getenv("ORDERS_MYSQL_URL") or "mysql://mysqluser:mysqlpw@127.0.0.1:3306/orders"
local INTERVAL = os.getenv("ORDERS_INTERVAL") or "1s"
local LIMIT = tonumber(os.getenv("ORDERS_LIMIT") or "") or math.huge
local EVENTS = "dc01_out_of_stock_events"

local SCHEMA = {
  [[CREATE TABLE IF NOT EXISTS customers (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      first_name VARCHAR(50), last_name VARCHAR(50), email VARCHAR(100), dob DATE,
      sex CHAR(1), city VARCHAR(50), country VARCHAR(50))]],
  [[CREATE TABLE IF NOT EXISTS suppliers (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name VARCHAR(50), email VARCHAR(100), city VARCHAR(50), country VARCHAR(50))]],
  [[CREATE TABLE IF NOT EXISTS products (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name VARCHAR(50), description VARCHAR(100), price DECIMAL(10,2), cost DECIMAL(10,2))]],
  [[CREATE TABLE IF NOT EXISTS sales_orders (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      order_date DATETIME NOT NULL, customer_id INT NOT NULL)]],
  [[CREATE TABLE IF NOT EXISTS sales_order_details (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      sales_order_id INT NOT NULL, product_id INT NOT NULL, quantity INT NOT NULL,
      price DECIMAL(10,2) NOT NULL)]],
  [[CREATE TABLE IF NOT EXISTS purchase_orders (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      order_date DATETIME NOT NULL, supplier_id INT NOT NULL)]],
  [[CREATE TABLE IF NOT EXISTS purchase_order_details (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      purchase_order_id INT NOT NULL, product_id INT NOT NULL, quantity INT NOT NULL,
      cost DECIMAL(10,2) NOT NULL)]],
}

local FIRST = { "Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon" }
local LAST = { "Lee", "Kim", "Roe", "Fox", "Day" }
local CITIES = { "Leeds", "York", "Bath", "Hull", "Ely" }
local PRODUCTS = { "tea", "coffee", "milk", "bread", "rice", "pasta", "soap", "salt", "jam", "oats" }

local function log(level, fmt, ...) sh.log(level, "orders: " .. fmt, ...) end

-- Runs fn(db) in a transaction; a failure rolls back and is logged (the
-- next tick tries again). Returns fn's result or nil.
local function transaction(db, what, fn)
  local ok, err = db:exec("START TRANSACTION")
  if ok then
    local done, result = pcall(fn)
    if done then
      ok, err = db:exec("COMMIT")
      if ok then return result end
    else
      err = result
    end
  end
  db:exec("ROLLBACK")
  log("warn", "%s failed, will try again: %s", what, tostring(err))
  return nil
end

-- exec/query that raise inside a transaction
local function must(...)
  if (...) == nil then error(select(2, ...), 0) end
  return ...
end

local function seed(db)
  for id = 1, 30 do
    must(db:exec("INSERT INTO customers (id, first_name, last_name, email, dob, sex, city, " ..
                 "country) VALUES (?, ?, ?, ?, ?, ?, ?, 'UK')", id, FIRST[(id - 1) % 10 + 1],
                 LAST[(id - 1) % 5 + 1], "c" .. id .. "@example.com",
                 string.format("19%02d-%02d-%02d", 50 + id, id % 12 + 1, id % 28 + 1),
                 id % 2 == 0 and "F" or "M", CITIES[(id - 1) % 5 + 1]))
    must(db:exec("INSERT INTO suppliers (id, name, email, city, country) VALUES (?, ?, ?, ?, 'UK')",
                 id, "Supplier " .. id, "s" .. id .. "@example.com", CITIES[(id + 2) % 5 + 1]))
    local name = PRODUCTS[(id - 1) % 10 + 1]
    must(db:exec("INSERT INTO products (id, name, description, price, cost) VALUES (?, ?, ?, ?, ?)",
                 id, name .. " " .. id, name .. ", pack of " .. id, 2 + id % 8 + 0.5,
                 1 + id % 5 + 0.25))
  end
  local _, po = must(db:exec("INSERT INTO purchase_orders (order_date, supplier_id) VALUES (NOW(), 1)"))
  must(db:exec("INSERT INTO purchase_order_details (purchase_order_id, product_id, quantity, cost) " ..
               "SELECT ?, id, 100, cost FROM products", po))
  log("info", "created 30 customers, suppliers and products and purchase order %d (100 of each)", po)
end

-- Creates what is missing. Returns true once the schema is there.
local function ensure_schema(url)
  local server = sh.mysql_connect { url = (url:gsub("/[^/]*$", "/")) }
  local database = url:match("/([%w_$]+)$") or "orders"
  local ok, err = server:exec("CREATE DATABASE IF NOT EXISTS `" .. database .. "`")
  server:close()
  if not ok then
    log("warn", "cannot create database %s (will try again): %s", database, err)
    return nil
  end
  local db = sh.mysql_connect { url = url }
  for _, statement in ipairs(SCHEMA) do
    ok, err = db:exec(statement)
    if not ok then
      log("warn", "cannot create the schema (will try again): %s", err)
      return nil
    end
  end
  local seeded = transaction(db, "seeding", function()
    local rows = must(db:query("SELECT COUNT(*) AS n FROM products FOR UPDATE"))
    if rows[1].n == 0 then seed(db) end
    return true
  end)
  if not seeded then return nil end
  return db
end

local function sales_order(db)
  local customer, product, quantity = math.random(30), math.random(30), math.random(10)
  transaction(db, "a sales order", function()
    local _, order = must(db:exec("INSERT INTO sales_orders (order_date, customer_id) " ..
                                  "VALUES (NOW(), ?)", customer))
    must(db:exec("INSERT INTO sales_order_details (sales_order_id, product_id, quantity, price) " ..
                 "SELECT ?, id, ?, price FROM products WHERE id = ?", order, quantity, product))
  end)
end

-- The sink creates the events table from the first event; the first time
-- we see it we add what we need to track events: an id and the purchase
-- order raised for it (NULL: not yet).
local function adopt_events(db)
  local columns = must(db:query("SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS " ..
                                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", EVENTS))
  if #columns == 0 then return false end
  for _, c in ipairs(columns) do
    if c.name == "purchase_order_id" then return true end
  end
  must(db:exec("ALTER TABLE " .. EVENTS .. " ADD COLUMN event_id BIGINT NOT NULL AUTO_INCREMENT " ..
               "PRIMARY KEY FIRST, ADD COLUMN purchase_order_id INT NULL"))
  log("info", "tracking %s: added event_id and purchase_order_id", EVENTS)
  return true
end

local function purchase_orders(db)
  local ok, adopted = pcall(adopt_events, db)
  if not ok then
    log("warn", "cannot read %s: %s", EVENTS, tostring(adopted))
    return
  end
  if not adopted then return end
  transaction(db, "purchase orders", function()
    local events = must(db:query("SELECT event_id, product_id, quantity_to_purchase FROM " ..
                                 EVENTS .. " WHERE purchase_order_id IS NULL ORDER BY event_id " ..
                                 "LIMIT 100 FOR UPDATE"))
    for _, e in ipairs(events) do
      local quantity = math.floor(tonumber(e.quantity_to_purchase) or 0)
      local order = nil
      if quantity > 0 then
        local _, id = must(db:exec("INSERT INTO purchase_orders (order_date, supplier_id) " ..
                                   "VALUES (NOW(), ?)", math.random(30)))
        must(db:exec("INSERT INTO purchase_order_details (purchase_order_id, product_id, " ..
                     "quantity, cost) SELECT ?, id, ?, cost FROM products WHERE id = ?",
                     id, quantity, e.product_id))
        order = id
        log("info", "purchase order %d: %d of product %s (out-of-stock event %d)", id, quantity,
            tostring(e.product_id), e.event_id)
      end
      -- 0 marks an event that asked for nothing
      must(db:exec("UPDATE " .. EVENTS .. " SET purchase_order_id = ? WHERE event_id = ?",
                   order or 0, e.event_id))
    end
  end)
end

return sh.app {
  id = "orders",
  kafka = { ["bootstrap.servers"] = "embedded" },
  topology = function(b)
    math.randomseed(os.time())
    local db
    local placed = 0
    b:every(INTERVAL, function()
      db = db or ensure_schema(URL)
      if not db then return end
      if placed < LIMIT then
        placed = placed + 1
        sales_order(db)
        if placed == LIMIT then
          log("info", "placed %d sales orders (ORDERS_LIMIT): only purchase orders from now", LIMIT)
        end
      end
      purchase_orders(db)
    end)
  end,
}
