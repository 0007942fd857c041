"""python_passthrough.py - workload 1 in Python: every record copied as is."""
import python_common

python_common.run(lambda key, value: (key, value))
