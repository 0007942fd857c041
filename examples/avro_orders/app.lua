-- Orders into Avro and back: JSON orders in (as kcat writes them), the same
-- orders as Avro with a given schema (registered once, under
-- orders-avro-value), then read back from Avro and summed per item, written
-- as Avro with a schema derived from the records (amount keeps its decimal
-- type from the input).
local sh = require "streamhost"

local ORDER = {
  type = "record", name = "Order", namespace = "shop",
  fields = {
    { name = "id", type = "long" },
    { name = "item", type = "string" },
    { name = "qty", type = "int" },
    { name = "amount", type = { type = "bytes", logicalType = "decimal", precision = 9, scale = 2 } },
    { name = "placed", type = { type = "long", logicalType = "timestamp-millis" } },
  },
}

return sh.app {
  id = "avro-orders",
  -- "embedded" brings its own registry; against a broker, add
  -- ["schema.registry.url"] = "http://127.0.0.1:PORT" or --set it
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("orders-json", { key = "string", value = "json" })
     :map_values(function(o, _, rec)
       return { id = o.id, item = o.item, qty = o.qty, amount = o.amount, placed = rec.timestamp }
     end)
     :to("orders-avro", { value = "avro", avro = { schema = ORDER } })

    b:stream("orders-avro", { key = "string", value = "avro" })
     :filter(function(_, o) return o.qty > 0 end)
     :map_values(function(o)
       return { item = o.item, qty = o.qty, amount = o.amount, placed = o.placed,
                total = tonumber(o.amount) * o.qty }
     end)
     :to("order-totals", { value = "avro" })
  end,
}
