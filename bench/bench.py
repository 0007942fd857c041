"""bench.py - `make bench`: every workload of issue 4, side by side with the
plain-C passthrough and the Python peers, then the engine-only, reload,
latency and restore measures; writes bench/results/latest.{md,json}.

Environment: QUICK=1 (a smoke test under a minute), BENCH_RECORDS,
BENCH_RUNS, BENCH_ONLY=name,name (a subset of workloads and of the
latency, reload and restore measures; BENCH_ONLY=restore runs only that)."""
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import engine, latency, machine, report, restore, throughput  # noqa: E402
from harness.workloads import WORKLOADS  # noqa: E402


class Config:
    def __init__(self):
        self.bench_dir = os.path.dirname(os.path.abspath(__file__))
        self.root = os.path.dirname(self.bench_dir)
        self.quick = os.environ.get("QUICK", "") not in ("", "0")
        self.records = int(os.environ.get("BENCH_RECORDS") or (50_000 if self.quick else 1_000_000))
        self.runs = int(os.environ.get("BENCH_RUNS") or (1 if self.quick else 3))
        # engine-only runs take a second each, and this machine's speed
        # drifts by a third within a minute (count: 755k-1.02M records/s in
        # nine runs in a row, idle): five rounds make the median steadier
        self.engine_runs = 1 if self.quick else max(self.runs, 5)
        self.timeout_s = 30 if self.quick else 300
        self.engine_records = 50_000 if self.quick else 1_000_000
        self.callgrind_records = (2_000, 12_000) if self.quick else (20_000, 120_000)
        self.latency_seconds = 4 if self.quick else 8  # including the 2 s warm-up
        self.reloads = 5 if self.quick else 50
        self.reload_interval_s = 0.2
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


def _engine_figures(cfg, selected, workloads, top, notes, results_dir):
    figures = engine.rps_per_core(cfg, [w["app"][:-4] for w in selected if w["app"]])
    for workload in selected:
        if workload["app"]:
            figure = figures[workload["app"][:-4]]
            workloads[workload["name"]]["engine_rps_per_core"] = figure
            cfg.say(f"  engine-only {workload['name']}: "
                    f"{figure if isinstance(figure, str) else round(figure['median'])}")
        else:
            workloads[workload["name"]]["engine_rps_per_core"] = "not measured: " + workload["no_engine"]
    # issue 10: Avro decodes and encodes at least as fast as JSON, per core
    avro_figure = workloads.get("stateless_avro", {}).get("engine_rps_per_core")
    json_figure = workloads.get("stateless", {}).get("engine_rps_per_core")
    if isinstance(avro_figure, dict) and isinstance(json_figure, dict):
        top["engine_avro_vs_json"] = avro_figure["median"] / json_figure["median"]
        cfg.say(f"  engine-only stateless_avro / stateless: {top['engine_avro_vs_json']:.2f}")
    # instructions per record (callgrind) for every stateful workload, stateless first
    for name in ("stateless", "count", "hopping", "join"):
        if not any(w["name"] == name for w in selected):
            continue
        ipr = engine.instructions_per_record(cfg, name, os.path.join(results_dir, f"profile-{name}.txt"))
        workloads[name]["engine_instructions_per_record"] = ipr
        cfg.say(f"  {name} under callgrind: {_round(ipr)} instructions/record")
        if name == "stateless":
            top["engine_instructions_per_record"] = ipr
    notes.append("engine instructions per record: callgrind, counting records "
                 f"{cfg.callgrind_records[0]:,} to {cfg.callgrind_records[1]:,} of one run of bench/engine.lua "
                 "(set-up not counted; bench/cgtoggle.c), whose stores flush every 100,000 records, so "
                 "the records counted hold one flush (10,000 distinct keys, values not interned before); "
                 "profiles of those records in profile-<workload>.txt")


def _build_stamp(cfg):
    lib = os.path.join(cfg.root, "lib", "libstreamhost.so")
    return tuple(os.stat(p).st_mtime if os.path.exists(p) else None for p in (cfg.streamhost, lib))


def _round(value):
    return value if isinstance(value, str) else f"{value:,.0f}"


def _top_measure(cfg, name, measure, top, notes):
    figures, more = measure(cfg)
    top.update(figures)
    notes += more
    cfg.say(f"  {name}: " + ", ".join(f"{k} {v if isinstance(v, str) else round(v, 2)}"
                                      for k, v in figures.items()))


def main():
    cfg = Config()
    cfg.say(f"{cfg.records:,} records, {cfg.runs} runs; logs in {cfg.work}")
    built = _build_stamp(cfg)
    only = set(filter(None, os.environ.get("BENCH_ONLY", "").split(",")))
    selected = [w for w in WORKLOADS if not only or w["name"] in only]
    measures = (("latency", "latency at 20k records/s", latency.latency),
                ("reload", f"reload pause ({cfg.reloads} reloads)", latency.reload_pause),
                ("restore", "changelog restore", restore.restore_rps))
    workloads = {w["name"]: {} for w in selected}
    top, notes = {}, []
    # a QUICK smoke test must not overwrite the measured results
    results_dir = os.path.join(cfg.bench_dir, "results", "quick" if cfg.quick else "")
    os.makedirs(results_dir, exist_ok=True)

    def bench_workload(workload):
        workloads[workload["name"]].update(throughput.bench(cfg, workload))

    tasks = [lambda w=w: bench_workload(w) for w in selected]
    if selected:
        tasks.append(lambda: _engine_figures(cfg, selected, workloads, top, notes, results_dir))
    for key, name, measure in measures:
        if only and key not in only:
            continue
        tasks.append(lambda name=name, measure=measure: _top_measure(cfg, name, measure, top, notes))
    if cfg.quick:
        # A smoke test: every measure at once, each on its own broker. Most of
        # the wall time is start-up waits (group joins), which overlap; the
        # figures are disturbed by each other and only show that all runs.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            for future in [pool.submit(t) for t in tasks]:
                future.result()
    else:
        for task in tasks:
            task()
    notes += [w.pop("note") for w in workloads.values() if "note" in w]
    if _build_stamp(cfg) != built:
        notes.insert(0, "**bin/streamhost or lib/libstreamhost.so was rebuilt during this run**: the figures "
                        "mix two builds; run again")
    meta = machine.describe(cfg.streamhost)
    meta["commit"] = subprocess.run(["git", "-C", cfg.root, "rev-parse", "--short", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
    meta.update(records=cfg.records, runs=cfg.runs, quick=cfg.quick, value_bytes=100, keys=10000)
    report.write(results_dir, meta, workloads, top, notes)
    cfg.say("wrote %s/latest.md and latest.json" % os.path.relpath(results_dir, cfg.root))


if __name__ == "__main__":
    main()
