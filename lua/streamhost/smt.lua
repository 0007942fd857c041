-- Kafka Connect's single message transforms, as Lua functions for
-- stream:transform(fn), with Connect's option names:
--
--   b:mysql_cdc { ... }
--    :transform(smt.unwrap())                                  -- ExtractNewRecordState
--    :transform(smt.insert_field { ["static.field"] = "sourcedc", ["static.value"] = "dc01" })
--    :transform(smt.regex_router { regex = "(.*)\\.(.*)\\.(.*)", replacement = "$1_$3" })
--    :transform(smt.extract_field_key { field = "id" })
--
-- Each constructor checks its options (a mistake raises at the app's line)
-- and returns fn(rec) -> rec or nil (dropped), where rec is
-- { topic, key, value, headers, timestamp, partition, offset }. A user's own
-- transform is a function of the same shape. Values are decoded JSON: a
-- null field is serde.null (cjson.null), as Connect's JSON converter gives.
local ffi = require "ffi"
local serde = require "streamhost.serde"
local record_schema = require "streamhost.record_schema"
local calendar = require "streamhost.calendar"

local _M = {}
local null = serde.null

local function usage(name, msg) error("smt." .. name .. ": " .. msg, 3) end

local function option(opts, _, key, default)
  local v = opts[key]
  if v == nil then return default end
  return v
end

local function required(opts, name, key)
  local v = opts[key]
  if v == nil or v == "" then usage(name, "'" .. key .. "' is required") end
  return v
end

local function list(s)
  local out = {}
  if s == nil then return out end
  if type(s) == "table" then return s end
  for item in tostring(s):gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

local function set_of(items)
  local set = {}
  for _, v in ipairs(items) do set[v] = true end
  return set
end

local function is_struct(v) return type(v) == "table" end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local function bool_option(opts, name, key, default)
  local v = option(opts, name, key, default)
  if v == "true" then return true end
  if v == "false" then return false end
  if type(v) ~= "boolean" then usage(name, "'" .. key .. "' must be true or false") end
  return v
end

-- ---- regexes: Java's syntax for what Connect users write, run by POSIX ERE ----

ffi.cdef [[
  typedef struct { int rm_so; int rm_eo; } sh_smt_regmatch_t;
  int regcomp(void *preg, const char *regex, int cflags);
  int regexec(const void *preg, const char *string, size_t nmatch,
              sh_smt_regmatch_t *pmatch, int eflags);
  void regfree(void *preg);
]]
local REG_EXTENDED = 1
local regmatch_t = ffi.typeof("sh_smt_regmatch_t[?]")

-- Java regex shorthands that POSIX ERE spells differently.
local function to_posix(regex)
  return (regex:gsub("\\d", "[0-9]"):gsub("\\w", "[A-Za-z0-9_]"):gsub("\\s", "[[:space:]]"))
end

-- A compiled regex matched against a whole string (Java's Matcher.matches),
-- returning its groups or nil.
local function compile_regex(name, regex)
  local buf = ffi.gc(ffi.new("char[256]"), ffi.C.regfree) -- regex_t: 64 bytes on glibc
  if ffi.C.regcomp(buf, "^(" .. to_posix(regex) .. ")$", REG_EXTENDED) ~= 0 then
    usage(name, "'" .. regex .. "' is not a regex this host can run")
  end
  local matches = regmatch_t(10)
  return function(s)
    if ffi.C.regexec(buf, s, 10, matches, 0) ~= 0 then return nil end
    local groups = {}
    -- group 1 is the whole-match wrapper added above: user groups start at 2
    for i = 2, 9 do
      local m = matches[i]
      groups[i - 1] = m.rm_so >= 0 and s:sub(m.rm_so + 1, m.rm_eo) or ""
    end
    groups[0] = s
    return groups
  end
end

local function substitute(replacement, groups)
  return (replacement:gsub("%$(%d)", function(d) return groups[tonumber(d)] or "" end))
end

-- ---- Debezium ----

-- Debezium's ExtractNewRecordState (formerly UnwrapFromEnvelope): the value
-- becomes the row after the change. Options: drop.tombstones (true),
-- delete.handling.mode drop|rewrite|none (drop), add.fields (op, table, db,
-- ts_ms, source.* ... as __<field>), add.fields.prefix ("__"),
-- add.headers (as __<field> headers).
function _M.unwrap(opts)
  opts = opts or {}
  local name = "unwrap"
  local drop_tombstones = bool_option(opts, name, "drop.tombstones", true)
  local delete_mode = option(opts, name, "delete.handling.mode", "drop")
  if delete_mode ~= "drop" and delete_mode ~= "rewrite" and delete_mode ~= "none" then
    usage(name, "delete.handling.mode must be drop, rewrite or none, got '" ..
                tostring(delete_mode) .. "'")
  end
  local prefix = option(opts, name, "add.fields.prefix", "__")
  local header_prefix = option(opts, name, "add.headers.prefix", "__")
  local fields, headers = list(opts["add.fields"]), list(opts["add.headers"])
  local function lookup(envelope, field)
    local source = is_struct(envelope.source) and envelope.source or {}
    local path = field:match("^source%.(.+)$")
    if path then return source[path], "source_" .. path end
    if field == "op" or field == "ts_ms" then return envelope[field], field end
    return source[field], field
  end
  -- the row's schema (the envelope's Value) with the fields added here, as
  -- Debezium's SMT builds it; record_schema caches each step
  local function row_schema(envelope)
    local s = record_schema.field(envelope, "after")
    if delete_mode == "rewrite" then s = record_schema.with_field(s, prefix .. "deleted", "string", true) end
    for _, f in ipairs(fields) do
      local path = f:match("^source%.(.+)$")
      local t, as
      if path then
        t, as = record_schema.field_type(record_schema.field(envelope, "source"), path), "source_" .. path
      elseif f == "op" or f == "ts_ms" then
        t, as = record_schema.field_type(envelope, f), f
      else
        t, as = record_schema.field_type(record_schema.field(envelope, "source"), f), f
      end
      s = record_schema.with_field(s, prefix .. as, t or "string", true)
    end
    return s
  end
  local row_schemas = setmetatable({}, { __mode = "k" }) -- envelope -> row (cached)
  return function(rec)
    local v = rec.value
    if v == nil or v == null then
      if drop_tombstones then return nil end
      return rec
    end
    if not is_struct(v) or (v.op == nil and v.after == nil and v.before == nil) then
      return rec -- not a change event: as is (Debezium passes them through)
    end
    local envelope = rec.value_schema
    if envelope then
      local row = row_schemas[envelope]
      if row == nil then
        row = row_schema(envelope) or false
        row_schemas[envelope] = row
      end
      rec.value_schema = row or nil
    end
    local row
    if v.op == "d" then
      if delete_mode == "drop" then return nil end
      if delete_mode == "none" then
        rec.value = nil
        return rec
      end
      row = is_struct(v.before) and copy(v.before) or {}
      row[prefix .. "deleted"] = "true"
    else
      row = is_struct(v.after) and copy(v.after) or {}
      if delete_mode == "rewrite" then row[prefix .. "deleted"] = "false" end
    end
    for _, f in ipairs(fields) do
      local value, as = lookup(v, f)
      row[prefix .. as] = value == nil and null or value
    end
    if #headers > 0 then
      local hs = {}
      for i, h in ipairs(rec.headers or {}) do hs[i] = h end
      for _, f in ipairs(headers) do
        local value, as = lookup(v, f)
        hs[#hs + 1] = { key = header_prefix .. as,
                        value = value ~= nil and value ~= null and tostring(value) or nil }
      end
      rec.headers = hs
    end
    rec.value = row
    return rec
  end
end
_M.extract_new_record_state = _M.unwrap

-- ---- Apache Kafka's transforms (org.apache.kafka.connect.transforms) ----

-- applies fn to rec.key or rec.value; tombstones pass untouched. The
-- part's schema (rec.key_schema / rec.value_schema) becomes
-- schema_fn(old schema), or nil (not known any more) without one.
local function on_part(which, fn, schema_fn)
  local schema_key = which .. "_schema"
  local cache = setmetatable({}, { __mode = "k" }) -- old schema -> new (false: none)
  return function(rec)
    local v = rec[which]
    if v == nil or v == null then return rec end
    local out = fn(v, rec)
    rec[which] = out
    local old = rec[schema_key]
    if old then
      local new = cache[old]
      if new == nil then
        new = schema_fn and schema_fn(old) or false
        cache[old] = new
      end
      rec[schema_key] = new or nil
    end
    return rec
  end
end
local function same_schema(s) return s end

local TIMESTAMP = { type = "long", ["connect.version"] = 1,
                    ["connect.name"] = "org.apache.kafka.connect.data.Timestamp",
                    logicalType = "timestamp-millis" }

-- InsertField: static.field/static.value, topic.field, partition.field,
-- offset.field, timestamp.field. A field name ending in '!' is required,
-- '?' optional (Connect's suffixes); both are dropped from the name.
local function insert_field(which, opts)
  local name = "insert_field"
  opts = opts or {}
  local function field(key)
    local f = opts[key]
    if f == nil then return nil end
    return (tostring(f):gsub("[!?]$", ""))
  end
  local static_field, static_value = field("static.field"), opts["static.value"]
  local topic_field, partition_field = field("topic.field"), field("partition.field")
  local offset_field, timestamp_field = field("offset.field"), field("timestamp.field")
  if not (static_field or topic_field or partition_field or offset_field or timestamp_field) then
    usage(name, "name a field: static.field, topic.field, partition.field, offset.field " ..
                "or timestamp.field")
  end
  return on_part(which, function(v, rec)
    if not is_struct(v) then
      error("insert_field: the " .. which .. " is not a struct (" .. type(v) .. ")", 0)
    end
    local out = copy(v)
    if static_field then out[static_field] = static_value == nil and null or static_value end
    if topic_field then out[topic_field] = rec.topic end
    if partition_field then out[partition_field] = rec.partition end
    if offset_field then out[offset_field] = rec.offset end
    if timestamp_field then out[timestamp_field] = rec.timestamp end
    return out
  end, function(schema)
    -- Connect's InsertField: optional fields of these types
    if static_field then schema = record_schema.with_field(schema, static_field, "string", true) end
    if topic_field then schema = record_schema.with_field(schema, topic_field, "string", true) end
    if partition_field then schema = record_schema.with_field(schema, partition_field, "int", true) end
    if offset_field then schema = record_schema.with_field(schema, offset_field, "long", true) end
    if timestamp_field then schema = record_schema.with_field(schema, timestamp_field, TIMESTAMP, true) end
    return schema
  end)
end
function _M.insert_field(opts) return insert_field("value", opts) end
function _M.insert_field_key(opts) return insert_field("key", opts) end

-- RegexRouter: a topic matching `regex` (whole) becomes `replacement`,
-- with $1..$9 for its groups; others keep theirs.
function _M.regex_router(opts)
  opts = opts or {}
  local regex = required(opts, "regex_router", "regex")
  local replacement = required(opts, "regex_router", "replacement")
  local match = compile_regex("regex_router", regex)
  return function(rec)
    local groups = rec.topic and match(rec.topic)
    if groups then rec.topic = substitute(replacement, groups) end
    return rec
  end
end

-- TimestampRouter: topic.format with ${topic} and ${timestamp}
-- (timestamp.format, a SimpleDateFormat pattern, UTC).
local format_time -- defined below

function _M.timestamp_router(opts)
  opts = opts or {}
  local fmt = option(opts, "timestamp_router", "topic.format", "${topic}-${timestamp}")
  local ts_fmt = option(opts, "timestamp_router", "timestamp.format", "yyyyMMdd")
  return function(rec)
    local ts = format_time(rec.timestamp or 0, ts_fmt)
    rec.topic = fmt:gsub("%${topic}", function() return rec.topic end)
                   :gsub("%${timestamp}", function() return ts end)
    return rec
  end
end

-- ExtractField: the key (or value) becomes one of its fields.
local function extract_field(which, opts)
  local name = "extract_field_" .. which
  opts = opts or {}
  local f = required(opts, name, "field")
  return on_part(which, function(v)
    if not is_struct(v) then error(name .. ": the " .. which .. " is not a struct", 0) end
    local out = v[f]
    if out == nil then return null end
    return out
  end, function(schema) return record_schema.field(schema, f) end)
end
function _M.extract_field_key(opts) return extract_field("key", opts) end
function _M.extract_field_value(opts) return extract_field("value", opts) end

-- ValueToKey: the key becomes a struct of the value's `fields`.
function _M.value_to_key(opts)
  opts = opts or {}
  local fields = list(required(opts, "value_to_key", "fields"))
  return function(rec)
    local v = rec.value
    if not is_struct(v) then error("value_to_key: the value is not a struct", 0) end
    local key = {}
    for _, f in ipairs(fields) do
      if v[f] == nil then error("value_to_key: the value has no field '" .. f .. "'", 0) end
      key[f] = v[f]
    end
    rec.key = key
    rec.key_schema = nil
    return rec
  end
end

-- ReplaceField: include (whitelist), exclude (blacklist), renames
-- ("old:new,...").
local function replace_field(which, opts)
  local name = "replace_field"
  opts = opts or {}
  local include = set_of(list(opts.include or opts.whitelist))
  local has_include = next(include) ~= nil
  local exclude = set_of(list(opts.exclude or opts.blacklist))
  local renames = {}
  for _, pair in ipairs(list(opts.renames)) do
    local from, to = pair:match("^([^:]+):(.+)$")
    if not from then usage(name, "renames are old:new pairs, got '" .. pair .. "'") end
    renames[from] = to
  end
  return on_part(which, function(v)
    if not is_struct(v) then error(name .. ": the " .. which .. " is not a struct", 0) end
    local out = {}
    for k, x in pairs(v) do
      if not exclude[k] and (not has_include or include[k]) then out[renames[k] or k] = x end
    end
    return out
  end)
end
function _M.replace_field(opts) return replace_field("value", opts) end
function _M.replace_field_key(opts) return replace_field("key", opts) end

-- Cast: spec "field:type,..." or a lone type for the whole key/value. Types:
-- int8, int16, int32, int64, float32, float64, boolean, string.
local CASTS = {}
local function to_number(x)
  if type(x) == "boolean" then return x and 1 or 0 end
  local n = tonumber(x)
  if n == nil then error("cast: cannot cast '" .. tostring(x) .. "' to a number", 0) end
  return n
end
local function int_cast(bits)
  local lo, hi = -2 ^ (bits - 1), 2 ^ (bits - 1) - 1
  return function(x)
    local n = to_number(x)
    n = n >= 0 and math.floor(n) or math.ceil(n)
    if n < lo or n > hi then error("cast: " .. tostring(x) .. " does not fit int" .. bits, 0) end
    return n
  end
end
CASTS.int8, CASTS.int16, CASTS.int32, CASTS.int64 = int_cast(8), int_cast(16), int_cast(32),
                                                    int_cast(64)
CASTS.float32, CASTS.float64 = to_number, to_number
function CASTS.boolean(x)
  if type(x) == "string" then return x == "true" or (tonumber(x) or 0) ~= 0 end
  if type(x) == "number" then return x ~= 0 end
  return x == true
end
function CASTS.string(x)
  if type(x) == "number" and x == math.floor(x) and math.abs(x) < 2 ^ 53 then
    return string.format("%d", x)
  end
  return tostring(x)
end

local function cast(which, opts)
  opts = opts or {}
  local spec = required(opts, "cast", "spec")
  local whole, fields = nil, {}
  for _, item in ipairs(list(spec)) do
    local f, t = item:match("^([^:]+):(.+)$")
    if not f then t = item end
    if not CASTS[t] then
      usage("cast", "unknown type '" .. tostring(t) .. "' (int8, int16, int32, int64, float32, " ..
                    "float64, boolean, string)")
    end
    if f then fields[f] = CASTS[t] else whole = CASTS[t] end
  end
  return on_part(which, function(v)
    if whole then return whole(v) end
    if not is_struct(v) then error("cast: the " .. which .. " is not a struct", 0) end
    local out = copy(v)
    for f, fn in pairs(fields) do
      if out[f] ~= nil and out[f] ~= null then out[f] = fn(out[f]) end
    end
    return out
  end)
end
function _M.cast(opts) return cast("value", opts) end
function _M.cast_key(opts) return cast("key", opts) end

-- ---- time: SimpleDateFormat patterns, UTC ----

local days_to_civil, civil_to_days = calendar.from_days, calendar.to_days

local FIELDS = { yyyy = "year", MM = "month", dd = "day", HH = "hour", mm = "minute",
                 ss = "second", SSS = "milli" }
local TOKENS = { "yyyy", "SSS", "MM", "dd", "HH", "mm", "ss" }

-- Splits a pattern into tokens and literal text ('quoted' or not letters).
local function pattern_parts(fmt)
  local parts, i = {}, 1
  while i <= #fmt do
    local c = fmt:sub(i, i)
    if c == "'" then
      local j = fmt:find("'", i + 1, true) or #fmt + 1
      parts[#parts + 1] = { literal = fmt:sub(i + 1, j - 1) }
      i = j + 1
    else
      local found
      for _, t in ipairs(TOKENS) do
        if fmt:sub(i, i + #t - 1) == t then found = t; break end
      end
      if found then
        parts[#parts + 1] = { field = FIELDS[found], width = #found }
        i = i + #found
      else
        parts[#parts + 1] = { literal = c }
        i = i + 1
      end
    end
  end
  return parts
end

format_time = function(ms, fmt)
  local secs = math.floor(ms / 1000)
  local days = math.floor(secs / 86400)
  local rest = secs - days * 86400
  local y, m, d = days_to_civil(days)
  local values = { year = y, month = m, day = d, hour = math.floor(rest / 3600),
                   minute = math.floor(rest / 60) % 60, second = rest % 60, milli = ms % 1000 }
  local out = {}
  for _, p in ipairs(pattern_parts(fmt)) do
    out[#out + 1] = p.literal or string.format("%0" .. p.width .. "d", values[p.field])
  end
  return table.concat(out)
end

local function parse_time(s, fmt)
  local values = { year = 1970, month = 1, day = 1, hour = 0, minute = 0, second = 0, milli = 0 }
  local pos = 1
  for _, p in ipairs(pattern_parts(fmt)) do
    if p.literal then
      pos = pos + #p.literal
    else
      local digits = s:sub(pos, pos + p.width - 1)
      if not digits:match("^%d+$") then
        error("timestamp_converter: '" .. s .. "' does not match the format '" .. fmt .. "'", 0)
      end
      values[p.field] = tonumber(digits)
      pos = pos + p.width
    end
  end
  local days = civil_to_days(values.year, values.month, values.day)
  return ((days * 86400 + values.hour * 3600 + values.minute * 60 + values.second) * 1000) +
         values.milli
end
_M.format_time, _M.parse_time = format_time, parse_time

-- TimestampConverter: field (or the whole value), target.type string | unix
-- | Timestamp | Date | Time, format (SimpleDateFormat), unix.precision
-- (milliseconds). Timestamp/Date/Time are milliseconds since the epoch, as
-- Connect's JSON converter writes those logical types.
local function timestamp_converter(which, opts)
  local name = "timestamp_converter"
  opts = opts or {}
  local field = opts.field
  local target = required(opts, name, "target.type")
  local fmt = opts.format
  local precision = option(opts, name, "unix.precision", "milliseconds")
  local scale = ({ seconds = 1000, milliseconds = 1, microseconds = 0.001,
                   nanoseconds = 0.000001 })[precision]
  if not scale then usage(name, "unix.precision must be seconds, milliseconds, microseconds " ..
                                "or nanoseconds") end
  if target == "string" and not fmt then usage(name, "target.type string needs a format") end
  if not ({ string = 1, unix = 1, Timestamp = 1, Date = 1, Time = 1 })[target] then
    usage(name, "target.type must be string, unix, Timestamp, Date or Time")
  end
  local function to_ms(x)
    if type(x) == "number" then return x end
    if type(x) == "string" and fmt then return parse_time(x, fmt) end
    error(name .. ": cannot read '" .. tostring(x) .. "' as a time (set format)", 0)
  end
  local function convert(x)
    local ms = to_ms(x)
    if target == "string" then return format_time(ms, fmt) end
    if target == "unix" then return math.floor(ms / scale) end
    if target == "Date" then return math.floor(ms / 86400000) * 86400000 end
    if target == "Time" then return ms % 86400000 end
    return ms
  end
  return on_part(which, function(v)
    if not field then return convert(v) end
    if not is_struct(v) then error(name .. ": the " .. which .. " is not a struct", 0) end
    local out = copy(v)
    if out[field] ~= nil and out[field] ~= null then out[field] = convert(out[field]) end
    return out
  end)
end
function _M.timestamp_converter(opts) return timestamp_converter("value", opts) end
function _M.timestamp_converter_key(opts) return timestamp_converter("key", opts) end

-- Filter with a predicate (Connect's `predicate`, `negate`): drops the
-- records for which predicate(rec) holds (or does not, with negate).
function _M.filter(opts)
  opts = opts or {}
  local predicate = opts.predicate
  if type(predicate) ~= "function" then usage("filter", "'predicate' must be a function (rec)") end
  local negate = bool_option(opts, "filter", "negate", false)
  return function(rec)
    local hit = predicate(rec) and true or false
    if hit ~= negate then return nil end
    return rec
  end
end

-- Connect's predicates, for filter (and any transform's own use).
function _M.topic_name_matches(opts)
  local pattern = type(opts) == "table" and opts.pattern or opts
  if type(pattern) ~= "string" then usage("topic_name_matches", "'pattern' is required") end
  local match = compile_regex("topic_name_matches", pattern)
  return function(rec) return rec.topic ~= nil and match(rec.topic) ~= nil end
end

function _M.record_is_tombstone()
  return function(rec) return rec.value == nil or rec.value == null end
end

function _M.has_header_key(opts)
  local key = type(opts) == "table" and opts.name or opts
  if type(key) ~= "string" then usage("has_header_key", "'name' is required") end
  return function(rec)
    for _, h in ipairs(rec.headers or {}) do
      if h.key == key then return true end
    end
    return false
  end
end

-- MaskField: fields replaced by their type's empty value (0, "", false),
-- or by `replacement`.
local function mask_field(which, opts)
  opts = opts or {}
  local fields = list(required(opts, "mask_field", "fields"))
  local replacement = opts.replacement
  return on_part(which, function(v)
    if not is_struct(v) then error("mask_field: the " .. which .. " is not a struct", 0) end
    local out = copy(v)
    for _, f in ipairs(fields) do
      local x = out[f]
      if x ~= nil and x ~= null then
        if replacement ~= nil then
          out[f] = type(x) == "number" and (tonumber(replacement) or 0) or replacement
        elseif type(x) == "number" then out[f] = 0
        elseif type(x) == "boolean" then out[f] = false
        elseif type(x) == "table" then out[f] = {}
        else out[f] = "" end
      end
    end
    return out
  end, same_schema)
end
function _M.mask_field(opts) return mask_field("value", opts) end
function _M.mask_field_key(opts) return mask_field("key", opts) end

-- HoistField: the key (or value) is wrapped in a struct under `field`.
local function hoist_field(which, opts)
  opts = opts or {}
  local f = required(opts, "hoist_field", "field")
  return function(rec)
    rec[which] = { [f] = rec[which] == nil and null or rec[which] }
    rec[which .. "_schema"] = nil
    return rec
  end
end
function _M.hoist_field(opts) return hoist_field("value", opts) end
function _M.hoist_field_key(opts) return hoist_field("key", opts) end

-- Several transforms as one, applied in order (Connect's "transforms" list).
function _M.chain(...)
  local fns = { ... }
  for i, fn in ipairs(fns) do
    if type(fn) ~= "function" then usage("chain", "argument " .. i .. " is not a transform") end
  end
  return function(rec)
    for i = 1, #fns do
      rec = fns[i](rec)
      if rec == nil then return nil end
    end
    return rec
  end
end

return _M
