"""python_count.py - workload 3 in Python: count records per key in a dict
and emit every update, as streamhost's count does by default. Unlike
streamhost, the counts live only in memory: no store, no changelog."""
import python_common

counts = {}


def transform(key, value):
    n = counts.get(key, 0) + 1
    counts[key] = n
    return key, str(n)


python_common.run(transform)
