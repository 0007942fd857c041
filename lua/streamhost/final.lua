-- emit = "final": results wait in a key-value store with a changelog (as
-- Kafka Streams' suppression buffer). A result sent after the last
-- acknowledged flush is sent again after a SIGKILL (the records closing its
-- window are read again). None is lost: the flush that deletes a sent
-- result (and moves the window store's stream time past its window) first
-- waits until the outputs before it are delivered (inst.drain).
-- Its keys are the window's end and start as 16 digits, then the key's
-- bytes, so the store's order is the order windows close in (then the
-- key's bytes, as Kafka Streams' buffer).
--
-- The results waiting are also kept in memory, per partition, by window
-- end (with a heap of those ends) and then key: an update changes its
-- result there, and only the last one before a flush goes into the store
-- (a before_flush hook), as the record cache would; a closing window's
-- results are found there, with no RocksDB scan (which needed the store
-- flushed first, and walked the tombstones of every window sent before).
-- What waits is loaded by one scan of the store at the partition's first
-- use in this VM (after a start, a reload or a reassignment) and dropped
-- when the partition is released: the loop flushes before either.
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local Store = require "streamhost.store"
local json = require "streamhost.json"
local window = require "streamhost.window"

local C = core.C
local format, sub, sort = string.format, string.sub, table.sort
local _M = {}

-- A binary min-heap of numbers in h[1..#h].
local function heap_push(h, x)
  local i = #h + 1
  while i > 1 do
    local up = (i - i % 2) / 2
    if h[up] <= x then break end
    h[i] = h[up]
    i = up
  end
  h[i] = x
end

local function heap_pop(h)
  local n = #h
  local top, last = h[1], h[n]
  h[n] = nil
  n = n - 1
  if n > 0 then
    local i = 1
    while true do
      local c = 2 * i
      if c > n then break end
      if c < n and h[c + 1] < h[c] then c = c + 1 end
      if last <= h[c] then break end
      h[i] = h[c]
      i = c
    end
    h[i] = last
  end
  return top
end

-- is_closed(end, st) says when a window is final (monotone in end).
-- time_windows: windows aligned to a grid (hopping, tumbling), whose key
-- prefixes are worth reusing; sessions' are not.
function _M.buffer(inst, node, is_closed, time_windows)
  local buffer = Store.declare(inst, { name = node.store_name .. "-final", key_serde = "bytes",
                                       source_topic = node.task_topic, kind = Store.KV })
  local kenc, kdec = serde.get(node.key_serde).encode, serde.get(node.key_serde).decode
  -- per partition: { [end] = { [key bytes] = result } }, the heap of those
  -- ends, and the results changed since the last flush. A result is
  -- { kb, start, stop, v, t, dirty, written (the store may hold it) }.
  local pending, ends, changed = {}, {}, {}
  buffer.on_release = function(p) pending[p], ends[p], changed[p] = nil, nil, nil end
  buffer.drop_clean = true -- read here from the results above, never from its cache
  local self = {}

  -- time windows: a window's key prefix, made once per window rather than
  -- per result (a session's start and end are its key's own: no reuse)
  local prefixes, held = {}, 0 -- start -> { stop, prefix }
  local bounds = window.shared_bounds() -- rec.window, one table per window
  local function key_of(kb, start, stop)
    if not time_windows then return format("%016.0f%016.0f", stop, start) .. kb end
    local w = prefixes[start]
    if w == nil or w[1] ~= stop then
      if held >= 64 then prefixes, held = {}, 0 end -- a bound on memory
      w = { stop, format("%016.0f%016.0f", stop, start) }
      prefixes[start], held = w, held + 1
    end
    return w[2] .. kb
  end

  local function group_of(by_end, heap, stop)
    local group = by_end[stop]
    if group == nil then
      group = {}
      by_end[stop] = group
      heap_push(heap, stop)
    end
    return group
  end

  -- What partition p's store holds: what an earlier run or version left,
  -- restored from the changelog. O(results held).
  local function load(p)
    local by_end, heap = {}, {}
    buffer:each(p, function(key, value)
      local kb, stop = sub(key, 33), tonumber(sub(key, 1, 16))
      group_of(by_end, heap, stop)[kb] = { kb = kb, start = tonumber(sub(key, 17, 32)), stop = stop,
                                           v = value.v, t = value.t, written = true }
    end)
    pending[p], ends[p], changed[p] = by_end, heap, {}
    return by_end, heap
  end
  -- (apart from load: a closure in scope would keep this out of the JIT)
  local function index(p)
    local by_end = pending[p]
    if by_end then return by_end, ends[p] end
    return load(p)
  end

  -- Writes the results changed since the last flush into the store's
  -- cache, which the flush then writes (hooks run before the stores).
  inst.before_flush[#inst.before_flush + 1] = function()
    for p, list in pairs(changed) do
      for i = 1, #list do
        local r = list[i]
        if r.dirty then
          r.dirty, r.written = false, true
          -- a scalar's { v, t } is the buffer's alone: kept as it is
          -- until the store's flush encodes it
          buffer:put(key_of(r.kb, r.start, r.stop), { v = r.v, t = r.t }, p, r.t, nil,
                     type(r.v) ~= "table")
        end
      end
      changed[p] = {}
    end
  end

  function self.hold(p, k, start, stop, agg, ts)
    local by_end, heap = index(p)
    local group = group_of(by_end, heap, stop)
    local kb = kenc(k)
    local r = group[kb]
    if r == nil then
      r = { kb = kb, start = start, stop = stop, written = false }
      group[kb] = r
    end
    -- a table result as it is now: the app may change it later
    if type(agg) == "table" then agg = json.decode(json.encode(agg)) end
    r.v, r.t = agg, ts
    if not r.dirty then
      r.dirty = true
      local list = changed[p]
      list[#list + 1] = r
      if #list >= Store.CACHE_MAX then inst.flush_wanted = true end -- as the cache's bound
    end
    C.sh_ffi_ctx_hold(inst.ctx) -- this batch's positions wait for the flush
  end

  -- Forgets result r, sent or merged away: the store deletes it, unless
  -- it never reached the store (no flush since it was made).
  local function forget(p, r, ts)
    r.dirty = false
    if r.written then
      buffer:put(key_of(r.kb, r.start, r.stop), nil, p, ts)
      C.sh_ffi_ctx_hold(inst.ctx)
    end
  end

  function self.drop(p, k, start, stop, ts)
    local by_end = index(p)
    local group = by_end[stop]
    local kb = kenc(k)
    local r = group and group[kb]
    if r == nil or r.start ~= start then return end
    group[kb] = nil -- its end stays in the heap, and yields nothing
    forget(p, r, ts)
  end

  -- Emits, in order, the results whose window has closed by stream time st.
  function self.flush(p, st, rec, out)
    local by_end, heap = index(p)
    local first = heap[1]
    if first == nil or not is_closed(first, st) then return end
    local saved = rec.timestamp
    repeat
      local stop = heap_pop(heap)
      local group = by_end[stop]
      by_end[stop] = nil
      -- in the store's order: by start, then the key's bytes
      local due = {}
      for kb, r in pairs(group) do due[#due + 1] = key_of(kb, r.start, stop) end
      sort(due)
      for _, key in ipairs(due) do
        local kb = sub(key, 33)
        local r = group[kb]
        forget(p, r, st)
        rec.window = bounds(r.start, stop)
        rec.timestamp = r.t
        out(kdec(kb), r.v, nil, rec)
      end
    until heap[1] == nil or not is_closed(heap[1], st)
    rec.window, rec.timestamp = nil, saved
  end

  return self
end

return _M
