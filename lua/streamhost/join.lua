-- Joins: stream-stream within a window, stream-table, table-table.
--
-- left:join(right, joiner, opts), left:left_join(...), left:outer_join(...).
-- The joiner is (left_value, right_value, key) -> joined value; a missing
-- side is nil. Both sides must be co-partitioned: when both declare their
-- partitions and they differ, loading fails and says how to fix it. A side
-- whose key was changed (select_key, map, flat_map) goes through
-- <id>-<name>-repartition first, as in Kafka Streams, so that its records
-- meet the other side's in the task of their new key.
--
-- stream-stream, as Kafka Streams 3.1+ (KIP-633) and ksqlDB with GRACE
-- PERIOD: each side keeps its records in a window store keyed by (key,
-- timestamp). A left record at t joins the right records in [t - before,
-- t + after] (within = "1s" is before = after = 1s), a right record at t
-- the left records in [t - after, t + before]; the result carries the later
-- timestamp. Stream time is the largest timestamp seen on either side. A
-- record whose own window closed (t + after, or t + before on the right,
-- + grace < stream time) is late: dropped, counted, logged. left/outer
-- joins hold an unmatched record in <name>-outer, a store with a
-- changelog, and emit (value, nil) with its own timestamp only once no
-- record that could match it can still come (t + before + after + grace <
-- stream time), so a later match never contradicts it; unmatched results
-- come in timestamp order. stream-table: a stream record looks the key up
-- in the table; table updates do not emit. table-table: an update on either
-- side looks up the other and emits the joined row.
local core = require "streamhost.core"
local topology = require "streamhost.topology"
local Store = require "streamhost.store"
local window = require "streamhost.window"
local tables = require "streamhost.table"
local streams = require "streamhost.stream"
local serde = require "streamhost.serde"
local origins = require "streamhost.markers"

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

