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

return _M
