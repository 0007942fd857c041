-- Lua's view of a state store: one declared store, one C handle per task
-- partition, opened on first use. Keys are bytes of the store's key serde
-- (so the HTTP endpoint and the changelog read them the Kafka way); values
-- are JSON. The C side owns RocksDB and writes the changelog.
--
-- Store methods run inside a batch (or a timer), whose one xpcall hands a
-- failure to the app's on_error policy (topology.lua): so a C failure raises
-- here, with the C core's message ("store counts partition 0: put: ...")
-- and code name, instead of returning nil, err through every operator.
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"

local C = core.C
local SH_OK, SH_NOT_FOUND = C.SH_OK, C.SH_ERR_NOT_FOUND
local ffi_string = ffi.string
local json = serde.get("json")
local entry = require "streamhost.cache_entry"

-- a cache entry's slots (cache_entry.lua)
local VALUE, JSON, MARKERS, TS, DIRTY, DECODED, KB, START, STORED =
  entry.VALUE, entry.JSON, entry.MARKERS, entry.TS, entry.DIRTY, entry.DECODED, entry.KB,
  entry.START, entry.STORED
local new_entry, cached_value = entry.new, entry.value
local is_lazy = require("streamhost.json").is_lazy
local origins = require "streamhost.markers"
local M_TS, M_W, M_O, M_Q = origins.TS, origins.W, origins.O, origins.Q -- markers' slots

local _M = { KV = 0, WINDOW = 1 }

-- The write-back record cache of key-value stores (Kafka Streams'
-- cache.max.bytes.buffering): reads and writes go to a Lua table per task
-- partition, and only the last change of a key reaches RocksDB and the
-- changelog when the VM flushes (inst.flush: every second from the host's
-- timer round, before a revocation, a stop or a new version; after every
-- record in the test driver). The C loop keeps positions whose changes are
-- still cached from being acked (sh_ffi_ctx_hold / sh_ffi_ctx_release). A
-- store holding more than CACHE_MAX entries has its clean ones dropped at
-- the next flush, and asks for a flush (flush_wanted) when that many are
-- dirty.
local CACHE_MAX = 100000
_M.CACHE_MAX = CACHE_MAX
local Store = {}
Store.__index = Store

local slice = ffi.new("sh_ffi_slice_t[1]")
local find, sub = string.find, string.sub

-- A stored value is its JSON, optionally followed by "\n" and the
-- aggregation's origin markers as text (group.lua owns their format). JSON
-- text never holds a raw newline, so the first one ends the value; the HTTP
-- endpoint cuts there too.
local function split(bytes)
  local nl = find(bytes, "\n", 1, true)
  if not nl then return json.decode(bytes), nil end
  return json.decode(sub(bytes, 1, nl - 1)), sub(bytes, nl + 1)
end

local function join(value, markers)
  if value == nil then return nil end
  if markers == nil then return json.encode(value) end
  if type(markers) == "table" then markers = markers:text() end -- group.lua's Markers
  return json.encode(value) .. "\n" .. markers
end
local iter_key = ffi.new("sh_ffi_slice_t[1]")
local iter_value = ffi.new("sh_ffi_slice_t[1]")
local iter_start = ffi.new("int64_t[1]")

-- Declares the store on the context; handles open lazily per partition.
function _M.declare(inst, spec)
  local key_serde = serde.get(spec.key_serde)
  local store = setmetatable({
    inst = inst, name = spec.name, kind = spec.kind or _M.KV,
    retention = spec.retention or 0, window_size = spec.window_size, sessions = spec.sessions,
    kenc = key_serde.encode, kdec = key_serde.decode, handles = {},
    source_topic = spec.source_topic,
    -- per partition: { [key bytes] = entry } (a window store's:
    -- { [start] = { [key bytes] = entry } }), the dirty keys (entries) in
    -- order, the count
    cache = {}, dirty = {}, cached = {},
    -- a window store goes through the cache only when its one user asks
    -- (windowed aggregations: no fetch, no range reads between flushes)
    window_cache = spec.window_cache,
    evict_before = spec.window_cache and {} or nil, -- partition -> start
    -- a cached session store's entries by key too (partition -> key bytes
    -- -> start -> entry), for fetch: sessions are cached under their end,
    -- and one key's lie in as many windows as it has sessions
    by_key = spec.window_cache and spec.sessions and {} or nil,
  }, Store)
  if C.sh_ffi_store_declare(inst.ctx, spec.name, store.kind, store.retention, spec.source_topic,
                            spec.key_serde, "json") < 0 then
    error("cannot declare store " .. spec.name .. ": " .. core.failure(), 0)
  end
  if spec.window_size then C.sh_ffi_store_set_window_size(inst.ctx, spec.name, spec.window_size) end
  if spec.sessions then C.sh_ffi_store_set_sessions(inst.ctx, spec.name) end
  if inst.app_id then
    core.sink_add(inst.ctx, core.topic_name(inst.app_id, "changelog", spec.name), 0)
  end
  inst.stores[spec.name] = store
  return store
