#!/usr/bin/env bash
# make demo: the clickstream example on the embedded broker, fed by a small
# generator, its output printed live. Stops on Ctrl-C (or after
# DEMO_SECONDS seconds when set).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/streamhost-demo.XXXXXX)
pids=()
cleanup() {
  # newest first: the app finishes delivering and commits before the broker goes
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

bin/streamhost broker --topic clickstream:3 --topic clicks:3 > "$work/broker.out" &
pids+=($!)
for _ in $(seq 100); do grep -q bootstrap "$work/broker.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$work/broker.out")
echo "demo: embedded broker at $bootstrap (kcat -b $bootstrap -L)"

luajit examples/clickstream/generate.lua 10 | kcat -P -b "$bootstrap" -t clickstream -K '|' -X linger.ms=10 &
pids+=($!)
bin/streamhost run examples/clickstream/app.lua --bootstrap "$bootstrap" &
pids+=($!)
echo "demo: clicks, as they are written to topic 'clicks' (edit examples/clickstream/app.lua to reload):"
kcat -C -b "$bootstrap" -t clicks -u -q -f 'clicks: %k %s\n' &
pids+=($!)

if [ -n "${DEMO_SECONDS:-}" ]; then sleep "$DEMO_SECONDS"; else wait; fi
