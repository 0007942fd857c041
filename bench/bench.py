"""bench.py - `make bench`: every workload of issue 4, side by side with the
plain-C passthrough and the Python peers, then the engine-only, reload,
latency and restore measures; writes bench/results/latest.{md,json}.

Environment: QUICK=1 (a smoke test under a minute), BENCH_RECORDS,
BENCH_RUNS, BENCH_ONLY=name,name (a subset of workloads)."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import machine, report, throughput  # noqa: E402
from harness.workloads import WORKLOADS  # noqa: E402


class Config:
    def __init__(self):
        self.bench_dir = os.path.dirname(os.path.abspath(__file__))
        self.root = os.path.dirname(self.bench_dir)
        self.quick = os.environ.get("QUICK", "") not in ("", "0")
        self.records = int(os.environ.get("BENCH_RECORDS") or (100_000 if self.quick else 1_000_000))
        self.runs = int(os.environ.get("BENCH_RUNS") or (1 if self.quick else 3))
        self.timeout_s = 30 if self.quick else 300
        self.streamhost = os.path.join(self.root, "bin", "streamhost")
        self.python = "/usr/bin/python3"  # Debian's, which has python3-confluent-kafka
        self.work = tempfile.mkdtemp(prefix="streamhost-bench-")
        self.started = time.monotonic()

    def tool(self, name):
        return os.path.join(self.bench_dir, "build", name)

    def run_dir(self, name):
        path = os.path.join(self.work, name)
        os.makedirs(path, exist_ok=True)
        return path

    def log_path(self, name):
        return os.path.join(self.work, name)

    def say(self, message):
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)


def main():
    cfg = Config()
    cfg.say(f"{cfg.records:,} records, {cfg.runs} runs; logs in {cfg.work}")
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    workloads = {}
    for workload in WORKLOADS:
        if only and workload["name"] not in only:
            continue
        workloads[workload["name"]] = throughput.bench(cfg, workload)
    top = {}
    notes = []
    meta = machine.describe(cfg.streamhost)
    meta.update(records=cfg.records, runs=cfg.runs, quick=cfg.quick, value_bytes=100, keys=10000)
    report.write(os.path.join(cfg.bench_dir, "results"), meta, workloads, top, notes)
    cfg.say("wrote bench/results/latest.md and latest.json")


if __name__ == "__main__":
    main()
