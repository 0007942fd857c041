-- Helpers for integration specs: start real processes (the broker, the app),
-- talk to Kafka with kcat as an outside client, and wait on conditions.
local ffi = require "ffi"
local cjson = require "cjson"

ffi.cdef [[ int poll(void *fds, unsigned long nfds, int timeout); ]]

local _M = {}

_M.bin = os.getenv("STREAMHOST_BIN") or "bin/streamhost"

function _M.sleep_ms(ms) ffi.C.poll(nil, 0, ms) end

-- Polls fn until it returns a truthy value; raises after timeout_ms.
function _M.wait_until(what, timeout_ms, fn)
  local deadline = os.time() + math.ceil(timeout_ms / 1000)
  while true do
    local v = fn()
    if v then return v end
    if os.time() > deadline then error("timed out waiting for " .. what, 2) end
    _M.sleep_ms(20)
  end
end

function _M.shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function _M.tmpdir()
  local p = io.popen("mktemp -d /tmp/streamhost-spec.XXXXXX")
  local dir = p:read("*l")
  p:close()
  return dir
end

function _M.read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

function _M.write_file(path, content)
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
end

-- Starts a command in the background with its output in logfile; returns its pid.
function _M.spawn(cmd, logfile)
  local p = io.popen("sh -c " .. _M.shell_quote(cmd .. " >" .. logfile .. " 2>&1 & echo $!"))
  local pid = tonumber(p:read("*l"))
  p:close()
  return pid
end

