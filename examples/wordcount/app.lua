-- Word count, as in the Kafka Streams course: lines in, a running count per
-- word out (a table, emitted on every change).
local sh = require "streamhost"

return sh.app {
  id = "wordcount",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("word-count-input", { key = "string", value = "string" })
     :map_values(function(line) return line:lower() end)
     :flat_map_values(function(line)
       local words = {}
       for word in line:gmatch("%S+") do words[#words + 1] = word end
       return words
     end)
     :select_key(function(_, word) return word end)
     :group_by_key({ key = "string" })
     :count({ name = "counts" })
     :to_stream()
     :to("word-count-output", { key = "string", value = "long" })
  end,
}
