-- Joins: stream-stream within a window, stream-table, table-table.
--
-- left:join(right, joiner, opts), left:left_join(...), left:outer_join(...).
-- The joiner is (left_value, right_value, key) -> joined value; a missing
-- side is nil. Both sides must be co-partitioned: when both declare their
-- partitions and they differ, loading fails and says how to fix it.
--
-- stream-stream: each side keeps its records in a window store keyed by
-- (key, timestamp); a record joins the other side's records within
-- `within` of its timestamp, and the result carries the later timestamp.
-- left/outer joins emit (value, nil) at once when nothing matches yet
-- (Kafka Streams before 3.1 and ksqlDB 0.9, which the workshop runs), so a
-- later match adds a second result. stream-table: a stream record looks the
-- key up in the table; table updates do not emit. table-table: an update on
-- either side looks up the other and emits the joined row.
local topology = require "streamhost.topology"
local Store = require "streamhost.store"
local window = require "streamhost.window"
local tables = require "streamhost.table"
local streams = require "streamhost.stream"

local compilers = topology.compilers
local _M = {}

-- builder:add makes the fields table the node itself: each node its own copy
local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function partitions_of(node)
  return node.partitions
end

local function check_copartitioned(left, right, level)
  local lp, rp = partitions_of(left.node), partitions_of(right.node)
  if lp and rp and lp ~= rp then
    error(string.format("join: %s has %d partitions and %s has %d; the sides of a join must be " ..
                        "co-partitioned: re-key one side with select_key(...) and write it to " ..
                        "a topic with %d partitions (to(topic, { partitions = %d })), then " ..
                        "read that topic", left.node.task_topic, lp, right.node.task_topic, rp,
                        lp, lp), level + 1)
  end
end

