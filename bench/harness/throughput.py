"""throughput.py - one workload end to end: a fresh broker, the input loaded
once, then rounds of c_passthrough, `streamhost run` and the Python peer, each
with its own consumer group and output topic. Programs alternate within a
round so that a noisy moment on a shared machine hits all of them alike, and
the ratio is taken between runs of the same round."""
import json
import os
import re
import subprocess
import urllib.request

from . import measure, stats, supply_demand
from .broker import Broker
from .workloads import PARTITIONS

NOT_MEASURED = "not measured: "


def _load(cfg, bootstrap, topic, count, *extra):
    subprocess.run([cfg.tool("loader"), bootstrap, topic, str(count), *extra], check=True,
                   stderr=subprocess.DEVNULL)


def _topics(workload, runs):
    topics = [("input", PARTITIONS)]
    if workload.get("table"):
        topics.append(("table", PARTITIONS))
    for r in range(runs):
        for program in ("c", "sh", "py"):
            topics.append((f"out-{program}-{r}", PARTITIONS))
        # `streamhost broker` has no CreateTopics: the internal topics must
        # exist, co-partitioned with the input, before the app starts.
        for store in workload["stores"]:
            for suffix in ("changelog", "repartition"):
                topics.append((f"bench-{workload['name']}-{r}-{store}-{suffix}", PARTITIONS))
    return topics


AVRO_SCHEMA = {"type": "record", "name": "BenchRecord", "fields": [
    {"name": "id", "type": "string"}, {"name": "n", "type": "long"},
    {"name": "t", "type": "long"}, {"name": "pad", "type": "string"}]}  # as bench/record.h


def _register(registry, subject, schema):
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    req = urllib.request.Request(f"{registry}/subjects/{subject}/versions", data=body,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["id"]


def _streamhost(cfg, workload, bootstrap, r, expected, perf_out=None, registry=None):
    app_id = f"bench-{workload['name']}-{r}"
    run_dir = cfg.run_dir(app_id)
    env = dict(os.environ, BENCH_APP_ID=app_id, BENCH_INPUT="input",
               BENCH_OUTPUT=f"out-sh-{r}", BENCH_TABLE="table", BENCH_REGISTRY=registry or "")
    app = os.path.join(cfg.bench_dir, "apps", workload["app"])
    return measure.run([cfg.streamhost, "run", app, "--bootstrap", bootstrap, "--http", "off",
                        "--state-dir", os.path.join(run_dir, "state")], env=env, cwd=run_dir, exits=False,
                       bootstrap=bootstrap, output=f"out-sh-{r}", expected=expected,
                       records=cfg.records, log_path=os.path.join(run_dir, "streamhost.log"),
                       watermark=cfg.tool("watermark"), timeout_s=cfg.timeout_s, perf_out=perf_out)


def perf_report(perf_data, out_path, title):
    """perf report of a streamhost run into out_path (where the time goes)."""
    if not os.path.exists(perf_data):
        return
    report = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--no-children", "--sort",
                             "dso,symbol", "-g", "none", "--percent-limit", "0.5"],
                            capture_output=True, text=True)
    by_dso = subprocess.run(["perf", "report", "-i", perf_data, "--stdio", "--no-children", "--sort", "dso",
                             "-g", "none", "--percent-limit", "1"], capture_output=True, text=True)

    def tidy(text):
        return [re.sub(r"\s+-\s+-\s*$", "", re.sub(r" {3,}", "  ", l)).rstrip()
                for l in text.splitlines() if l.strip() and not l.startswith("#")]
    lines = ["## self time by library"] + tidy(by_dso.stdout) + ["", "## by symbol"] + tidy(report.stdout)
    with open(out_path, "w") as f:
        f.write(f"# perf record -g of `streamhost run` end to end, {title}\n")
        f.write("# self time by library and symbol; JIT-compiled Lua shows as [JIT] or unknown addresses\n\n")
        f.write("\n".join(lines[:90]) + "\n")


def _accept_unjoined(result, records, expected):
    """A join whose output stopped short: the stream records that came before
    their key's table record found nothing to join (streamhost does not order
    its sources by timestamp). The run still times the engine: its input rate
    is the output rate over the fraction of records that joined."""
    if "error" in result or result["complete"] or result["count"] < expected / 2:
        return result
    result = dict(result, complete=True, unjoined=expected - result["count"])
    result["rps"] = result["output_rps"] * records / result["count"]
    return result


def _c_passthrough(cfg, workload, bootstrap, r):
    log = os.path.join(cfg.run_dir(f"c-{workload['name']}-{r}"), "c_passthrough.log")
    return measure.run([cfg.tool("c_passthrough"), bootstrap, "input", f"out-c-{r}", str(cfg.records),
                        f"c-passthrough-{r}"],
                       bootstrap=bootstrap, output=f"out-c-{r}", expected=cfg.records,
                       records=cfg.records, log_path=log, watermark=cfg.tool("watermark"),
                       timeout_s=cfg.timeout_s)


def _python(cfg, workload, bootstrap, r, expected):
    log = os.path.join(cfg.run_dir(f"py-{workload['name']}-{r}"), "python.log")
    script = os.path.join(cfg.bench_dir, workload["python"])
    return measure.run([cfg.python, script, bootstrap, "input", f"out-py-{r}", str(cfg.records),
                        f"python-{r}"],
                       bootstrap=bootstrap, output=f"out-py-{r}", expected=expected,
                       records=cfg.records, log_path=log, watermark=cfg.tool("watermark"),
                       timeout_s=cfg.timeout_s)


