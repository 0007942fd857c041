"""restore.py - the changelog restore rate (restore_rps).

The count app's changelog is filled directly with what its store would log
with no record cache, one record per input record: 1,000,000 records over
100,000 keys (the loader's `changelog=KEYS` mode: each key on its murmur2
partition, valued as the store values it, count and origin markers). With
the cache on, the app itself logs only the last change per key per flush
(~120k records for 1M inputs), which would measure store opens more than
replay. streamhost then starts the count app with an empty state directory
on that broker (its input empty). Stores restore one (store, partition) task
at a time, each logging
`restored store S partition P: N records from T in X s (R records/s)`.
The harness waits for one such line (or `is up to date`) per assigned
partition; /healthz is polled too, and a 200 before the end is reported.

restore_rps is the records restored over the wall time from the host's
`assigned N partition(s)` line to its last `restored store` line (log
timestamps, millisecond resolution), so per-partition set-up counts against
it, as it would for a user waiting on a restart. The sum of the tasks' own
records over the sum of their own seconds is given as a note."""
import datetime
import os
import re
import signal
import subprocess
import time
import urllib.request

from .broker import Broker
from .workloads import PARTITIONS

NOT_MEASURED = "not measured: "
APP_ID = "bench-restore"
KEYS = 100_000  # distinct keys of the changelog (fewer for a short run: ten records per key)
TIMESTAMP = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z"


def _ts(line):
    m = re.match(TIMESTAMP, line)
    return datetime.datetime.fromisoformat(m[1]).timestamp() if m else None


def _wait_restored(proc, log_path, timeout_s):
    """Waits until every assigned partition's store is restored (or up to
    date) by the log; returns the seconds after which /healthz first
    answered 200, or None if it never did, or raises."""
    started = time.monotonic()
    healthy_s = None
    while time.monotonic() - started < timeout_s:
        if proc.poll() is not None:
            raise RuntimeError(f"streamhost exited with status {proc.returncode} (see {log_path})")
        with open(log_path, errors="replace") as f:
            text = f.read()
        url = re.search(r"pull queries on (http://[\d.]+:\d+/)", text)
        assigned = re.search(r"assigned (\d+) partition", text)
        done = len(re.findall(r"restored store |is up to date with ", text))
        if assigned and done >= int(assigned[1]):
            return healthy_s
        if url and assigned and healthy_s is None:
            try:
                with urllib.request.urlopen(url[1] + "healthz", timeout=1) as r:
                    if r.status == 200:
                        healthy_s = time.monotonic() - started
            except OSError:
                pass  # 503 while restoring
        time.sleep(0.05)
    raise RuntimeError(f"the stores were not restored within {timeout_s} s (see {log_path})")


def restore_rps(cfg):
    records = cfg.records
    # Each partition costs about half a second of fixed set-up (see notes), so
    # the smoke test restores 8 partitions rather than 64 to finish in time.
    partitions = 8 if cfg.quick else PARTITIONS
    keys = min(KEYS, max(1, records // 10))
    topics = [("input", partitions), ("out", partitions),
              (f"{APP_ID}-counts-changelog", partitions), (f"{APP_ID}-counts-repartition", partitions)]
    run_dir = cfg.run_dir(APP_ID)
    state = os.path.join(run_dir, "state")
    app = os.path.join(cfg.bench_dir, "apps", "count.lua")
    env = dict(os.environ, BENCH_APP_ID=APP_ID, BENCH_INPUT="input", BENCH_OUTPUT="out")
    notes = []
    with Broker(cfg.streamhost, topics, cfg.log_path("broker-restore.log")) as broker:
        bs = broker.bootstrap
        changelog = subprocess.run([cfg.tool("loader"), bs, f"{APP_ID}-counts-changelog", str(records),
                                    f"changelog={keys}"], stderr=subprocess.PIPE, text=True)
        if changelog.returncode != 0:
            return {"restore_rps": NOT_MEASURED + "the loader could not fill the changelog: "
                    + changelog.stderr.strip()}, []
        log_path = os.path.join(run_dir, "restart.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([cfg.streamhost, "run", app, "--bootstrap", bs, "--http", "127.0.0.1:0",
                                     "--state-dir", state], stdout=log, stderr=subprocess.STDOUT,
                                    env=env, cwd=run_dir)
        try:
            healthy_s = _wait_restored(proc, log_path, cfg.timeout_s)
        except RuntimeError as e:
            return {"restore_rps": NOT_MEASURED + str(e)}, []
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    assigned = [_ts(l) for l in lines if "assigned " in l and "partition(s)" in l]
    restored = [(l, re.search(r"restored store \S+ partition \d+: (\d+) records from \S+ in ([\d.]+) s", l))
                for l in lines]
    restored = [(_ts(l), int(m[1]), float(m[2])) for l, m in restored if m]
    total = sum(n for _, n, _ in restored)
    if not assigned or not restored or total == 0:
        return {"restore_rps": NOT_MEASURED + f"streamhost logged no restore (see {log_path})"}, []
    if total != records:
        notes.append(f"restore: **{total:,} records restored, not the {records:,} the changelog holds**")
    wall = max(t for t, _, _ in restored) - assigned[0]
    own = sum(s for _, _, s in restored)
    notes.append(f"restore: {total:,} changelog records ({keys:,} keys, written by the loader as the count "
                 f"store logs them without its cache) over {len(restored)} partitions restored in {wall:.2f} s "
                 f"wall (from `assigned` to the last `restored` line); the tasks' own times sum to {own:.1f} s "
                 f"({total / own if own else 0:,.0f} records/s)")
    if healthy_s is not None:
        notes.append(f"restore: /healthz answered 200 {healthy_s:.1f} s after the restart, while stores were "
                     "still restoring (it should answer 503 until every assigned store is restored)")
    return {"restore_rps": total / wall if wall > 0 else NOT_MEASURED + "restore took no measurable time"}, notes
