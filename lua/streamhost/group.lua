-- Grouping and aggregation: group_by / group_by_key on streams and tables,
-- optional windows, then count, sum, reduce or aggregate into a store.
--
-- A grouping that changes the key (or follows a key change) goes through
-- the repartition topic <id>-<store>-repartition, so that every record of a
-- key meets in one task whatever partition it came from. Results are tables:
-- they push (key, new, old, rec), with rec.window = {start, end} for
-- windowed ones. emit = "changes" (default, ksqlDB's EMIT CHANGES) pushes
-- every update; emit = "final" pushes one result per window once stream
-- time passes its end + grace. Records with a nil key or value are dropped
-- and counted, as in Kafka Streams; so are records later than the grace.
local core = require "streamhost.core"
local topology = require "streamhost.topology"
local Store = require "streamhost.store"
local window = require "streamhost.window"
local tables = require "streamhost.table"
local streams = require "streamhost.stream"

local compilers = topology.compilers
local _M = {}
local Grouped = {}
Grouped.__index = Grouped

local function group(parent, key_fn, opts, is_table, level)
  opts = opts or {}
  local b = parent.builder
  local what = is_table and "table:group_by" or (key_fn and "group_by" or "group_by_key")
  local key_serde = b:serde_name(opts, "key", not key_fn and parent.key_serde or nil, what,
                                 level + 1)
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
  local w = g.window_spec
  if w and w.kind == "session" and spec.init and not spec.merge then
    error("aggregate over session windows needs opts.merge(agg1, agg2, key)", level + 1)
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
    merge = spec.merge or opts.merge, emit = emit,
  })
  node.stores = { name }
  local t = tables.new(b, node, g.key_serde, "json")
  t.windowed = w ~= nil
  return t
end

local function check_fn(fn, what, level)
  if type(fn) ~= "function" then error(what .. " expects a function", level + 1) end
end

local function zero() return 0 end
local function plus(a, b) return a + b end

