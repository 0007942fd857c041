-- Clickstream: keeps the clicks of a stream of page events and reshapes them.
local sh = require "streamhost"

return sh.app {
  id = "clicks",                                   -- consumer group and internal-topic prefix
  kafka = { ["bootstrap.servers"] = "embedded",    -- any librdkafka property passes through
            ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("clickstream", { key = "string", value = "json" })
     :filter(function(k, v) return v.action == "clicked" end)
     :map_values(function(v, k, rec) return { user = v.user, page = v.page, ts = rec.timestamp } end)
     :to("clicks", { value = "json" })
  end,
}
