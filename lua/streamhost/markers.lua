-- markers.lua - the origins an aggregate has applied, kept beside its
-- value (group.lua's aggregates and panes, join.lua's replay check).
--
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

-- ";where@" per origin, made once (where strings are made once per
-- partition, see where_of)
local needles = {}
local function needle_of(where)
  local n = needles[where]
  if n == nil then n = ";" .. where .. "@"; needles[where] = n end
  return n
end

local function replayed(markers, where, offset, seq)
  if markers == nil or where == nil then return false end
  local needle = needle_of(where)
  local at = find(markers, needle, 1, true)
  if not at then return false end
  local o, q = match(markers, "^(%d+)%.(%d+)", at + #needle)
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

-- The newest origin per partition of two marker strings (a session merged
-- from others has applied every input each of them applied).
local function merged_markers(a, b)
  if a == nil then return b end
  if b == nil then return a end
  for where, o, q in string.gmatch(b, ";([^@;]+)@(%d+)%.(%d+)") do
    o, q = tonumber(o), tonumber(q)
    if not replayed(a, where, o, q) then a = marked(a, where, o, q) end
  end
  return a
end

-- Result timestamps (Kafka Streams 3.x): an aggregate carries the largest
-- timestamp of the inputs that made it. It leads the markers, as digits
-- before the first ';', so it survives a restart with the value.
local format = string.format

local function stamp_of(markers)
  return markers and tonumber(match(markers, "^(%d+)"))
end

-- The markers marked(markers, where, offset, seq) stamped with ts, in one
-- pass, for panes' hot path: most markers hold one origin, the one marked.
local last_ts, last_stamp = nil, nil
local function restamped(markers, where, offset, seq, ts)
  if ts ~= last_ts then last_ts, last_stamp = ts, format("%.0f", ts) end
  if not where then return last_stamp .. (markers and match(markers, "^%d*(.*)$") or "") end
  local needle = needle_of(where)
  local entry = needle .. offset .. "." .. seq
  if markers == nil then return last_stamp .. entry end
  local body = find(markers, ";", 1, true)
  if body == nil then return last_stamp .. entry end
  local at = find(markers, needle, body, true)
  if not at then return last_stamp .. sub(markers, body) .. entry end
  local after = find(markers, ";", at + 1, true)
  if at == body and after == nil then return last_stamp .. entry end
  return last_stamp .. sub(markers, body, at - 1) .. entry .. (after and sub(markers, after) or "")
end


-- An aggregate's markers while its entry (a key's, or a key's window) is
-- cached: a table with
-- the stamp (slot TS) and the first origin partition's where, offset and
-- seq (W, O, Q), further origins (rare: several input partitions of one
-- task) in REST = { wheres = {in order}, at = {where = {offset, seq}} },
-- updated in place per record and written out as the text above only when
-- the store flushes (store.lua calls put_text()). A record then builds no
-- string and parses none: string.match and string.format per record cost
-- more than the rest of a count together. Markers read from RocksDB (text)
-- are parsed once, on the key's first read. Only this module's aggregates
-- hold them, and they put them back into the same entry, so the one table
-- is never seen by two keys.
local Markers = {}
Markers.__index = Markers

-- Slots, not named fields, for the reason cache_entry.lua gives: array
-- slots share the table's allocation, where four named fields took a hash
-- part of its own.
local TS, W, O, Q, REST = 1, 2, 3, 4, 5

-- The usual case (one origin partition) is written into one buffer, its
-- integers with %d: tostring's %.14g per number and a string per part
-- cost a count's flush ~1,000 instructions a key.
local text_buffer = require("string.buffer").new()
local floor = math.floor

-- Appends the text to string.buffer b (a store's flush writes every entry
-- into one buffer, with no string per entry).
function Markers:put_text(b)
  local rest = self[REST]
  if rest == nil and (self[O] == nil or (self[O] == floor(self[O]) and self[Q] == floor(self[Q]))) then
    local ts = self[TS]
    if ts ~= nil then
      if ts == floor(ts) and ts ~= 0 and ts < 2 ^ 62 and ts > -2 ^ 62 then
        b:putf("%d", ts)
      else
        b:putf("%.0f", ts)
      end
    end
    if self[W] ~= nil then b:putf(";%s@%d.%d", self[W], self[O], self[Q]) end
    return b
  end
  local stamp = self[TS] and format("%.0f", self[TS]) or ""
  if rest == nil then
    if self[W] == nil then return b:put(stamp) end
    return b:put(stamp, ";", self[W], "@", self[O], ".", self[Q])
  end
  b:put(stamp)
  if self[W] then b:put(";", self[W], "@", self[O], ".", self[Q]) end
  for _, where in ipairs(rest.wheres) do
    local o = rest.at[where]
    b:put(";", where, "@", o[1], ".", o[2])
  end
  return b
end

function Markers:text()
  return self:put_text(text_buffer:reset()):tostring()
end

local function mark_at(m, where, offset, seq, ts)
  m[TS] = ts
  if where == nil then return m end
  if m[W] == nil or m[W] == where then
    m[W], m[O], m[Q] = where, offset, seq
    return m
  end
  local rest = m[REST]
  if not rest then
    rest = { wheres = {}, at = {} }
    m[REST] = rest
  end
  local o = rest.at[where]
  if o == nil then
    rest.wheres[#rest.wheres + 1] = where
    rest.at[where] = { offset, seq }
  else
    o[1], o[2] = offset, seq
  end
  return m
end

-- Made at its full size at once (see cache_entry.lua's new): a table made
-- with the stamp only grew twice, a rehash each, as mark_at filled it in
-- (hopping engine-only: 10,000 new windows per 60,000 records).
local new_tab = require "table.new"

local function markers_of(markers)
  if type(markers) == "table" then return markers end
  local m = setmetatable(new_tab(REST, 0), Markers)
  m[TS] = stamp_of(markers)
  if markers ~= nil then
    for where, o, q in string.gmatch(markers, ";([^@;]+)@(%d+)%.(%d+)") do
      mark_at(m, where, tonumber(o), tonumber(q), m[TS])
    end
  end
  return m
end

local function replayed_at(m, where, offset, seq)
  if where == nil then return false end
  local o, q
  if m[W] == where then
    o, q = m[O], m[Q]
  else
    local rest = m[REST]
    local at = rest and rest.at[where]
    if at == nil then return false end
    o, q = at[1], at[2]
  end
  return offset < o or (offset == o and seq <= q)
end

return {
  origin_of = origin_of, replayed = replayed, marked = marked, merged = merged_markers,
  stamp_of = stamp_of, restamped = restamped, markers_of = markers_of, mark_at = mark_at,
  replayed_at = replayed_at,
  -- the slots of markers_of's table, for readers of the stamp (group.lua)
  -- and of the stamp and first origin (store.lua's touch_windows)
  TS = TS, W = W, O = O, Q = Q,
}