-- A stream whose key changed is written to <id>-<name>-repartition and read
-- back (the host creates the topic, the test driver loops it), so each
-- record lands in the partition of its new key. Returns the node to join.
local function repartition(b, side, name, key_serde, partitions, level)
  if not side.key_changed then return side.node end
  local topic = core.topic_name(b.app.id, "repartition", name)
  local sink = b:add("sink", { side.node }, { topic = topic, key_serde = key_serde,
                                              value_serde = "json", internal = true })
  b.sinks[#b.sinks + 1] = sink
  local source = b:source({ topic }, key_serde, "json", partitions, level + 1)
  source.internal = true
  b.repartition_topics[#b.repartition_topics + 1] = topic
  return source
end

-- The key format a re-keyed side is written with: the other side's, else
-- opts.key, else the app's default.
local function rekeyed_serde(b, side, other, opts, level)
  if not side.key_changed then return side.key_serde end
  -- a windowed key is repartitioned by its inner key
  local name = opts.key or serde.inner(side.key_serde) or serde.inner(other.key_serde) or
               (b.app.serdes and b.app.serdes.key)
  if not name then
    error("join: the re-keyed side goes through a repartition topic and its key format is " ..
          "not known here; pass { key = \"int\" } (or string, long, json, bytes)", level + 1)
  end
  serde.get(name, level + 1)
  return name
end

-- within = "1s" or { before = "11s", after = "10s" } (ksqlDB's WITHIN (11
-- SECONDS, 10 SECONDS), Kafka Streams' JoinWindows.before/after).
local function join_window(opts, level)
  local within = opts.within
  if within == nil then
    error("a stream-stream join needs opts.within (say { within = \"1s\" } or " ..
          "{ within = { before = \"2s\", after = \"1s\" } })", level + 1)
  end
  local before, after
  if type(within) == "table" then
    before = window.duration(within.before, "join within.before", level + 1)
    after = window.duration(within.after, "join within.after", level + 1)
  else
    before = window.duration(within, "join within", level + 1)
    after = before
  end
  -- without grace, Kafka Streams' JoinWindows.of default: a day of
  -- retention, less the window's size
  local grace = opts.grace and window.duration(opts.grace, "join grace", level + 1)
                or math.max(24 * 3600000 - before - after, 0)
  return before, after, grace
end

local function join(left, right, joiner, opts, mode, level)
  if type(joiner) ~= "function" then error("join expects a joiner function", level + 1) end
  opts = opts or {}
  local b = left.builder
  check_copartitioned(left, right, level + 1)
  if streams.is_stream(left) and streams.is_stream(right) then
    local before, after, grace = join_window(opts, level + 1)
    local name = opts.name or string.format("KSTREAM-JOIN-%010d", #b.nodes)
    local lkey = rekeyed_serde(b, left, right, opts, level + 1)
    local rkey = rekeyed_serde(b, right, left, opts, level + 1)
    local lnode = repartition(b, left, name .. "-left", lkey, right.node.partitions, level + 1)
    local rnode = repartition(b, right, name .. "-right", rkey, left.node.partitions, level + 1)
    local spec = { prefix = "KSTREAM", mode = mode, joiner = joiner, before = before,
                   after = after, grace = grace, left_store = name .. "-left",
                   right_store = name .. "-right", outer_store = name .. "-outer",
                   key_serde = lkey or rkey or "json",
                   shared = { stream_times = {}, next_due = {} } }
    local l = b:add("join_left_arm", { lnode }, copy(spec))
    local r = b:add("join_right_arm", { rnode }, copy(spec))
    l.stores = { spec.left_store, spec.right_store }
    if mode ~= "inner" then l.stores[3] = spec.outer_store end
    r.stores = l.stores
    local merged = b:add("merge", { l, r })
    return streams.new(b, merged, lkey or rkey, nil)
  elseif streams.is_stream(left) and tables.is_table(right) then
    if mode == "outer" then error("stream-table joins are inner or left", level + 1) end
    local key = rekeyed_serde(b, left, right, opts, level + 1)
    local name = opts.name or string.format("KSTREAM-JOINTHIS-%010d", #b.nodes)
    local input = repartition(b, left, name, key, right.node.partitions, level + 1)
    local node = b:add("stream_table_join", { input }, { mode = mode, joiner = joiner,
                                                         table_node = right.node })
    return streams.new(b, node, key, nil)
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

-- Not tail calls: LuaJIT drops a tail-calling frame, and the error levels
-- would point one frame past the user's line.
for _, class in ipairs({ streams.Stream, tables.Table }) do
  function class:join(other, joiner, opts)
    local joined = join(self, other, joiner, opts, "inner", 2)
    return joined
  end
  function class:left_join(other, joiner, opts)
    local joined = join(self, other, joiner, opts, "left", 2)
    return joined
  end
  function class:outer_join(other, joiner, opts)
    local joined = join(self, other, joiner, opts, "outer", 2)
    return joined
  end
end

-- ---- stream-stream ----

local function declare_arm_store(inst, name, node)
  if inst.stores[name] then return inst.stores[name] end
  return Store.declare(inst, { name = name, key_serde = node.key_serde,
                               source_topic = node.task_topic, kind = Store.WINDOW,
                               retention = node.before + node.after + node.grace })
end

local format, sub = string.format, string.sub

-- The unmatched records of left/outer joins, waiting for their window to
-- close: keys are the timestamp as 16 digits, the side ("0" right, "1"
-- left: Kafka Streams' order at equal times) and the key's bytes, so the
-- store's order is the order they are due in; values are lists (several
-- records may share a key and timestamp). The smallest timestamp held per
-- partition is kept in memory so most records skip the scan (unknown after
-- a restart: one scan learns it).
local function outer_store(inst, node)
  local shared = node.shared
  if shared.outer then return shared.outer end
  local store = Store.declare(inst, { name = node.outer_store, key_serde = "bytes",
                                      source_topic = node.task_topic, kind = Store.KV })
  local kenc, kdec = serde.get(node.key_serde).encode, serde.get(node.key_serde).decode
  local next_due = shared.next_due
  local self = {}
  local function key_of(ts, is_left, k)
    return format("%016.0f", ts) .. (is_left and "1" or "0") .. kenc(k)
  end

  function self.hold(p, k, ts, is_left, v)
    local kb = key_of(ts, is_left, k)
    local list = store:get(kb, p) or {}
    list[#list + 1] = v
    store:put(kb, list, p, ts)
    if next_due[p] ~= nil and ts < next_due[p] then next_due[p] = ts end
  end

  -- The other side's record at (ts, k) has found a match: it is no longer
  -- unmatched.
  function self.matched(p, k, ts, is_left, now)
    local kb = key_of(ts, is_left, k)
    if store:get(kb, p) ~= nil then store:put(kb, nil, p, now) end
  end

  -- Emits (value, nil) or (nil, value) for every held record whose window
  -- has closed by stream time st, in timestamp order.
  function self.flush(p, st, rec, out, joiner)
    local span = node.before + node.after + node.grace
    local first = next_due[p]
    if first ~= nil and first + span >= st then return end
    local due = {}
    first = math.huge
    store:each(p, function(kb, list)
      local ts = tonumber(sub(kb, 1, 16))
      if ts + span >= st then first = ts; return false end
      due[#due + 1] = { kb = kb, ts = ts, is_left = sub(kb, 17, 17) == "1",
                        key = kdec(sub(kb, 18)), list = list }
    end)
    next_due[p] = first
    local saved = rec.timestamp
    for _, e in ipairs(due) do
      store:put(e.kb, nil, p, st)
      rec.timestamp = e.ts
      for _, v in ipairs(e.list) do
        if e.is_left then out(e.key, joiner(v, nil, e.key), rec)
        else out(e.key, joiner(nil, v, e.key), rec) end
      end
    end
    rec.timestamp = saved
  end

  shared.outer = self
  return self
end

local origin_of, replayed, marked = origins.origin_of, origins.replayed, origins.marked

-- One side of a stream-stream join. Both sides share stream time and the
-- store of unmatched records (node.shared).
local function arm(node, out, inst, this_is_left)
  local mode, joiner, grace = node.mode, node.joiner, node.grace
  local this_store = declare_arm_store(inst, this_is_left and node.left_store or node.right_store, node)
  local other_store = declare_arm_store(inst, this_is_left and node.right_store or node.left_store, node)
  -- this side's record at t meets the other side's in [t - below, t + above]
  local below = this_is_left and node.before or node.after
  local above = this_is_left and node.after or node.before
  local emits_unmatched = mode == "outer" or (mode == "left" and this_is_left)
  local other_unmatched = mode == "outer" or (mode == "left" and not this_is_left)
  local outer = mode ~= "inner" and outer_store(inst, node)
  local stream_times, counter = node.shared.stream_times, {}

  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in a join") end
    local p, ts = rec.partition, rec.timestamp
    local st = stream_times[p]
    if st == nil then -- after a restart, from where the stores were
      local a, b = this_store:stream_time(p), other_store:stream_time(p)
      st = (a and b) and math.max(a, b) or a or b
    end
    if st == nil or ts > st then st = ts end
    stream_times[p] = st
    -- due unmatched records go out before this record is processed, as in
    -- Kafka Streams (an out-of-order record does not advance time)
    if outer and ts == st then outer.flush(p, st, rec, out, joiner) end
    if ts + above + grace < st then
      return inst.late(rec, node.left_store, ts - below, ts + above)
    end
    local where, offset, seq = origin_of(rec, counter)
    local here, markers = this_store:window_get(k, ts, p)
    -- a record read again after a crash is in the store already: its
    -- results are sent again (outputs are at-least-once), the state stays
    local replay = replayed(markers, where, offset, seq)
    if not replay then
      here = here or {}
      here[#here + 1] = v
      this_store:window_put(k, ts, here, p, ts, marked(markers, where, offset, seq))
    end
    local matched = false
    for _, w in ipairs(other_store:fetch(k, ts - below, ts + above, p)) do
      for _, ov in ipairs(w.value) do
        matched = true
        rec.timestamp = w.start > ts and w.start or ts
        if this_is_left then out(k, joiner(v, ov, k), rec) else out(k, joiner(ov, v, k), rec) end
      end
      if other_unmatched and not replay then outer.matched(p, k, w.start, not this_is_left, ts) end
    end
    rec.timestamp = ts
    if not matched and emits_unmatched and not replay then
      outer.hold(p, k, ts, this_is_left, v)
    end
  end
end

compilers.join_left_arm = function(node, out, _, inst)
  return arm(node, out, inst, true)
end

compilers.join_right_arm = function(node, out, _, inst)
  return arm(node, out, inst, false)
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
