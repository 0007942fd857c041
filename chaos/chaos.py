#!/usr/bin/env python3
"""chaos.py - `make chaos`: the reliability scenarios of issue 13 against
the real binary, on loopback, each bounded in time. Prints one table row
per scenario (records in, out, lost, duplicated, time to recover or to
exit) and writes it to chaos/results/latest.md.

Every input record carries a unique number; an app tags it on the way
out, so lost and duplicated records are counted exactly, and the counting
scenario compares its aggregates with a reference computed here."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin", "streamhost")


def wait_for(what, timeout, fn, step=0.05):
    """Polls fn until it returns something true (a condition, not a sleep)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(step)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Broker:
    def __init__(self, work, topics, port=None):
        args = [BIN, "broker"] + (["--port", str(port)] if port else [])
        for name, partitions in topics:
            args += ["--topic", f"{name}:{partitions}"]
        self.log = open(os.path.join(work, f"broker-{time.monotonic_ns()}.log"), "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("bootstrap.servers="):
            raise RuntimeError(f"broker did not start: {line!r}")
        self.bootstrap = line.split("=", 1)[1]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


class App:
    def __init__(self, work, app, bootstrap, name="run", extra=()):
        self.log_path = os.path.join(work, f"{name}-{time.monotonic_ns()}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BIN, "run", app, "--bootstrap", bootstrap, "--state-dir",
             os.path.join(work, "state"), "--http", "off", *extra],
            stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_assigned(self, timeout=30):
        wait_for("the app's assignment", timeout,
                 lambda: "assigned" in self.text() or self.proc.poll() is not None)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


def produce(bootstrap, topic, records):
    """records: (key, value) pairs, written with kcat."""
    p = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "|", "-z", "none"],
                         stdin=subprocess.PIPE, text=True)
    p.communicate("".join(f"{k}|{v}\n" for k, v in records))
    if p.returncode != 0:
        raise RuntimeError("kcat -P failed")


def consume(bootstrap, topic):
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e",
                          "-q", "-J"], capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def tally(values, total):
    """lost and duplicated numbers among 'n|...' values for inputs 1..total."""
    seen = {}
    for v in values:
        n = int(v.split("|", 1)[0])
        seen[n] = seen.get(n, 0) + 1
    lost = sum(1 for n in range(1, total + 1) if n not in seen)
    dup = sum(c - 1 for c in seen.values() if c > 1)
    return lost, dup


TAG_APP = """
local sh = require "streamhost"
return sh.app {{
  id = "chaos-tag", on_error = "skip", ["max.batch.ms"] = 2000, ["memory.limit"] = "128MB",
  kafka = {{ ["auto.offset.reset"] = "earliest" }},
  topology = function(b)
    b:stream("numbers", {{ key = "string", value = "string" }})
     :map_values(function(v)
       {body}
       return v .. "|{label}"
     end)
     :to("tagged", {{ value = "string" }})
  end,
}}
"""

COUNT_APP = """
local sh = require "streamhost"
return sh.app {
  id = "chaos-count", threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("events", { key = "string", value = "string" })
     :group_by_key():count({ name = "per_key" })
     :to_stream():map_values(function(n) return tostring(n) end)
     :to("counts", { value = "string" })
  end,
}
"""


def feeder(bootstrap, topic, first, count, rate):
    """A steady producer in the background: count records at about rate/s."""
    script = (f"import sys,time\n"
              f"for i in range({first},{first + count}):\n"
              f"    sys.stdout.write('k%d|%d\\n' % (i % 10, i))\n"
              f"    if i % 50 == 0: sys.stdout.flush(); time.sleep(50/{rate})\n")
    py = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    kc = subprocess.Popen(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "|",
                           "-X", "linger.ms=5"], stdin=py.stdout)
    py.stdout.close()
    return py, kc


def scenario_sigkill(work):
    """3 SIGKILLs of a 2-thread counting app under load; counts exact."""
    b = Broker(work, [("events", 4), ("counts", 4), ("chaos-count-per_key-changelog", 4)])
    app = os.path.join(work, "count.lua")
    with open(app, "w") as f:
        f.write(COUNT_APP)
    total, ref = 20000, {}
    records = []
    for i in range(1, total + 1):
        k = f"k{(i * 7) % 101}"
        ref[k] = ref.get(k, 0) + 1
        records.append((k, str(i)))
    a = App(work, app, b.bootstrap)
    a.wait_assigned()
    start = time.monotonic()
    for chunk in range(4):
        produce(b.bootstrap, "events", records[chunk * 5000:(chunk + 1) * 5000])
        if chunk < 3:
            time.sleep(random.uniform(0.3, 1.0))  # pacing of the kills, not a wait on a result
            a.stop(signal.SIGKILL)
            a = App(work, app, b.bootstrap)

    def exact():
        last = {}
        for m in consume(b.bootstrap, "counts"):
            last[m["key"]] = m["payload"]
        return all(last.get(k) is not None and int(last[k]) == n for k, n in ref.items()) and last
    try:
        wait_for("exact counts", 120, exact, step=0.5)
        ok = True
    except TimeoutError:
        ok = False
    recover = time.monotonic() - start
    a.stop()
    b.stop()
    return dict(scenario="3 SIGKILLs under load (threads = 2, count)", records_in=total,
                records_out="counts exact" if ok else "counts WRONG", lost=0 if ok else "?",
                duplicated="-", time=f"{recover:.1f} s to exact counts")


