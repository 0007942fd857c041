"""supply_demand.py - workload 6: examples/supply_demand/pipeline.lua at volume
on rows from examples/supply_demand/generate.lua.

Every topic has one partition, as in the workshop. The embedded broker keeps
about 5 MiB per partition and drops a partition's oldest records beyond
that, which caps the volume by the widest intermediate topic, not the
inputs: supply_demand-product_demand_last_3mins-repartition carries every
enriched sale (~430 bytes), and the app reads it behind its writes, so at
6,000 orders the broker dropped its first ~500-800 records before the app
read them (`Offset out of range` in streamhost.log). 4,000 orders (12,832
input records) fit. A run whose log shows such a reset is reported "not
measured": the app would have done less work than the rows ask.

All the app's internal topics are created up front with one partition, as
`streamhost describe` names them (internal_topics), like the other
workloads' topics (broker.py).

Keys are 4-byte big-endian ints (the `int` serde, Kafka's IntegerSerializer).
Rows are produced with their event time as the record timestamp (an order's
order_date, its details' the same), the dimension tables a day earlier and
first, as the workshop's CDC would. Each round has its own broker, since the
app's id and topics are fixed. Timed like the other workloads, by the end
offsets of dc01_sales_enriched (one record per sales detail, which
generate.lua's summary.json counts); records/s are input records, all seven
topics. c_passthrough copies dc01_sales_order_details in the same round as
a reference for the broker's speed; at ~1M records/s it copies the ~8,000
records one partition holds here within the watcher's first polls, which
measure.py reports as too few to time (no target depends on it)."""
import json
import os
import re
import struct
import subprocess

from confluent_kafka import Producer

from . import measure, stats

NOT_MEASURED = "not measured: "
INPUTS = ["dc01_customers", "dc01_products", "dc01_suppliers", "dc01_purchase_orders",
          "dc01_purchase_order_details", "dc01_sales_orders", "dc01_sales_order_details"]
OUTPUTS = ["dc01_sales_enriched", "dc01_purchases_enriched", "dc01_product_supply_and_demand",
           "dc01_current_stock", "dc01_product_demand_last_3mins", "dc01_out_of_stock_events"]
APP_ID = "supply_demand"
DAY_MS = 24 * 3600 * 1000
ORDERS = 4_000  # the most that fits the embedded broker's partitions (see above)


def internal_topics(streamhost, app):
    """The app's repartition and changelog topics, from `streamhost describe`.

    The embedded broker cannot create them with one partition on request of
    `streamhost run` (it has no CreateTopics; a producer's metadata request
    auto-creates a topic with 4 partitions), so the harness makes them. A
    list kept by hand missed the four named by the stream-table joins
    (sales_by_customer, ...): they came up with 4 partitions, the records
    re-keyed into partitions 1-3 found no table partition to join, and only
    about 1 in 16 sales came out (645 of 12,108)."""
    text = subprocess.run([streamhost, "describe", app], check=True, capture_output=True,
                          text=True).stdout
    prefix = re.escape(APP_ID + "-")
    topics = set(re.findall(r"\b(" + prefix + r"[\w.-]+-repartition)\b", text))
    for stores in re.findall(r"stores: \[([^\]]*)\]", text):
        topics.update(f"{APP_ID}-{s.strip()}-changelog" for s in stores.split(",") if s.strip())
    if not any(t.endswith("-repartition") for t in topics) or not any(t.endswith("-changelog") for t in topics):
        raise RuntimeError(f"`streamhost describe {app}` named no repartition or changelog topics")
    return sorted(topics)


def _generate(cfg, orders):
    out = cfg.run_dir("supply_demand-rows")
    subprocess.run(["luajit", os.path.join(cfg.root, "examples", "supply_demand", "generate.lua"),
                    "--orders", str(orders), "--out", out], check=True)
    with open(os.path.join(out, "summary.json")) as f:
        return out, json.load(f)


