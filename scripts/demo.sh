#!/usr/bin/env bash
# make demo: the workshop's supply-and-demand loop (shared/reference/
# workshop-bridge-to-cloud.txt) on the embedded defaults, one command:
#
#   MariaDB (scripts/mariadb.sh, a private server under .run/demo/mariadb)
#     -> orders      examples/supply_demand/orders.lua: the schema, a sales order
#                    every DEMO_ORDERS_INTERVAL, a purchase order per out-of-stock event
#     -> connect     `streamhost connect`, the on-prem Connect worker, given the
#                    workshop's own POSTs (hosts and ports changed):
#        mysql-source-connector  Debezium's MySqlConnector with the workshop's four
#                    SMTs, into dc01_<table> (as examples/mysql_cdc/app.lua) (on-prem)
#     -> replicator-dc01-to-ccloud  the workshop's ReplicatorSourceConnector POST:
#                    dc[0-9][0-9]_.* but dc01_out_of_stock_events, on-prem -> cloud
#     -> pipeline    examples/supply_demand/pipeline.lua: stock, demand, out-of-stock
#                    events                                           (cloud cluster)
#     -> replicator-ccloud-to-dc01  the POST back: dc01_out_of_stock_events,
#                    cloud -> on-prem
#     -> jdbc-mysql-sink  the JdbcSinkConnector POST (as examples/supply_demand/
#                    sink.lua, plus auto.evolve so that a field a hot reload adds
#                    to the events becomes a column): the events into MySQL, where
#                    the orders app raises purchase orders.
#
# Two embedded clusters, "on-prem" (ONPREM_BOOTSTRAP, with the registry) and
# "cloud" (CLOUD_BOOTSTRAP); the Connect worker is on-prem and runs all four
# connectors (the workshop's replicator to the cloud ran on a cloud worker;
# Replicator names both clusters itself, so one worker does).
#
# The records' format is one setting, DEMO_FORMAT: avro (the default, as the
# workshop: AvroConverter with the on-prem registry in the CDC's and the
# sink's POSTs, VALUE_FORMAT=avro for the pipeline) or json (Connect's
# schemaless JSON). The replicators copy bytes either way; one registry
# serves both clusters, so schema ids stay valid.

# Everything lives in .run/demo/ (logs, state, MariaDB; the connectors' logs
# in .run/demo/connect/) and .run/demo.env
# (every part's address as shell assignments). Ctrl-C (or DEMO_SECONDS=N)
# stops the parts in order, the newest first (pipeline, the Connect worker
# with its connectors newest first: sink, replicators, CDC; orders),
# then the brokers, then MariaDB, each waited for before the next.
#
# Environment: DEMO_SECONDS=N stop after N seconds (unattended);
# DEMO_ORDERS_INTERVAL time between sales orders (default 100ms);
# DEMO_ORDERS_LIMIT stop placing sales orders after that many (the loop then
# settles; default none); DEMO_REFRESH seconds between two views (default 2);
# DEMO_PIPELINE another pipeline file (a spec's copy to edit); DEMO_FORMAT
# the records' format (json, the default, or avro: see above);
# DEMO_DIR another directory under .run/ (default .run/demo; the addresses
# go to DEMO_DIR.env), so a spec does not disturb a demo someone is watching.
set -euo pipefail
cd "$(dirname "$0")/.."
# The body is one function, read whole before it runs: editing this file
# while a demo runs cannot change what the running one does.
main() {

root=$PWD
run=$root/${DEMO_DIR:-.run/demo}
run=${run%/}
case "$run" in "$root"/.run/?*) ;; *) echo "demo: DEMO_DIR must be under .run/" >&2; exit 2 ;; esac
envfile=$run.env
interval=${DEMO_ORDERS_INTERVAL:-100ms}
refresh=${DEMO_REFRESH:-2}
format=${DEMO_FORMAT:-avro}
if [ "$format" != json ] && [ "$format" != avro ]; then
  echo "demo: DEMO_FORMAT is avro or json, not '$format'" >&2; exit 2
fi

mkdir -p "$root/.run"
# A previous demo killed hard may have left its MariaDB running: stop it first.
if [ -d "$run/mariadb" ]; then MARIADB_DIR=$run/mariadb scripts/mariadb.sh stop >/dev/null 2>&1 || true; fi
rm -rf "$run" "$envfile"
mkdir -p "$run/state"

