-- The schemas a record carries (rec.key_schema, rec.value_schema), as Kafka
-- Connect's records carry theirs: the MySQL CDC source gives Debezium's
-- (runtime/mysql/debezium_schema.c), an Avro input its writer schema. They
-- are what keeps a column's type from the source to the Avro writer and to
-- the MySQL sink's auto.create/auto.evolve.
--
-- A schema object is { t = <the Avro schema as a Lua table>, text = <its
-- JSON>, connect = true when the value is in Connect's JSON form (CDC:
-- bytes and decimals as base64) }. Objects are made once per schema and
-- cached, so the transforms that derive one from another (unwrap takes the
-- envelope's Value, insert_field adds a field, extract_field picks one)
-- cost a table lookup per record.
local cjson = require("cjson").new()

local null = cjson.null
local type, pairs, ipairs = type, pairs, ipairs
local byte, char, concat = string.byte, string.char, table.concat

local _M = {}

local function object(t, text, connect)
  return { t = t, text = text or cjson.encode(t), connect = connect }
end
_M.object = object

-- ---- CDC: one decoded pair per table definition (C interns the text) ----

local cdc_cache = {}

-- text: {"key": <schema|null>, "value": <schema>} from the CDC source.
-- Keyed by text; C hands the same text for every record of a table.
function _M.from_cdc(text)
  local pair = cdc_cache[text]
  if pair then return pair[1], pair[2] end
  local both = cjson.decode(text)
  local key = both.key ~= null and object(both.key, nil, true) or false
  local value = object(both.value, nil, true)
  cdc_cache[text] = { key, value }
  return key or nil, value
end

-- ---- types ----

-- The type under a ["null", T] union (T itself otherwise), and whether it
-- was optional.
local function unwrap_null(ft)
  if type(ft) == "table" and ft[1] ~= nil and #ft == 2 then
    if ft[1] == "null" then return ft[2], true end
    if ft[2] == "null" then return ft[1], true end
  end
  return ft, false
end
_M.unwrap_null = unwrap_null

local function field_of(t, name)
  if type(t) ~= "table" or t.type ~= "record" then return nil end
  for _, f in ipairs(t.fields) do
    if f.name == name then return f end
  end
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local derived = setmetatable({}, { __mode = "k" }) -- object -> { [op] = result }

local function memo(obj, op, make)
  local per = derived[obj]
  if not per then
    per = {}
    derived[obj] = per
  end
  local r = per[op]
  if r == nil then
    r = make() or false
    per[op] = r
  end
  return r or nil
end

-- The schema of field `name` of a record schema (a nested record gets its
-- full name, as a schema of its own needs): what ExtractField and
-- Debezium's unwrap (the envelope's before/after) leave.
function _M.field(obj, name)
  if not obj then return nil end
  return memo(obj, "field:" .. name, function()
    local f = field_of(obj.t, name)
    if not f then return nil end
    local ft = unwrap_null(f.type)
    if type(ft) == "string" and obj.t.namespace and not ft:find(".", 1, true) then
      -- a named reference ("Value"): its definition sits in a sibling field
      for _, other in ipairs(obj.t.fields) do
        local ot = unwrap_null(other.type)
        if type(ot) == "table" and ot.name == ft then ft = ot break end
      end
    end
    if type(ft) == "table" and ft.type == "record" and not ft.namespace and obj.t.namespace then
      ft = copy(ft)
      ft.namespace = obj.t.namespace
    end
    return object(ft, nil, obj.connect)
  end)
end

