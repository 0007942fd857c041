"""workloads.py - the six workloads of issue 4 and what each one expects.

For each: the streamhost app in bench/apps/, the Python peer if there is one,
the number of output records the input must produce (how the watcher knows a
run is done), the named stores whose changelog topics are created up front,
and whether a table topic must be loaded first."""

WORKLOADS = [
    {"name": "passthrough", "app": "passthrough.lua", "python": "python_passthrough.py",
     "expected": lambda n: n, "stores": []},
    # record n is kept when n is even: exactly ceil(n / 2) of 0..n-1
    {"name": "stateless", "app": "stateless.lua", "python": "python_stateless.py",
     "expected": lambda n: (n + 1) // 2, "stores": []},
    # stateless on Avro values in and out (schemas in the broker's registry);
    # no Python peer: python3-avro would measure itself
    {"name": "stateless_avro", "app": "stateless_avro.lua", "python": None,
     "expected": lambda n: (n + 1) // 2, "stores": [], "avro": True},
    # every update is emitted (EMIT CHANGES), one per input record
    {"name": "count", "app": "count.lua", "python": "python_count.py",
     "expected": lambda n: n, "stores": ["counts"]},
    # a 3 min window advancing by 1 min holds each record three times
    {"name": "hopping", "app": "hopping.lua", "python": None,
     "expected": lambda n: 3 * n, "stores": ["sums"]},
    # every key is in the table, so every record joins
    {"name": "join", "app": "join.lua", "python": None,
     "expected": lambda n: n, "stores": ["keys"], "table": True},
    # examples/supply_demand on generate.lua's rows: its own harness
    # (harness/supply_demand.py), one-partition topics; no engine-only run
    {"name": "supply_demand", "app": None, "python": None, "stores": [], "custom": "supply_demand",
     "no_engine": "the pipeline has no bench/apps equivalent fed from memory; see the end-to-end figure"},
]

PARTITIONS = 64  # the mock keeps ~5 MiB per partition: 64 hold 3M 100-byte records