say() { printf 'demo: %s\n' "$*"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# names[i] and pids[i]: the parts in start order; stopped newest first.
names=()
pids=()
# setsid: a terminal's Ctrl-C goes to our process group only, so the parts do
# not all get SIGINT at once; cleanup stops them one by one instead.
start() {
  local name=$1; shift
  setsid "$@" < /dev/null > "$run/$name.log" 2>&1 &
  names+=("$name")
  pids+=($!)
}

stopping=0
cleanup() {
  [ "$stopping" = 1 ] && return
  stopping=1
  trap '' INT TERM
  echo
  say "stopping"
  local i pid
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    pid=${pids[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        say "${names[$i]} did not stop in 30 s, killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      wait "$pid" 2>/dev/null || true
    fi
    say "stopped ${names[$i]}"
  done
  MARIADB_DIR=$run/mariadb scripts/mariadb.sh stop > /dev/null 2>&1 || true
  say "stopped mariadb; logs in ${run#$root/}/"
  rm -f "$envfile"
}
trap cleanup EXIT
# Ctrl-C is how a demo ends, not a failure
trap 'exit 0' INT TERM

# Every part started must still be running; one that stopped ends the demo.
check_parts() {
  local i
  for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
      say "${names[$i]} stopped on its own; the last lines of ${run#$root/}/${names[$i]}.log:"
      tail -n 5 "$run/${names[$i]}.log"
      exit 1
    fi
  done
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 10))); do
    if "$@" > /dev/null 2>&1; then return 0; fi
    check_parts
    sleep 0.1
  done
  say "gave up waiting for $what; see ${run#$root/}/*.log"
  exit 1
}

t0=$(date +%s)

# --- MySQL ------------------------------------------------------------------
mysql_root=$(MARIADB_DIR=$run/mariadb scripts/mariadb.sh start | tail -1)
mysql_port=$(echo "$mysql_root" | sed 's|.*:\([0-9]*\)/$|\1|')
MYSQL_URL=mysql://mysqluser:mysqlpw@127.0.0.1:$mysql_port/orders
sql() { mariadb --no-defaults -h 127.0.0.1 -P "$mysql_port" -u mysqluser -pmysqlpw orders -N -B -e "$1"; }

# --- the clusters -------------------------------------------------------------
# The embedded broker cannot create topics for a client (no CreateTopics), so
# every topic the apps use is made here with one partition, as the workshop's:
# the CDC's and the pipeline's topics, and the pipeline's repartition topics
# (which must have its inputs' partition count).
topics=()
for t in customers products suppliers sales_orders sales_order_details \
         purchase_orders purchase_order_details out_of_stock_events \
         sales_enriched purchases_enriched product_supply_and_demand current_stock \
         product_demand_last_3mins; do
  topics+=(--topic "dc01_$t:1")
done
for t in sales_orders_details-right sales_by_customer sales_by_product \
         purchase_orders_details-right purchases_by_supplier purchases_by_product \
         current_stock product_demand_last_3mins; do
  topics+=(--topic "supply_demand-$t-repartition:1")
done
# Both clusters get every topic: the replicators would create a missing one
# with the source's count, but a client asking first would get the mock's
# default of 4 partitions.
start broker-onprem bin/streamhost broker --registry "${topics[@]}"
start broker-cloud bin/streamhost broker "${topics[@]}"
wait_for "the on-prem broker" 20 grep -q '^schema.registry.url=' "$run/broker-onprem.log"
wait_for "the cloud broker" 20 grep -q '^bootstrap.servers=' "$run/broker-cloud.log"
ONPREM_BOOTSTRAP=$(sed -n 's/^bootstrap.servers=//p' "$run/broker-onprem.log")
REGISTRY_URL=$(sed -n 's/^schema.registry.url=//p' "$run/broker-onprem.log")
CLOUD_BOOTSTRAP=$(sed -n 's/^bootstrap.servers=//p' "$run/broker-cloud.log")

# The connectors' value converter, as the workshop's workers had it.
value_converter=
if [ "$format" = avro ]; then
  value_converter=',
    "value.converter": "io.confluent.connect.avro.AvroConverter",
    "value.converter.schema.registry.url": "'"$REGISTRY_URL"'"'
fi

# --- the apps -----------------------------------------------------------------
pipeline_port=$(free_port)
PIPELINE_URL=http://127.0.0.1:$pipeline_port
pipeline_file=${DEMO_PIPELINE:-examples/supply_demand/pipeline.lua}
connect_port=$(free_port)
CONNECT_URL=http://127.0.0.1:$connect_port

