-- The workshop's Debezium connector (mysql-source-connector) as a streamhost
-- app: the orders database's changes, unwrapped, tagged with the data
-- centre, renamed dc01.orders.<table> -> dc01_<table> and keyed by id as a
-- 4-byte int, as the workshop's four SMTs and IntegerConverter do.
-- MYSQL_PORT picks the server's port (scripts/mariadb.sh url shows it).
-- VALUE_FORMAT=avro writes the rows as Avro with Debezium's schemas (the
-- workshop's AvroConverter) to the registry at SCHEMA_REGISTRY_URL (the
-- embedded broker's by default); json (default): Connect's schemaless JSON.
-- MYSQL_DATABASE captures another database than orders.
local sh, smt = require "streamhost", require "streamhost.smt"

local DATABASE = os.getenv("MYSQL_DATABASE") or "orders"

return sh.app {
  id = "mysql-source-connector",
  kafka = { ["bootstrap.servers"] = "embedded", ["schema.registry.url"] = os.getenv("SCHEMA_REGISTRY_URL") },
  topology = function(b)
    b:mysql_cdc {
      ["database.hostname"] = "127.0.0.1",
      ["database.port"] = tonumber(os.getenv("MYSQL_PORT") or "3306"),
      ["database.user"] = "mysqluser", ["database.password"] = "mysqlpw",
      ["database.server.id"] = 12345, ["database.server.name"] = "dc01",
      ["database.whitelist"] = DATABASE,
      ["table.blacklist"] = DATABASE .. ".dc01_out_of_stock_events",
      ["snapshot.mode"] = "when_needed",
    }
     :transform(smt.unwrap())
     :transform(smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" })
     :transform(smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" })
     :transform(smt.extract_field_key { field = "id" })
     :to(function(_, _, rec) return rec.topic end,
         { key = "int", value = os.getenv("VALUE_FORMAT") or "json" })
  end,
}
