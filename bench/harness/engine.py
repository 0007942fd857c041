"""engine.py - the engine-only measures: bench/engine.lua under LuaJIT for
records/s per core (median of runs), and under callgrind for instructions
per record, which stays put on a noisy shared machine.

Instructions per record are counted by callgrind over records only: it
starts counting at a record of the run (bench/cgtoggle.c), so that loading
LuaJIT, the app and the record pool is left out."""
import json
import os
import re
import subprocess

from . import stats

NOT_MEASURED = "not measured: "


def _env(cfg):
    lua = os.path.join(cfg.root, "lua")
    return dict(os.environ, LUA_PATH=f"{lua}/?.lua;{lua}/?/init.lua;;",
                STREAMHOST_LIB=os.path.join(cfg.root, "lib", "libstreamhost.so"))


def _engine(cfg, workload, records, prefix=(), env=None):
    args = [*prefix, "luajit", os.path.join(cfg.bench_dir, "engine.lua"), workload, str(records)]
    proc = subprocess.run(args, capture_output=True, text=True, env={**_env(cfg), **(env or {})}, timeout=600)
    if proc.returncode != 0:
        lines = [l for l in (proc.stderr or proc.stdout).splitlines() if l.strip()]
        first = next((l for l in lines if "valgrind" not in l and not l.startswith("==")), "")
        raise RuntimeError(first.replace("luajit: ", "") or f"exit status {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc


def rps_per_core(cfg, workloads):
    """Records/s per core of each workload, {name: summary or reason}. The
    runs take turns (a round runs every workload once), so a change in the
    machine's load between rounds falls on all of them alike and ratios
    between workloads are side by side."""
    runs = {w: [] for w in workloads}
    failed = {}
    for _ in range(cfg.engine_runs):
        for w in workloads:
            if w in failed:
                continue
            try:
                runs[w].append(_engine(cfg, w, cfg.engine_records)[0]["rps_per_core"])
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                failed[w] = NOT_MEASURED + str(e)
    return {w: failed.get(w) or stats.summary(runs[w]) for w in workloads}


def _callgrind_total(cfg, workload, count_from, records, out_file):
    """Instructions callgrind counts from record count_from to the end."""
    _, proc = _engine(cfg, workload, records,
                      ("valgrind", "--tool=callgrind", "--collect-atstart=no", f"--callgrind-out-file={out_file}"),
                      env={"BENCH_COUNT_FROM": str(count_from)})
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if not match:
        raise RuntimeError("callgrind printed no total")
    return int(match[1])


def instructions_per_record(cfg, workload, profile_path):
    """Instructions per record, and the annotated profile of the longer run
    written to profile_path (where the time goes, for missed targets)."""
    # the same records for every workload: bench/engine.lua flushes the
    # stores every 100,000 records, and the records counted must hold one
    # flush (a quarter of them, once used for hopping, held none and left
    # the flush's RocksDB writes out of its figure)
    first, last = cfg.callgrind_records
    work = cfg.run_dir(f"callgrind-{workload}")
    out = os.path.join(work, "records.out")
    try:
        total = _callgrind_total(cfg, workload, first, last, out)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
        return NOT_MEASURED + str(e)
    write_profile(out, profile_path, workload, first, last)
    return total / (last - first)


def write_profile(callgrind_out, profile_path, workload, first, last):
    """The flat (self) profile, then the inclusive cost of the C entry points
    Lua calls and of the libraries behind them: the flat view splits RocksDB
    and cjson into hundreds of small functions."""
    flat = subprocess.run(["callgrind_annotate", "--inclusive=no", callgrind_out],
                          capture_output=True, text=True).stdout.splitlines()
    inclusive = subprocess.run(["callgrind_annotate", "--inclusive=yes", callgrind_out],
                               capture_output=True, text=True).stdout.splitlines()
    wanted = re.compile(r"(:sh_ffi_\w+ \[|rocksdb::DBImpl::(Put|Get|Write|WriteToWAL)\(|"
                        r"rocksdb::MemTable::(Add|Get)\(|fpconv_|cjson|lua_pcall \[)")
    picked = [l for l in inclusive if wanted.search(l) and not l.lstrip().startswith("???:sh_ffi")][:25]
    with open(profile_path, "w") as f:
        f.write(f"# callgrind, engine-only {workload}, records {first:,} to {last:,} of one run "
                f"(bench/engine.lua; set-up not counted)\n")
        f.write("# JIT-compiled Lua shows as ???: its cost is the part not attributed to C\n\n")
        f.write("## inclusive cost of the C calls (their callees included)\n")
        f.write("\n".join(l[:200] for l in picked) + "\n\n## self cost\n")
        f.write("\n".join(flat[:60]) + "\n")
