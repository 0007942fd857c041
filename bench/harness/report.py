"""report.py - writes bench/results/latest.json and latest.md from the figures
and states every target of issues 4 and 12 as met, missed or not measured.

In the JSON a figure is its median, with `<field>_min` and `<field>_max`
beside it; a figure that could not be taken is the string
"not measured: <reason>"."""
import json
import os

# issue 12: ratios against the C passthrough at its best in the same run
RATIO_TARGETS = {"passthrough": 0.75, "stateless": 0.60, "count": 0.50, "hopping": 0.30, "join": 0.40}
PYTHON_MULTIPLES = {"stateless": 3.0, "count": 5.0}
# engine-only: records/s per core (at least), instructions per record (at most)
ENGINE_TARGETS = {"stateless": (1_200_000, 6_500), "count": (800_000, 10_000),
                  "hopping": (300_000, 30_000), "join": (500_000, 15_000)}
# peak RSS of streamhost before issue 12 (results of commit 37350b1), not to be exceeded
PEAK_RSS_BEFORE_MB = {"passthrough": 89, "stateless": 76, "count": 184, "hopping": 415, "join": 163}
TOP_TARGETS = [  # field, comparison, bound, unit
    ("reload_pause_ms_p99", "<=", 20, "ms"),
    ("restore_rps", ">=", 1_000_000, "records/s"),
    ("latency_ms_p99", "<=", 10, "ms"),
    ("engine_avro_vs_json", ">=", 1.0, "× (engine-only stateless, Avro / JSON)"),
]
WORKLOAD_FIELDS = ["streamhost_rps", "c_passthrough_rps", "ratio", "python_rps", "python_multiple",
                   "engine_rps_per_core", "engine_instructions_per_record"]


def _median(figure):
    return figure["median"] if isinstance(figure, dict) else None


def _flatten(figures):
    out = {}
    for field in WORKLOAD_FIELDS:
        figure = figures.get(field)
        if isinstance(figure, dict):
            out[field] = figure["median"]
            out[field + "_min"] = figure["min"]
            out[field + "_max"] = figure["max"]
            out[field + "_runs"] = figure["runs"]
        elif figure is not None:
            out[field] = figure
    out["peak_rss_mb"] = {p: round(s["median"], 1) for p, s in figures.get("peak_rss_mb", {}).items()}
    return out


def _verdict(value, op, bound):
    if value is None or isinstance(value, str):
        return None
    return value >= bound if op == ">=" else value <= bound


def targets(workloads, top):
    rows = []
    for name, bound in RATIO_TARGETS.items():
        value = _median(workloads.get(name, {}).get("ratio"))
        rows.append({"target": f"{name}: streamhost / c_passthrough >= {bound:.2f}", "value": value,
                     "met": _verdict(value, ">=", bound)})
    for name, bound in PYTHON_MULTIPLES.items():
        value = _median(workloads.get(name, {}).get("python_multiple"))
        rows.append({"target": f"{name}: streamhost / python >= {bound:.0f}", "value": value,
                     "met": _verdict(value, ">=", bound)})
    for name, (rps, ipr) in ENGINE_TARGETS.items():
        value = _median(workloads.get(name, {}).get("engine_rps_per_core"))
        rows.append({"target": f"engine-only {name} >= {rps:,} records/s per core", "value": value,
                     "met": _verdict(value, ">=", rps)})
        value = workloads.get(name, {}).get("engine_instructions_per_record")
        rows.append({"target": f"engine-only {name} <= {ipr:,} instructions per record", "value": value,
                     "met": _verdict(value, "<=", ipr)})
    for name, bound in PEAK_RSS_BEFORE_MB.items():
        value = _median(workloads.get(name, {}).get("peak_rss_mb", {}).get("streamhost"))
        rows.append({"target": f"{name}: streamhost peak RSS <= {bound} MB (before issue 12)", "value": value,
                     "met": _verdict(value, "<=", bound)})
    for field, op, bound, unit in TOP_TARGETS:
        value = top.get(field)
        rows.append({"target": f"{field} {op} {bound:,} {unit}", "value": value,
                     "met": _verdict(value, op, bound)})
    return rows


def _fmt(value, digits=0):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:,.{digits}f}"


