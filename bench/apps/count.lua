-- count.lua - workload 3: count per key in a RocksDB store with a changelog,
-- every update emitted. The store is named so that the harness can create
-- its changelog topic with the input's partitions. Environment as in
-- passthrough.lua.
local sh = require "streamhost"

return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-count",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "string", value = "json" })
     :group_by_key()
     :count({ name = "counts" })
     :to_stream()
     :to(os.getenv("BENCH_OUTPUT") or "output", { key = "string", value = "json" })
  end,
}