local function join(left, right, joiner, opts, mode, level)
  if type(joiner) ~= "function" then error("join expects a joiner function", level + 1) end
  opts = opts or {}
  local b = left.builder
  check_copartitioned(left, right, level + 1)
  if streams.is_stream(left) and streams.is_stream(right) then
    if not opts.within then
      error("a stream-stream join needs opts.within (say { within = \"1s\" })", level + 1)
    end
    local within = window.duration(opts.within, "join within", level + 1)
    local grace = opts.grace and window.duration(opts.grace, "join grace", level + 1)
                  or 24 * 3600000
    local name = opts.name or string.format("KSTREAM-JOIN-%010d", #b.nodes)
    local spec = { prefix = "KSTREAM", mode = mode, joiner = joiner, within = within,
                   grace = grace, left_store = name .. "-left", right_store = name .. "-right",
                   key_serde = left.key_serde or right.key_serde or "json" }
    local l = b:add("join_left_arm", { left.node }, copy(spec))
    local r = b:add("join_right_arm", { right.node }, copy(spec))
    l.stores = { spec.left_store, spec.right_store }
    r.stores = l.stores
    local merged = b:add("merge", { l, r })
    return streams.new(b, merged, left.key_serde, nil)
  elseif streams.is_stream(left) and tables.is_table(right) then
    if mode == "outer" then error("stream-table joins are inner or left", level + 1) end
    local node = b:add("stream_table_join", { left.node }, { mode = mode, joiner = joiner,
                                                             table_node = right.node })
    return streams.new(b, node, left.key_serde, nil)
  elseif tables.is_table(left) and tables.is_table(right) then
    local spec = { prefix = "KTABLE", mode = mode, joiner = joiner,
                   left_node = left.node, right_node = right.node }
    b:add("table_join_left", { left.node }, copy(spec))
    b:add("table_join_right", { right.node }, copy(spec))
    local merged = b:add("table_join_merge", { left.node.children[#left.node.children],
                                                right.node.children[#right.node.children] },
                         copy(spec))
    return tables.new(b, merged, left.key_serde, nil)
  end
  error("join: cannot join a " .. (tables.is_table(left) and "table" or "stream") ..
        " with a " .. (tables.is_table(right) and "table" or "stream") ..
        "; join a stream or table with a stream or table", level + 1)
end

for _, class in ipairs({ streams.Stream, tables.Table }) do
  function class:join(other, joiner, opts) return join(self, other, joiner, opts, "inner", 2) end
  function class:left_join(other, joiner, opts) return join(self, other, joiner, opts, "left", 2) end
  function class:outer_join(other, joiner, opts) return join(self, other, joiner, opts, "outer", 2) end
end

-- ---- stream-stream ----

local function declare_arm_store(inst, name, node)
  return Store.declare(inst, { name = name, key_serde = node.key_serde,
                               source_topic = node.task_topic, kind = Store.WINDOW,
                               retention = 2 * node.within + node.grace })
end

local function arm(node, out, inst, this_name, other_name, this_is_left)
  local mode, joiner, within = node.mode, node.joiner, node.within
  local this_store, other_store
  local emit_unmatched = mode == "outer" or (mode == "left" and this_is_left)
  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in a join") end
    this_store = this_store or inst.stores[this_name]
    other_store = other_store or inst.stores[other_name]
    local p, ts = rec.partition, rec.timestamp
    local here = this_store:window_get(k, ts, p) or {}
    here[#here + 1] = v
    this_store:window_put(k, ts, here, p, ts)
    local matched = false
    local saved_ts = ts
    for _, w in ipairs(other_store:fetch(k, ts - within, ts + within, p)) do
      for _, ov in ipairs(w.value) do
        matched = true
        rec.timestamp = w.start > ts and w.start or ts
        if this_is_left then out(k, joiner(v, ov, k), rec) else out(k, joiner(ov, v, k), rec) end
      end
    end
    rec.timestamp = saved_ts
    if not matched and emit_unmatched then
      if this_is_left then out(k, joiner(v, nil, k), rec) else out(k, joiner(nil, v, k), rec) end
    end
  end
end

compilers.join_left_arm = function(node, out, _, inst)
  declare_arm_store(inst, node.left_store, node)
  return arm(node, out, inst, node.left_store, node.right_store, true)
end

compilers.join_right_arm = function(node, out, _, inst)
  declare_arm_store(inst, node.right_store, node)
  return arm(node, out, inst, node.right_store, node.left_store, false)
end

-- ---- stream-table ----

compilers.stream_table_join = function(node, out, _, inst)
  local lookup = tables.getter(inst, node.table_node)
  local joiner, left = node.joiner, node.mode == "left"
  return function(k, v, rec)
    if k == nil then return inst.dropped(rec, "nil key in a stream-table join") end
    local tv = lookup(k, rec.partition)
    if tv ~= nil then
      out(k, joiner(v, tv, k), rec)
    elseif left then
      out(k, joiner(v, nil, k), rec)
    end
  end
end

-- ---- table-table ----

local function joined(mode, joiner, lv, rv, k)
  if mode == "inner" and (lv == nil or rv == nil) then return nil end
  if mode == "left" and lv == nil then return nil end
  if lv == nil and rv == nil then return nil end
  return joiner(lv, rv, k)
end

-- An update on one side looks the other side up and emits the joined row.
local function table_arm(other_field, this_is_left)
  return function(node, out, _, inst)
    local other = tables.getter(inst, node[other_field])
    local mode, joiner = node.mode, node.joiner
    local function row(this, that, k)
      if this_is_left then return joined(mode, joiner, this, that, k) end
      return joined(mode, joiner, that, this, k)
    end
    return function(k, new, old, rec)
      local that = other(k, rec.partition)
      local jn, jo = row(new, that, k), row(old, that, k)
      if jn ~= nil or jo ~= nil then out(k, jn, jo, rec) end
    end
  end
end

compilers.table_join_left = table_arm("right_node", true)
compilers.table_join_right = table_arm("left_node", false)

compilers.table_join_merge = function(node, out, _, inst)
  local lget, rget = tables.getter(inst, node.left_node), tables.getter(inst, node.right_node)
  inst.getters[node] = function(k, p)
    return joined(node.mode, node.joiner, lget(k, p), rget(k, p), k)
  end
  return out
end

return _M
