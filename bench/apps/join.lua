-- join.lua - workload 5: stream-table inner join; the table (BENCH_TABLE)
-- holds all 10,000 keys and is loaded before the stream, so every record
-- joins. Environment as in passthrough.lua.
local sh = require "streamhost"

return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-join",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local keys = b:table(os.getenv("BENCH_TABLE") or "table",
                         { key = "string", value = "json", name = "keys" })
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "string", value = "json" })
     :join(keys, function(left, right) return { id = left.id, n = left.n, m = right.n } end)
     :to(os.getenv("BENCH_OUTPUT") or "output", { key = "string", value = "json" })
  end,
}