-- As spawn, through a shell that writes the command's exit status to status_file
-- (spawn's pid is a grandchild we cannot wait() for).
function _M.spawn_with_status(cmd, logfile, status_file)
  return _M.spawn("sh -c " .. _M.shell_quote(cmd .. "; echo $? > " .. status_file), logfile)
end

-- The exit status spawn_with_status wrote, or nil while the command runs.
function _M.exit_status(status_file)
  local digits = _M.read_file(status_file):match("%d+")
  return digits and tonumber(digits)
end

function _M.alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == 0
end

function _M.kill(pid, signal)
  os.execute("kill -" .. (signal or "TERM") .. " " .. pid .. " 2>/dev/null")
end

-- Waits for a process to exit and returns its exit code (via /proc when it is
-- our child's grandchild we cannot wait(); we poll for its disappearance).
function _M.wait_exit(pid, timeout_ms)
  _M.wait_until("process " .. pid .. " to exit", timeout_ms or 30000,
                function() return not _M.alive(pid) end)
end

-- Starts `streamhost broker`; returns { bootstrap =, stop = fn }.
function _M.start_broker(topics)
  local args = {}
  for name, partitions in pairs(topics or {}) do
    args[#args + 1] = "--topic " .. name .. ":" .. partitions
  end
  local dir = _M.tmpdir()
  local log = dir .. "/broker.log"
  local pid = _M.spawn(_M.bin .. " broker " .. table.concat(args, " "), log)
  local bootstrap = _M.wait_until("the broker's bootstrap line", 10000, function()
    return _M.read_file(log):match("^bootstrap%.servers=(%S+)\n")
  end)
  return {
    bootstrap = bootstrap,
    pid = pid,
    stop = function()
      _M.kill(pid)
      _M.wait_exit(pid)
    end,
  }
end

-- Produces { {key, value}, ... } with kcat (key and value must not contain
-- the delimiter or newlines).
function _M.produce(bootstrap, topic, records)
  local p = io.popen("kcat -P -b " .. bootstrap .. " -t " .. topic .. " -K '|' -z none", "w")
  for _, r in ipairs(records) do p:write(r[1], "|", r[2], "\n") end
  assert(p:close(), "kcat -P failed")
end

-- Reads every record currently in the topic with kcat: a list of
-- { key, value, partition, offset, timestamp, headers } in partition order.
function _M.consume_all(bootstrap, topic)
  local p = io.popen("kcat -C -b " .. bootstrap .. " -t " .. topic ..
                     " -o beginning -e -q -J 2>/dev/null")
  local list = {}
  for line in p:lines() do
    local ok, m = pcall(cjson.decode, line)
    if ok and type(m) == "table" and m.offset then
      list[#list + 1] = { key = m.key ~= cjson.null and m.key or nil,
                          value = m.payload ~= cjson.null and m.payload or nil,
                          partition = m.partition, offset = m.offset, timestamp = m.ts,
                          headers = m.headers }
    end
  end
  p:close()
  return list
end

-- Waits until the topic holds at least n records and returns them.
function _M.wait_records(bootstrap, topic, n, timeout_ms)
  local got
  _M.wait_until(n .. " records in " .. topic, timeout_ms or 30000, function()
    got = _M.consume_all(bootstrap, topic)
    return #got >= n
  end)
  return got
end

-- Runs a Lua chunk in a fresh luajit (same LUA_PATH and STREAMHOST_LIB), so a
-- crash in C fails one test instead of taking busted down. Returns its
-- output and exit code.
function _M.run_isolated(code)
  local path = os.tmpname()
  _M.write_file(path, code)
  local p = assert(io.popen("luajit " .. path .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  os.remove(path)
  local rc = tonumber(out:match("exit=(%d+)%s*$"))
  return (out:gsub("exit=%d+%s*$", "")), rc
end

-- A TCP port nothing listens on now (the kernel picks it), for a server
-- that must keep its address across a restart.
function _M.free_port()
  local p = io.popen("/usr/bin/python3 -c 'import socket; s = socket.socket(); " ..
                     "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
  local port = tonumber(p:read("*a"))
  p:close()
  return assert(port, "cannot find a free port")
end

-- Runs a Python script (Debian's python3, which has confluent_kafka) written
-- to dir with bootstrap and any further values as its arguments; fails the
-- test unless it exits 0. Returns what it printed.
function _M.python(dir, script, bootstrap, ...)
  _M.write_file(dir .. "/script.py", script)
  local args = { bootstrap, ... }
  for i, a in ipairs(args) do args[i] = _M.shell_quote(a) end
  local p = io.popen("/usr/bin/python3 " .. dir .. "/script.py " .. table.concat(args, " ") ..
                     " 2>&1; echo exit=$?")
  local said = p:read("*a")
  p:close()
  assert(said:find("exit=0", 1, true), "python script failed: " .. said)
  return said
end

-- The offsets group has committed for partitions 0..partitions-1 of topic,
-- read with Debian's confluent_kafka (another Kafka client than ours):
-- { [partition] = offset }, negative where nothing is committed.
local COMMITTED = [[
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2],
              "enable.auto.commit": False})
for o in c.committed([TopicPartition(sys.argv[3], p) for p in range(int(sys.argv[4]))], timeout=20):
    print("committed %d=%d" % (o.partition, o.offset))
c.close()
]]

function _M.committed(dir, bootstrap, group, topic, partitions)
  local by_partition = {}
  local said = _M.python(dir, COMMITTED, bootstrap, group, topic, partitions)
  for part, offset in said:gmatch("committed (%d+)=(%-?%d+)") do
    by_partition[tonumber(part)] = tonumber(offset)
  end
  return by_partition
end

function _M.count_matches(text, pattern)
  local n = 0
  for _ in text:gmatch(pattern) do n = n + 1 end
  return n
end

-- ---- MariaDB (MySQL sink and orders specs) ----

-- The private server of scripts/mariadb.sh (started when needed), or the
-- one STREAMHOST_MARIADB_URL names: { url =, host =, port =, user =,
-- password =, sql = fn(statements) -> rows }. Raises when there is neither.
function _M.mariadb()
  if _M.mariadb_server then return _M.mariadb_server end
  local url = os.getenv("STREAMHOST_MARIADB_URL")
  if not url then
    local p = io.popen("scripts/mariadb.sh start 2>&1")
    local out = p:read("*a")
    p:close()
    url = out:match("(mysql://%S+)%s*$")
    if not url then error("cannot start MariaDB with scripts/mariadb.sh: " .. out, 2) end
  end
  local user, password, host, port = url:match("^mysql://([^:@/]+):?([^@]*)@([^:/]+):(%d+)")
  if not user then error("cannot read the MariaDB URL " .. url, 2) end
  local db = { url = url, user = user, password = password, host = host, port = tonumber(port) }
  -- sql(statements) runs as the URL's account and returns the result's rows
  -- as lists of strings (NULL as nil); it raises with the server's message.
  function db.sql(statements)
    local path = os.tmpname()
    _M.write_file(path, statements)
    local q = io.popen("mariadb --no-defaults -h" .. host .. " -P" .. port .. " -u" .. user ..
                       (password ~= "" and (" -p" .. _M.shell_quote(password)) or "") ..
                       " -N -B < " .. path .. " 2>&1; echo \"exit=$?\"")
    local text = q:read("*a")
    q:close()
    os.remove(path)
    local rc = tonumber(text:match("exit=(%d+)%s*$"))
    text = text:gsub("exit=%d+%s*$", "")
    if rc ~= 0 then error("SQL failed: " .. text .. "\n" .. statements, 2) end
    local rows = {}
    for line in text:gmatch("[^\n]+") do
      local row, i = {}, 0
      for field in (line .. "\t"):gmatch("([^\t]*)\t") do
        i = i + 1
        if field ~= "NULL" then row[i] = field end
      end
      rows[#rows + 1] = row
    end
    return rows
  end
  _M.mariadb_server = db
  return db
end

-- Runs SQL with the mariadb client as the server's root account; returns
-- its tab-separated output (no column names), or raises with the client's
-- error.
function _M.sql(database, statements)
  local db = _M.mariadb()
  local cmd = string.format("mariadb --no-defaults -h %s -P %d -u %s %s -N -B %s -e %s 2>&1",
                            db.host, db.port, db.user,
                            db.password ~= "" and ("-p" .. _M.shell_quote(db.password)) or "",
                            database and _M.shell_quote(database) or "",
                            _M.shell_quote(statements))
  local p = io.popen(cmd .. "; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("exit=(%d+)%s*$"))
  out = out:gsub("exit=%d+%s*$", "")
  if rc ~= 0 then error("mariadb: " .. out, 2) end
  return out
end

-- A new, empty database; returns its name.
function _M.fresh_database(prefix)
  local name = string.format("%s_%d_%d", prefix, os.time(), math.random(1000000))
  _M.sql(nil, "CREATE DATABASE " .. name)
  return name
end

-- A new, empty database the examples' and the workshop's account
-- (mysqluser, as the workshop's connectors use it) may write; returns its
-- name.
function _M.fresh_mysqluser_database(prefix)
  local name = _M.fresh_database(prefix)
  _M.sql(nil, "GRANT ALL PRIVILEGES ON `" .. name .. "`.* TO 'mysqluser'@'%'")
  return name
end

-- Drops a spec's database, if it is there (teardown).
function _M.drop_database(name)
  if name then pcall(_M.sql, nil, "DROP DATABASE " .. name) end
end

-- Produces lines "key|value" from a file with kcat (for 100k records at once).
function _M.produce_file(bootstrap, topic, path, extra)
  assert(os.execute("kcat -P -b " .. bootstrap .. " -t " .. topic .. " -K '|' -z none " ..
                    (extra or "") .. " < " .. path) == 0, "kcat -P failed")
end

-- ---- the embedded broker with its schema registry (Avro specs) ----

-- `streamhost broker --registry`, its log in dir/broker.log, with topics
-- (a list of "name:partitions"), once it has printed both its addresses:
-- { pid =, log =, bootstrap =, registry =, stop = fn }.
function _M.start_registry_broker(dir, topics)
  local args = {}
  for i, topic in ipairs(topics or {}) do args[i] = "--topic " .. topic end
  local broker = { log = dir .. "/broker.log" }
  broker.pid = _M.spawn(_M.bin .. " broker --registry " .. table.concat(args, " "), broker.log)
  function broker.stop()
    _M.kill(broker.pid)
    _M.wait_exit(broker.pid)
  end
  local ok, err = pcall(_M.wait_until, "the registry line", 20000, function()
    local text = _M.read_file(broker.log)
    broker.bootstrap = text:match("bootstrap%.servers=(%S+)\n")
    broker.registry = text:match("\nschema%.registry%.url=(%S+)\n")
    return broker.bootstrap and broker.registry
  end)
  if not ok then
    broker.stop()
    error(err, 2)
  end
  return broker
end

-- The JSON a GET of url answers (the registry's REST API), decoded.
function _M.get_json(url)
  local p = io.popen("curl -s " .. _M.shell_quote(url))
  local text = p:read("*a")
  p:close()
  return cjson.decode(text)
end

-- ---- the workshop's commands (spec/fixtures/workshop/) ----

_M.WORKSHOP = "spec/fixtures/workshop/"

-- text with every occurrence of from (plain, not a pattern) replaced by to
function _M.replace_all(text, from, to)
  local out, at = {}, 1
  while true do
    local i, j = text:find(from, at, true)
    if not i then break end
    out[#out + 1] = text:sub(at, i - 1) .. to
    at = j + 1
  end
  out[#out + 1] = text:sub(at)
  return table.concat(out)
end

-- The workshop's command in spec/fixtures/workshop/<file> with each
-- { from, to } of changes applied in order (host names, ports, the
-- database's name, credentials): the one copy of the workshop's connector
-- configs that specs run or read.
function _M.workshop_command(file, changes)
  local command = _M.read_file(_M.WORKSHOP .. file)
  for _, change in ipairs(changes or {}) do command = _M.replace_all(command, change[1], change[2]) end
  return command
end

-- The changes that run the workshop's commands here: its on-prem Connect
-- worker (localhost:18083) at connect_url, its MySQL at 127.0.0.1:port
-- with database for its orders, and its on-prem cluster (broker:29092) at
-- bootstrap.
function _M.workshop_changes(connect_url, port, database, bootstrap)
  return {
    { "http://localhost:18083", connect_url },
    { '"database.hostname": "mysql"', '"database.hostname": "127.0.0.1"' },
    { '"database.port": "3306"', '"database.port": "' .. port .. '"' },
    { "jdbc:mysql://mysql:3306/orders", "jdbc:mysql://127.0.0.1:" .. port .. "/" .. database },
    { '"database.whitelist": "orders"', '"database.whitelist": "' .. database .. '"' },
    { '"orders.dc01_out_of_stock_events"', '"' .. database .. '.dc01_out_of_stock_events"' },
    { "broker:29092", bootstrap },
  }
end

-- The connector a workshop POST sends (its -d '...' body), changes applied,
-- decoded: { name =, config = { ... } }.
function _M.workshop_connector(file, changes)
  local body = _M.workshop_command(file, changes):match("%-d '(.*)'%s*$")
  if not body then error("no -d '...' body in " .. _M.WORKSHOP .. file, 2) end
  return cjson.decode(body)
end

return _M
