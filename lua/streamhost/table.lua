-- KTable: a changelog stream seen as the latest value per key.
--
-- Table nodes push (key, new, old, rec): the new value (nil: deleted) and
-- the one it replaced, so that downstream aggregations can subtract the old
-- and add the new (Kafka Streams' Change<V>). Every table node also has a
-- getter, getter(key, partition) -> current value, which joins use to look
-- a key up: a source table or an aggregation reads its store, a filter or
-- map_values applies its function to its parent's value.
local topology = require "streamhost.topology"
local Store = require "streamhost.store"
local streams = require "streamhost.stream"

local compilers = topology.compilers
local _M = {}
local Table = {}
Table.__index = Table
_M.Table = Table

function _M.new(builder, node, key_serde, value_serde)
  return setmetatable({ builder = builder, node = node, key_serde = key_serde,
                        value_serde = value_serde }, Table)
end

function _M.is_table(x) return getmetatable(x) == Table end

-- Children compile before their parents, so a getter is looked up on use.
function _M.getter(inst, node)
  return function(k, partition) return inst.getters[node](k, partition) end
end

function _M.parent_getter(inst, node) return _M.getter(inst, node.parents[1]) end

-- b:table(topic, { key =, value =, name =, partitions = }): upsert by key,
-- a nil value deletes.
function _M.source(builder, topic, opts)
  if type(topic) ~= "string" then error("table(topic, opts): topic must be a name", 3) end
  opts = opts or {}
  local what = "table('" .. topic .. "')"
  local key = builder:serde_name(opts, "key", nil, what, 3)
  local value = builder:serde_name(opts, "value", nil, what, 3)
  local source = builder:source({ topic }, key, value, opts.partitions, 4)
  builder.table_topics[#builder.table_topics + 1] = topic
  local node = builder:add("table_source", { source }, {
    prefix = "KTABLE", store_name = opts.name or (topic .. "-table"), key_serde = key,
  })
  node.stores = { node.store_name }
  return _M.new(builder, node, key, value)
end

compilers.table_source = function(node, out, _, inst)
  local store = Store.declare(inst, { name = node.store_name, key_serde = node.key_serde,
                                      source_topic = node.task_topic })
  inst.getters[node] = function(k, partition) return store:get(k, partition) end
  return function(k, v, rec)
    if k == nil then
      inst.dropped(rec, "a table record needs a key")
      return
    end
    local old = store:get(k, rec.partition)
    store:put(k, v, rec.partition, rec.timestamp)
    if v ~= nil or old ~= nil then out(k, v, old, rec) end
  end
end

function Table:filter(fn)
  if type(fn) ~= "function" then error("filter expects a function", 2) end
  local node = self.builder:add("table_filter", { self.node }, { prefix = "KTABLE", fn = fn })
  return _M.new(self.builder, node, self.key_serde, self.value_serde)
end

compilers.table_filter = function(node, out, _, inst)
  local fn, parent = node.fn, _M.parent_getter(inst, node)
  local function keep(k, v, rec) if v ~= nil and fn(k, v, rec) then return v end end
  inst.getters[node] = function(k, partition) return keep(k, parent(k, partition), {}) end
  return function(k, new, old, rec)
    new, old = keep(k, new, rec), keep(k, old, rec)
    -- a row that stops passing becomes a tombstone downstream, as in Kafka Streams
    if new ~= nil or old ~= nil then out(k, new, old, rec) end
  end
end

function Table:map_values(fn)
  if type(fn) ~= "function" then error("map_values expects a function", 2) end
  local node = self.builder:add("table_map_values", { self.node }, { prefix = "KTABLE", fn = fn })
  return _M.new(self.builder, node, self.key_serde, nil)
end

compilers.table_map_values = function(node, out, _, inst)
  local fn, parent = node.fn, _M.parent_getter(inst, node)
  local function map(k, v, rec) if v ~= nil then return fn(v, k, rec) end end
  inst.getters[node] = function(k, partition) return map(k, parent(k, partition), {}) end
  return function(k, new, old, rec) out(k, map(k, new, rec), map(k, old, rec), rec) end
end

-- The table's updates as a stream: deletions arrive as nil values.
function Table:to_stream()
  local node = self.builder:add("to_stream", { self.node }, { prefix = "KTABLE" })
  local s = streams.new(self.builder, node, self.key_serde, self.value_serde)
  return s
end

compilers.to_stream = function(_, out)
  return function(k, new, _, rec) out(k, new, rec) end
end

function Table:describe_store() return self.node.store_name end

return _M
