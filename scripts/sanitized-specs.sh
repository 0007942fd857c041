#!/usr/bin/env bash
# sanitized-specs.sh SPEC... - runs integration specs against the host built
# with ASan and UBSan (bin/streamhost-asan): every `streamhost run` and
# `streamhost broker` a spec starts is the sanitized build, and any report
# (a leak at exit included) fails the run, even when the spec passed.
set -euo pipefail
cd "$(dirname "$0")/.."
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
status=0
STREAMHOST_BIN=bin/streamhost-asan bin/streamhost test "$@" || status=$?
if compgen -G "$reports/*" > /dev/null; then
  echo "sanitized-specs: sanitizer reports from the host:" >&2
  cat "$reports"/* >&2
  exit 1
fi
exit "$status"