runapp() { # NAME APP BOOTSTRAP [run flags]...
  local name=$1 app=$2 bootstrap=$3; shift 3
  start "$name" bin/streamhost run "$app" --bootstrap "$bootstrap" \
    --state-dir "$run/state/$name" "$@"
}

export MYSQL_PORT=$mysql_port
ORDERS_MYSQL_URL=$MYSQL_URL ORDERS_INTERVAL=$interval ORDERS_LIMIT=${DEMO_ORDERS_LIMIT:-} \
  runapp orders examples/supply_demand/orders.lua "$ONPREM_BOOTSTRAP" --http off
# the schema first, so that the CDC's snapshot sees every table
wait_for "the orders schema" 30 sql "SELECT 1 FROM purchase_order_details LIMIT 1"
# The on-prem Connect worker; the CDC and the sink are the workshop's own
# connector POSTs (only hosts and ports changed), run by it as streamhost
# apps (the same as examples/mysql_cdc/app.lua and supply_demand/sink.lua).
start connect bin/streamhost connect --port "$connect_port" --bootstrap "$ONPREM_BOOTSTRAP" \
  --state-dir "$run/connect"
wait_for "the Connect worker" 20 curl -sf --max-time 2 "$CONNECT_URL/connectors"
post_connector() { # NAME JSON
  local code
  code=$(curl -s -o "$run/connect-$1.response" -w '%{http_code}' -X POST \
         -H "Content-Type: application/json" "$CONNECT_URL/connectors/" -d "$2")
  if [ "$code" != 201 ]; then say "POST $1: $code $(cat "$run/connect-$1.response")"; exit 1; fi
}
# The workshop's POSTs are kept once, as the workshop prints them, in
# spec/fixtures/workshop/ (workshop_spec runs them as they are). workshop_post
# FILE CHANGES prints FILE's connector JSON with CHANGES (a JSON object) set
# in its config, a null removing the property.
workshop_post() { # FILE CHANGES
  python3 - "spec/fixtures/workshop/$1" "$2" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
connector = json.loads(re.search(r"-d '(.*)'\s*$", text, re.S).group(1))
for key, value in json.loads(sys.argv[2]).items():
    if value is None:
        connector["config"].pop(key, None)
    else:
        connector["config"][key] = value
print(json.dumps(connector, indent=2))
PY
}
post_connector mysql-source-connector "$(workshop_post 1-mysql-source-connector.sh '{
  "database.hostname": "127.0.0.1",
  "database.port": "'"$mysql_port"'",
  "database.history.kafka.bootstrap.servers": null,
  "database.history.kafka.topic": null,
  "include.schema.changes": null'"$value_converter"'
}')"
# The workshop's two Replicator POSTs (hosts changed, the SASL settings and
# monitoring interceptors of Confluent Cloud left out: the embedded cluster
# is plaintext).
cloud_only='"dest.kafka.security.protocol": null, "dest.kafka.sasl.mechanism": null,
  "dest.kafka.sasl.jaas.config": null, "src.kafka.security.protocol": null,
  "src.kafka.sasl.mechanism": null, "src.kafka.sasl.jaas.config": null,
  "src.consumer.interceptor.classes": null,
  "src.consumer.confluent.monitoring.interceptor.bootstrap.servers": null,
  "src.kafka.timestamps.producer.interceptor.classes": null,
  "src.kafka.timestamps.producer.confluent.monitoring.interceptor.bootstrap.servers": null'
post_connector replicator-dc01-to-ccloud "$(workshop_post 2-replicator-dc01-to-ccloud.sh '{
  "topic.poll.interval.ms": 2000,
  "dest.kafka.bootstrap.servers": "'"$CLOUD_BOOTSTRAP"'",
  "dest.kafka.replication.factor": 1,
  "src.kafka.bootstrap.servers": "'"$ONPREM_BOOTSTRAP"'",
  '"$cloud_only"'
}')"
VALUE_FORMAT=$format SCHEMA_REGISTRY_URL=$REGISTRY_URL \
  runapp pipeline "$pipeline_file" "$CLOUD_BOOTSTRAP" \
  --http "127.0.0.1:$pipeline_port"
post_connector replicator-ccloud-to-dc01 "$(workshop_post 4-replicator-ccloud-to-dc01.sh '{
  "dest.kafka.bootstrap.servers": "'"$ONPREM_BOOTSTRAP"'",
  "src.kafka.bootstrap.servers": "'"$CLOUD_BOOTSTRAP"'",
  '"$cloud_only"'
}')"
post_connector jdbc-mysql-sink "$(workshop_post 5-jdbc-mysql-sink.sh '{
  "connection.url": "jdbc:mysql://127.0.0.1:'"$mysql_port"'/orders",
  "auto.evolve": "true"'"$value_converter"'
}')"