def scenario_reloads(work):
    """100 hot reloads under load: good, broken, raising, looping, allocating."""
    b = Broker(work, [("numbers", 2), ("tagged", 2)])
    app = os.path.join(work, "tag.lua")
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="v0"))
    a = App(work, app, b.bootstrap)
    a.wait_assigned()
    total = 6000
    py, kc = feeder(b.bootstrap, "numbers", 1, total, 300)
    # reloads happen while records flow: a new version is tried on recent ones
    wait_for("the first records out", 30, lambda: consume(b.bootstrap, "tagged"), step=0.2)
    restarts = 0
    kinds = ["good", "broken", "raising", "looping", "allocating"]
    bodies = {
        "good": "",
        "raising": "error('raised by the new version')",
        "looping": "while true do end",
        "allocating": "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end",
    }
    counts = {k: 0 for k in kinds}
    start = time.monotonic()
    for i in range(100):
        kind = kinds[i % len(kinds)]
        counts[kind] += 1
        before = a.text().count("reloaded ") + a.text().count("reload failed: ")
        with open(app, "w") as f:
            if kind == "broken":
                f.write("local sh = require 'streamhost'\nreturn sh.app { id = = 1 }\n")
            else:
                f.write(TAG_APP.format(body=bodies[kind], label=f"v{i + 1}"))
        try:
            wait_for(f"reload {i + 1} ({kind})", 30,
                     lambda: a.text().count("reloaded ") + a.text().count("reload failed: ") > before
                     or a.proc.poll() is not None)
        finally:
            if a.proc.poll() is not None:  # what a supervisor does
                restarts += 1
                a = App(work, app, b.bootstrap)
                a.wait_assigned()
    kc.wait(timeout=120)
    # back to a good version, then all records must be out
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="final"))
    out = wait_for("every record out", 120, lambda: (lambda o: len(o) >= total and o)(
        [m["payload"] for m in consume(b.bootstrap, "tagged")]), step=0.5)
    elapsed = time.monotonic() - start
    lost, dup = tally(out, total)
    logs = [os.path.join(work, f) for f in os.listdir(work) if f.startswith("run-")]
    text = "".join(open(p).read() for p in logs)
    accepted = text.count("reloaded ")
    refused = text.count("reload failed: ")
    alive = a.proc.poll() is None
    a.stop()
    b.stop()
    return dict(scenario=f"100 reloads under load ({', '.join(f'{counts[k]} {k}' for k in kinds)}): "
                         f"{accepted} taken, {refused} refused, {restarts} restarts, "
                         f"app {'alive' if alive else 'DEAD'}",
                records_in=total, records_out=len(out), lost=lost, duplicated=dup,
                time=f"{elapsed:.1f} s for 100 reloads")


def scenario_stuck(work):
    """A batch that never returns: watchdog exit, restart rolls back."""
    b = Broker(work, [("numbers", 1), ("tagged", 1)])
    app = os.path.join(work, "stuck.lua")
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="good"))
    total = 200
    produce(b.bootstrap, "numbers", [(f"k{i}", str(i)) for i in range(1, 101)])
    a = App(work, app, b.bootstrap)
    wait_for("the version to be kept", 40, lambda: "ran cleanly: kept" in a.text(), step=0.2)
    a.stop()
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="if v == '150' then while true do end end", label="bad"))
    a = App(work, app, b.bootstrap)
    produce(b.bootstrap, "numbers", [(f"k{i}", str(i)) for i in range(101, total + 1)])
    start = time.monotonic()
    status = a.proc.wait(timeout=60)
    exit_s = time.monotonic() - start
    a = App(work, app, b.bootstrap)  # what a supervisor does
    out = wait_for("every record out", 60, lambda: (lambda o: len(set(v.split("|")[0] for v in o))
                                                   >= total and o)(
        [m["payload"] for m in consume(b.bootstrap, "tagged")]), step=0.3)
    recover = time.monotonic() - start
    rolled = "ROLLBACK" in a.text()
    a.stop()
    b.stop()
    lost, dup = tally(out, total)
    return dict(scenario=f"batch never returns: exit status {status}, restart "
                         f"{'rolled back' if rolled else 'did NOT roll back'}",
                records_in=total, records_out=len(out), lost=lost, duplicated=dup,
                time=f"exit after {exit_s:.1f} s, all out after {recover:.1f} s")


