-- streamhost: the module an app requires.
--
--   local sh = require "streamhost"
--   return sh.app { id = "...", kafka = {...}, topology = function(b) ... end }
--
-- sh.app checks the app's settings and returns them; the host (runner.lua)
-- or the test driver (testing.lua) builds and runs the topology.
local _M = {}

local APP_KEYS = {
  id = "string", kafka = "table", topology = "function", on_error = "string",
  serdes = "table", threads = "number", state_dir = "string", http = "string",
  ["memory.limit"] = { number = true, string = true }, ["max.batch.ms"] = { number = true, string = true },
  ["startup.timeout"] = { number = true, string = true },
  ["max.task.idle.ms"] = { number = true, string = true },
}
local POLICIES = { fail = true, skip = true, dead_letter = true }

local app_mt = { __name = "streamhost.app" }

-- `return sh.app { ... }` is a tail call, so the app file's frame is gone when
-- sh.app raises and error(msg, 2) would name no line. Point at a function
-- the app file defines instead (the faulty setting, or topology).
local function usage_error(spec, key, msg)
  local fn = type(spec) == "table" and
             (type(spec[key]) == "function" and spec[key] or spec.topology) or nil
  local defined = type(fn) == "function" and debug.getinfo(fn, "S")
  local caller = debug.getinfo(3, "Sl")
  -- LuaJIT keeps no frame for the tail call: level 3 is whoever ran the app
  -- file. Trust it only when it is the file that defines the app's functions.
  if caller and caller.currentline > 0 and (not defined or caller.source == defined.source) then
    error(msg, 3)
  end
  if defined and defined.what == "Lua" then
    error(string.format("%s:%d: %s", (defined.source:gsub("^@", "")), defined.linedefined, msg), 0)
  end
  error(msg, 3)
end

function _M.app(spec)
  if type(spec) ~= "table" then usage_error(spec, nil, "sh.app expects a table") end
  for key, value in pairs(spec) do
    local want = APP_KEYS[key]
    if not want then
      usage_error(spec, key, string.format("sh.app: unknown setting '%s'", tostring(key)))
    end
    if type(want) == "table" and not want[type(value)] then
      usage_error(spec, key, string.format("sh.app: '%s' must be a number or a string, got %s", key,
                                           type(value)))
    elseif type(want) == "string" and type(value) ~= want then
      usage_error(spec, key, string.format("sh.app: '%s' must be a %s, got %s", key, want,
                                           type(value)))
    end
  end
  if not spec.id or not spec.id:match("^[%w%._%-]+$") then
    usage_error(spec, "id", "sh.app: 'id' is required: letters, digits, '.', '_' or '-' " ..
                            "(it names the consumer group and internal topics)")
  end
  if not spec.topology then usage_error(spec, "topology", "sh.app: 'topology' function is required") end
  if spec.on_error and not POLICIES[spec.on_error] then
    usage_error(spec, "on_error", "sh.app: on_error must be \"fail\", \"skip\" or " ..
                                  "\"dead_letter\", got \"" .. spec.on_error .. "\"")
  end
  if spec.threads and (spec.threads < 1 or spec.threads ~= math.floor(spec.threads)) then
    usage_error(spec, "threads", "sh.app: threads must be a whole number >= 1")
  end
  -- state_dir and http are the defaults of --state-dir and --http: the host
  -- reads them (vm.c), and a flag given on the command line wins.
  if spec.state_dir == "" then
    usage_error(spec, "state_dir", "sh.app: state_dir must name a directory")
  end
  if spec.http and spec.http ~= "off" and not spec.http:match("^[^:]*:%d+$") then
    usage_error(spec, "http", "sh.app: http must be \"HOST:PORT\" (port 0 picks one) or " ..
                              "\"off\", got \"" .. spec.http .. "\"")
  end
  -- the Lua VM's memory budget and the watchdog's limit on one batch
  if spec["memory.limit"] ~= nil then
    local bytes = _M.bytes(spec["memory.limit"])
    if not bytes or bytes < 16 * 1024 * 1024 then
      usage_error(spec, "memory.limit", "sh.app: memory.limit must be a size of at least 16MB " ..
                                        "(\"256MB\", \"1GB\" or bytes), got " ..
                                        tostring(spec["memory.limit"]))
    end
    spec.memory_limit = bytes
  end
  if spec["max.batch.ms"] ~= nil then
    local ok, ms = pcall(require("streamhost.window").duration, spec["max.batch.ms"], "max.batch.ms")
    if not ok or type(ms) ~= "number" or ms < 100 then
      usage_error(spec, "max.batch.ms", "sh.app: max.batch.ms must be a duration of at least " ..
                                        "100 ms (30000, \"30s\"), got " .. tostring(spec["max.batch.ms"]))
    end
    spec.max_batch_ms = ms
  end
  -- how long `run` waits for a broker to answer at start before it exits
  if spec["startup.timeout"] ~= nil then
    local ok, ms = pcall(require("streamhost.window").duration, spec["startup.timeout"], "startup.timeout")
    if not ok or type(ms) ~= "number" or ms < 1000 then
      usage_error(spec, "startup.timeout", "sh.app: startup.timeout must be a duration of at " ..
                                           "least 1s (30000, \"30s\"), got " ..
                                           tostring(spec["startup.timeout"]))
    end
    spec.startup_timeout_ms = ms
  end
  -- Kafka Streams' max.task.idle.ms: how long a task with an input at its
  -- end waits for it before the other inputs go on (0: only while data is
  -- known to be on the way; -1: never waits)
  if spec["max.task.idle.ms"] ~= nil then
    local given = spec["max.task.idle.ms"]
    local ok, ms = true, -1
    if given ~= -1 and given ~= "-1" then
      ok, ms = pcall(require("streamhost.window").duration, given, "max.task.idle.ms")
    end
    if not ok or type(ms) ~= "number" or (ms < 0 and ms ~= -1) or ms ~= math.floor(ms) then
      usage_error(spec, "max.task.idle.ms", "sh.app: max.task.idle.ms must be a duration " ..
                                            "(2000, \"2s\", 0) or -1 (never wait), got " ..
                                            tostring(given))
    end
    spec.max_task_idle_ms = ms
  end
  spec.kafka = spec.kafka or {}
  return setmetatable(spec, app_mt)
