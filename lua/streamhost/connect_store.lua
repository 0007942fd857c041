-- `streamhost connect`'s state in Kafka, as Kafka Connect's distributed
-- mode keeps it, so a restarted worker (or another tool reading Connect's
-- topics) finds the connectors where they were:
--
--   connect-configs  connector-<name>      {"properties": {...}}   (tombstone: deleted)
--                    task-<name>-0         {"properties": {...}}   the one task's config
--                    commit-<name>         {"tasks": 1}
--                    target-state-<name>   {"state": "STARTED"|"PAUSED"}
--   connect-status   status-connector-<name>, status-task-<name>-0
--                    {"state": ..., "trace": ..., "worker_id": ..., "generation": 0}
--   connect-offsets  ["<name>", {source partition}] -> {source offset}: written
--                    by the connectors themselves (the CDC source's positions,
--                    under Debezium's key ["<name>", {"server": "<prefix>"}])
--
-- Values are Connect's internal JsonConverter output (schemas.enable=false).
-- The topics are compacted, one partition each (kafka/topic_table.c). Every
-- write waits for the broker's ack, so what the REST API confirmed is stored.
--
--   local store = assert(require("streamhost.connect_store").open(bootstrap))
--   for _, c in ipairs(assert(store:load())) do ... c.name, c.config, c.paused end
local ffi = require "ffi"
local cjson = require "cjson.safe"
local core = require "streamhost.core"

local C = core.C
local WRITE_TIMEOUT_MS = 10000

local _M = {}
_M.TOPICS = { configs = "connect-configs", offsets = "connect-offsets", status = "connect-status" }

local Store = {}
Store.__index = Store

local function fail(what)
  local message = core.last_error()
  return nil, what .. ": " .. message
end

-- Opens (and creates when missing) the three topics on bootstrap.
function _M.open(bootstrap, topics)
  topics = topics or _M.TOPICS
  local self = setmetatable({ topics = topics }, Store)
  for _, which in ipairs { "configs", "status", "offsets" } do
    local handle = C.sh_ffi_topic_table_open(bootstrap, topics[which])
    if handle == nil then return fail("connect: cannot open " .. topics[which]) end
    self[which] = ffi.gc(handle, C.sh_ffi_topic_table_close)
  end
  return self
end

-- Every record of a topic, in order: { {key, value or nil}, ... }.
local key_slice, value_slice = ffi.new("sh_ffi_slice_t"), ffi.new("sh_ffi_slice_t")
local function records(handle)
  if C.sh_ffi_topic_table_read(handle) ~= C.SH_OK then return nil end
  local out = {}
  for i = 0, C.sh_ffi_topic_table_count(handle) - 1 do
    C.sh_ffi_topic_table_record(handle, i, key_slice, value_slice)
    out[#out + 1] = { ffi.string(key_slice.data, key_slice.len),
                      value_slice.data ~= nil and ffi.string(value_slice.data, value_slice.len) or nil }
  end
  return out
end

-- The connectors connect-configs holds, in the order they were created:
-- { {name =, config =, paused =}, ... }, or nil and a message.
function Store:load()
  local list = records(self.configs)
  if not list then return fail("connect: cannot read " .. self.topics.configs) end
  local by_name, order = {}, {}
  for _, r in ipairs(list) do
    local key, value = r[1], r[2]
    local decoded = value and cjson.decode(value)
    local name = key:match("^connector%-(.+)$")
    local target = key:match("^target%-state%-(.+)$")
    if name then
      if type(decoded) == "table" and type(decoded.properties) == "table" then
        if not by_name[name] then order[#order + 1] = name end
        by_name[name] = by_name[name] or {}
        by_name[name].config = decoded.properties
      else
        by_name[name] = nil   -- a tombstone: deleted
      end
    elseif target and by_name[target] then
      by_name[target].paused = type(decoded) == "table" and decoded.state == "PAUSED"
    end
  end
  local out = {}
  for _, name in ipairs(order) do
    local c = by_name[name]
    if c and c.config then out[#out + 1] = { name = name, config = c.config, paused = c.paused or false } end
  end
  return out
end

local function write(self, which, key, value)
  local text = value ~= nil and cjson.encode(value) or nil
  if C.sh_ffi_topic_table_write(self[which], key, text, text and #text or 0, WRITE_TIMEOUT_MS) ~= C.SH_OK then
    return fail("connect")
  end
  return true
end

-- A connector's config, its one task's and the commit of both, as Connect
-- writes them when a connector is created or reconfigured.
function Store:put_config(name, config)
  local ok, err = write(self, "configs", "connector-" .. name, { properties = config })
  if not ok then return nil, err end
  local task = {}
  for k, v in pairs(config) do task[k] = v end
  ok, err = write(self, "configs", "task-" .. name .. "-0", { properties = task })
  if not ok then return nil, err end
  return write(self, "configs", "commit-" .. name, { tasks = 1 })
end

-- "STARTED" or "PAUSED".
function Store:put_target_state(name, state)
  return write(self, "configs", "target-state-" .. name, { state = state })
end

-- Tombstones for the connector's config, target state and statuses.
function Store:delete(name)
  for _, key in ipairs { "connector-" .. name, "target-state-" .. name } do
    local ok, err = write(self, "configs", key, nil)
    if not ok then return nil, err end
  end
  for _, key in ipairs { "status-connector-" .. name, "status-task-" .. name .. "-0" } do
    local ok, err = write(self, "status", key, nil)
    if not ok then return nil, err end
  end
  return true
end

-- The connector's and its task's state (RUNNING, PAUSED, FAILED with trace).
function Store:put_status(name, state, trace, worker_id)
  local status = { state = state, trace = trace or cjson.null, worker_id = worker_id, generation = 0 }
  local ok, err = write(self, "status", "status-connector-" .. name, status)
  if not ok then return nil, err end
  return write(self, "status", "status-task-" .. name .. "-0", status)
end

return _M
