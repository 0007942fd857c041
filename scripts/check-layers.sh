#!/usr/bin/env bash
# Checks the layering DESIGN.md promises: nothing in runtime/engine/ includes
# a librdkafka, RocksDB or MariaDB header, directly or through another
# header. Prints the offending chains and fails when one does.
set -euo pipefail
cd "$(dirname "$0")/.."
cflags=(-std=c11 -D_GNU_SOURCE -Iruntime/include -Iruntime $(pkg-config --cflags luajit 2>/dev/null))
status=0
for f in runtime/engine/*.c; do
  deps=$(${CC:-cc} "${cflags[@]}" -M "$f" 2>/dev/null | tr -s ' \\' '\n' | grep -E 'librdkafka/|rocksdb/|mariadb|mysql' || true)
  if [ -n "$deps" ]; then
    echo "check-layers: $f reaches a backend's header:" >&2
    echo "$deps" | sed 's/^/  /' >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-layers: runtime/engine/ includes no backend header"
exit $status
