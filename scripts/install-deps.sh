#!/usr/bin/env bash
# Installs the Debian packages streamhost builds and tests with, only those
# that are missing. Everything comes from Debian's archive.
set -euo pipefail

packages=(
  build-essential pkg-config
  librdkafka-dev libluajit2-5.1-dev luajit2 lua-cjson
  libsimdjson-dev librocksdb-dev libavro-dev libmariadb-dev libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
  lua-busted lua-check kcat mariadb-server python3-confluent-kafka python3-avro valgrind curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
