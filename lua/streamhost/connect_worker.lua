-- `streamhost connect`: a Kafka Connect worker with Connect's REST API, so
-- the workshop's curl commands work unchanged. Each connector is the app
-- streamhost.connect makes of its JSON, run as any app is run: a child
-- `streamhost run examples/connect/connector.lua` with the connector's JSON
-- in STREAMHOST_CONNECTOR (data, never code). The worker supervises the
-- children: a child that exits is FAILED with the end of its log as the
-- trace; restart, pause (the child stopped) and resume (started again)
-- act on it.
--
-- One thread, one loop: poll() on the listening socket and a signalfd for
-- SIGINT/SIGTERM, one request served at a time (Connect's REST calls are
-- few and small), the children checked between requests. Configs, target
-- states and statuses are in Kafka topics as Connect's distributed mode
-- keeps them (streamhost/connect_store.lua: connect-configs, connect-status;
-- the CDC source's positions in connect-offsets), read back when a worker
-- starts, which runs the connectors again where they were. STATE_DIR holds
-- the connectors' logs and local state only.
--
-- Run by bin/streamhost (cli/main.c's cmd_connect) under LuaJIT with the
-- streamhost Lua path: luajit connect_worker.lua [--port N] [--bootstrap HOST:PORT]
-- [--state-dir DIR].
local ffi = require "ffi"
local cjson = require "cjson.safe"
local connect = require "streamhost.connect"
local connect_store = require "streamhost.connect_store"

ffi.cdef [[
typedef struct { unsigned long val[16]; } sh_sigset_t;
typedef struct { char data[336]; } sh_spawnattr_t;
typedef struct { char data[80]; } sh_file_actions_t;
struct sh_sockaddr_in { uint16_t family; uint16_t port; uint32_t addr; char zero[8]; };
struct sh_pollfd { int fd; short events; short revents; };
struct sh_timeval { long sec; long usec; };
extern char **environ;
int socket(int domain, int type, int protocol);
int setsockopt(int fd, int level, int name, const void *value, unsigned len);
int bind(int fd, const void *addr, unsigned len);
int listen(int fd, int backlog);
int accept4(int fd, void *addr, void *len, int flags);
int getsockname(int fd, void *addr, unsigned *len);
long recv(int fd, void *buf, size_t len, int flags);
long send(int fd, const void *buf, size_t len, int flags);
long read(int fd, void *buf, size_t len);
int close(int fd);
int poll(struct sh_pollfd *fds, unsigned long nfds, int timeout);
uint16_t htons(uint16_t v);
uint16_t ntohs(uint16_t v);
int sigemptyset(sh_sigset_t *set);
int sigaddset(sh_sigset_t *set, int sig);
int sigprocmask(int how, const sh_sigset_t *set, sh_sigset_t *old);
int signalfd(int fd, const sh_sigset_t *mask, int flags);
int posix_spawnattr_init(sh_spawnattr_t *attr);
int posix_spawnattr_setflags(sh_spawnattr_t *attr, short flags);
int posix_spawnattr_setsigmask(sh_spawnattr_t *attr, const sh_sigset_t *mask);
int posix_spawnattr_setpgroup(sh_spawnattr_t *attr, int pgroup);
int posix_spawnattr_destroy(sh_spawnattr_t *attr);
int posix_spawn_file_actions_init(sh_file_actions_t *fa);
int posix_spawn_file_actions_addopen(sh_file_actions_t *fa, int fd, const char *path, int flags, int mode);
int posix_spawn_file_actions_adddup2(sh_file_actions_t *fa, int fd, int newfd);
int posix_spawn_file_actions_destroy(sh_file_actions_t *fa);
int posix_spawn(int *pid, const char *path, const sh_file_actions_t *fa, const sh_spawnattr_t *attr,
                char *const argv[], char *const envp[]);
int waitpid(int pid, int *status, int options);
int kill(int pid, int sig);
int getpid(void);
char *strerror(int errnum);
]]

local C = ffi.C
local AF_INET, SOCK_STREAM, SOCK_CLOEXEC = 2, 1, 0x80000
local SOL_SOCKET, SO_REUSEADDR, SO_RCVTIMEO = 1, 2, 20
local POLLIN, SIGINT, SIGTERM, SIGKILL, SIG_BLOCK, WNOHANG = 1, 2, 15, 9, 0, 1
local POSIX_SPAWN_SETPGROUP, POSIX_SPAWN_SETSIGMASK = 2, 8
local O_RDONLY, O_WRONLY, O_CREAT, O_APPEND = 0, 1, 64, 1024

local function log(fmt, ...)
  io.stderr:write(os.date("!%Y-%m-%dT%H:%M:%SZ"), " connect: ", string.format(fmt, ...), "\n")
end

local function usage(msg)
  io.stderr:write("streamhost connect: ", msg, "\n")
  os.exit(2)
end

-- arguments --------------------------------------------------------------
local port, bootstrap, state_dir = 18083, "127.0.0.1:9092", ".streamhost/connect"
do
  local i = 1
  while i <= #arg do
    local a, v = arg[i], arg[i + 1]
    if a == "--port" and v and v:match("^%d+$") and tonumber(v) <= 65535 then port = tonumber(v)
    elseif a == "--bootstrap" and v and v ~= "" then bootstrap = v
    elseif a == "--state-dir" and v and v ~= "" then state_dir = v
    else usage("unknown argument '" .. tostring(a) .. "' (or a missing value)") end
    i = i + 2
  end
end
local bin = assert(os.getenv("STREAMHOST_BIN"), "STREAMHOST_BIN is set by bin/streamhost")
local app_file = assert(os.getenv("STREAMHOST_CONNECTOR_APP"),
                        "STREAMHOST_CONNECTOR_APP is set by bin/streamhost")
os.execute("mkdir -p '" .. state_dir:gsub("'", "'\\''") .. "'")

-- connectors ---------------------------------------------------------------
-- name -> { name, config, pid, state = RUNNING|PAUSED|FAILED, trace, log }
local connectors, order = {}, {}
local worker_id
local store

-- A status change goes to connect-status; one that cannot be written is
-- logged (the REST API still answers from memory).
local function publish(c)
  local ok, problem = store:put_status(c.name, c.state, c.trace, worker_id)
  if not ok then log("%s", problem) end
end

local function tail(path, lines)
  local f = io.open(path, "r")
  if not f then return "" end
  local all = {}
  for line in f:lines() do
    all[#all + 1] = line
    if #all > lines then table.remove(all, 1) end
  end
  f:close()
  return table.concat(all, "\n")
end

local unblocked = ffi.new("sh_sigset_t")
C.sigemptyset(unblocked)

local function spawn(c)
  local json = cjson.encode { name = c.name, config = c.config }
  local base = state_dir .. "/" .. c.name:gsub("[^%w_.-]", "_")
  c.log = base .. ".log"
  local argv_list = { bin, "run", app_file, "--bootstrap", bootstrap, "--http", "off",
                      "--state-dir", base }
  if connect.command_of(c.config["connector.class"]) == "replicate" then
    -- `streamhost replicate` reads Connect's JSON from a file; its lag is
    -- served on a port of its own choosing (said in its log)
    local f = assert(io.open(base .. ".json", "w"))
    f:write(json)
    f:close()
    argv_list = { bin, "replicate", base .. ".json", "--http", "127.0.0.1:0" }
  end
  local argv = ffi.new("char *[?]", #argv_list + 1)
  local keep = {}
  for i, s in ipairs(argv_list) do
    keep[i] = ffi.new("char[?]", #s + 1, s)
    argv[i - 1] = keep[i]
  end
  local env_list = {}
  local i = 0
  while C.environ[i] ~= nil do
    local e = ffi.string(C.environ[i])
    if not e:match("^STREAMHOST_CONNECT") then env_list[#env_list + 1] = e end
    i = i + 1
  end
  env_list[#env_list + 1] = "STREAMHOST_CONNECTOR=" .. json
  env_list[#env_list + 1] = "STREAMHOST_CONNECT_OFFSETS_TOPIC=" .. connect_store.TOPICS.offsets
  -- the child stops when this worker dies, however it dies (cli/main.c)
  env_list[#env_list + 1] = "STREAMHOST_CONNECT_WORKER=" .. C.getpid()
  local envp = ffi.new("char *[?]", #env_list + 1)
  for j, s in ipairs(env_list) do
    keep[#keep + 1] = ffi.new("char[?]", #s + 1, s)
    envp[j - 1] = keep[#keep]
  end
  local attr, fa = ffi.new("sh_spawnattr_t"), ffi.new("sh_file_actions_t")
  C.posix_spawnattr_init(attr)
  -- its own process group, so a terminal's Ctrl-C reaches the worker only,
  -- which stops the connectors itself; the worker's blocked signals unblocked
  C.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP + POSIX_SPAWN_SETSIGMASK)
  C.posix_spawnattr_setpgroup(attr, 0)
  C.posix_spawnattr_setsigmask(attr, unblocked)
  C.posix_spawn_file_actions_init(fa)
  C.posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0)
  C.posix_spawn_file_actions_addopen(fa, 1, c.log, O_WRONLY + O_CREAT + O_APPEND, tonumber("644", 8))
  C.posix_spawn_file_actions_adddup2(fa, 1, 2)
  local pid = ffi.new("int[1]")
  local rc = C.posix_spawn(pid, bin, fa, attr, argv, envp)
  C.posix_spawn_file_actions_destroy(fa)
  C.posix_spawnattr_destroy(attr)
  if rc ~= 0 then
    c.state, c.pid, c.trace = "FAILED", nil, "cannot start " .. bin .. ": " .. ffi.string(C.strerror(rc))
    publish(c)
    return
  end
  c.pid, c.state, c.trace = pid[0], "RUNNING", nil
  log("started connector %s (pid %d, log %s)", c.name, c.pid, c.log)
  publish(c)
end

-- Stops a connector's child: SIGTERM, then up to 30 s for it to deliver
-- what it has and commit, then SIGKILL.
local function stop(c)
  if not c.pid then return end
  C.kill(c.pid, SIGTERM)
  local status = ffi.new("int[1]")
  for _ = 1, 300 do
    if C.waitpid(c.pid, status, WNOHANG) == c.pid then c.pid = nil; return end
    C.poll(nil, 0, 100)
  end
  C.kill(c.pid, SIGKILL)
  C.waitpid(c.pid, status, 0)
  c.pid = nil
end

-- A child that exited on its own is FAILED, with the end of its log.
local function reap()
  local status = ffi.new("int[1]")
  for _, name in ipairs(order) do
    local c = connectors[name]
    if c.pid and C.waitpid(c.pid, status, WNOHANG) == c.pid then
      c.pid, c.state = nil, "FAILED"
      c.trace = tail(c.log, 20)
      log("connector %s stopped on its own (status %d): FAILED", name, status[0])
      publish(c)
    end
  end
end

local function remove(name)
  for i, n in ipairs(order) do
    if n == name then table.remove(order, i) break end
  end
  connectors[name] = nil
end

-- Connect keeps configs as strings; so do we (numbers and booleans as Connect prints them).
local function stringify(config)
  local out = {}
  for k, v in pairs(config) do
    if type(k) == "string" then
      out[k] = type(v) == "string" and v or (v == cjson.null and "" or tostring(v))
    end
  end
  return out
end

-- REST ------------------------------------------------------------------------
local REASONS = { [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
                  [400] = "Bad Request", [404] = "Not Found", [405] = "Method Not Allowed",
                  [409] = "Conflict", [500] = "Internal Server Error" }

local function err(status, message) return status, { error_code = status, message = message } end

local function info(c)
  return { name = c.name, config = c.config, tasks = { { connector = c.name, task = 0 } },
           type = connect.type_of(c.config["connector.class"]) or "unknown" }
end

local function status_of(c)
  local task = { id = 0, state = c.state, worker_id = worker_id }
  if c.trace then task.trace = c.trace end
  local conn = { state = c.state, worker_id = worker_id }
  if c.trace then conn.trace = c.trace end
  return { name = c.name, connector = conn, tasks = { task },
           type = connect.type_of(c.config["connector.class"]) or "unknown" }
end

-- Creates or replaces; returns status, body.
local function put_connector(name, config, create_only)
  if type(config) ~= "table" then
    return err(400, "the body must be a JSON object of the connector's config")
  end
  config = stringify(config)
  if config.name == nil then config.name = name end
  local _, problem = connect.check({ name = name, config = config }, { bootstrap = bootstrap })
  if problem then
    if problem:match("^Failed to find any class") then return err(400, problem) end
    return err(400, "Connector configuration is invalid and contains the following 1 error(s):\n" ..
                    problem)
  end
  local existing = connectors[name]
  if existing and create_only then return err(409, "Connector " .. name .. " already exists") end
  -- stored before it runs: a config the answer confirmed is in connect-configs
  local stored, problem_storing = store:put_config(name, config)
  if stored and not existing then stored, problem_storing = store:put_target_state(name, "STARTED") end
  if not stored then return err(500, problem_storing) end
  if existing then
    stop(existing)
    existing.config = config
    spawn(existing)
    return 200, info(existing)
  end
  local c = { name = name, config = config }
  connectors[name] = c
  order[#order + 1] = name
  spawn(c)
  return 201, info(c)
end

local function route(method, target, body)
  local path, query = target:match("^([^?]*)%??(.*)$")
  path = path:gsub("/+$", "")
  if path == "" and method == "GET" then
    return 200, { version = "3.6.0-streamhost", commit = "streamhost", kafka_cluster_id = bootstrap }
  end
  if path == "/connector-plugins" and method == "GET" then return 200, connect.plugins() end
  if path == "/connectors" then
    if method == "GET" and query:match("expand=") then
      -- ?expand=status&expand=info: {name: {status: ..., info: ...}}
      local out = {}
      for _, name in ipairs(order) do
        local entry = {}
        if query:match("expand=status") then entry.status = status_of(connectors[name]) end
        if query:match("expand=info") then entry.info = info(connectors[name]) end
        out[name] = entry
      end
      return 200, next(out) and out or "{}"
    end
    if method == "GET" then
      local names = {}
      for i, n in ipairs(order) do names[i] = cjson.encode(n) end
      return 200, "[" .. table.concat(names, ",") .. "]"   -- an empty list is [], not {}
    end
    if method == "POST" then
      local request = cjson.decode(body or "")
      if type(request) ~= "table" or type(request.config) ~= "table" then
        return err(400, "the body must be {\"name\": ..., \"config\": {...}}")
      end
      local name = request.name or request.config.name
      if type(name) ~= "string" or name == "" then return err(400, "the connector has no name") end
      return put_connector(name, request.config, true)
    end
    return err(405, "HTTP " .. method .. " is not supported on /connectors")
  end
  local name, rest = path:match("^/connectors/([^/]+)(.*)$")
  if not name then return err(404, "Unknown endpoint " .. path) end
  name = name:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if rest == "/config" and method == "PUT" then
    return put_connector(name, cjson.decode(body or ""), false)
  end
  local c = connectors[name]
  if not c then return err(404, "Connector " .. name .. " not found") end
  if rest == "" and method == "GET" then return 200, info(c) end
  if rest == "" and method == "DELETE" then
    local deleted, problem = store:delete(name)
    if not deleted then return err(500, problem) end
    stop(c)
    remove(name)
    log("deleted connector %s", name)
    return 204
  end
  if rest == "/config" and method == "GET" then return 200, c.config end
  if rest == "/status" and method == "GET" then return 200, status_of(c) end
  if rest == "/tasks" and method == "GET" then
    return 200, { { id = { connector = name, task = 0 }, config = c.config } }
  end
  if (rest == "/restart" or rest == "/tasks/0/restart") and method == "POST" then
    stop(c)
    spawn(c)
    return 204
  end
  if rest == "/pause" and method == "PUT" then
    local paused, problem = store:put_target_state(name, "PAUSED")
    if not paused then return err(500, problem) end
    stop(c)
    c.state, c.trace = "PAUSED", nil
    publish(c)
    return 202
  end
  if rest == "/resume" and method == "PUT" then
    local resumed, problem = store:put_target_state(name, "STARTED")
    if not resumed then return err(500, problem) end
    if c.state ~= "RUNNING" then spawn(c) end
    return 202
  end
  return err(405, "HTTP " .. method .. " " .. rest .. " is not supported on a connector")
end

local function send_all(fd, s)
  local sent = 0
  while sent < #s do
    local n = C.send(fd, ffi.cast("const char *", s) + sent, #s - sent, 0x4000) -- MSG_NOSIGNAL
    if n <= 0 then return end
    sent = sent + n
  end
end

local buf = ffi.new("char[65536]")

local function serve(fd)
  local tv = ffi.new("struct sh_timeval", { 10, 0 })
  C.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, ffi.sizeof(tv))
  local data = ""
  local head_end
  repeat
    local n = C.recv(fd, buf, 65536, 0)
    if n <= 0 then return end
    data = data .. ffi.string(buf, n)
    head_end = data:find("\r\n\r\n", 1, true)
    if #data > 1048576 then return end
  until head_end
  local head = data:sub(1, head_end - 1)
  local method, path = head:match("^(%u+) (%S+) HTTP/1%.%d")
  if not method then return end
  local length = tonumber(head:lower():match("\ncontent%-length:%s*(%d+)")) or 0
  if head:lower():match("\nexpect:%s*100%-continue") then send_all(fd, "HTTP/1.1 100 Continue\r\n\r\n") end
  local body = data:sub(head_end + 4)
  while #body < length do
    local n = C.recv(fd, buf, 65536, 0)
    if n <= 0 then return end
    body = body .. ffi.string(buf, n)
  end
  local ok, status, response = pcall(route, method, path, body)
  if not ok then
    log("%s %s failed: %s", method, path, tostring(status))
    status, response = err(500, tostring(status))
  end
  local text = type(response) == "string" and response or (response ~= nil and cjson.encode(response) or "")
  text = text:gsub("\\/", "/")
  send_all(fd, string.format("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" ..
                             "Connection: close\r\n\r\n%s", status, REASONS[status] or "", #text, text))
  -- reads are polled (make demo's view): only changes and refusals are logged
  if method ~= "GET" or status >= 400 then log("%s %s -> %d", method, path, status) end
end

-- main -----------------------------------------------------------------------------
local mask = ffi.new("sh_sigset_t")
C.sigemptyset(mask)
C.sigaddset(mask, SIGINT)
C.sigaddset(mask, SIGTERM)
C.sigprocmask(SIG_BLOCK, mask, nil)
local sigfd = C.signalfd(-1, mask, 0x80000)

local listener = C.socket(AF_INET, SOCK_STREAM + SOCK_CLOEXEC, 0)
local one = ffi.new("int[1]", 1)
C.setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, one, 4)
local addr = ffi.new("struct sh_sockaddr_in")
addr.family, addr.port, addr.addr = AF_INET, C.htons(port), 0x0100007f -- 127.0.0.1
if C.bind(listener, addr, ffi.sizeof(addr)) ~= 0 or C.listen(listener, 64) ~= 0 then
  io.stderr:write(string.format("streamhost connect: cannot listen on 127.0.0.1:%d: %s\n", port,
                                ffi.string(C.strerror(ffi.errno()))))
  os.exit(1)
end
local len = ffi.new("unsigned[1]", ffi.sizeof(addr))
C.getsockname(listener, addr, len)
port = C.ntohs(addr.port)
worker_id = "127.0.0.1:" .. port

-- the connectors connect-configs holds, as they were
do
  local problem
  store, problem = connect_store.open(bootstrap)
  local list = store and 0
  if store then list, problem = store:load() end
  if not list then
    io.stderr:write("streamhost connect: ", problem, "\n")
    os.exit(1)
  end
  for _, saved in ipairs(list) do
    local c = { name = saved.name, config = saved.config, state = "PAUSED" }
    connectors[c.name] = c
    order[#order + 1] = c.name
    if saved.paused then publish(c) else spawn(c) end
  end
end

print("connect.url=http://" .. worker_id)
io.stdout:flush()
log("worker %s on %s, connectors in %s, %s, %s; their logs in %s", worker_id, bootstrap,
    connect_store.TOPICS.configs, connect_store.TOPICS.status, connect_store.TOPICS.offsets, state_dir)

local fds = ffi.new("struct sh_pollfd[2]")
fds[0].fd, fds[0].events = listener, POLLIN
fds[1].fd, fds[1].events = sigfd, POLLIN
while true do
  fds[0].revents, fds[1].revents = 0, 0
  C.poll(fds, 2, 500)
  if bit.band(fds[1].revents, POLLIN) ~= 0 then break end
  if bit.band(fds[0].revents, POLLIN) ~= 0 then
    local fd = C.accept4(listener, nil, nil, SOCK_CLOEXEC)
    if fd >= 0 then
      serve(fd)
      C.close(fd)
    end
  end
  reap()
end

-- newest first, as they were started
C.close(listener)
for i = #order, 1, -1 do
  local c = connectors[order[i]]
  if c.pid then
    stop(c)
    log("stopped connector %s", c.name)
  end
end
log("stopped")
os.exit(0)