end

function Store:handle(partition)
  local h = self.handles[partition]
  if h then return h end
  local ctx = self.inst.ctx
  h = C.sh_ffi_store_open(ctx, C.sh_ffi_ctx_state_dir(ctx), self.inst.app_id, self.name,
                          self.kind, partition, self.retention)
  if h == nil then error(core.failure(), 0) end
  self.handles[partition] = h
  if self.sessions then self:migrate_sessions(partition, h) end
  return h
end

function Store:release(partition)
  -- the loop flushed before the revocation: what is left is clean, and may
  -- be stale once another instance owns the partition
  self.cache[partition], self.dirty[partition], self.cached[partition] = nil, nil, nil
  if self.by_key then self.by_key[partition] = nil end
  -- the store's user forgets what it knew of the partition too (final.lua)
  if self.on_release then self.on_release(partition) end
  local h = self.handles[partition]
  if h then
    self.handles[partition] = nil
    C.sh_ffi_store_close(h)
  end
end

function Store:close()
  for partition in pairs(self.handles) do self:release(partition) end
end

local function check(rc)
  if rc ~= SH_OK then error(core.failure(), 0) end
end

local function cache_of(self, partition)
  local c = self.cache[partition]
  if not c then
    c = {}
    self.cache[partition], self.dirty[partition], self.cached[partition] = c, {}, 0
  end
  return c
end

