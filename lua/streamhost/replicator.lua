-- streamhost.replicator: a replicator's configuration in Lua, for
-- `streamhost replicate FILE.lua`:
--
--   local sh = require "streamhost"
--   return sh.replicator {
--     ["topic.regex"] = "dc[0-9][0-9][_].*",
--     ["topic.blacklist"] = "dc01_out_of_stock_events",
--     ["src.kafka.bootstrap.servers"] = "127.0.0.1:9092",
--     ["dest.kafka.bootstrap.servers"] = "127.0.0.1:9093",
--   }
--
-- It checks the property names (Confluent Replicator's, see
-- runtime/replicator/config.h) where the mistake is made, with the file's
-- line, and returns them as strings; the C side reads them.
local _M = {}

local NAMES = {
  name = true, http = true, ["topic.regex"] = true, ["topic.whitelist"] = true,
  ["topic.blacklist"] = true, ["topic.include"] = true, ["topic.exclude"] = true,
  ["topic.rename.format"] = true, ["topic.poll.interval.ms"] = true,
  ["lag.log.interval.ms"] = true, ["src.consumer.group.id"] = true,
  ["provenance.header.enable"] = true, ["dest.kafka.replication.factor"] = true,
}
-- client properties, and Connect's keys that are accepted and ignored
local PREFIXES = { "src.kafka.", "src.consumer.", "dest.kafka.", "dest.producer.",
                   "connector.class", "key.converter", "value.converter", "header.converter",
                   "tasks.max", "topic.config.sync", "src.key.converter", "src.value.converter",
                   "confluent.", "offset.", "topic.auto.create", "topic.preserve.partitions",
                   "topic.timestamp.type", "errors.", "config.action.reload", "transforms" }

local function known(name)
  if NAMES[name] then return true end
  for _, prefix in ipairs(PREFIXES) do
    if name:sub(1, #prefix) == prefix then return true end
  end
  return false
end

function _M.config(props)
  if type(props) ~= "table" then error("sh.replicator expects a table of properties", 2) end
  local out = {}
  for name, value in pairs(props) do
    if type(name) ~= "string" then error("sh.replicator: property names are strings", 2) end
    if not known(name) then
      error(string.format("sh.replicator: unknown property '%s' (Replicator's names: " ..
                          "topic.regex, topic.whitelist, topic.blacklist, topic.rename.format, " ..
                          "src.kafka.*, dest.kafka.*, src.consumer.group.id, ...)", name), 2)
    end
    local kind = type(value)
    if kind ~= "string" and kind ~= "number" and kind ~= "boolean" then
      error(string.format("sh.replicator: '%s' must be a string, a number or a boolean, got %s",
                          name, kind), 2)
    end
    out[name] = tostring(value)
  end
  if not out["topic.regex"] and not out["topic.whitelist"] and not out["topic.include"] then
    error("sh.replicator: say which topics to copy: topic.regex or topic.whitelist", 2)
  end
  return out
end

return _M