-- The record schema with a field added (InsertField; unwrap's __deleted and
-- add.fields): ftype as Connect writes it; optional fields default to null.
function _M.with_field(obj, name, ftype, optional)
  if not obj or type(obj.t) ~= "table" or obj.t.type ~= "record" then return nil end
  return memo(obj, "with:" .. name .. ":" .. cjson.encode(ftype) .. tostring(optional), function()
    local t = copy(obj.t)
    local fields = {}
    for i, f in ipairs(t.fields) do
      if f.name ~= name then fields[#fields + 1] = obj.t.fields[i] end
    end
    if optional then
      fields[#fields + 1] = { name = name, type = { "null", ftype }, default = null }
    else
      fields[#fields + 1] = { name = name, type = ftype }
    end
    t.fields = fields
    return object(t, nil, obj.connect)
  end)
end

-- The type of a field (without its null branch), or nil.
function _M.field_type(obj, name)
  local f = obj and field_of(obj.t, name)
  return f and (unwrap_null(f.type)) or nil
end

-- ---- does a value fit a record schema? ----

-- Every field of the value is in the schema, and every required field of
-- the schema is in the value. O(fields).
function _M.covers(obj, value)
  local t = obj and obj.t
  if type(t) ~= "table" or t.type ~= "record" or type(value) ~= "table" then return false end
  local known = obj.known
  if not known then
    known = {}
    for _, f in ipairs(t.fields) do
      local _, optional = unwrap_null(f.type)
      known[f.name] = (optional or f.default ~= nil) and "optional" or "required"
    end
    obj.known = known
  end
  for k, v in pairs(value) do
    if v ~= null and not known[k] then return false end
  end
  for name, need in pairs(known) do
    if need == "required" and (value[name] == nil or value[name] == null) then return false end
  end
  return true
end

-- ---- Connect's JSON form -> the avro serde's Lua values ----

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64_INDEX = {}
for i = 1, 64 do B64_INDEX[byte(B64, i)] = i - 1 end

local function from_base64(s)
  local out, bits, nbits = {}, 0, 0
  for i = 1, #s do
    local v = B64_INDEX[byte(s, i)]
    if v then
      bits, nbits = bits * 64 + v, nbits + 6
      if nbits >= 8 then
        nbits = nbits - 8
        local b = math.floor(bits / 2 ^ nbits)
        out[#out + 1] = char(b)
        bits = bits - b * 2 ^ nbits
      end
    end
  end
  return concat(out)
end
_M.from_base64 = from_base64

-- Big-endian two's complement bytes and a scale -> "-12.50". O(bytes^2).
local function decimal_text(bytes, scale)
  local n = #bytes
  if n == 0 then return "0" end
  local digits = { byte(bytes, 1, n) }
  local negative = digits[1] >= 128
  if negative then -- magnitude: invert and add one
    local carry = 1
    for i = n, 1, -1 do
      local v = 255 - digits[i] + carry
      digits[i], carry = v % 256, v >= 256 and 1 or 0
    end
  end
  local out = {}
  local start = 1
  while start <= n do
    local rem = 0
    for i = start, n do
      local cur = rem * 256 + digits[i]
      digits[i], rem = math.floor(cur / 10), cur % 10
    end
    out[#out + 1] = rem
    while start <= n and digits[start] == 0 do start = start + 1 end
  end
  while #out <= scale do out[#out + 1] = 0 end
  local text = {}
  for i = #out, 1, -1 do
    text[#text + 1] = out[i]
    if i == scale + 1 and scale > 0 then text[#text + 1] = "." end
  end
  return (negative and "-" or "") .. concat(text)
end
_M.decimal_text = decimal_text

-- A conversion plan for a type: nil when its values need none. named:
-- the plans of the records defined so far, by name, for references
-- ("after": ["null", "Value"]).
local plan_of
local function record_plan(t, named)
  local steps = {}
  for _, f in ipairs(t.fields) do
    local p = plan_of(f.type, named)
    if p then steps[#steps + 1] = { name = f.name, plan = p } end
  end
  local plan = #steps > 0 and { record = steps } or false
  if t.name then named[t.name] = plan end
  return plan or nil
end
plan_of = function(ft, named)
  ft = unwrap_null(ft)
  if ft == "bytes" then return { bytes = true } end
  if type(ft) == "string" then return named[ft] or nil end
  if type(ft) ~= "table" then return nil end
  if ft.type == "bytes" then
    if ft.logicalType == "decimal" then return { decimal = ft.scale or 0 } end
    return { bytes = true }
  end
  if ft.type == "record" then return record_plan(ft, named) end
  return nil
end

local function convert(plan, v)
  if v == nil or v == null then return v end
  if plan.bytes then return type(v) == "string" and from_base64(v) or v end
  if plan.decimal then
    if type(v) ~= "string" then return v end -- double/string modes give no base64
    return decimal_text(from_base64(v), plan.decimal)
  end
  if type(v) ~= "table" then return v end
  local out = copy(v)
  for _, step in ipairs(plan.record) do out[step.name] = convert(step.plan, v[step.name]) end
  return out
end

-- The value as the avro serde takes it: Connect's JSON form (base64 bytes
-- and decimals) turned into bytes and decimal digits. The value itself is
-- left alone (another output may still write it as JSON).
function _M.avro_value(obj, value)
  if not obj.connect then return value end
  local plan = obj.plan
  if plan == nil then
    plan = plan_of(obj.t, {}) or false
    obj.plan = plan
  end
  if not plan then return value end
  return convert(plan, value)
end

-- ---- derivation hints and SQL column types ----

-- { field = type } of the record's top-level fields, for a derived schema
-- (avro_derive.lua): types whose Lua values derive alike. Bytes in
-- Connect's JSON form (base64 text) are left to derivation.
function _M.hints(obj, simple_type)
  if not obj then return nil end
  local h = obj.hints
  if h ~= nil then return h or nil end
  h = false
  if type(obj.t) == "table" and obj.t.type == "record" then
    h = {}
    for _, f in ipairs(obj.t.fields) do
      local st = simple_type(f.type)
      local base = type(st) == "table" and st.type or st
      if st and not (obj.connect and base == "bytes") then h[f.name] = st end
    end
  end
  obj.hints = h
  return h or nil
end

-- A column's SQL type for a field's Avro type, as Confluent's JDBC sink
-- maps Connect's types on MySQL (with Debezium's io.debezium.time types
-- read as the temporal types they are), or nil (the value decides).
-- Returns the type and how a Lua value is written for it ("date_days",
-- "datetime_ms", "datetime_us", "time_us", "time_ms" or nil: as it is).
local CONNECT_NAMES = {
  ["io.debezium.time.Date"] = { "DATE", "date_days" },
  ["io.debezium.time.Timestamp"] = { "DATETIME(3)", "datetime_ms" },
  ["io.debezium.time.MicroTimestamp"] = { "DATETIME(6)", "datetime_us" },
  ["io.debezium.time.MicroTime"] = { "TIME(6)", "time_us" },
  ["io.debezium.time.ZonedTimestamp"] = { "VARCHAR(40)" },
  ["io.debezium.time.Year"] = { "INT" },
  ["io.debezium.data.Json"] = { "LONGTEXT" },
}
local LOGICAL = {
  date = { "DATE" },
  ["time-millis"] = { "TIME(3)", "time_ms" },
  ["time-micros"] = { "TIME(6)", "time_us" },
  ["timestamp-millis"] = { "DATETIME(3)", "datetime_ms" },
  ["timestamp-micros"] = { "DATETIME(6)", "datetime_us" },
  ["local-timestamp-millis"] = { "DATETIME(3)", "datetime_ms" },
  ["local-timestamp-micros"] = { "DATETIME(6)", "datetime_us" },
  uuid = { "VARCHAR(36)" },
}
local PLAIN = { boolean = "BOOLEAN", int = "INT", long = "BIGINT", float = "FLOAT",
                double = "DOUBLE", string = "TEXT", bytes = "LONGBLOB" }

local function sql_type(ft)
  ft = unwrap_null(ft)
  if type(ft) == "string" then return PLAIN[ft] and { PLAIN[ft] } end
  if type(ft) ~= "table" or ft[1] ~= nil then return nil end
  if ft.logicalType == "decimal" and ft.type == "bytes" then
    local p, s = tonumber(ft.precision) or 65, tonumber(ft.scale) or 0
    if p < 1 or p > 65 then p = 65 end
    if s < 0 or s > 30 or s > p then s = math.min(30, p) end
    return { string.format("DECIMAL(%d,%d)", p, s) }
  end
  local by_name = ft["connect.name"] and CONNECT_NAMES[ft["connect.name"]]
  if by_name then return by_name end
  local by_logical = ft.logicalType and LOGICAL[ft.logicalType]
  if by_logical then return by_logical end
  if ft["connect.type"] == "int16" then return { "SMALLINT" } end
  if ft["connect.type"] == "int8" then return { "TINYINT" } end
  return PLAIN[ft.type] and { PLAIN[ft.type] }
end

-- { field = { sql_type, writer } } for a record schema (cached).
function _M.sql_types(obj)
  if not obj then return nil end
  local s = obj.sql
  if s ~= nil then return s or nil end
  s = false
  if type(obj.t) == "table" and obj.t.type == "record" then
    s = {}
    for _, f in ipairs(obj.t.fields) do s[f.name] = sql_type(f.type) end
  end
  obj.sql = s
  return s or nil
end

return _M
