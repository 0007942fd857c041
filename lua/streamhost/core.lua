-- The C core as Lua sees it: the FFI declarations (generated from
-- runtime/include/streamhost_ffi.h) and the library they resolve in. Inside
-- bin/streamhost the symbols are in the executable itself (ffi.C); under
-- busted they come from lib/libstreamhost.so.
local ffi = require "ffi"

local _M = {}

ffi.cdef(require "streamhost.cdefs")

local function find_library()
  local ok = pcall(function() return ffi.C.sh_ffi_now_ms end)
  if ok then return ffi.C end
  local path = os.getenv("STREAMHOST_LIB")
  if not path then
    local here = debug.getinfo(1, "S").source:match("^@(.*)/streamhost/core%.lua$") or "lua"
    path = here .. "/../lib/libstreamhost.so"
  end
  return ffi.load(path)
end

_M.C = find_library()
_M.record_ptr_t = ffi.typeof("sh_ffi_record_t *")
_M.record_array_t = ffi.typeof("sh_ffi_record_t[?]")
_M.header_array_t = ffi.typeof("sh_ffi_header_t[?]")

local C = _M.C
local LEVELS = { error = 0, warn = 1, info = 2, debug = 3 }

function _M.log(level, fmt, ...)
  C.sh_ffi_log(LEVELS[level], select("#", ...) > 0 and string.format(fmt, ...) or fmt)
end

function _M.errmsg(ctx)
  return ffi.string(C.sh_ffi_ctx_errmsg(ctx))
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
