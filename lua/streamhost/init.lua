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
}
local POLICIES = { fail = true, skip = true, dead_letter = true }

local app_mt = { __name = "streamhost.app" }

function _M.app(spec)
  if type(spec) ~= "table" then error("sh.app expects a table", 2) end
  for key, value in pairs(spec) do
    local want = APP_KEYS[key]
    if not want then
      error(string.format("sh.app: unknown setting '%s'", tostring(key)), 2)
    end
    if type(value) ~= want then
      error(string.format("sh.app: '%s' must be a %s, got %s", key, want, type(value)), 2)
    end
  end
  if not spec.id or not spec.id:match("^[%w%._%-]+$") then
    error("sh.app: 'id' is required: letters, digits, '.', '_' or '-' (it names the " ..
          "consumer group and internal topics)", 2)
  end
  if not spec.topology then error("sh.app: 'topology' function is required", 2) end
  if spec.on_error and not POLICIES[spec.on_error] then
    error("sh.app: on_error must be \"fail\", \"skip\" or \"dead_letter\", got \"" ..
          spec.on_error .. "\"", 2)
  end
  spec.kafka = spec.kafka or {}
  return setmetatable(spec, app_mt)
end

function _M.is_app(x) return getmetatable(x) == app_mt end

-- The version of the app in force (1 at start, +1 per successful reload).
function _M.version()
  local ctx = _M.current_ctx
  if not ctx then return 0 end
  return require("streamhost.core").C.sh_ffi_ctx_version(ctx)
end

return _M
