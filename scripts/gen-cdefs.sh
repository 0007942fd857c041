#!/usr/bin/env bash
# Generates lua/streamhost/cdefs.lua from the FFI header, so the Lua side's
# ffi.cdef is always exactly what C declares.
set -euo pipefail
header=$1 out=$2
{
  echo "-- Generated from ${header} by scripts/gen-cdefs.sh; do not edit."
  echo "return [["
  sed -n '/^\/\* CDEF-BEGIN \*\/$/,/^\/\* CDEF-END \*\/$/p' "$header" | sed '1d;$d'
  echo "]]"
} > "$out.tmp"
mv "$out.tmp" "$out"
