"""measure.py - runs one program under test and times it from outside.

Every program (c_passthrough, the Python peers, `streamhost run`) is timed the
same way: bench/build/watermark sums the output topic's end offsets and notes
when the first output appears and when the expected count is reached, so
start-up and group joins are excluded alike. Records/s are input records:
the output rate times input/expected output (the stateless filter halves it).
Peak RSS comes from the kernel's rusage of the reaped child (ru_maxrss), which
covers the whole run, also for `streamhost run`, which only stops when killed.
"""
import json
import os
import signal
import subprocess
import time


def _last_line(path):
    """The first error line of a log (a Lua traceback's head), else its last line."""
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip()]
    except OSError:
        return ""
    errors = [l for l in lines if " ERROR " in l or l.lower().startswith("error")]
    return errors[0] if errors else (lines[-1] if lines else "")


def _reap(pid, timeout):
    """Waits for pid up to timeout seconds; returns (status, rusage) or None."""
    deadline = time.monotonic() + timeout
    while True:
        got, status, rusage = os.wait4(pid, os.WNOHANG)
        if got == pid:
            return status, rusage
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def _stop(pid):
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        reaped = _reap(pid, wait)
        if reaped:
            return reaped
    return None, None


def run(args, *, bootstrap, output, expected, records, log_path, watermark,
        timeout_s, idle_ms=5000, env=None, cwd=None, exits=True, perf_out=None):
    """Runs args until `expected` records are in `output`. A program that
    never exits by itself (exits=False: `streamhost run`) is stopped as soon
    as the watcher is done, rather than waited for. With perf_out, `perf
    record -g` samples the program for the whole run (perf.data there).

    Returns {"rps", "peak_rss_mb", "complete", "count", "seconds"} or
    {"error": reason} when the program failed or wrote nothing."""
    watcher = subprocess.Popen(
        [watermark, bootstrap, output, str(expected), str(idle_ms), str(timeout_s)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    perf = None
    if perf_out:
        perf = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-o", perf_out, "-p", str(proc.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = rusage = exited_at = None
    while watcher.poll() is None:
        if exited_at is None:
            reaped = _reap(proc.pid, 0)
            if reaped:
                status, rusage = reaped
                exited_at = time.monotonic()
        # A program that exits has delivered all it will: the watcher only
        # needs a moment to see it, and none at all if the program failed.
        if exited_at is not None and (os.waitstatus_to_exitcode(status) != 0
                                      or time.monotonic() - exited_at > 2):
            watcher.kill()
            break
        time.sleep(0.05)
    out, _ = watcher.communicate()
    if perf is not None:
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=30)
    if rusage is None:
        # Programs that finish by themselves get a moment to exit cleanly.
        reaped = _reap(proc.pid, 10) if exits else None
        status, rusage = reaped if reaped else _stop(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else None
    try:
        seen = json.loads(out)
    except ValueError:
        seen = {"count": 0}
    if seen["count"] == 0:
        why = _last_line(log_path) or f"exit status {proc.returncode}"
        return {"error": f"no output ({why})", "log": log_path}
    if seen["count"] >= expected and seen.get("first_count", 0) > expected / 5:
        # Timing starts at the first output seen; if a fifth of it came at once
        # the run was too short for the program's buffering (QUICK, small N).
        return {"error": f"{seen['first_count']} of {expected} outputs appeared at once: too few "
                         "records to time this program", "log": log_path}
    return {
        "rps": seen["rps"] * records / expected,
        "output_rps": seen["rps"],
        "peak_rss_mb": rusage.ru_maxrss / 1024 if rusage else None,
        "complete": seen["complete"],
        "count": seen["count"],
        "seconds": (seen["last_ms"] - seen["first_ms"]) / 1e3,
        "log": log_path,
    }
