#!/usr/bin/env bash
# scripts/mariadb.sh start|stop|status|url — a private MariaDB server for tests
# and the demo: Debian's mariadbd on a datadir under .run/mariadb, listening on
# a loopback port only, with the binlog a CDC reader needs (ROW format, FULL
# row image and metadata, a server_id, GTIDs in strict mode). It never touches
# a system-wide server: its socket, pid file, log and config all live in .run/.
#
# `start` is idempotent: a running server is left alone and its URL printed
# again. The last line `start` prints (and all `url` prints) is
#   mysql://root:PASSWORD@127.0.0.1:PORT/
# an account with all privileges. It also creates the workshop's account
# mysqluser/mysqlpw with the privileges Debezium documents for its MySQL
# connector (SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION
# CLIENT, LOCK TABLES on *.*), plus all privileges on the `orders` database,
# which the workshop's JDBC sink writes with the same account.
#
# Environment: MARIADB_PORT picks the port (else a free one, kept across
# restarts); MARIADB_DIR moves the state directory (default <repo>/.run/mariadb).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${MARIADB_DIR:-$PWD/.run/mariadb}
data=$dir/data
cnf=$dir/my.cnf
sock=$dir/mysqld.sock
pidfile=$dir/mysqld.pid
log=$dir/mysqld.log

die() { echo "mariadb.sh: $*" >&2; exit 1; }

running() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000))
}

url() {
  [ -f "$dir/port" ] && [ -f "$dir/root.password" ] || die "not initialised; run scripts/mariadb.sh start"
  echo "mysql://root:$(cat "$dir/root.password")@127.0.0.1:$(cat "$dir/port")/"
}

client() { mariadb --no-defaults -S "$sock" -uroot "$@"; }

write_config() {
  local port=$1
  # server_id: any stable non-zero id; CDC readers register with their own.
  cat > "$cnf" <<EOF
[mariadbd]
datadir=$data
socket=$sock
pid-file=$pidfile
log-error=$log
port=$port
bind-address=127.0.0.1
skip-name-resolve
user=$(id -un)
server_id=1
log_bin=$data/binlog
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
gtid_strict_mode=ON
gtid_domain_id=0
expire_logs_days=7
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
innodb_buffer_pool_size=128M
innodb_log_file_size=64M
innodb_flush_log_at_trx_commit=2
sync_binlog=0
max_connections=200
max_allowed_packet=64M
EOF
}

start() {
  if running; then url; return 0; fi
  mkdir -p "$dir"
  command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || die "mariadbd missing: run scripts/install-deps.sh (mariadb-server)"
  local port=${MARIADB_PORT:-}
  [ -n "$port" ] || { [ -f "$dir/port" ] && port=$(cat "$dir/port"); }
  if [ -z "$port" ] || ss -ltnH "sport = :$port" 2>/dev/null | grep -q .; then port=$(free_port); fi
  echo "$port" > "$dir/port"
  write_config "$port"
  if [ ! -d "$data/mysql" ]; then
    rm -rf "$data"
    mariadb-install-db --defaults-file="$cnf" --skip-test-db --auth-root-authentication-method=socket \
      > "$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; die "mariadb-install-db failed"; }
    rm -f "$dir/.accounts"
  fi
  rm -f "$sock" "$pidfile"
  # setsid: the server outlives this shell and its process group (make, spec runners).
  setsid /usr/sbin/mariadbd --defaults-file="$cnf" < /dev/null >> "$log" 2>&1 &
  for _ in $(seq 300); do
    client -e 'SELECT 1' >/dev/null 2>&1 && break
    running || [ ! -f "$pidfile" ] || break
    sleep 0.1
  done
  client -e 'SELECT 1' >/dev/null 2>&1 || { tail -20 "$log" >&2; die "server did not come up (log: $log)"; }
  if [ ! -f "$dir/.accounts" ]; then
    [ -f "$dir/root.password" ] || head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$dir/root.password"
    local pw
    pw=$(cat "$dir/root.password")
    client <<EOF
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE OR REPLACE USER 'root'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE OR REPLACE USER 'mysqluser'@'%' IDENTIFIED BY 'mysqlpw';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT, LOCK TABLES ON *.* TO 'mysqluser'@'%';
GRANT ALL PRIVILEGES ON \`orders\`.* TO 'mysqluser'@'%';
FLUSH PRIVILEGES;
EOF
    touch "$dir/.accounts"
  fi
  echo "mariadb.sh: $(/usr/sbin/mariadbd --version | awk '{print $3}') on 127.0.0.1:$port, datadir $data, log $log"
  url
}

stop() {
  running || { rm -f "$sock" "$pidfile"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  client -e 'SHUTDOWN' >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "mariadb.sh: server $pid did not stop in 30 s, killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$sock" "$pidfile"
  echo "mariadb.sh: stopped"
}

status() {
  if running; then
    echo "mariadb.sh: running, pid $(cat "$pidfile"), port $(cat "$dir/port")"
    url
  else
    echo "mariadb.sh: not running"
    return 3
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  url) url ;;
  *) echo "usage: scripts/mariadb.sh start|stop|status|url" >&2; exit 2 ;;
esac
