-- Window definitions (sh.tumbling, sh.hopping, sh.session), durations such
-- as "3m" or "30s", and ksqlDB's TIMESTAMPTOSTRING for window bounds.
--
-- Windows are aligned to the epoch, as in Kafka Streams: a hopping window of
-- size 3m advancing 1m covers [k*1m, k*1m + 3m). A window's grace says how
-- long after its end a late record is still accepted. Without one, ksqlDB's
-- defaults apply, and they depend on how results are emitted (see
-- with_grace): 0 for emit = "final", max(24 h - size, 0) for every update.
local _M = {}

local UNITS = { ms = 1, s = 1000, m = 60000, h = 3600000, d = 86400000 }
local DAY = 24 * 3600000

-- "3m", "1s", "500ms", "2h", "1d", or a number of milliseconds.
function _M.duration(x, what, level)
  if type(x) == "number" and x >= 0 then return x end
  if type(x) == "string" then
    local n, unit = x:match("^(%d+%.?%d*)%s*(%a+)$")
    if n and UNITS[unit] then return math.floor(tonumber(n) * UNITS[unit]) end
  end
  error(string.format("%s: '%s' is not a duration (say \"30s\", \"3m\", \"1h\", \"500ms\" or ms)",
                      what, tostring(x)), (level or 1) + 1)
end

local window_mt = { __name = "streamhost.window" }

function _M.is_window(x) return getmetatable(x) == window_mt end

local function make(kind, spec, level)
  if type(spec) ~= "table" then error("sh." .. kind .. " expects a table", level + 1) end
  local w = setmetatable({ kind = kind }, window_mt)
  local what = "sh." .. kind
  if kind == "session" then
    w.gap = _M.duration(spec.gap, what .. " gap", level + 1)
  else
    w.size = _M.duration(spec.size, what .. " size", level + 1)
    w.advance = kind == "hopping" and _M.duration(spec.advance, what .. " advance", level + 1)
                or w.size
    if w.size <= 0 or w.advance <= 0 or w.advance > w.size then
      error(what .. ": need 0 < advance <= size", level + 1)
    end
  end
  -- nil until the aggregation says how it emits (with_grace)
  w.grace = spec.grace and _M.duration(spec.grace, what .. " grace", level + 1) or nil
  return w
end

-- The window an aggregation uses: w itself when it names its grace, else a
-- copy with ksqlDB's default for this emit mode. EMIT FINAL without GRACE
-- PERIOD closes a window at its end (QTT suppress.json "should emit at
-- window end if no grace period given"); EMIT CHANGES keeps Kafka Streams
-- 2.x's old default, a day of retention: max(24 h - size, 0), the gap
-- standing for the size of a session.
function _M.with_grace(w, emit)
  if w.grace ~= nil then return w end
  local copy = setmetatable({}, window_mt)
  for k, v in pairs(w) do copy[k] = v end
  if emit == "final" then
    copy.grace = 0
  else
    copy.grace = math.max(DAY - (w.size or w.gap), 0)
  end
  return copy
end

function _M.tumbling(spec) return make("tumbling", spec, 2) end
function _M.hopping(spec) return make("hopping", spec, 2) end
function _M.session(spec) return make("session", spec, 2) end

-- Calls fn(start) for every time window containing ts, oldest first.
function _M.each_start(w, ts, fn)
  local size, advance = w.size, w.advance
  local first = math.max(0, ts - size + advance)
  first = first - first % advance
  for start = first, ts, advance do
    if ts < start + size then fn(start) end
  end
end

-- A function (start, stop) -> rec.window, one table per window rather than
-- per record: a hopping aggregation forwards three records per input, and a
-- table each was half of its garbage. Nothing here changes a table once
-- handed out, so a user may keep one. One a user changed is not handed out
-- again: a changed start or end shows in the values, a field added is
-- noted by the metatable's __newindex (which fires for new fields only).
local changed = setmetatable({}, { __mode = "k" })
local shared_mt = { __newindex = function(t, k, v) changed[t] = true; rawset(t, k, v) end }

function _M.shared_bounds()
  local by_start, held = {}, 0
  return function(start, stop)
    local b = by_start[start]
    if b and b.start == start and b["end"] == stop and not changed[b] then return b end
    if held >= 64 then by_start, held = {}, 0 end -- a bound on memory, not on age
    b = setmetatable({ start = start, ["end"] = stop }, shared_mt)
    by_start[start], held = b, held + 1
    return b
  end
end

-- How long a store must keep windows: until no late record can touch them.
-- Session stores are keyed by the session's end, and a session is closed
-- once end + gap + grace < stream time (Kafka Streams' rule), hence the 1.
function _M.retention(w)
  if w.kind == "session" then return w.gap + w.grace + 1 end
  return w.size + w.grace
end

-- ksqlDB's TIMESTAMPTOSTRING(ms, pattern) for the usual patterns (UTC).
function _M.timestamp_to_string(ms, pattern)
  pattern = pattern or "yyyy-MM-dd HH:mm:ss"
  local secs = math.floor(ms / 1000)
  local t = os.date("!*t", secs)
  local map = {
    yyyy = string.format("%04d", t.year), MM = string.format("%02d", t.month),
    dd = string.format("%02d", t.day), HH = string.format("%02d", t.hour),
    mm = string.format("%02d", t.min), ss = string.format("%02d", t.sec),
    SSS = string.format("%03d", ms % 1000),
  }
  return (pattern:gsub("yyyy", map.yyyy):gsub("SSS", map.SSS):gsub("MM", map.MM)
                 :gsub("dd", map.dd):gsub("HH", map.HH):gsub("mm", map.mm):gsub("ss", map.ss))
end

return _M
