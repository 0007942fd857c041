-- Panes for hopping windows: a record updates one pane, not every window
-- it falls in, and a window's value is merged from its panes.
--
-- A hopping window of size 3m advancing 1m is made of panes of gcd(size,
-- advance) = 1m; a record at ts updates the pane [ts - ts % pane, + pane)
-- in the store <name>-panes (through the record cache, with the origin
-- markers and timestamp stamp of group.lua), then forwards, for every
-- window it falls in that is still open, that window's value merged from
-- its panes (merge(a, b): + for count and sum, the app's for aggregate and
-- reduce). Downstream sees exactly what the window-by-window path sends.
--
-- Why merging is exact: a record goes into its pane when at least one of
-- its windows is open. Windows close in the order they end and never open
-- again, so a window open now was open when each record of its panes came:
-- it received every one of them on the window-by-window path too. A closed
-- window is never merged again.
--
-- Readers (pull queries over HTTP, the test driver, a restore) see the
-- window store <name> as before: when the record cache flushes, the
-- windows of the panes changed since the last flush that are still open
-- are written into it from their panes, stamped with stream time, as the
-- window-by-window path writes them with their record's. HTTP reads it
-- without knowing about panes, and it costs one window put per changed
-- window per flush instead of one per record. A window that closed since
-- the last flush is not written: a later record, late for it but not for
-- a newer window, may have changed a pane it shares. Nobody reads it
-- again: the window store hides a window once stream time passes its end
-- + grace (window_store.c: start <= stream time - retention), and the
-- flush's writes carry stream time there.
--
-- A partition whose window store has state but whose pane store has none
-- (state from before panes, or a reload that gave an aggregate its merge)
-- goes on window by window: its panes would miss what the windows hold.
local Store = require "streamhost.store"
local E = require "streamhost.cache_entry" -- a cache entry's slots
local E_VALUE, E_JSON, E_MARKERS, E_STAMP, E_KB, E_START =
  E.VALUE, E.JSON, E.MARKERS, E.STAMP, E.KB, E.START
local core = require "streamhost.core"
local window = require "streamhost.window"

local _M = {}

local format = string.format

local function gcd(a, b)
  while b ~= 0 do a, b = b, a % b end
  return a
end

-- The pane size for a windowed aggregation, or nil when panes do not pay:
-- tumbling windows (one window per record already), no merge, or so many
-- panes per window that reading them costs more than the windows' own
-- reads and writes (more than three panes read per window updated).
function _M.pane_size(w, merge)
  if merge == nil or w.kind ~= "hopping" or w.advance >= w.size then return nil end
  local pane = gcd(w.size, w.advance)
  local windows = math.ceil(w.size / w.advance)
  local span = (w.size + (windows - 1) * w.advance) / pane
  if span > 3 * windows then return nil end
  return pane
end

local NONE = false -- an empty pane in the scratch arrays

-- The sum of panes from..to of the scratch arrays, whether any held a value,
-- and the latest of ts and their timestamps.
local function sum_panes(vals, tss, from, to, ts)
  local sum, any = 0, false
  for i = from, to do
    local pv = vals[i]
    if pv ~= NONE then
      sum, any = sum + pv, true
      local t = tss[i]
      if t ~= NONE and t > ts then ts = t end
    end
  end
  return sum, any, ts
end