def _load(bootstrap, rows_dir):
    """Produces every topic's rows with event-time timestamps; returns the count."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.num.messages": 10000,
                         "queue.buffering.max.messages": 1000000})
    dates = {}
    total = 0
    for topic in INPUTS:
        with open(os.path.join(rows_dir, topic + ".txt")) as f:
            rows = [line.rstrip("\n").split("|", 1) for line in f]
        if topic in ("dc01_purchase_orders", "dc01_sales_orders"):
            dates[topic] = {key: json.loads(value)["order_date"] for key, value in rows}
    first = min(ts for by_key in dates.values() for ts in by_key.values())
    for topic in INPUTS:
        with open(os.path.join(rows_dir, topic + ".txt")) as f:
            rows = [line.rstrip("\n").split("|", 1) for line in f]
        for key, value in rows:
            if topic.endswith("_details"):
                row = json.loads(value)
                parent = "sales_order_id" if "sales_order_id" in row else "purchase_order_id"
                orders = dates["dc01_sales_orders" if parent == "sales_order_id" else "dc01_purchase_orders"]
                ts = orders[str(row[parent])]
            elif topic in dates:
                ts = dates[topic][key]
            else:
                ts = first - DAY_MS
            while True:
                try:
                    producer.produce(topic, key=struct.pack(">i", int(key)), value=value, timestamp=ts)
                    break
                except BufferError:
                    producer.poll(0.1)
            total += 1
        producer.poll(0)
    if producer.flush(60) != 0:
        raise RuntimeError("the broker did not take every supply_demand row within 60 s")
    return total


def bench(cfg):
    from .broker import Broker

    orders = 2_000 if cfg.quick else ORDERS
    rows_dir, summary = _generate(cfg, orders)
    expected = summary["sales_enriched"]
    sh_runs, c_runs, inputs = [], [], 0
    app = os.path.join(cfg.root, "examples", "supply_demand", "pipeline.lua")
    internal = internal_topics(cfg.streamhost, app)
    for r in range(cfg.runs):
        topics = [(t, 1) for t in INPUTS + OUTPUTS + ["out-c"] + internal]
        with Broker(cfg.streamhost, topics, cfg.log_path(f"broker-supply_demand-{r}.log")) as broker:
            bs = broker.bootstrap
            inputs = _load(bs, rows_dir)
            cfg.say(f"supply_demand: round {r + 1}/{cfg.runs} ({inputs:,} input records, "
                    f"{expected:,} sales_enriched expected)")
            run_dir = cfg.run_dir(f"bench-supply_demand-{r}")
            result = measure.run([cfg.streamhost, "run", app, "--bootstrap", bs, "--http", "off",
                                  "--state-dir", os.path.join(run_dir, "state")], cwd=run_dir, exits=False,
                                 bootstrap=bs, output="dc01_sales_enriched", expected=expected, records=inputs,
                                 log_path=os.path.join(run_dir, "streamhost.log"),
                                 watermark=cfg.tool("watermark"), timeout_s=cfg.timeout_s)
            dropped = _dropped(result.get("log"))
            if dropped and "error" not in result:
                result = {"error": f"the embedded broker dropped records of {', '.join(dropped)} before the app "
                                   "read them (its ~5 MiB per partition): fewer orders fit", "log": result["log"]}
            sh_runs.append(result)
            cfg.say(f"  streamhost: {_brief(result)}")
            details = summary["dc01_sales_order_details"]
            log = os.path.join(cfg.run_dir(f"c-supply_demand-{r}"), "c_passthrough.log")
            c = measure.run([cfg.tool("c_passthrough"), bs, "dc01_sales_order_details", "out-c", str(details),
                             f"c-passthrough-{r}"], bootstrap=bs, output="out-c", expected=details,
                            records=details, log_path=log, watermark=cfg.tool("watermark"),
                            timeout_s=cfg.timeout_s)
            if "appeared at once" in c.get("error", ""):
                c["error"] = (f"{c['error']}: the C passthrough copies the {details:,} order details of the one "
                              "partition the pipeline's volume allows (the embedded broker's ~5 MiB) within the "
                              "watcher's first polls")
            c_runs.append(c)
            cfg.say(f"  c_passthrough: {_brief(c)}")
    out = {"streamhost_rps": _figure(sh_runs), "c_passthrough_rps": _figure(c_runs), "python_rps": None,
           "peak_rss_mb": {}}
    for runs, label in ((sh_runs, "streamhost"), (c_runs, "c_passthrough")):
        rss = [x["peak_rss_mb"] for x in runs if "error" not in x]
        if rss:
            out["peak_rss_mb"][label] = stats.summary(rss)
    if isinstance(out["streamhost_rps"], dict) and isinstance(out["c_passthrough_rps"], dict):
        out["ratio"] = stats.summary([s["rps"] / c["rps"] for s, c in zip(sh_runs, c_runs)])
    else:
        out["ratio"] = out["streamhost_rps"] if isinstance(out["streamhost_rps"], str) else out["c_passthrough_rps"]
    out["note"] = (f"supply_demand: examples/supply_demand/pipeline.lua on generate.lua --orders {orders:,}: "
                   f"{inputs:,} input records on 7 one-partition topics, as in the workshop (the embedded "
                   "broker's ~5 MiB per partition caps the orders: one repartition topic carries every "
                   f"enriched sale), timed until the {expected:,} dc01_sales_enriched records are out, which "
                   "takes a fraction of a second; c_passthrough copies dc01_sales_order_details as the "
                   "broker's reference (no target)")
    short = [x for x in sh_runs if "error" not in x and not x["complete"]]
    if short:
        out["note"] += (f". **Output short** in {len(short)} of {len(sh_runs)} rounds: {short[0]['count']:,} of "
                        f"{expected:,} dc01_sales_enriched records (see {short[0]['log']})")
    return out


def _dropped(log_path):
    """Topics whose records the broker dropped before the app read them: the
    consumer's offset reset on `Offset out of range` (librdkafka's log line
    names the topic before ` [partition]: offset reset`)."""
    try:
        with open(log_path, errors="replace") as f:
            lines = [line for line in f if "Offset out of range" in line]
    except (OSError, TypeError):
        return []
    return sorted({m.group(1) for m in (re.search(r"(\S+) \[\d+\]: offset reset", line) for line in lines) if m})


def _figure(runs):
    errors = [r["error"] for r in runs if "error" in r]
    if errors:
        return NOT_MEASURED + errors[0]
    short = [r for r in runs if not r["complete"]]
    if short:
        return NOT_MEASURED + (f"output stopped at {short[0]['count']:,} records, expected more "
                               f"(see {short[0]['log']})")
    return stats.summary([r["rps"] for r in runs])


def _brief(result):
    if "error" in result:
        return result["error"]
    done = "" if result["complete"] else f" (incomplete: {result['count']} records)"
    return f"{result['rps']:,.0f} records/s, peak RSS {result['peak_rss_mb']:.0f} MB{done}"