function Grouped:count(opts)
  return build(self, {
    init = zero,
    add = function(agg) return agg + 1 end,
    subtract = function(agg) return agg - 1 end,
    merge = plus,
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

local function declare(inst, node, kind, retention, window_size, sessions)
  return Store.declare(inst, { name = node.store_name, key_serde = node.key_serde,
                               source_topic = node.task_topic, kind = kind, retention = retention,
                               window_size = window_size, sessions = sessions })
end

-- Exactly-once results without transactions. After a crash, inputs after
-- the last commit are read again, but their effect on a store may already
-- be in its changelog. So every aggregate keeps, next to its value, the
-- newest origin (input partition -> offset, rank) applied per partition;
-- an input at or before it is a replay: the store is left alone and the
-- current value is forwarded again, in case the first forward was lost.
-- Records of one key from one origin partition arrive in order, which is
-- what makes a per-partition high-water mark enough.
-- "topic/partition" strings, made once per partition rather than per record
local wheres = setmetatable({}, { __mode = "k" })

local function where_of(topic, partition)
  local by_partition = wheres[topic]
  if not by_partition then by_partition = {}; wheres[topic] = by_partition end
  local w = by_partition[partition]
  if not w then w = topic .. "/" .. partition; by_partition[partition] = w end
  return w
end

local function origin_of(rec, counter)
  if rec.origin then return rec.origin, rec.origin_offset, rec.origin_seq end
  local offset = rec.offset
  if rec.topic == nil or offset == nil or offset < 0 then return nil end
  local where = where_of(rec.topic, rec.partition)
  -- several records caused by one input (flat_map) are ranked
  if counter.where == where and counter.offset == offset then
    counter.seq = counter.seq + 1
  else
    counter.where, counter.offset, counter.seq = where, offset, 0
  end
  return where, offset, counter.seq
end

-- Markers are text: ";where@offset.seq" per origin partition. Topic names
-- hold only [a-zA-Z0-9._-], so ';' and '@' cannot occur inside them.
local find, sub, match = string.find, string.sub, string.match

local function replayed(markers, where, offset, seq)
  if markers == nil or where == nil then return false end
  local at = find(markers, ";" .. where .. "@", 1, true)
  if not at then return false end
  local o, q = match(markers, "^(%d+)%.(%d+)", at + #where + 2)
  o, q = tonumber(o), tonumber(q)
  return offset < o or (offset == o and seq <= q)
end

local function marked(markers, where, offset, seq)
  if not where then return markers end
  local entry = ";" .. where .. "@" .. offset .. "." .. seq
  if markers == nil then return entry end
  local at = find(markers, ";" .. where .. "@", 1, true)
  if not at then return markers .. entry end
  local after = find(markers, ";", at + 1, true)
  return sub(markers, 1, at - 1) .. entry .. (after and sub(markers, after) or "")
end

-- First value, or add to the aggregate so far.
local function step(node, agg, v, k, rec)
  if agg == nil then
    if node.init then return node.add(node.init(), v, k, rec) end
    return v
  end
  return node.add(agg, v, k, rec)
end

compilers.aggregate = function(node, out, _, inst)
  local store = declare(inst, node, Store.KV, 0)
  inst.getters[node] = function(k, partition) return store:get(k, partition) end
  local counter = {}
  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p = rec.partition
    local where, offset, seq = origin_of(rec, counter)
    local old, markers = store:get(k, p)
    if replayed(markers, where, offset, seq) then return out(k, old, old, rec) end
    local agg = step(node, old, v, k, rec)
    store:put(k, agg, p, rec.timestamp, marked(markers, where, offset, seq))
    out(k, agg, old, rec)
  end
end

compilers.table_aggregate = function(node, out, _, inst)
  local store = declare(inst, node, Store.KV, 0)
  inst.getters[node] = function(k, partition) return store:get(k, partition) end
  local counter = {}
  return function(k, change, rec)
    if k == nil or change == nil then return end
    local p = rec.partition
    local where, offset, seq = origin_of(rec, counter)
    local old, markers = store:get(k, p)
    if replayed(markers, where, offset, seq) then return out(k, old, old, rec) end
    local agg = old
    if change.o ~= nil and agg ~= nil then agg = node.subtract(agg, change.o, k, rec) end
    if change.n ~= nil then agg = step(node, agg, change.n, k, rec) end
    store:put(k, agg, p, rec.timestamp, marked(markers, where, offset, seq))
    out(k, agg, old, rec)
  end
end

-- Stream time per task: the largest timestamp seen on that partition.
local function advance(stream_times, p, ts)
  local st = stream_times[p]
  if st == nil or ts > st then st = ts; stream_times[p] = ts end
  return st
end

compilers.window_aggregate = function(node, out, _, inst)
  local w = node.window_spec
  local size, advance_by, grace = w.size, w.advance, w.grace
  local store = declare(inst, node, Store.WINDOW, window.retention(w), size)
  local stream_times = {}
  local final = node.emit == "final"
  -- emit = "final": partition -> window start -> key -> latest aggregate,
  -- and the oldest start pending per partition, so most records skip flush
  local pending, oldest = {}, {}
  inst.getters[node] = function() return nil end -- windowed tables are not joinable by key

  local function flush(p, st, rec)
    local first = oldest[p]
    if first == nil or first + size + grace > st then return end
    local by_start, closed = pending[p], {}
    for start in pairs(by_start) do
      if start + size + grace <= st then closed[#closed + 1] = start end
    end
    table.sort(closed)
    for _, start in ipairs(closed) do
      local window_keys = by_start[start]
      rec.window = { start = start, ["end"] = start + size }
      -- in the order the keys first updated the window, as a suppress buffer
      for _, k in ipairs(window_keys.order) do out(k, window_keys.agg[k], nil, rec) end
      by_start[start] = nil
    end
    rec.window = nil
    first = nil
    for start in pairs(by_start) do
      if first == nil or start < first then first = start end
    end
    oldest[p] = first
  end

  local function hold(p, k, start, agg)
    local by_start = pending[p]
    if not by_start then by_start = {}; pending[p] = by_start end
    local keys = by_start[start]
    if not keys then keys = { order = {}, agg = {} }; by_start[start] = keys end
    if keys.agg[k] == nil then keys.order[#keys.order + 1] = k end
    keys.agg[k] = agg
    if oldest[p] == nil or start < oldest[p] then oldest[p] = start end
  end

  local counter = {}
  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    local st = advance(stream_times, p, ts)
    local where, offset, seq = origin_of(rec, counter)
    -- every window containing ts, oldest first (a loop, not a callback: a
    -- closure per record would keep this path out of the JIT)
    local first = ts - size + advance_by
    if first < 0 then first = 0 end
    first = first - first % advance_by
    for start = first, ts, advance_by do
      if ts < start + size then
        if start + size + grace <= st then
          inst.late(rec, node.store_name, start, start + size)
        else
          local old, markers = store:window_get(k, start, p)
          local agg = old
          if not replayed(markers, where, offset, seq) then
            agg = step(node, old, v, k, rec)
            store:window_put(k, start, agg, p, ts, marked(markers, where, offset, seq))
          end
          if final then
            hold(p, k, start, agg)
          else
            rec.window = { start = start, ["end"] = start + size }
            out(k, agg, old, rec)
          end
        end
      end
    end
    rec.window = nil
    if final then flush(p, st, rec) end
  end
end

compilers.session_aggregate = function(node, out, _, inst)
  local w = node.window_spec
  local gap, grace = w.gap, w.grace
  -- sessions are stored by start; keep them a day beyond gap + grace so a
  -- long-running session is not expired while it still grows
  local store = declare(inst, node, Store.WINDOW, window.retention(w) + 24 * 3600000, nil, true)
  local stream_times, pending = {}, {}
  local merge, final = node.merge, node.emit == "final"
  inst.getters[node] = function() return nil end

  -- emit = "final": a session is final once no record can extend it
  local function flush(p, st, rec)
    local keep = {}
    for _, s in ipairs(pending[p] or {}) do
      if s.last + gap + grace <= st then
        rec.window = { start = s.start, ["end"] = s.last }
        out(s.key, s.agg, nil, rec)
      else
        keep[#keep + 1] = s
      end
    end
    rec.window = nil
    pending[p] = keep
  end

  local function forget(p, k, start)
    local list = pending[p] or {}
    for i = #list, 1, -1 do
      if list[i].key == k and list[i].start == start then table.remove(list, i) end
    end
  end

  return function(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    local st = advance(stream_times, p, ts)
    -- late when no session it could join is still open (Kafka Streams' rule)
    if ts + gap + grace < st then return inst.late(rec, node.store_name, ts, ts) end
    local first, last, agg = ts, ts, nil
    for _, s in ipairs(store:fetch(k, 0, ts + gap, p)) do
      local s_end = s.value.e
      if s_end >= ts - gap then
        if s.start < first then first = s.start end
        if s_end > last then last = s_end end
        agg = agg == nil and s.value.a or merge(agg, s.value.a, k)
        store:window_put(k, s.start, nil, p, ts)
        if final then
          forget(p, k, s.start)
        else
          rec.window = { start = s.start, ["end"] = s_end }
          out(k, nil, s.value.a, rec)
        end
      end
    end
    agg = step(node, agg, v, k, rec)
    store:window_put(k, first, { e = last, a = agg }, p, ts)
    if final then
      local list = pending[p] or {}
      pending[p] = list
      list[#list + 1] = { key = k, start = first, last = last, agg = agg }
      flush(p, st, rec)
    else
      rec.window = { start = first, ["end"] = last }
      out(k, agg, nil, rec)
      rec.window = nil
    end
  end
end

return _M