-- Session stores written before sessions were keyed by their end (commit
-- 7bffb1c) keep { e = end, a = aggregate } under each session's start; read
-- as today's { s = start, a = aggregate } under the end they would break
-- every merge. Such entries are rewritten when the store opens, changelog
-- included (a tombstone at the start, the session at its end), so a later
-- restore brings back today's format. O(entries of the partition) at each
-- open: a scan of the raw values, decoding only those with an "e" field.
function Store:migrate_sessions(partition, h)
  local old = {}
  local iter = C.sh_ffi_store_iter_all(h, nil, 0, 0)
  if iter == nil then error(core.failure(), 0) end
  while true do
    local rc = C.sh_ffi_store_iter_next(iter, iter_key, iter_value, iter_start)
    if rc == SH_NOT_FOUND then break end -- the end
    if rc ~= SH_OK then
      local message = core.failure()
      C.sh_ffi_store_iter_destroy(iter)
      error(message, 0)
    end
    local raw = ffi_string(iter_value[0].data, iter_value[0].len)
    if find(raw, '"e":', 1, true) then
      local ok, value, markers = pcall(split, raw)
      if ok and type(value) == "table" and value.s == nil and type(value.e) == "number" then
        old[#old + 1] = { ffi_string(iter_key[0].data, iter_key[0].len), tonumber(iter_start[0]),
                          value, markers }
      end
    end
  end
  C.sh_ffi_store_iter_destroy(iter)
  for _, e in ipairs(old) do
    local kb, start, value, markers = e[1], e[2], e[3], e[4]
    check(C.sh_ffi_window_put(h, kb, #kb, start, nil, 0, value.e))
    local vb = join({ s = start, a = value.a }, markers)
    check(C.sh_ffi_window_put(h, kb, #kb, value.e, vb, #vb, value.e))
  end
  if #old > 0 then
    core.log("info", "store %s partition %d: rewrote %d session(s) from the format before " ..
                     "sessions were keyed by their end", self.name, partition, #old)
  end
end

-- get and window_get return the value and its markers (nil when unmarked).
function Store:get(key, partition)
  local kb = self.kenc(key)
  local c = cache_of(self, partition)
  local e = c[kb]
  if e then
    if e[VALUE] == nil then return nil end
    return cached_value(e), e[MARKERS]
  end
  local rc = C.sh_ffi_store_get(self:handle(partition), kb, #kb, slice)
  if rc == SH_NOT_FOUND then return nil end
  check(rc)
  local bytes = ffi_string(slice[0].data, slice[0].len)
  local value, markers = split(bytes)
  -- cached clean: the next update of the key finds it here
  local is_table = type(value) == "table"
  e = new_entry(is_table and json.encode(value) or value, is_table, markers)
  e[DECODED] = is_table and is_lazy(value) and value or nil
  c[kb] = e
  self.cached[partition] = self.cached[partition] + 1
  return value, markers
end

-- Writes value into cache entry e and, the first time e changes since the
-- last flush, lists it (as listed: a key-value store lists the key bytes, a
-- window store the entry) among the partition's changes for flush_cache.
local huge = math.huge

local function write_cached(self, e, listed, partition, value, timestamp, markers, owned)
  -- a number JSON cannot hold is refused here, for the record that made
  -- it, under the app's on_error; kept, it would fail every flush after
  if type(value) == "number" and (value ~= value or value == huge or value == -huge) then
    error(string.format("store %s: cannot keep %s: JSON has no NaN or Infinity", self.name,
                        tostring(value)), 0)
  end
  local is_table = type(value) == "table" and not owned
  e[VALUE], e[JSON] = is_table and json.encode(value) or value, is_table
  e[DECODED] = nil
  e[MARKERS], e[TS] = markers, timestamp or 0
  if not e[DIRTY] then
    e[DIRTY] = true
    local d = self.dirty[partition]
    d[#d + 1] = listed
    if #d >= CACHE_MAX then self.inst.flush_wanted = true end
  end
  C.sh_ffi_ctx_hold(self.inst.ctx)
end

-- owned: value is a table nobody else holds or changes, kept as it is and
-- encoded at the flush. get would hand out that very table: only for a
-- store never read through get (emit = "final"'s buffer).
function Store:put(key, value, partition, timestamp, markers, owned)
  local kb = self.kenc(key)
  local c = cache_of(self, partition)
  local e = c[kb]
  if not e then
    e = new_entry()
    c[kb] = e
    self.cached[partition] = self.cached[partition] + 1
  end
  write_cached(self, e, kb, partition, value, timestamp, markers, owned)
end

-- Whether a flush has anything of this store to write.
function Store:has_changes()
  for _, d in pairs(self.dirty) do
    if #d > 0 then return true end
  end
  return false
end

-- Writes the cached changes to RocksDB and the changelog; returns how many.
-- A key-value store's go in one write batch, in key order (C sorts them:
-- its memtable inserts a sorted run from where the last insert went
-- instead of searching its skip list from the top for each key, which took
-- most of a flush). O(dirty keys log dirty keys).
function Store:flush_cache()
  local written = 0
  for partition, d in pairs(self.dirty) do
    local n = #d
    if n > 0 then
      local c, h = self.cache[partition], self:handle(partition)
      entry.begin_puts(n)
      -- one write batch each; on a failure every entry stays dirty and the
      -- next flush puts them all again
      if self.window_cache then -- a window store lists its entries; C sorts them
        -- a window deleted before it was ever written needs no tombstone (a
        -- growing session deletes the window of each end it had)
        local puts = 0
        for i = 1, n do
          local e = d[i]
          if e[VALUE] ~= nil or e[STORED] ~= false then
            entry.add_put(puts, e[KB], e, e[START])
            puts = puts + 1
          end
        end
        local records, starts = entry.end_puts(puts)
        check(C.sh_ffi_window_put_many(h, records, starts, puts))
        for i = 1, n do
          local e = d[i]
          e[DIRTY], e[STORED] = false, e[VALUE] ~= nil
        end
      else
        for i = 1, n do entry.add_put(i - 1, d[i], c[d[i]]) end
        check(C.sh_ffi_store_put_many(h, (entry.end_puts(n)), n))
        for i = 1, n do c[d[i]][DIRTY] = false end
      end
      entry.release_puts()
      written = written + n
      self.dirty[partition] = {}
    end
    -- a window store's user may say which windows it will not read again
    -- (panes.lua: those of closed windows); they go, clean now, so that
    -- the live ones are not dropped with them below. O(windows dropped).
    local before = self.evict_before and self.evict_before[partition]
    local c = self.cache[partition]
    if before and c then
      for start, entries in pairs(c) do
        if start < before then
          c[start] = nil
          local dropped = 0
          for _ in pairs(entries) do dropped = dropped + 1 end
          self.cached[partition] = self.cached[partition] - dropped
        end
      end
    end
    -- drop_clean: the store's user keeps its own copy, and reads RocksDB
    -- only (final.lua): nothing clean is worth keeping
    if self.drop_clean or self.cached[partition] > CACHE_MAX then
      self.cache[partition], self.cached[partition] = {}, 0
      if self.by_key then self.by_key[partition] = nil end
    end
  end
  return written
end

-- A window store's cache: entries under their window start, then key bytes.
-- A window not in RocksDB is cached as absent too: most windows a record
-- touches are new, and a second miss would ask RocksDB again.
local function window_entry(self, kb, start, partition)
  local c = cache_of(self, partition)
  local w = c[start]
  if not w then
    w = {}
    c[start] = w
  end
  return w, w[kb]
end

-- Lists a new cache entry of a session store under its key (by_key).
local function index_by_key(self, kb, start, partition, e)
  local index = self.by_key[partition]
  if not index then
    index = {}
    self.by_key[partition] = index
  end
  local mine = index[kb]
  if not mine then
    mine = {}
    index[kb] = mine
  end
  mine[start] = e
end

-- window_get and window_put with the key's bytes (the store's key serde
-- applied already), for callers that hold them (panes.lua). A cached
-- store's get also returns the window's cache entry, for window_put_entry.
local function window_get_bytes(self, kb, start, partition)
  local w, e
  if self.window_cache then
    w, e = window_entry(self, kb, start, partition)
    if e then
      if e[VALUE] == nil then return nil, nil, e end
      return cached_value(e), e[MARKERS], e
    end
  end
  local rc = C.sh_ffi_window_get(self:handle(partition), kb, #kb, start, slice)
  if rc ~= SH_NOT_FOUND then check(rc) end
  local value, markers = nil, nil
  if rc == SH_OK then value, markers = split(ffi_string(slice[0].data, slice[0].len)) end
  if w then
    local is_table = type(value) == "table"
    e = new_entry(is_table and json.encode(value) or value, is_table, markers, kb, start,
                  rc == SH_OK)
    w[kb] = e
    self.cached[partition] = self.cached[partition] + 1
    if self.by_key then index_by_key(self, kb, start, partition, e) end
  end
  return value, markers, e
end

Store.window_get_bytes = window_get_bytes

function Store:window_get(key, start, partition)
  return window_get_bytes(self, self.kenc(key), start, partition)
end

local function window_put_bytes(self, kb, start, value, partition, timestamp, markers, absent)
  if not self.window_cache then
    local vb = join(value, markers)
    check(C.sh_ffi_window_put(self:handle(partition), kb, #kb, start, vb, vb and #vb or 0,
                              timestamp))
    return
  end
  local w, e = window_entry(self, kb, start, partition)
  if not e then
    -- stored: whether RocksDB may hold the window: false when the caller
    -- knows it does not, else nil (perhaps), so that a deletion before the
    -- next flush is written. (`(not absent) and nil or false` was always
    -- false: such a deletion left the window in RocksDB.)
    local stored = nil
    if absent then stored = false end
    e = new_entry(nil, false, nil, kb, start, stored)
    w[kb] = e
    self.cached[partition] = self.cached[partition] + 1
    if self.by_key then index_by_key(self, kb, start, partition, e) end
  end
  write_cached(self, e, e, partition, value, timestamp, markers)
end

-- window_put_bytes into the cache entry window_get_bytes returned for the
-- same record: the entry is not looked up again.
function Store:window_put_entry(e, value, partition, timestamp, markers)
  write_cached(self, e, e, partition, value, timestamp, markers)
end

-- A window-cached store's changes not yet flushed: the entries (their
-- slots KB and START, cache_entry.lua) in the order they first changed. Read only: panes.lua finds
-- there the windows to write before a flush.
function Store:dirty_entries(partition)
  return self.dirty[partition]
end

-- Reads the cache entries of key kb's windows first, first + step, ...,
-- up to last, before the caller uses any. A record's windows lie apart in
-- memory, and read in its loop, a thousand instructions apart, each cache
-- miss was waited for in turn; read together here, the misses overlap
-- (hopping engine-only: a quarter more records/s). Every field the
-- record's update reads or writes is read: an entry's slots and its
-- markers' (a table of their own while cached, markers.lua), and a line
-- left out here was a miss waited for in the loop.
-- The reads land in a scratch table so that the JIT keeps them.
local touched = {} -- luacheck: ignore 241 (written, never read)
function Store:touch_windows(kb, first, last, step, partition)
  local c = self.cache[partition]
  if c == nil then return end
  local i = 0
  for start = first, last, step do
    local w = c[start]
    local e = w and w[kb]
    if e then
      local m = e[MARKERS]
      touched[i + 1], touched[i + 2], touched[i + 3] = e[VALUE], e[JSON], e[DIRTY]
      touched[i + 4], touched[i + 5] = e[TS], e[DECODED]
      i = i + 5
      if type(m) == "table" then
        touched[i + 1], touched[i + 2], touched[i + 3], touched[i + 4] = m[M_TS], m[M_W], m[M_O], m[M_Q]
        i = i + 4
      end
    end
  end
end

-- The cache entry of one window (cache_entry.lua), or nil when not
-- cached. panes.lua keeps a pane's stamp in it (STAMP).
function Store:cached_entry(kb, start, partition)
  local c = self.cache[partition]
  local w = c and c[start]
  return w and w[kb]
end

Store.window_put_bytes = window_put_bytes

-- absent: the caller knows RocksDB holds no such window (a session's new
-- end, not among the key's windows fetch listed), so a deletion of it
-- before the next flush writes nothing.
function Store:window_put(key, start, value, partition, timestamp, markers, absent)
  return window_put_bytes(self, self.kenc(key), start, value, partition, timestamp, markers,
                          absent)
end

local function drain(iter, list, decode_key)
  if iter == nil then error(core.failure(), 0) end
  while true do
    local rc = C.sh_ffi_store_iter_next(iter, iter_key, iter_value, iter_start)
    if rc == SH_NOT_FOUND then break end -- the end
    if rc ~= SH_OK then
      local message = core.failure()
      C.sh_ffi_store_iter_destroy(iter)
      error(message, 0)
    end
    list[#list + 1] = {
      key = decode_key and decode_key(ffi_string(iter_key[0].data, iter_key[0].len)) or nil,
      start = tonumber(iter_start[0]),
      value = (split(ffi_string(iter_value[0].data, iter_value[0].len))),
    }
  end
  C.sh_ffi_store_iter_destroy(iter)
  return list
end

-- RocksDB's windows of key kb in [from, to] (list, ordered by start) with
-- the changes a session store (by_key) has cached: a deletion takes a
-- window out, a value replaces or adds one. Clean entries are what RocksDB
-- had when they were read, and it may have dropped them since (retention).
-- O(windows listed + the key's cached windows).
local function with_cached(self, kb, from, to, partition, list)
  local index = self.by_key[partition]
  local mine = index and index[kb]
  if not mine then return list end
  local at, changed = {}, false
  for i, w in ipairs(list) do at[w.start] = i end
  for start, e in pairs(mine) do
    if e[DIRTY] and start >= from and start <= to then
      local i = at[start]
      if e[VALUE] == nil then
        if i then list[i], changed = false, true end
      elseif i then
        list[i].value = cached_value(e)
      else
        list[#list + 1], changed = { start = start, value = cached_value(e) }, true
      end
    end
  end
  if not changed then return list end
  local kept = {}
  for _, w in ipairs(list) do
    if w then kept[#kept + 1] = w end
  end
  table.sort(kept, function(a, b) return a.start < b.start end)
  return kept
end

-- One key's windows with from <= start <= to, ordered by start:
-- { {start =, ["end"] =, value =}, ... }. A session store reads through its
-- cache; another cached window store is flushed first (RocksDB is read:
-- nothing may be only cached).
function Store:fetch(key, from, to, partition)
  if self.window_cache and not self.by_key then self.inst.flush() end
  local h = self:handle(partition)
  local kb = self.kenc(key)
  local list = drain(C.sh_ffi_window_fetch(h, kb, #kb, from, to), {})
  if self.by_key then list = with_cached(self, kb, from, to, partition, list) end
  for _, w in ipairs(list) do
    w.key = nil
    w["end"] = self.window_size and w.start + self.window_size or nil
  end
  return list
end

-- The largest timestamp a put has given this partition of a window store,
-- kept across restarts (at worst behind, never ahead), or nil before any:
-- the stream time a restarted task goes on from.
function Store:stream_time(partition)
  local t = tonumber(C.sh_ffi_store_stream_time(self:handle(partition)))
  if t < -2 ^ 62 then return nil end -- INT64_MIN: no put yet
  return t
end

-- Calls fn(key bytes, value, markers, start) for the entries of one
-- partition in the store's order until fn returns false. Iterates in C,
-- so stopping early costs nothing for the entries left. A key-value store
-- is read through its cache: its changes not yet flushed are merged in, in
-- key order (a flush here would have to wait for the outputs before it, and
-- a left join's unmatched records are looked at per record). A window
-- store is flushed first, after those outputs; the other stores' caches
-- stay (no sh_ffi_ctx_release: the positions held for their changes stay
-- held until the VM's next flush). O(dirty keys log dirty keys) on top of
-- the entries read.
function Store:each(partition, fn)
  local pending, n, c = {}, 0, self.cache[partition]
  if self.kind == _M.KV then
    for _, kb in ipairs(self.dirty[partition] or {}) do
      n = n + 1
      pending[n] = kb
    end
    table.sort(pending) -- byte order, as RocksDB's: LuaJIT compares strings bytewise
  elseif self:has_changes() then
    self.inst.drain()
    self:flush_cache()
  end
  local iter = C.sh_ffi_store_iter_all(self:handle(partition), nil, 0, 0)
  if iter == nil then error(core.failure(), 0) end
  local j = 1
  local ok, err = pcall(function()
    while true do
      local rc = C.sh_ffi_store_iter_next(iter, iter_key, iter_value, iter_start)
      if rc ~= SH_OK and rc ~= SH_NOT_FOUND then error(core.failure(), 0) end
      local kb = rc == SH_OK and ffi_string(iter_key[0].data, iter_key[0].len) or nil
      -- the cached changes of the keys up to kb (all that are left at the end)
      while j <= n and (kb == nil or (kb and pending[j] <= kb)) do
        local key = pending[j]
        j = j + 1
        local e = c[key]
        if e[VALUE] ~= nil and fn(key, cached_value(e), e[MARKERS], 0) == false then return end
        if key == kb then kb = false end -- the cache's version went instead
      end
      if kb == nil then return end
      if kb then
        local value, markers = split(ffi_string(iter_value[0].data, iter_value[0].len))
        if fn(kb, value, markers, tonumber(iter_start[0])) == false then return end
      end
    end
  end)
  C.sh_ffi_store_iter_destroy(iter)
  if not ok then error(err, 0) end
end

-- Every entry of one partition, in the store's order.
function Store:all(partition)
  self.inst.flush()
  local h = self:handle(partition)
  local list = drain(C.sh_ffi_store_iter_all(h, nil, 0, 0), {}, self.kdec)
  for _, e in ipairs(list) do
    if self.kind == _M.KV then e.start = nil
    elseif self.window_size then e["end"] = e.start + self.window_size end
  end
  return list
end

-- An entry as readers see it (the driver's store(), timers): a session
-- store keeps { s = start, a = aggregate } under each session's end (so
-- that retention by end drops exactly the closed sessions); show the
-- session's start, end and aggregate instead.
function Store:reader_entry(e)
  if self.sessions and type(e.value) == "table" then
    e.start, e["end"], e.value = e.value.s, e.start, e.value.a
  end
  return e
end

-- Partitions with an open handle (local tasks).
function Store:partitions()
  local list = {}
  for p in pairs(self.handles) do list[#list + 1] = p end
  table.sort(list)
  return list
end

return _M
