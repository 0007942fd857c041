-- passthrough.lua - workload 1: source to sink, no logic. The harness sets
-- BENCH_APP_ID, BENCH_INPUT and BENCH_OUTPUT so that every run has its own
-- consumer group and output topic on the same broker.
local sh = require "streamhost"

return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-passthrough",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "bytes", value = "bytes" })
     :to(os.getenv("BENCH_OUTPUT") or "output", { key = "bytes", value = "bytes" })
  end,
}
