"""latency.py - end-to-end latency at a fixed 20k records/s and the output
pause while the app file is rewritten under that load, both read from
bench/build/probe's log of (sent, received) times per record.

Reload pause: for each rewrite of the app file at time T, the largest gap
between consecutive received records in [T, T + interval). The same
statistic over equal windows before the first rewrite is reported as the
baseline, since the consumer's fetch cadence alone makes small gaps."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

from . import stats
from .broker import Broker
from .workloads import PARTITIONS

NOT_MEASURED = "not measured: "
RATE = 20000
# librdkafka's mock broker answers a Fetch with no data only after the
# consumer's fetch.wait.max.ms (default 500 ms), where a real broker answers as
# soon as data arrives. Without this, every program shows the mock's wait,
# not its own latency; the probe's consumer uses the same value.
FETCH_WAIT = "fetch.wait.max.ms=5"
# The embedded broker (librdkafka's mock) finds a fetch's offset by walking
# the partition's message sets from the start (rd_kafka_mock_msgset_find), and
# at 20k/s every few-ms produce request adds one, so each fetch gets slower
# until, after 6-12 s, the broker queues for seconds even with no program in
# between (the probe alone). Hence short runs (a 2 s warm-up, then 6 s; 50
# reloads 200 ms apart) and 8 partitions (more records per message set); the
# probe's own floor, probe -> broker -> probe, is measured in every run.
LATENCY_PARTITIONS = 8
WARM_UP_S = 2.0  # steady state: the first seconds after the group join are left out


def _read_log(path, skip_s=WARM_UP_S):
    pairs = []
    with open(path) as f:
        for line in f:
            sent, received = line.split()
            pairs.append((int(sent), int(received)))
    if not pairs:
        return []
    first = min(s for s, _ in pairs)
    return [(s, r) for s, r in pairs if s - first >= skip_s * 1e6]


def _start(args, log_path, env=None, cwd=None):
    log = open(log_path, "w")
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd), log


def _stop(proc, log):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()


def _probe(cfg, bootstrap, source, sink, seconds, log_path, on_pacing=None, program=None):
    proc = subprocess.Popen([cfg.tool("probe"), bootstrap, source, sink, str(RATE), str(seconds), log_path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop_probe_if_program_exits():
        while proc.poll() is None:
            if program is not None and program.poll() is not None:
                proc.kill()  # nothing will come back: don't wait out the probe's timeout
                return
            time.sleep(0.1)

    threading.Thread(target=stop_probe_if_program_exits, daemon=True).start()
    reader = None
    for line in proc.stderr:
        if "pacing" in line:
            if on_pacing:
                reader = threading.Thread(target=on_pacing)
                reader.start()
            break
    out, err = proc.communicate()
    if reader:
        reader.join()
    if program is not None and program.poll() is not None:
        raise RuntimeError(f"the program under test exited (status {program.returncode}; see its log)")
    if proc.returncode != 0:
        raise RuntimeError((err.strip().splitlines() or [f"probe exit status {proc.returncode}"])[-1])
    return out


def _streamhost(cfg, app, app_id, bootstrap, source, sink):
    run_dir = cfg.run_dir(app_id)
    env = dict(os.environ, BENCH_APP_ID=app_id, BENCH_INPUT=source, BENCH_OUTPUT=sink)
    return _start([cfg.streamhost, "run", app, "--bootstrap", bootstrap, "--set", FETCH_WAIT, "--http", "off",
                   "--state-dir", os.path.join(run_dir, "state")],
                  os.path.join(run_dir, "streamhost.log"), env=env, cwd=run_dir)


def latency(cfg):
    """{"latency_ms_p50", "latency_ms_p99"} through streamhost, and notes
    (including the same through c_passthrough, for reference)."""
    topics = [(t, LATENCY_PARTITIONS) for t in ("lat-sh-in", "lat-sh-out", "lat-c-in", "lat-c-out", "lat-direct")]
    notes, top = [], {}
    with Broker(cfg.streamhost, topics, cfg.log_path("broker-latency.log")) as broker:
        bs = broker.bootstrap
        runs = {}
        app = os.path.join(cfg.bench_dir, "apps", "passthrough.lua")
        for label, start in (
                ("direct", lambda: _start(["sleep", "3600"], cfg.log_path("direct-latency.log"))),
                ("streamhost", lambda: _streamhost(cfg, app, "bench-latency", bs, "lat-sh-in", "lat-sh-out")),
                ("c_passthrough", lambda: _start(
                    [cfg.tool("c_passthrough"), bs, "lat-c-in", "lat-c-out", str(10 ** 9), "c-latency", FETCH_WAIT],
                    cfg.log_path("c-latency.log")))):
            proc, log = start()
            source, sink = {"streamhost": ("lat-sh-in", "lat-sh-out"), "c_passthrough": ("lat-c-in", "lat-c-out"),
                            "direct": ("lat-direct", "lat-direct")}[label]
            path = cfg.log_path(f"probe-latency-{label}.log")
            try:
                _probe(cfg, bs, source, sink, cfg.latency_seconds, path, program=proc)
                pairs = _read_log(path)
                lat = sorted((r - s) / 1e3 for s, r in pairs)
                runs[label] = (stats.percentile(lat, 50), stats.percentile(lat, 99), len(lat))
            except (RuntimeError, OSError, ValueError) as e:
                runs[label] = NOT_MEASURED + str(e)
            finally:
                _stop(proc, log)
    sh = runs["streamhost"]
    if isinstance(sh, str):
        top["latency_ms_p50"] = top["latency_ms_p99"] = sh
    else:
        top["latency_ms_p50"], top["latency_ms_p99"] = sh[0], sh[1]
        notes.append(f"latency: {RATE:,} records/s for {cfg.latency_seconds} s through the passthrough app, "
                     f"{sh[2]:,} records after a {WARM_UP_S:.0f} s warm-up, {LATENCY_PARTITIONS} partitions; the probe "
                     "produces with linger.ms=2 and its consumer waits at most 5 ms per fetch, and the app and "
                     "c_passthrough run with --set " + FETCH_WAIT + " (see latency.py). The previous "
                     "seconds-long figures were a backlog in the embedded broker, not the programs: the probe "
                     "sent one ProduceRequest per record (linger.ms=0), and a run of 20 s on 64 partitions "
                     "outgrows the mock's linear walk of a partition's message sets; the probe alone showed "
                     "the same seconds")
    for label, what in (("c_passthrough", "through c_passthrough"),
                        ("direct", "of the probe alone (probe -> broker -> probe, the floor)")):
        c = runs[label]
        if not isinstance(c, str):
            notes.append(f"latency {what} in the same run, for reference: p50 {c[0]:.2f} ms, p99 {c[1]:.2f} ms")
    return top, notes


def _max_gap(arrivals, start, end):
    """Largest gap between consecutive arrivals that touches [start, end)."""
    import bisect
    i = max(bisect.bisect_left(arrivals, start) - 1, 0)
    j = bisect.bisect_left(arrivals, end)
    window = arrivals[i:j + 1]
    return max((b - a for a, b in zip(window, window[1:])), default=None)


def reload_pause(cfg):
    topics = [("reload-in", LATENCY_PARTITIONS), ("reload-out", LATENCY_PARTITIONS)]
    interval = cfg.reload_interval_s
    count = cfg.reloads
    run_dir = cfg.run_dir("bench-reload")
    app = os.path.join(run_dir, "app.lua")
    shutil.copy(os.path.join(cfg.bench_dir, "apps", "passthrough.lua"), app)
    with open(app) as f:
        source = f.read()
    marks = []

    def rewrite():
        time.sleep(2)  # baseline before the first reload
        for i in range(count):
            marks.append(time.time() * 1e6)
            with open(app, "w") as f:
                f.write(source + f"-- reload {i + 1}\n")
            time.sleep(interval)

    with Broker(cfg.streamhost, topics, cfg.log_path("broker-reload.log")) as broker:
        proc, log = _streamhost(cfg, app, "bench-reload", broker.bootstrap, "reload-in", "reload-out")
        path = cfg.log_path("probe-reload.log")
        try:
            _probe(cfg, broker.bootstrap, "reload-in", "reload-out", 2 + count * interval + 1, path, rewrite,
                   program=proc)
        except (RuntimeError, OSError) as e:
            return {"reload_pause_ms_p50": NOT_MEASURED + str(e),
                    "reload_pause_ms_p99": NOT_MEASURED + str(e)}, []
        finally:
            _stop(proc, log)
    arrivals = sorted(r for _, r in _read_log(path, skip_s=0))
    with open(os.path.join(run_dir, "streamhost.log"), errors="replace") as f:
        host_log = f.read()
    reloaded = [float(m) for m in re.findall(r"reloaded .* as version \d+ in ([\d.]+) ms", host_log)]
    swaps = sorted(float(m) for m in re.findall(r"runs version \d+ \(paused (\d+) ms to swap\)", host_log))
    if not reloaded:
        why = NOT_MEASURED + f"the app was rewritten {count} times but streamhost logged no reload"
        return {"reload_pause_ms_p50": why, "reload_pause_ms_p99": why}, []
    width = interval * 1e6
    pauses = sorted(g / 1e3 for g in (_max_gap(arrivals, t, t + width) for t in marks) if g is not None)
    base_start = marks[0] - 2e6 + 0.5e6
    baseline = sorted(g / 1e3 for g in (_max_gap(arrivals, base_start + k * width, base_start + (k + 1) * width)
                                         for k in range(int(1.5e6 // width))) if g is not None)
    top = {"reload_pause_ms_p50": stats.percentile(pauses, 50), "reload_pause_ms_p99": stats.percentile(pauses, 99)}
    reloaded.sort()
    notes = [f"reload: {count} rewrites of the app file {interval * 1e3:.0f} ms apart under {RATE:,} records/s; "
             f"streamhost logged {len(reloaded)} reloads taking p50 {stats.percentile(reloaded, 50):.1f} ms, "
             f"p99 {stats.percentile(reloaded, 99):.1f} ms on its reload thread, and the stream thread "
             f"paused p50 {stats.percentile(swaps, 50) if swaps else float('nan'):.0f} ms, max "
             f"{swaps[-1] if swaps else float('nan'):.0f} ms to swap versions (log, ms resolution); "
             f"largest output gap per window without reloads "
             f"(baseline): {', '.join(f'{b:.1f}' for b in baseline) or 'none'} ms"]
    return top, notes
