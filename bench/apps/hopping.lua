-- hopping.lua - workload 4: sum of n per key over 3 min windows advancing by
-- 1 min (the loader spaces records 1 ms apart in event time, so windows open
-- and close throughout the run). Environment as in passthrough.lua.
local sh = require "streamhost"

return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-hopping",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "string", value = "json" })
     :group_by_key()
     :window(sh.hopping { size = "3m", advance = "1m", grace = "30s" })
     -- BENCH_PANES=1: panes (README, "Panes"); they pay with hot keys, not
     -- with these 10,000 uniform ones (more writes at each flush)
     -- BENCH_EMIT=final: one result per closed window (emit = "final"),
     -- for engine-only measures of the suppression buffer; make bench
     -- runs the default (every update)
     :sum(function(v) return v.n end, { name = "sums", panes = os.getenv("BENCH_PANES") == "1",
                                        emit = os.getenv("BENCH_EMIT") })
     :to_stream()
     :to(os.getenv("BENCH_OUTPUT") or "output", { key = "string", value = "json" })
  end,
}
