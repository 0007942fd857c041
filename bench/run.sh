#!/usr/bin/env bash
# run.sh - the entry point of `make bench`: builds the benchmark's C programs
# and runs the harness (bench/bench.py). QUICK=1 runs a short smoke version.
set -euo pipefail
cd "$(dirname "$0")"
make -s -C . all
exec /usr/bin/python3 bench.py "$@"
