-- Grouping and aggregation: group_by / group_by_key on streams and tables,
-- optional windows, then count, sum, reduce or aggregate into a store.
--
-- A grouping that changes the key (or follows a key change) goes through
-- the repartition topic <id>-<store>-repartition, so that every record of a
-- key meets in one task whatever partition it came from. Results are tables:
-- they push (key, new, old, rec), with rec.window = {start, end} for
-- windowed ones, and rec.timestamp = the largest timestamp of the inputs
-- that made the result (a session's end for sessions), as Kafka Streams
-- 3.x. emit = "changes" (default, ksqlDB's EMIT CHANGES) pushes every
-- update; emit = "final" pushes one result per window once stream time
-- reaches its end + grace. Records with a nil key or value are dropped and
-- counted, as in Kafka Streams; so are records later than the grace.
local core = require "streamhost.core"
local topology = require "streamhost.topology"
local Store = require "streamhost.store"
local window = require "streamhost.window"
local tables = require "streamhost.table"
local streams = require "streamhost.stream"
local serde = require "streamhost.serde"
local panes = require "streamhost.panes"
local final_buffer = require("streamhost.final").buffer

local compilers = topology.compilers
local _M = {}
local Grouped = {}
Grouped.__index = Grouped

local function group(parent, key_fn, opts, is_table, level)
  opts = opts or {}
  local b = parent.builder
  local what = is_table and "table:group_by" or (key_fn and "group_by" or "group_by_key")
  -- a stream read from a windowed table's topic groups by its inner key
  local key_serde = b:serde_name(opts, "key", not key_fn and serde.inner(parent.key_serde) or nil,
                                 what, level + 1)
  return setmetatable({ builder = b, parent = parent, key_fn = key_fn, key_serde = key_serde,
                        is_table = is_table,
                        repartition = key_fn ~= nil or parent.key_changed or is_table }, Grouped)
end

function streams.Stream:group_by_key(opts) return group(self, nil, opts, false, 2) end

function streams.Stream:group_by(fn, opts)
  if type(fn) ~= "function" then error("group_by expects a function (key, value, rec) -> new key", 2) end
  return group(self, fn, opts, false, 2)
end

function tables.Table:group_by(fn, opts)
  if type(fn) ~= "function" then
    error("group_by expects a function (key, value) -> new key[, new value]", 2)
  end
  return group(self, fn, opts, true, 2)
end

function Grouped:window(w)
  if not window.is_window(w) then
    error("window expects sh.tumbling{...}, sh.hopping{...} or sh.session{...}", 2)
  end
  if self.is_table then error("a grouped table cannot be windowed", 2) end
  local g = setmetatable({}, Grouped)
  for k, v in pairs(self) do g[k] = v end
  g.window_spec = w
  return g
end

local function build(g, spec, opts, level)
  opts = opts or {}
  local b = g.builder
  local emit = opts.emit or "changes"
  if emit ~= "changes" and emit ~= "final" then
    error("emit must be \"changes\" or \"final\", got \"" .. tostring(emit) .. "\"", level + 1)
  end
  if emit == "final" and not g.window_spec then
    error("emit = \"final\" needs a windowed aggregation", level + 1)
  end
  local w = g.window_spec and window.with_grace(g.window_spec, emit)
  if w and w.kind == "session" and spec.init and not (spec.merge or opts.merge) then
    error("aggregate over session windows needs opts.merge(agg1, agg2, key)", level + 1)
  end
  if opts.merge ~= nil and type(opts.merge) ~= "function" then
    error("merge must be a function (agg1, agg2, key) -> agg", level + 1)
  end
  if opts.panes ~= nil and type(opts.panes) ~= "boolean" then
    error("panes must be true or false", level + 1)
  end
  if opts.panes and not (spec.pane_merge or opts.merge) then
    error("panes = true needs { merge = function(agg1, agg2, key) } to merge two panes", level + 1)
  end
  local name = opts.name or string.format("KSTREAM-AGGREGATE-STATE-STORE-%010d", #b.nodes)
  local input = g.parent.node
  if g.repartition then
    local topic = core.topic_name(b.app.id, "repartition", name)
    local regroup = b:add(g.is_table and "table_regroup" or "regroup", { input },
                          { fn = g.key_fn })
    local sink = b:add("sink", { regroup }, { topic = topic, key_serde = g.key_serde,
                                              value_serde = "json", internal = true })
    b.sinks[#b.sinks + 1] = sink
    input = b:source({ topic }, g.key_serde, "json", input.partitions, level + 2)
    input.internal = true
    b.repartition_topics[#b.repartition_topics + 1] = topic
  end
  local kind = w and (w.kind == "session" and "session_aggregate" or "window_aggregate")
               or (g.is_table and "table_aggregate" or "aggregate")
  local node = b:add(kind, { input }, {
    prefix = "KSTREAM", store_name = name, key_serde = g.key_serde, window_spec = w,
    init = spec.init, add = spec.add, subtract = spec.subtract,
    merge = spec.merge or opts.merge, emit = emit, delta = spec.delta,
    -- with panes = true, hopping windows merge their panes with it
    -- (panes.lua): count and sum by +, reduce and aggregate by opts.merge
    pane_merge = opts.panes and (spec.pane_merge or opts.merge) or nil,
    -- a stream's count reads no value, only whether there is one
    -- (topology.lua); a table's reads the old and new ones in its changes
    value_unread = spec.value_unread and not g.is_table,
  })
  node.stores = { name }
  -- a windowed table's stream writes its window in the key, as Kafka
  -- Streams' TimeWindowedSerde / SessionWindowedSerde
  local table_key = g.key_serde
  if w and w.kind == "session" then table_key = "session-windowed:" .. g.key_serde
  elseif w then table_key = string.format("windowed:%s:%d", g.key_serde, w.size) end
  local t = tables.new(b, node, table_key, "json")
  t.windowed = w ~= nil
  return t
end

local function check_fn(fn, what, level)
  if type(fn) ~= "function" then error(what .. " expects a function", level + 1) end
end

local function zero() return 0 end
local function plus(a, b) return a + b end

local function one() return 1 end

-- count and sum also give delta(value, key, rec), what a record adds: a
-- windowed aggregation reads it once per record, not once per window.
function Grouped:count(opts)
  return build(self, {
    init = zero,
    add = function(agg) return agg + 1 end,
    subtract = function(agg) return agg - 1 end,
    merge = plus,
    pane_merge = plus,
    delta = one,
    value_unread = true,
  }, opts, 2)
end

-- sum(fn, opts): the sum of fn(value, key, rec); without fn, of the values.
function Grouped:sum(fn, opts)
  if type(fn) == "table" and opts == nil then fn, opts = nil, fn end
  if fn ~= nil then check_fn(fn, "sum", 2) end
  local of = fn or function(v) return v end
  return build(self, {
    init = zero,
    add = function(agg, v, k, rec) return agg + of(v, k, rec) end,
    subtract = function(agg, v, k, rec) return agg - of(v, k, rec) end,
    merge = plus,
    pane_merge = plus,
    delta = of,
  }, opts, 2)
end

-- reduce(add[, subtract], opts): the first value starts the aggregate.
function Grouped:reduce(add, subtract, opts)
  if type(subtract) == "table" then subtract, opts = nil, subtract end
  check_fn(add, "reduce", 2)
  if self.is_table then check_fn(subtract, "reduce on a grouped table: subtract", 2) end
  return build(self, {
    add = function(agg, v) return add(agg, v) end,
    subtract = subtract and function(agg, v) return subtract(agg, v) end,
    merge = function(a, b) return add(a, b) end,
  }, opts, 2)
end

-- aggregate(init, add[, subtract], opts): add(agg, value, key, rec) -> agg.
function Grouped:aggregate(init, add, subtract, opts)
  if type(subtract) == "table" then subtract, opts = nil, subtract end
  check_fn(init, "aggregate: init", 2)
  check_fn(add, "aggregate: add", 2)
  if self.is_table then check_fn(subtract, "aggregate on a grouped table: subtract", 2) end
  return build(self, { init = init, add = add, subtract = subtract }, opts, 2)
end

-- ---- compilers ----

compilers.regroup = function(node, out, _, inst)
  local fn = node.fn
  if not fn then return out end
  return function(k, v, rec)
    local k2 = fn(k, v, rec)
    if k2 == nil then return inst.dropped(rec, "group_by returned a nil key") end
    out(k2, v, rec)
  end
end

compilers.table_regroup = function(node, out)
  local fn = node.fn
  local function regroup(k, v)
    local k2, v2 = fn(k, v)
    if v2 == nil then v2 = v end
    return k2, v2
  end
  return function(k, new, old, rec)
    local ko, vo, kn, vn
    if old ~= nil then ko, vo = regroup(k, old) end
    if new ~= nil then kn, vn = regroup(k, new) end
    if ko ~= nil and ko == kn then
      out(kn, { n = vn, o = vo }, rec)
    else
      if ko ~= nil then out(ko, { o = vo }, rec) end
      if kn ~= nil then out(kn, { n = vn }, rec) end
    end
  end
end

local function declare(inst, node, kind, retention, window_size, sessions, window_cache)
  return Store.declare(inst, { name = node.store_name, key_serde = node.key_serde,
                               source_topic = node.task_topic, kind = kind, retention = retention,
                               window_size = window_size, sessions = sessions,
                               window_cache = window_cache })
end

-- The origins each aggregate has applied (exactly-once results without
-- transactions): streamhost/markers.lua.
local origins = require "streamhost.markers"
local origin_of, replayed, marked = origins.origin_of, origins.replayed, origins.marked
local merged_markers, stamp_of, restamped = origins.merged, origins.stamp_of, origins.restamped
local markers_of, mark_at, replayed_at = origins.markers_of, origins.mark_at, origins.replayed_at
local M_TS = origins.TS -- the stamp's slot in markers_of's table

-- First value, or add to the aggregate so far.
local function step(node, agg, v, k, rec)
  if agg == nil then
    if node.init then return node.add(node.init(), v, k, rec) end
    return v
  end
  return node.add(agg, v, k, rec)
end

-- Forwards with the result's own timestamp; rec goes on to other branches
-- afterwards, so its timestamp is put back.
local function forward(out, k, new, old, rec, ts)
  local saved = rec.timestamp
  rec.timestamp = ts
  out(k, new, old, rec)
  rec.timestamp = saved
end

compilers.aggregate = function(node, out, _, inst)
  local store = declare(inst, node, Store.KV, 0)
  inst.getters[node] = function(k, partition) return store:get(k, partition) end
  local counter = {}
  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    local where, offset, seq = origin_of(rec, counter)
    local old, markers = store:get(k, p)
    markers = markers_of(markers)
    local old_ts = markers[M_TS] or ts
    if replayed_at(markers, where, offset, seq) then
      return forward(out, k, old, old, rec, old_ts)
    end
    local agg = step(node, old, v, k, rec)
    local new_ts = (old ~= nil and old_ts > ts) and old_ts or ts
    store:put(k, agg, p, new_ts, mark_at(markers, where, offset, seq, new_ts))
    forward(out, k, agg, old, rec, new_ts)
  end
end

compilers.table_aggregate = function(node, out, _, inst)
  local store = declare(inst, node, Store.KV, 0)
  inst.getters[node] = function(k, partition) return store:get(k, partition) end
  local counter = {}
  return function(k, change, rec)
    if k == nil or change == nil then return end
    local p, ts = rec.partition, rec.timestamp
    local where, offset, seq = origin_of(rec, counter)
    local old, markers = store:get(k, p)
    markers = markers_of(markers)
    local old_ts = markers[M_TS] or ts
    if replayed_at(markers, where, offset, seq) then
      return forward(out, k, old, old, rec, old_ts)
    end
    local agg = old
    if change.o ~= nil and agg ~= nil then agg = node.subtract(agg, change.o, k, rec) end
    if change.n ~= nil then agg = step(node, agg, change.n, k, rec) end
    local new_ts = (old ~= nil and old_ts > ts) and old_ts or ts
    store:put(k, agg, p, new_ts, mark_at(markers, where, offset, seq, new_ts))
    forward(out, k, agg, old, rec, new_ts)
  end
end

-- Stream time per task: the largest timestamp seen on that partition,
-- after a restart going on from the window store's, so that a record read
-- again is as late as it was.
local function advance(stream_times, p, ts, store)
  local st = stream_times[p]
  if st == nil then st = store:stream_time(p) end
  if st == nil or ts > st then st = ts end
  stream_times[p] = st
  return st
end

local helpers = { origin_of = origin_of, replayed = replayed, restamped = restamped,
                  stamp_of = stamp_of, step = step, forward = forward, advance = advance }

compilers.window_aggregate = function(node, out, _, inst)
  local w = node.window_spec
  local size, advance_by, grace = w.size, w.advance, w.grace
  -- through the record cache, as a key-value store: the windows a record
  -- updates are read and written in memory, and reach RocksDB and the
  -- changelog once per flush (Kafka Streams' CachingWindowStore)
  local store = declare(inst, node, Store.WINDOW, window.retention(w), size, nil, true)
  local stream_times = {}
  local final = node.emit == "final" and
                final_buffer(inst, node, function(stop, st) return stop + grace <= st end, true)
  inst.getters[node] = function() return nil end -- windowed tables are not joinable by key

  local counter = {}
  local delta = node.delta
  local kenc = store.kenc
  local bounds = window.shared_bounds()
  -- Windows closed by stream time (stop + grace <= st) are never read
  -- again (a record late for them is dropped unread): the flush drops them
  -- from the cache once written, so that it holds the open windows only
  -- and does not outgrow CACHE_MAX (which empties it, and every window
  -- would be read from RocksDB again). panes.lua sets its own.
  inst.before_flush[#inst.before_flush + 1] = function()
    for p, st in pairs(stream_times) do
      local s = st - size - grace
      store.evict_before[p] = s - s % advance_by + advance_by
    end
  end
  local function straight(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    local st = advance(stream_times, p, ts, store)
    local where, offset, seq = origin_of(rec, counter)
    local d = nil -- per record, not per window: what it adds (count, sum)
    -- every window containing ts, oldest first (a loop, not a callback: a
    -- closure per record would keep this path out of the JIT)
    local first = ts - size + advance_by
    if first < 0 then first = 0 end
    first = first - first % advance_by
    local kb = kenc(k) -- the key's bytes, once for its windows' reads and writes
    store:touch_windows(kb, first, ts, advance_by, p)
    for start = first, ts, advance_by do
      local stop = start + size
      if ts < stop then
        if stop + grace <= st then
          inst.late(rec, node.store_name, start, stop)
        else
          -- markers as a table while the window is cached, updated in
          -- place (as the key-value aggregate's, see Markers): per window
          -- no string is built or parsed
          local old, markers, entry = store:window_get_bytes(kb, start, p)
          markers = markers_of(markers)
          local agg, agg_ts = old, markers[M_TS] or ts
          if not replayed_at(markers, where, offset, seq) then
            if delta then
              if d == nil then d = delta(v, k, rec) end
              agg = (old or 0) + d
            else
              agg = step(node, old, v, k, rec)
            end
            if old == nil or ts > agg_ts then agg_ts = ts end
            markers = mark_at(markers, where, offset, seq, agg_ts)
            -- the store is cached (declared so above): entry is the window's
            store:window_put_entry(entry, agg, p, ts, markers)
            -- a replayed record's result is held already, or was final
            -- and sent: holding it again would send a second final result
            if final then final.hold(p, k, start, stop, agg, agg_ts) end
          end
          if not final then
            rec.window = bounds(start, stop)
            forward(out, k, agg, old, rec, agg_ts)
          end
        end
      end
    end
    rec.window = nil
    if final then final.flush(p, st, rec, out) end
  end
  if panes.pane_size(w, node.pane_merge) then
    return panes.compile(node, out, inst, store, straight, final, helpers)
  end
  return straight
end

-- Session windows, as Kafka Streams 3.x: a record joins every session of
-- its key that ends at most gap before it and starts at most gap after it.
-- A session is closed once its end + gap + grace < stream time; a closed
-- session never merges again (the store no longer has it: it is keyed by
-- end, kept gap + grace), so a record near it starts a session of its own,
-- and a record that would only make a closed session is late. A result is
-- stamped with its session's end, the tombstone of a merged-away session
-- with that session's end.
compilers.session_aggregate = function(node, out, _, inst)
  local w = node.window_spec
  local gap, grace = w.gap, w.grace
  -- cached as the other windows are: a merge's deletes and puts reach the
  -- store and its changelog at the VM's flush, after the outputs before them
  local store = declare(inst, node, Store.WINDOW, window.retention(w), nil, true, true)
  local stream_times = {}
  local merge = node.merge
  local function is_closed(stop, st) return stop + gap + grace < st end
  local final = node.emit == "final" and final_buffer(inst, node, is_closed)
  inst.getters[node] = function() return nil end
  local counter = {}

  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    local st = advance(stream_times, p, ts, store)
    local where, offset, seq = origin_of(rec, counter)
    local found, ends = {}, {}
    for _, s in ipairs(store:fetch(k, ts - gap, 2 ^ 53, p)) do
      ends[s.start] = true
      local value = s.value
      if value.s <= ts + gap and not is_closed(s.start, st) then
        found[#found + 1] = { start = value.s, stop = s.start, agg = value.a }
      end
    end
    if #found == 0 and is_closed(ts, st) then
      if final then final.flush(p, st, rec, out) end
      return inst.late(rec, node.store_name, ts, ts)
    end
    -- a record read again after a crash: its session holds it already
    for _, s in ipairs(found) do
      local _, markers = store:window_get(k, s.stop, p)
      if replayed(markers, where, offset, seq) then
        if not final then
          rec.window = { start = s.start, ["end"] = s.stop }
          forward(out, k, s.agg, nil, rec, s.stop)
          rec.window = nil
        end
        return
      end
    end
    local first, last, agg, markers = ts, ts, nil, nil
    for _, s in ipairs(found) do
      if s.start < first then first = s.start end
      if s.stop > last then last = s.stop end
      agg = agg == nil and s.agg or merge(agg, s.agg, k)
      local _, m = store:window_get(k, s.stop, p)
      markers = merged_markers(markers, m)
      store:window_put(k, s.stop, nil, p, ts)
      if final then
        final.drop(p, k, s.start, s.stop, ts)
      else
        rec.window = { start = s.start, ["end"] = s.stop }
        forward(out, k, nil, s.agg, rec, s.stop)
      end
    end
    agg = step(node, agg, v, k, rec)
    store:window_put(k, last, { s = first, a = agg }, p, ts, marked(markers, where, offset, seq),
                     not ends[last])
    if final then
      final.hold(p, k, first, last, agg, last)
      final.flush(p, st, rec, out)
    else
      rec.window = { start = first, ["end"] = last }
      forward(out, k, agg, nil, rec, last)
      rec.window = nil
    end
  end
end

return _M