def _cell(figure, digits=0):
    if isinstance(figure, dict):
        return f"{_fmt(figure['median'], digits)} ({_fmt(figure['min'], digits)}–{_fmt(figure['max'], digits)})"
    return _fmt(figure, digits)


def write(results_dir, meta, workloads, top, notes):
    os.makedirs(results_dir, exist_ok=True)
    rows = targets(workloads, top)
    doc = dict(meta)
    doc["workloads"] = {name: _flatten(figures) for name, figures in workloads.items()}
    doc.update(top)
    doc["targets"] = rows
    doc["notes"] = notes
    with open(os.path.join(results_dir, "latest.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    v = meta["versions"]
    md = [
        "# streamhost benchmark results",
        "",
        f"{meta['date']} · {meta['cpu']}, {meta['cores']} cores · librdkafka {v['librdkafka']}, "
        f"LuaJIT {v['luajit']}, RocksDB {v['rocksdb']}, streamhost {v['streamhost']} · "
        f"commit {meta.get('commit', '?')} · {meta['records']:,} records of {meta['value_bytes']} bytes per run, {meta['runs']} runs"
        f"{' (QUICK: a smoke test, not a measurement)' if meta['quick'] else ''}",
        "",
        "Records/s are input records per second, median (min–max) of the runs (engine-only: of five",
        "rounds). Ratios divide each",
        "streamhost run by the C passthrough's best run on the same broker, and are what the targets judge.",
        "",
        "| workload | streamhost rec/s | c_passthrough rec/s | ratio | python rec/s | × python "
        "| engine rec/s/core | engine instr/record | peak RSS MB (sh / c / py) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in workloads.items():
        rss = f.get("peak_rss_mb", {})
        rss_cell = " / ".join(_fmt(_median(rss.get(p)), 0) for p in ("streamhost", "c_passthrough", "python"))
        md.append(f"| {name} | {_cell(f.get('streamhost_rps'))} | {_cell(f.get('c_passthrough_rps'))} "
                  f"| {_cell(f.get('ratio'), 2)} | {_cell(f.get('python_rps'))} "
                  f"| {_cell(f.get('python_multiple'), 1)} | {_cell(f.get('engine_rps_per_core'))} "
                  f"| {_cell(f.get('engine_instructions_per_record'))} | {rss_cell} |")
    md += ["", "| measure | value |", "|---|---|"]
    for field in ("reload_pause_ms_p50", "reload_pause_ms_p99", "restore_rps", "latency_ms_p50",
                  "latency_ms_p99", "engine_instructions_per_record", "engine_avro_vs_json"):
        md.append(f"| {field} | {_fmt(top.get(field), 2 if 'ms' in field or 'vs' in field else 0)} |")
    md += ["", "## Targets", "", "| target | value | verdict |", "|---|---|---|"]
    for row in rows:
        verdict = {True: "met", False: "**MISSED**", None: "not measured"}[row["met"]]
        md.append(f"| {row['target']} | {_fmt(row['value'], 2)} | {verdict} |")
    if notes:
        md += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    if any(row["met"] is False for row in rows):
        md += ["", "## Where the time goes", "",
               "Targets are missed above; the heads of the profiles written by this run follow "
               "(the whole files are beside this one)."] + profiles(results_dir)
    with open(os.path.join(results_dir, "latest.md"), "w") as f:
        f.write("\n".join(md) + "\n")


def profiles(results_dir, lines=25):
    """The first lines of every profile-*.txt in results_dir, as markdown."""
    out = []
    for name in sorted(os.listdir(results_dir)):
        if not (name.startswith("profile-") and name.endswith(".txt")):
            continue
        with open(os.path.join(results_dir, name), errors="replace") as f:
            text = [l.rstrip()[:160] for l in f]
        if "callgrind" in (text[0] if text else "") and "## self cost" in text:
            text = text[:text.index("## self cost")]  # the inclusive view: which C calls cost what
        elif "callgrind" in (text[0] if text else ""):
            # callgrind_annotate's header is boilerplate: keep the totals and the functions
            keep = [i for i, l in enumerate(text) if "PROGRAM TOTALS" in l]
            text = text[:2] + (text[keep[0]:] if keep else text[2:])
            text = [l for l in text if l and not set(l) <= set("-")]
        out += ["", f"### {name}", "", "```"] + text[:lines] + ["```"]
    return out
