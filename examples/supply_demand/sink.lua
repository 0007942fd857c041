-- The workshop's JDBC sink (jdbc-mysql-sink) as a streamhost app: the
-- pipeline's out-of-stock events, from Kafka into MySQL's orders database,
-- where orders.lua turns each into a purchase order. The properties are the
-- ones the workshop posts to Connect.
--
--   SINK_MYSQL_URL  jdbc:mysql://host:port/orders (default jdbc:mysql://127.0.0.1:3306/orders)
--   VALUE_FORMAT    avro (the workshop's AvroConverter; the table's column types
--                   then come from the events' schema) or json (default)
--   SCHEMA_REGISTRY_URL  the registry, for avro (the embedded broker's by default)
local sh = require "streamhost"

return sh.app {
  id = "jdbc-mysql-sink",
  kafka = { ["auto.offset.reset"] = "earliest", ["schema.registry.url"] = os.getenv("SCHEMA_REGISTRY_URL") },
  topology = function(b)
    b:stream("dc01_out_of_stock_events", { key = "int", value = os.getenv("VALUE_FORMAT") or "json" })
     :to_mysql { ["connection.url"] = os.getenv("SINK_MYSQL_URL") or "jdbc:mysql://127.0.0.1:3306/orders",
                 ["connection.user"] = "mysqluser", ["connection.password"] = "mysqlpw",
                 ["insert.mode"] = "INSERT", ["batch.size"] = 3000, ["auto.create"] = true,
                 ["auto.evolve"] = true }
  end,
}
