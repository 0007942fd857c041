"""python_stateless.py - workload 2 in Python: decode JSON, keep even n,
double n, encode JSON."""
import json

import python_common


def transform(key, value):
    v = json.loads(value)
    if v["n"] % 2 != 0:
        return None
    return key, json.dumps({"id": v["id"], "n": v["n"] * 2})


python_common.run(transform)