def _figure(runs, key):
    """Median/min/max of a measured key, or the reason it was not measured."""
    errors = [r["error"] for r in runs if "error" in r]
    good = [r[key] for r in runs if "error" not in r and r.get("complete")]
    short = [r for r in runs if "error" not in r and not r.get("complete")]
    if good and (len(good) == len(runs) or len(good) >= 2):
        # a run that failed for the broker's sake (it has died once mid-run)
        # leaves the others standing; the failure is in the notes
        return stats.summary(good)
    if errors:
        return NOT_MEASURED + errors[0]
    if short:
        s = short[0]
        return NOT_MEASURED + f"output stopped at {s['count']} records, expected more (see {s['log']})"
    return NOT_MEASURED + "not run"


# the workloads whose last round runs under perf (profile-<name>-e2e.txt)
PROFILED = ("passthrough", "stateless", "count", "hopping", "join")


def bench(cfg, workload):
    name = workload["name"]
    if workload.get("custom") == "supply_demand":
        return supply_demand.bench(cfg)
    expected = workload["expected"](cfg.records)
    results = {"c": [], "sh": [], "py": []}
    with Broker(cfg.streamhost, _topics(workload, cfg.runs), cfg.log_path(f"broker-{name}.log"),
                registry=workload.get("avro", False)) as broker:
        bs = broker.bootstrap
        if workload.get("table"):
            _load(cfg, bs, "table", 10000, "table")
        if workload.get("avro"):
            _load(cfg, bs, "input", cfg.records, f"avro={_register(broker.registry, 'input-value', AVRO_SCHEMA)}")
        else:
            _load(cfg, bs, "input", cfg.records)
        for r in range(cfg.runs):
            cfg.say(f"{name}: round {r + 1}/{cfg.runs}")
            if not any("error" in x for x in results["sh"]):  # a rejected app stays rejected
                # the last round runs under perf (499 samples/s), so that
                # every missed target has its profile
                profile = not cfg.quick and r == cfg.runs - 1 and name in PROFILED
                perf_data = os.path.join(cfg.run_dir(f"bench-{name}-{r}"), "perf.data") if profile else None
                result = _streamhost(cfg, workload, bs, r, expected, perf_data, broker.registry)
                if perf_data:
                    perf_report(perf_data, os.path.join(cfg.bench_dir, "results", f"profile-{name}-e2e.txt"),
                                f"workload {name}, round {r + 1} ({cfg.records:,} records)")
                if workload.get("table"):
                    result = _accept_unjoined(result, cfg.records, expected)
                results["sh"].append(result)
                cfg.say(f"  streamhost: {_brief(results['sh'][-1])}")
            if cfg.quick and any("error" in x for x in results["sh"]):
                break  # a smoke test has nothing to compare without streamhost
            results["c"].append(_c_passthrough(cfg, workload, bs, r))
            cfg.say(f"  c_passthrough: {_brief(results['c'][-1])}")
            if workload["python"]:
                results["py"].append(_python(cfg, workload, bs, r, expected))
                cfg.say(f"  python: {_brief(results['py'][-1])}")
    out = {
        "streamhost_rps": _figure(results["sh"], "rps"),
        "c_passthrough_rps": _figure(results["c"], "rps"),
        "python_rps": _figure(results["py"], "rps") if workload["python"] else None,
        "peak_rss_mb": {},
    }
    for program, label in (("sh", "streamhost"), ("c", "c_passthrough"), ("py", "python")):
        rss = [r["peak_rss_mb"] for r in results[program] if "error" not in r]
        if rss:
            out["peak_rss_mb"][label] = stats.summary(rss)
    failed = [f"{label} round {i + 1}: {r['error']}" for label, program in (("streamhost", "sh"), ("c_passthrough", "c"))
              for i, r in enumerate(results[program]) if "error" in r]
    if failed and isinstance(out["streamhost_rps"], dict) and isinstance(out["c_passthrough_rps"], dict):
        out["note"] = f"{name}: figures from the runs that completed; failed: " + "; ".join(failed)
    if isinstance(out["streamhost_rps"], dict) and isinstance(out["c_passthrough_rps"], dict):
        # against the baseline at its best: the broker's own swings must not flatter a ratio
        best_c = out["c_passthrough_rps"]["max"]
        out["ratio"] = stats.summary([s["rps"] / best_c for s in results["sh"]
                                      if "error" not in s and s.get("complete")])
    else:
        reason = out["streamhost_rps"] if isinstance(out["streamhost_rps"], str) else out["c_passthrough_rps"]
        out["ratio"] = reason
    unjoined = [r["unjoined"] for r in results["sh"] if "unjoined" in r]
    if unjoined:
        out["note"] = (out["note"] + ". " if "note" in out else "") + (f"{name}: {max(unjoined):,} of {expected:,} stream records (at most, per run) found no "
                       "table record: streamhost reads the table and the stream side by side without ordering "
                       "them by timestamp, so early stream records overtake the table's (which is stamped "
                       "30 days earlier); input records/s are taken from the joined outputs")
    if isinstance(out["python_rps"], dict) and isinstance(out["streamhost_rps"], dict):
        # only the rounds where both were timed (a Python run can be too short to time)
        out["python_multiple"] = stats.summary(
            [s["rps"] / p["rps"] for s, p in zip(results["sh"], results["py"]) if "rps" in s and "rps" in p])
    return out


def _brief(result):
    if "error" in result:
        return result["error"]
    done = "" if result["complete"] else f" (incomplete: {result['count']} records)"
    return f"{result['rps']:,.0f} records/s, peak RSS {result['peak_rss_mb']:.0f} MB{done}"
