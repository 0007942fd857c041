-- The C core as Lua sees it: the FFI declarations (generated from
-- runtime/include/streamhost_ffi.h) and the library they resolve in. Inside
-- bin/streamhost the symbols are in the executable itself (ffi.C); under
-- busted they come from lib/libstreamhost.so.
local ffi = require "ffi"

local _M = {}

ffi.cdef(require "streamhost.cdefs")

local function find_library()
  local ok = pcall(function() return ffi.C.sh_ffi_clock_now_ms end)
  if ok then return ffi.C end
  local path = os.getenv("STREAMHOST_LIB")
  if not path then
    local here = debug.getinfo(1, "S").source:match("^@(.*)/streamhost/core%.lua$") or "lua"
    path = here .. "/../lib/libstreamhost.so"
  end
  return ffi.load(path)
end

-- The library stays loaded for the life of the process. LuaJIT unloads an
-- ffi.load'ed library (dlclose) when its namespace is collected, but cdata
-- finalizers (ffi.gc(h, C.sh_ffi_json_free), ...) and compiled traces keep
-- bare addresses into it: once this module was dropped (busted drops the
-- modules a spec file loaded, a host may reload), the next such finalizer
-- jumped into unmapped memory. The registry outlives every load of this
-- module, so the first namespace is the one every load shares.
local REGISTRY_KEY = "streamhost.core.library"
local function library()
  local registry = debug.getregistry()
  local lib = registry[REGISTRY_KEY]
  if lib == nil then
    lib = find_library()
    registry[REGISTRY_KEY] = lib
  end
  return lib
end

_M.C = library()
_M.record_ptr_t = ffi.typeof("sh_ffi_record_t *")
_M.record_array_t = ffi.typeof("sh_ffi_record_t[?]")
_M.header_array_t = ffi.typeof("sh_ffi_header_t[?]")

local C = _M.C
local LEVELS = { error = 0, warn = 1, info = 2, debug = 3 }

function _M.log(level, fmt, ...)
  C.sh_ffi_log_write(LEVELS[level], select("#", ...) > 0 and string.format(fmt, ...) or fmt)
end

-- The C core's one error channel: the calling thread's last failure, as
-- (message, name), e.g. ("store counts partition 0: get: IO error", "SH_ERR_STORE").
-- Read it right after the call that failed; success does not clear it.
function _M.last_error()
  return ffi.string(C.sh_ffi_err_message()), ffi.string(C.sh_ffi_err_name(C.sh_ffi_err_code()))
end

-- The last error as one line for error(): "message (SH_ERR_NAME)".
function _M.failure()
  local message, name = _M.last_error()
  return message .. " (" .. name .. ")"
end

-- Declare a sink or source on a context and return its index. They fail
-- only while a topology is built (no name, out of memory): raise then.
function _M.sink_add(ctx, topic, partitions)
  local index = C.sh_ffi_sink_add(ctx, topic, partitions or 0)
  if index < 0 then error(_M.failure(), 0) end
  return index
end

function _M.source_add(ctx, topic)
  local index = C.sh_ffi_source_add(ctx, topic)
  if index < 0 then error(_M.failure(), 0) end
  return index
end

-- Internal topic names come from C (base/topic_name.c), so C and Lua can
-- never name a changelog, repartition or dead letter topic differently.
local TOPIC_KINDS = { changelog = C.SH_TOPIC_CHANGELOG, repartition = C.SH_TOPIC_REPARTITION,
                      dlq = C.SH_TOPIC_DLQ }
local topic_buf_len = 512 -- Kafka caps topic names at 249 bytes
local topic_buf = ffi.new("char[?]", topic_buf_len)

-- The app's internal topic of kind ("changelog", "repartition", "dlq") for
-- name (a store or repartition name; none for "dlq").
function _M.topic_name(app_id, kind, name)
  local k = TOPIC_KINDS[kind]
  if not k then error("no internal topic kind " .. tostring(kind), 2) end
  if C.sh_ffi_topic_name(app_id, k, name, topic_buf, topic_buf_len) ~= C.SH_OK then
    error("cannot name the " .. kind .. " topic of " .. tostring(app_id) .. " " ..
          tostring(name) .. " (a topic name is at most 249 bytes)", 2)
  end
  return ffi.string(topic_buf)
end

return _M
