"""The benchmark harness behind `make bench` (bench/run.sh runs bench/bench.py)."""