end

local window = require "streamhost.window"
_M.tumbling = window.tumbling
_M.hopping = window.hopping
_M.session = window.session
_M.duration = window.duration
-- ksqlDB's TIMESTAMPTOSTRING(ms, 'HH:mm:ss') (UTC)
_M.timestamp_to_string = window.timestamp_to_string

-- sh.windowed("int", { size = "3m" }): the key format of a windowed table's
-- topic (Kafka Streams' TimeWindowedSerde: the key, then the window start);
-- sh.windowed("int", { session = true }) for session windows
-- (SessionWindowedSerde: the key, then end and start). A stream reading
-- such a topic gets the inner key and rec.window = { start =, ["end"] = }.
function _M.windowed(inner, opts)
  local serde = require "streamhost.serde"
  serde.get(inner, 2)
  if serde.windowed(inner) then error("sh.windowed: " .. inner .. " is windowed already", 2) end
  if type(opts) ~= "table" or (opts.size == nil) == (not opts.session) then
    error("sh.windowed(inner, { size = \"3m\" }) for time windows, or " ..
          "(inner, { session = true }) for sessions", 2)
  end
  if opts.session then return "session-windowed:" .. inner end
  local size = window.duration(opts.size, "sh.windowed size", 2)
  if size <= 0 then error("sh.windowed: size must be positive", 2) end
  return "windowed:" .. inner .. ":" .. string.format("%d", size)
end

-- A MySQL connection the C core owns, for statements from timers (the
-- orders application): mysql.connect's options and handle, in the module an
-- app may require (streamhost.mysql itself reaches the FFI).
function _M.mysql_connect(opts) return require("streamhost.mysql").connect(opts) end

-- A line in the host's log: sh.log("info", "made %d orders", n).
local LOG_LEVELS = { error = true, warn = true, info = true, debug = true }
function _M.log(level, fmt, ...)
  if not LOG_LEVELS[level] then error("sh.log: level must be error, warn, info or debug", 2) end
  return require("streamhost.core").log(level, fmt, ...)
end

function _M.is_app(x) return getmetatable(x) == app_mt end

-- Bytes of a size: a number of bytes, or "512KB", "256MB", "1GB".
function _M.bytes(size)
  if type(size) == "number" then return size >= 0 and math.floor(size) or nil end
  if type(size) ~= "string" then return nil end
  local n, unit = size:upper():match("^%s*(%d+)%s*([KMG]?)B?%s*$")
  if not n then return nil end
  return tonumber(n) * ({ [""] = 1, K = 1024, M = 1024 ^ 2, G = 1024 ^ 3 })[unit]
end

-- A replicator's properties, checked: `return sh.replicator { ... }` is a
-- file for `streamhost replicate` (streamhost/replicator.lua).
function _M.replicator(props)
  local ok, result = pcall(require("streamhost.replicator").config, props)
  if not ok then error(result:gsub("^[^:]+:%d+: ", ""), 2) end
  return result
end

-- The version of the app in force (1 at start, +1 per successful reload).
function _M.version()
  local ctx = _M.current_ctx
  if not ctx then return 0 end
  return require("streamhost.core").C.sh_ffi_ctx_version(ctx)
end

return _M
