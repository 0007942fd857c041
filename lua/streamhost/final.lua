-- emit = "final": results wait in a key-value store with a changelog (as
-- Kafka Streams' suppression buffer), so a crash neither loses nor repeats
-- them. Its keys are the window's end and start as 16 digits, then the
-- key's bytes, so the store's order is the order windows close in (then
-- the key's bytes, as Kafka Streams' buffer).
--
-- Which keys the buffer holds is also kept in memory, per partition, by
-- window end, with a heap of those ends: a closing window's results are
-- found there and read through the store's record cache, with no RocksDB
-- scan (which needed the store flushed first, at every window close). The
-- index is loaded by one scan of the store at the partition's first use in
-- this VM (after a start, a reload or a reassignment) and dropped when the
-- partition is released; hold and drop keep it current in between.
local serde = require "streamhost.serde"
local Store = require "streamhost.store"

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
  -- per partition: { [end] = { [key bytes in the buffer] = true } } and
  -- the heap of those ends
  local pending, ends = {}, {}
  buffer.on_release = function(p) pending[p], ends[p] = nil, nil end
  local self = {}

  -- time windows: a window's key prefix, made once per window rather than
  -- per update (a session's start and end are its key's own: no reuse)
  local prefixes, held = {}, 0 -- start -> { stop, prefix }
  local function key_of(k, start, stop)
    if not time_windows then return format("%016.0f%016.0f", stop, start) .. kenc(k) end
    local w = prefixes[start]
    if w == nil or w[1] ~= stop then
      if held >= 64 then prefixes, held = {}, 0 end -- a bound on memory
      w = { stop, format("%016.0f%016.0f", stop, start) }
      prefixes[start], held = w, held + 1
    end
    return w[2] .. kenc(k)
  end

  local function note(by_end, heap, stop, kb)
    local keys = by_end[stop]
    if keys == nil then
      keys = {}
      by_end[stop] = keys
      heap_push(heap, stop)
    end
    keys[kb] = true
  end

  -- The index of partition p, from the store on first use: what an earlier
  -- run or version left, restored from the changelog. O(entries held).
  local function load(p)
    local by_end, heap = {}, {}
    buffer:each(p, function(kb) note(by_end, heap, tonumber(sub(kb, 1, 16)), kb) end)
    pending[p], ends[p] = by_end, heap
    return by_end, heap
  end
  -- (apart from load: a closure in scope would keep this out of the JIT)
  local function index(p)
    local by_end = pending[p]
    if by_end then return by_end, ends[p] end
    return load(p)
  end

  function self.hold(p, k, start, stop, agg, ts)
    local by_end, heap = index(p)
    local kb = key_of(k, start, stop)
    -- a scalar result's { v, t } is the buffer's alone: encoded at the
    -- flush, not per update (a table result is encoded now, as the app
    -- may still change it)
    buffer:put(kb, { v = agg, t = ts }, p, ts, nil, type(agg) ~= "table")
    note(by_end, heap, stop, kb)
  end

  function self.drop(p, k, start, stop, ts)
    local by_end = index(p)
    local kb = key_of(k, start, stop)
    buffer:put(kb, nil, p, ts)
    local keys = by_end[stop]
    if keys then keys[kb] = nil end -- its end stays in the heap, and yields nothing
  end

  -- Emits, in order, the results whose window has closed by stream time st.
  function self.flush(p, st, rec, out)
    local by_end, heap = index(p)
    local first = heap[1]
    if first == nil or not is_closed(first, st) then return end
    local saved = rec.timestamp
    repeat
      local stop = heap_pop(heap)
      local due = {}
      for kb in pairs(by_end[stop]) do due[#due + 1] = kb end
      by_end[stop] = nil
      sort(due) -- byte order, as RocksDB's: by start, then the key's bytes
      for _, kb in ipairs(due) do
        -- from the record cache, or RocksDB when not cached (after a
        -- restart, or once the cache was emptied at its bound)
        local value = buffer:get(kb, p)
        buffer:put(kb, nil, p, st)
        rec.window = { start = tonumber(sub(kb, 17, 32)), ["end"] = stop }
        rec.timestamp = value.t
        out(kdec(sub(kb, 33)), value.v, nil, rec)
      end
    until heap[1] == nil or not is_closed(heap[1], st)
    rec.window, rec.timestamp = nil, saved
  end

  return self
end

return _M