cat > "$envfile" <<EOF
# streamhost make demo: source this file from another terminal
MYSQL_URL=$MYSQL_URL
MYSQL_ROOT_URL=$mysql_root
ONPREM_BOOTSTRAP=$ONPREM_BOOTSTRAP
CLOUD_BOOTSTRAP=$CLOUD_BOOTSTRAP
REGISTRY_URL=$REGISTRY_URL
CONNECT_URL=$CONNECT_URL
PIPELINE_URL=$PIPELINE_URL
EOF

stock_known() { curl -sf --max-time 2 "$PIPELINE_URL/stores/current_stock?limit=1" | grep -q '"key"'; }
wait_for "the first stock levels" 120 stock_known
alive=$(( $(date +%s) - t0 ))

header=$(cat <<EOF
demo: the supply-and-demand loop is running (alive in ${alive} s); logs in ${run#$root/}/,
      addresses in ${envfile#$root/} (source it). On-prem cluster $ONPREM_BOOTSTRAP,
      cloud cluster $CLOUD_BOOTSTRAP, registry $REGISTRY_URL, records in $format
  pull query:  curl -s $PIPELINE_URL/stores/current_stock/15
  hot reload:  edit $pipeline_file (e.g. a new field on the
               out-of-stock events) and save; ${run#$root/}/pipeline.log says "reloaded"
  Connect:     curl -s $CONNECT_URL/connectors/mysql-source-connector/status
  MySQL:       mariadb --no-defaults -h127.0.0.1 -P$mysql_port -umysqluser -pmysqlpw orders
  Ctrl-C stops every part.
EOF
)
printf '\n%s\n\n' "$header"

# --- the live view --------------------------------------------------------------
view() {
  local stock events
  stock=$(curl -sf --max-time 2 "$PIPELINE_URL/stores/current_stock?limit=100" \
          | python3 -c 'import json,sys
e=json.load(sys.stdin)["entries"]
e.sort(key=lambda x: x["key"])
print("  ".join("%d:%d" % (x["key"], x["value"]) for x in e))' 2>/dev/null || echo "(pipeline not answering)")
  events=$(sql "SELECT e.event_id, e.product_id, e.stock_level, e.quantity_to_purchase,
                       IFNULL(e.purchase_order_id, 'pending')
                  FROM dc01_out_of_stock_events e ORDER BY e.event_id DESC LIMIT 5" 2>/dev/null \
           | awk '{printf "    event %s: product %s at stock %s, wants %s -> purchase order %s\n", $1, $2, $3, $4, $5}' || true)
  local counts
  counts=$(sql "SELECT (SELECT COUNT(*) FROM sales_orders), (SELECT COUNT(*) FROM purchase_orders),
                       (SELECT COUNT(*) FROM dc01_out_of_stock_events)" 2>/dev/null \
           || sql "SELECT (SELECT COUNT(*) FROM sales_orders), (SELECT COUNT(*) FROM purchase_orders), 0" \
           || true)
  set -- $counts
  printf '%s  sales orders %s, purchase orders %s, out-of-stock events %s\n' \
    "$(date +%H:%M:%S)" "${1:-?}" "${2:-?}" "${3:-?}"
  local connectors="" name state
  for name in mysql-source-connector replicator-dc01-to-ccloud replicator-ccloud-to-dc01 \
              jdbc-mysql-sink; do
    state=$(curl -sf --max-time 2 "$CONNECT_URL/connectors/$name/status" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["connector"]["state"])' 2>/dev/null \
            || echo "?")
    connectors="$connectors $name $state"
  done
  printf '  connectors:%s\n' "$connectors"
  printf '  current stock (product:level): %s\n' "$stock"
  if [ -n "$events" ]; then printf '  latest out-of-stock events and the purchase orders they caused:\n%s\n' "$events"; fi
}

deadline=
[ -n "${DEMO_SECONDS:-}" ] && deadline=$(( $(date +%s) + DEMO_SECONDS ))
while :; do
  check_parts
  # on a terminal, one screen redrawn; otherwise (a log, a spec) appended
  if [ -t 1 ]; then printf '\033[H\033[2J%s\n\n' "$header"; fi
  view
  if [ -n "$deadline" ] && [ "$(date +%s)" -ge "$deadline" ]; then break; fi
  sleep "$refresh"
done
}
main "$@"; exit $?  # on one line: bash reads no further after an edit