-- node: the window_aggregate node; windows: its (declared) window store;
-- straight: the window-by-window function for partitions that keep it;
-- final: its emit = "final" buffer or nil; h: group.lua's helpers.
function _M.compile(node, out, inst, windows, straight, final, h)
  local w = node.window_spec
  local size, advance_by, grace = w.size, w.advance, w.grace
  local pane = _M.pane_size(w, node.pane_merge)
  local merge = node.pane_merge
  local delta = node.delta -- count and sum: numbers, merged by +
  local panes = Store.declare(inst, { name = node.store_name .. "-panes",
                                      key_serde = node.key_serde, source_topic = node.task_topic,
                                      kind = Store.WINDOW, retention = window.retention(w),
                                      window_size = pane, window_cache = true })
  panes.flush_last = true
  local kenc = panes.kenc
  local stream_times = {}
  local counter = {}
  local bounds = window.shared_bounds()
  local origin_of, replayed, restamped = h.origin_of, h.replayed, h.restamped
  local step, forward = h.step, h.forward

  -- A pane's stamp (its largest input timestamp), kept in its cache entry
  -- so that merging a window reads no digits: set when the pane is
  -- written, read from its markers once when it comes from RocksDB.
  local stamp_of = h.stamp_of
  local function stamp_at(kb, q, p, markers)
    local e = panes:cached_entry(kb, q, p)
    if e == nil then return stamp_of(markers) end
    local t = e[E_STAMP]
    if t == nil then
      t = stamp_of(e[E_MARKERS]) or false
      e[E_STAMP] = t
    end
    return t or nil
  end
  local function put_pane(kb, q, agg, p, ts, markers, pane_ts)
    panes:window_put_bytes(kb, q, agg, p, ts, markers)
    local e = panes:cached_entry(kb, q, p)
    if e then e[E_STAMP] = pane_ts end
  end

  -- A pane of numbers: its value and stamp, nil when empty.
  local function number_pane(kb, q, p)
    local e = panes:cached_entry(kb, q, p)
    if e == nil then
      local v, m = panes:window_get_bytes(kb, q, p)
      if v == nil then return nil end
      return v, stamp_at(kb, q, p, m)
    end
    local v = e[E_VALUE]
    if v == nil then return nil end
    local t = e[E_STAMP]
    if t == nil then
      t = stamp_of(e[E_MARKERS]) or false
      e[E_STAMP] = t
    end
    return v, t or nil
  end

  -- A window's value merged from its panes, oldest first, and its stamp.
  -- The app's merge gets plain tables decoded afresh from the cached JSON,
  -- not the cache's lazy values: it may change its first argument, and
  -- merging reads several values field by field in turn.
  local kdec = panes.kdec
  local plain = require("streamhost.json").cjson.decode
  local function window_value(kb, start, p, k)
    local agg, ts = nil, nil
    for q = start, start + size - 1, pane do
      local v, m = panes:window_get_bytes(kb, q, p)
      if v ~= nil then
        local e = panes:cached_entry(kb, q, p)
        if e and e[E_JSON] then v = plain(e[E_VALUE]) end
        if agg == nil then agg = v else agg = merge(agg, v, k) end
        local t = stamp_at(kb, q, p, m)
        if t ~= nil and (ts == nil or t > ts) then ts = t end
      end
    end
    return agg, ts
  end

  -- The same for panes of numbers, read from their cache entries.
  local function number_window(kb, start, p)
    local agg, ts = nil, nil
    for q = start, start + size - 1, pane do
      local v, t = number_pane(kb, q, p)
      if v ~= nil then
        agg = (agg or 0) + v
        if t ~= nil and (ts == nil or t > ts) then ts = t end
      end
    end
    return agg, ts
  end

  -- Writes into the window store (its cache) the windows starting in
  -- [from, to] of the panes changed since the last flush, each once.
  -- O(changed panes x windows per pane x panes per window).
  local function materialize(p, from, to, put_ts)
    local dirty = panes:dirty_entries(p)
    if dirty == nil or #dirty == 0 or from > to then return end
    local done = {}
    for i = 1, #dirty do
      local e = dirty[i]
      local q, kb = e[E_START], e[E_KB]
      local first = q - size + advance_by
      if first < from then first = from end
      if first < 0 then first = 0 end
      first = first - first % advance_by
      if first < from then first = first + advance_by end
      local last = q - q % advance_by
      if last > to then last = to end
      for start = first, last, advance_by do
        local seen = done[start]
        if seen == nil then seen = {}; done[start] = seen end
        if not seen[kb] then
          seen[kb] = true
          local agg, ts
          if delta then agg, ts = number_window(kb, start, p)
          else agg, ts = window_value(kb, start, p, kdec(kb)) end
          if agg ~= nil then
            windows:window_put_bytes(kb, start, agg, p, put_ts, format("%.0f", ts or put_ts))
          end
        end
      end
    end
  end

  -- The first window start still open at stream time st: stop + grace > st.
  local function first_open(st)
    local s = st - size - grace
    return s - s % advance_by + advance_by
  end

  inst.before_flush[#inst.before_flush + 1] = function()
    for p, st in pairs(stream_times) do
      local open = first_open(st)
      materialize(p, open, math.huge, st)
      -- no record reads a pane before the first open window, nor a window
      -- (they are written here, read by RocksDB's readers)
      panes.evict_before[p], windows.evict_before[p] = open, math.huge
    end
  end

  local mode = {} -- partition -> true: panes; false: window by window
  local function uses_panes(p)
    local m = mode[p]
    if m ~= nil then return m end
    m = not (panes:stream_time(p) == nil and windows:stream_time(p) ~= nil)
    if not m then
      core.log("info", "store %s partition %d: its windows were made without panes; they go " ..
                       "on window by window (reset the app to use panes)", node.store_name, p)
    end
    mode[p] = m
    return m
  end

  local vals, tss = {}, {} -- scratch: the panes of a record's open windows
  local olds = {}
  local function record(k, v, rec)
    if k == nil or v == nil then return inst.dropped(rec, "nil key or value in an aggregation") end
    local p, ts = rec.partition, rec.timestamp
    -- a task given back (its handles closed) and assigned again: its
    -- stream time is the store's, from whoever had it meanwhile
    if panes.handles[p] == nil then stream_times[p], mode[p] = nil, nil end
    if not uses_panes(p) then return straight(k, v, rec) end
    local st = h.advance(stream_times, p, ts, panes)
    local where, offset, seq = origin_of(rec, counter)
    local first = ts - size + advance_by
    if first < 0 then first = 0 end
    first = first - first % advance_by
    local newest = ts - ts % advance_by
    local open = nil -- the oldest window of ts still open
    for start = first, newest, advance_by do
      local stop = start + size
      if stop + grace <= st then
        inst.late(rec, node.store_name, start, stop)
      elseif open == nil then
        open = start
      end
    end
    if open == nil then
      if final then final.flush(p, st, rec, out) end
      return
    end
    local q = ts - ts % pane
    local kb = kenc(k)
    local old_pane, markers = panes:window_get_bytes(kb, q, p)
    local replay = replayed(markers, where, offset, seq)
    local pane_ts = old_pane ~= nil and stamp_at(kb, q, p, markers) or ts
    if delta then
      -- numbers: the open windows' panes read once, merged by +
      local n = (newest + size - open) / pane
      local cur = (q - open) / pane + 1
      for i = 1, n do
        if i ~= cur then
          local pv, pt = number_pane(kb, open + (i - 1) * pane, p)
          if pv == nil then vals[i], tss[i] = NONE, NONE
          else vals[i], tss[i] = pv, pt or NONE end
        end
      end
      local new_pane = old_pane
      if not replay then
        new_pane = (old_pane or 0) + delta(v, k, rec)
        if old_pane == nil or ts > pane_ts then pane_ts = ts end
        put_pane(kb, q, new_pane, p, ts, restamped(markers, where, offset, seq, pane_ts), pane_ts)
      end
      local per_window = size / pane
      for start = open, newest, advance_by do
        local a = (start - open) / pane + 1
        local b = a + per_window - 1
        local left, l_any, wts = sum_panes(vals, tss, a, cur - 1, pane_ts)
        local right, r_any
        right, r_any, wts = sum_panes(vals, tss, cur + 1, b, wts)
        local others = l_any or r_any
        local agg = left + new_pane + right
        local stop = start + size
        if final then
          if not replay then final.hold(p, k, start, stop, agg, wts) end
        else
          local old
          if replay then old = agg
          elseif old_pane ~= nil or others then old = left + (old_pane or 0) + right end
          rec.window = bounds(start, stop)
          forward(out, k, agg, old, rec, wts)
        end
      end
    else
      -- an app's merge: every window merged from fresh reads, its value
      -- before the record too (add may change the aggregate it is given)
      if not final and not replay then
        local j = 0
        for start = open, newest, advance_by do
          j = j + 1
          olds[j] = window_value(kb, start, p, k)
          if olds[j] == nil then olds[j] = NONE end
        end
      end
      if not replay then
        local agg = step(node, old_pane, v, k, rec)
        if old_pane == nil or ts > pane_ts then pane_ts = ts end
        put_pane(kb, q, agg, p, ts, restamped(markers, where, offset, seq, pane_ts), pane_ts)
      end
      local j = 0
      for start = open, newest, advance_by do
        j = j + 1
        local agg, wts = window_value(kb, start, p, k)
        local stop = start + size
        if final then
          if not replay then final.hold(p, k, start, stop, agg, wts) end
        else
          local old = agg
          if not replay then old = olds[j] or nil end
          rec.window = bounds(start, stop)
          forward(out, k, agg, old, rec, wts)
        end
      end
    end
    rec.window = nil
    if final then final.flush(p, st, rec, out) end
  end
  return record
end

return _M
