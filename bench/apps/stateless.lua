-- stateless.lua - workload 2: JSON decode, a filter that keeps the even half,
-- map_values, JSON encode. Environment as in passthrough.lua.
local sh = require "streamhost"

return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-stateless",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "string", value = "json" })
     :filter(function(_, v) return v.n % 2 == 0 end)
     :map_values(function(v) return { id = v.id, n = v.n * 2 } end)
     :to(os.getenv("BENCH_OUTPUT") or "output", { value = "json" })
  end,
}