def scenario_wrong_bootstrap(work):
    app = os.path.join(work, "wrong.lua")
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="x").replace(
            '["max.batch.ms"] = 2000', '["startup.timeout"] = "5s"'))
    start = time.monotonic()
    a = App(work, app, "127.0.0.1:1")
    status = a.proc.wait(timeout=60)
    return dict(scenario=f"no broker at the address: exit status {status}, "
                         f"{'named' if '127.0.0.1:1' in a.text() else 'NOT named'}",
                records_in=0, records_out=0, lost=0, duplicated=0,
                time=f"exit after {time.monotonic() - start:.1f} s (startup.timeout 5 s)")


def scenario_new_cluster(work):
    port = random.randint(20000, 40000)
    b = Broker(work, [("numbers", 1), ("tagged", 1)], port)
    app = os.path.join(work, "cluster.lua")
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="x"))
    a = App(work, app, b.bootstrap)
    produce(b.bootstrap, "numbers", [("k", "1")])
    wait_for("the first record out", 30, lambda: consume(b.bootstrap, "tagged"))
    b.stop(signal.SIGKILL)
    b = Broker(work, [("numbers", 1), ("tagged", 1)], port)
    start = time.monotonic()
    status = a.proc.wait(timeout=60)
    text = a.text()
    b.stop()
    return dict(scenario=f"broker replaced by another cluster: exit status {status}, "
                         f"{'said so' if 'not the one this app started on' in text else 'SILENT'}",
                records_in=1, records_out=1, lost=0, duplicated=0,
                time=f"exit {time.monotonic() - start:.1f} s after the new broker came up")


def scenario_retention(work):
    b = Broker(work, [("numbers", 1), ("tagged", 1)])
    app = os.path.join(work, "retention.lua")
    with open(app, "w") as f:
        f.write(TAG_APP.format(body="", label="x"))
    produce(b.bootstrap, "numbers", [("k", "1"), ("k", "2")])
    a = App(work, app, b.bootstrap)
    wait_for("two records out", 30, lambda: len(consume(b.bootstrap, "tagged")) >= 2)
    a.stop()
    total = 12002
    produce(b.bootstrap, "numbers", [(f"k{i}", f"{i}|" + "x" * 1000) for i in range(3, total + 1)])
    start = time.monotonic()
    a = App(work, app, b.bootstrap)
    text = wait_for("the gap report", 30, lambda: "were deleted before they were read" in a.text()
                    and a.text())
    reported = int(re.search(r"numbers \[0\]: (\d+) record\(s\) at offsets", text).group(1))
    out = wait_for("the rest out", 60, lambda: (lambda o: len(o) >= total - reported and o)(
        [m["payload"] for m in consume(b.bootstrap, "tagged")]), step=0.5)
    a.stop()
    b.stop()
    lost, dup = tally(out, total)
    return dict(scenario=f"records deleted by retention before they were read: {reported} "
                         f"reported, {lost} missing",
                records_in=total, records_out=len(out), lost=lost - reported, duplicated=dup,
                time=f"reported {time.monotonic() - start:.1f} s after restart")


SCENARIOS = [scenario_sigkill, scenario_reloads, scenario_stuck, scenario_wrong_bootstrap,
             scenario_new_cluster, scenario_retention]


def main():
    rows = []
    for fn in SCENARIOS:
        work = tempfile.mkdtemp(prefix="streamhost-chaos-")
        try:
            rows.append(fn(work))
        except Exception as e:  # a scenario that cannot finish is a row, not a crash
            rows.append(dict(scenario=f"{fn.__doc__.strip().splitlines()[0] if fn.__doc__ else fn.__name__}: "
                                      f"FAILED ({e}); logs in {work}",
                             records_in="?", records_out="?", lost="?", duplicated="?", time="-"))
        finally:
            # only streamhost's own processes of this scenario
            subprocess.run(["pkill", "-KILL", "-f", f"^{BIN} .*{work}"], check=False)
        print(rows[-1], flush=True)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = [f"# make chaos\n",
             f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} · commit {commit} · loopback, "
             f"embedded broker (`streamhost broker`)\n",
             "| scenario | records in | out | lost | duplicated | time to recover or exit |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['records_in']} | {r['records_out']} | {r['lost']} | "
                     f"{r['duplicated']} | {r['time']} |")
    table = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(ROOT, "chaos", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "chaos", "results", "latest.md"), "w") as f:
        f.write(table)
    print(table)
    bad = [r for r in rows if r["lost"] not in (0, "-")]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
