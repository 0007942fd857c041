-- cache_entry.lua - an entry of store.lua's write-back record cache: its
-- layout, its value as readers get it, and its bytes as a flush writes
-- them to C.
--
-- An entry is an array, not a record of named fields: an array part made
-- with the table (up to 16 slots) shares its allocation, where up to ten
-- named fields took a hash part of 8 or 16 nodes (3 or 6 cache lines)
-- allocated apart. A hopping record reads three entries, a count one, and
-- most reads miss the CPU's cache: the fewer lines, the fewer misses. The
-- slots:
--   VALUE    a scalar, or a table's JSON (nil: deleted)
--   JSON     whether VALUE is JSON
--   MARKERS  the origins applied (an aggregate's: markers.lua's table while
--            cached; text otherwise)
--   TS       the timestamp of the last change
--   DIRTY    whether the entry is not flushed yet
--   DECODED  VALUE's lazy value, handed out while it stays lazy
--   STAMP    a pane's stamp (panes.lua)
--   KB, START  a window's key bytes and start (window stores)
--   STORED   whether RocksDB may hold the window (nil: perhaps)
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local lazy_json = require "streamhost.json" -- the module behind the serde: lazy values, buffers
local new_tab = require "table.new"

local json = serde.get("json")

local VALUE, JSON, MARKERS, TS, DIRTY, DECODED, STAMP, KB, START, STORED =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10
local _M = { VALUE = VALUE, JSON = JSON, MARKERS = MARKERS, TS = TS, DIRTY = DIRTY,
             DECODED = DECODED, STAMP = STAMP, KB = KB, START = START, STORED = STORED }

-- Made at its full size with table.new: slots that grow later, or a
-- constructor with nil or constant slots (a template copy), get an array
-- part of their own (measured: 154 bytes an entry this way, 202 with a
-- constructor).
function _M.new(value, is_json, markers, kb, start, stored)
  local e = new_tab(STORED, 0)
  e[VALUE], e[JSON], e[MARKERS], e[DIRTY] = value, is_json, markers, false
  e[KB], e[START], e[STORED] = kb, start, stored
  return e
end

-- A cached value: scalars (and put's owned tables) as they are, tables as
-- their JSON, handed out as one lazy value (json.lua) for as long as it
-- stays lazy: a table row read by every join record is not decoded again
-- each time. An app that changes the value it got turns it into a plain
-- table, which is never handed out again: the next read decodes the JSON
-- anew, so the app cannot change the cache behind the store's back.
local is_lazy = lazy_json.is_lazy

function _M.value(e)
  local v = e[VALUE]
  if not e[JSON] then return v end
  local d = e[DECODED]
  if d ~= nil and is_lazy(d) then return d end
  d = json.decode(v)
  e[DECODED] = is_lazy(d) and d or nil
  return d
end

-- ---- a flush's puts ----

-- A flush writes every entry's bytes into one buffer: its JSON, then "\n"
-- and its markers (a deletion writes none). A string per entry, interned
-- and then swept, cost more than the rest of the entry's Lua side. The
-- buffer keeps its size between flushes (O(bytes of the largest flush)),
-- up to FLUSH_BUFFER_KEEP: past that it is freed after the flush.
local flush_buffer = require("string.buffer").new()
local FLUSH_BUFFER_KEEP = 4 * 1024 * 1024
local encode_into = lazy_json.encode_into

local function put_bytes(b, e)
  local v = e[VALUE]
  if e[JSON] then b:put(v) else encode_into(b, v) end
  local m = e[MARKERS]
  if m ~= nil then
    b:put("\n")
    -- an aggregate's markers are a table until written (group.lua)
    if type(m) == "table" then m:put_text(b) else b:put(m) end
  end
end

-- The puts handed to C as one array (one FFI call, one RocksDB write
-- batch), a window store's with the windows' starts beside; grown to the
-- largest flush, once per Lua VM.
local put_records, put_starts, put_at, put_capacity = nil, nil, nil, 0
local int64_array_t = ffi.typeof("int64_t[?]")
local double_array_t = ffi.typeof("double[?]") -- read back as plain numbers

-- Starts a write batch of at most n puts.
function _M.begin_puts(n)
  if n > put_capacity then
    put_capacity = n
    put_records, put_starts, put_at = core.record_array_t(n), int64_array_t(n), double_array_t(n)
  end
  flush_buffer:reset()
end

-- Entry e under key bytes kb (held by the entry or the dirty list) as put
-- i (from 0), with a window's start: its key and timestamp now, its
-- value's place in the buffer (-1: a deletion) for end_puts once the
-- buffer has stopped growing.
function _M.add_put(i, kb, e, start)
  local r, b = put_records[i], flush_buffer
  r.key, r.key_len = kb, #kb
  r.timestamp = e[TS]
  if start then put_starts[i] = start end
  if e[VALUE] == nil then
    put_at[i], r.value_len = -1, 0
  else
    local at = #b
    put_bytes(b, e)
    put_at[i], r.value_len = at, #b - at
  end
end

-- The records and starts of puts 0 to n - 1, their values pointing into
-- the buffer, valid until the next begin_puts.
function _M.end_puts(n)
  local base = flush_buffer:ref()
  for i = 0, n - 1 do
    local at = put_at[i]
    put_records[i].value = at >= 0 and base + at or nil
  end
  return put_records, put_starts
end

-- After the C call: a buffer grown past FLUSH_BUFFER_KEEP is let go.
function _M.release_puts()
  if #flush_buffer > FLUSH_BUFFER_KEEP then flush_buffer:free() end
end

return _M
