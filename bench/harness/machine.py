"""machine.py - what the figures were measured on: CPU model, cores, and the
versions of the libraries whose speed they reflect."""
import datetime
import os
import re
import subprocess


def _run(args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return ""


def describe(streamhost):
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    version = _run([streamhost, "version"])
    librdkafka = re.search(r"librdkafka (\S+)", version)
    luajit = re.search(r"LuaJIT (\S+)", version)
    rocksdb = _run(["dpkg-query", "-W", "-f=${Version}", "librocksdb-dev"]).strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "versions": {
            "streamhost": (re.search(r"streamhost (\S+)", version) or [None, None])[1],
            "librdkafka": librdkafka[1] if librdkafka else _run(["pkg-config", "--modversion", "rdkafka"]).strip(),
            "luajit": luajit[1] if luajit else _run(["pkg-config", "--modversion", "luajit"]).strip(),
            "rocksdb": rocksdb or None,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
