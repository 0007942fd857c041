-- stateless_avro.lua - workload 2 on Avro: the same filter and map_values as
-- stateless.lua, with Avro values (Confluent wire format) in and out, schemas
-- in BENCH_REGISTRY (the bench broker's --registry), else the in-process
-- registry. The output schema is derived from the records, as ksqlDB does.
local sh = require "streamhost"

local registry = os.getenv("BENCH_REGISTRY")
return sh.app {
  id = os.getenv("BENCH_APP_ID") or "bench-stateless-avro",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest",
            ["schema.registry.url"] = registry ~= "" and registry or nil },
  topology = function(b)
    b:stream(os.getenv("BENCH_INPUT") or "input", { key = "string", value = "avro" })
     :filter(function(_, v) return v.n % 2 == 0 end)
     :map_values(function(v) return { id = v.id, n = v.n * 2 } end)
     :to(os.getenv("BENCH_OUTPUT") or "output", { value = "avro" })
  end,
}
