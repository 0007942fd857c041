-- MySQL from Lua: stream:to_mysql, the sink with Confluent's JDBC sink
-- property names, and mysql.connect, a connection the C core owns for
-- statements from timers (the orders application).
--
-- to_mysql turns each record into one row (pk.mode, pk.fields,
-- fields.whitelist applied here) and emits it to a sink of kind "mysql",
-- one per table, in the text form runtime/mysql/sink_row.h describes. The C sink
-- checks and quotes the names, batches rows in transactions, creates and
-- evolves tables and reports a row delivered only after its COMMIT.
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local streams = require "streamhost.stream"
local topology = require "streamhost.topology"
local record_schema = require "streamhost.record_schema"
local calendar = require "streamhost.calendar"

local C = core.C
local SH_OK = C.SH_OK
local Stream = streams.Stream
local compilers = topology.compilers
local null = serde.null
local json_encode = serde.get("json").encode
local concat, sort, format = table.concat, table.sort, string.format
local floor, huge = math.floor, math.huge

local _M = {}

local ORIGIN_HEADER = topology.ORIGIN_HEADER

-- Property names: Confluent's JDBC sink, plus exactly.once (and the table
-- it keeps positions in). Connect's own keys are accepted and ignored, so a
-- connector's JSON config can be pasted as it is.
local PROPERTIES = {
  ["connection.url"] = true, ["connection.user"] = true, ["connection.password"] = true,
  ["insert.mode"] = true, ["pk.mode"] = true, ["pk.fields"] = true, ["auto.create"] = true,
  ["auto.evolve"] = true, ["batch.size"] = true, ["delete.enabled"] = true,
  ["table.name.format"] = true, ["fields.whitelist"] = true, ["max.retries"] = true,
  ["retry.backoff.ms"] = true, ["exactly.once"] = true, ["exactly.once.table"] = true,
}
local IGNORED = { ["connector.class"] = true, ["tasks.max"] = true, topics = true, name = true,
                  ["key.converter"] = true, ["value.converter"] = true }
local PK_MODES = { none = true, kafka = true, record_key = true, record_value = true }
local INSERT_MODES = { insert = true, upsert = true, update = true }
local PRIMITIVE = { int = true, long = true, string = true, bytes = true }

local function list_of(v)
  if v == nil then return nil end
  if type(v) == "table" then return v end
  local list = {}
  for name in tostring(v):gmatch("[^,%s]+") do list[#list + 1] = name end
  return #list > 0 and list or nil
end

local function truthy(v) return v == true or v == "true" or v == "TRUE" or v == 1 or v == "1" end

-- The source topics upstream of a node: what ${topic} can be.
local function upstream_topics(node, out, seen)
  out, seen = out or {}, seen or {}
  if seen[node] then return out end
  seen[node] = true
  if node.kind == "source" then
    for _, t in ipairs(node.topics) do out[#out + 1] = t end
  elseif node.kind == "timer" then
    out.timer = true
  end
  for _, p in ipairs(node.parents) do upstream_topics(p, out, seen) end
  return out
end

-- Checks the properties at the user's line; returns them as strings.
local function check_properties(props, level)
  if type(props) ~= "table" then error("to_mysql expects a table of properties", level) end
  local out = {}
  for k, v in pairs(props) do
    if not PROPERTIES[k] and not IGNORED[k] then
      error(format("to_mysql: unknown property '%s' (JDBC sink names: connection.url, " ..
                   "insert.mode, pk.mode, pk.fields, auto.create, auto.evolve, batch.size, " ..
                   "delete.enabled, table.name.format, fields.whitelist; and exactly.once)",
                   tostring(k)), level)
    end
    if PROPERTIES[k] then
      out[k] = type(v) == "table" and concat(v, ",") or tostring(v)
    end
  end
  if not out["connection.url"] then
    error("to_mysql: 'connection.url' is required (jdbc:mysql://host:port/database)", level)
  end
  out["insert.mode"] = (out["insert.mode"] or "insert"):lower()
  out["pk.mode"] = (out["pk.mode"] or "none"):lower()
  if not INSERT_MODES[out["insert.mode"]] then
    error("to_mysql: insert.mode must be insert, upsert or update, got '" ..
          out["insert.mode"] .. "'", level)
  end
  if not PK_MODES[out["pk.mode"]] then
    error("to_mysql: pk.mode must be none, kafka, record_key or record_value, got '" ..
          out["pk.mode"] .. "'", level)
  end
  if out["insert.mode"] ~= "insert" and out["pk.mode"] == "none" then
    error("to_mysql: insert.mode " .. out["insert.mode"] .. " needs a primary key: set " ..
          "pk.mode (record_key, record_value or kafka)", level)
  end
  if truthy(out["delete.enabled"]) and out["pk.mode"] ~= "record_key" then
    error("to_mysql: delete.enabled needs pk.mode = record_key (a delete finds its row by " ..
          "the record's key)", level)
  end
  local size = out["batch.size"] and tonumber(out["batch.size"])
  if out["batch.size"] and (not size or size < 1 or size ~= floor(size)) then
    error("to_mysql: batch.size must be a whole number >= 1", level)
  end
  return out
end

function Stream:to_mysql(props)
  local p = check_properties(props, 3)
  local format_ = p["table.name.format"] or "${topic}"
  local topics = upstream_topics(self.node)
  local tables = {}
  if format_:find("${topic}", 1, true) then
    for _, t in ipairs(topics) do tables[t] = (format_:gsub("%${topic}", (t:gsub("%%", "%%%%")))) end
  else
    tables[false] = format_
  end
  local pk_fields = list_of(p["pk.fields"])
  if p["pk.mode"] == "record_key" and not pk_fields and PRIMITIVE[self.key_serde] then
    error("to_mysql: pk.mode record_key with a " .. self.key_serde .. " key needs pk.fields, " ..
          "the name of its column (e.g. pk.fields = \"id\")", 2)
  end
  local b = self.builder
  b.mysql_tables = b.mysql_tables or {}
  for _, name in pairs(tables) do
    local earlier = b.mysql_tables[name]
    if earlier and earlier.url ~= p["connection.url"] then
      error("to_mysql: table '" .. name .. "' is already written through " .. earlier.url, 2)
    end
    -- positions are kept per (table, input partition) and ranked per
    -- to_mysql: two of them on one table would take each other's rows for
    -- written ones
    if earlier and (earlier.exactly_once or truthy(p["exactly.once"])) then
      error("to_mysql: table '" .. name .. "' is already written by another to_mysql; with " ..
            "exactly.once write it from one (merge the streams first)", 2)
    end
    b.mysql_tables[name] = { url = p["connection.url"], exactly_once = truthy(p["exactly.once"]) }
  end
  b:add("mysql_sink", { self.node }, { props = p, tables = tables, pk_fields = pk_fields,
                                       whitelist = list_of(p["fields.whitelist"]),
                                       prefix = "KSTREAM" })
end

-- ---- rows ----

-- Values written into a column whose type came from the record's schema:
-- Debezium's and Avro's temporal numbers become MySQL's text forms (UTC).
local civil = calendar.from_days
local function datetime(units, per_second, digits)
  local seconds = math.floor(units / per_second)
  local frac = units - seconds * per_second
  local days = math.floor(seconds / 86400)
  local rest = seconds - days * 86400
  local y, m, d = civil(days)
  return format("%04d-%02d-%02d %02d:%02d:%02d.%0" .. digits .. "d", y, m, d,
                math.floor(rest / 3600), math.floor(rest / 60) % 60, rest % 60, frac)
end
local function time_of(units, per_second, digits)
  local negative = units < 0
  if negative then units = -units end
  local seconds = math.floor(units / per_second)
  return format("%s%02d:%02d:%02d.%0" .. digits .. "d", negative and "-" or "",
                math.floor(seconds / 3600), math.floor(seconds / 60) % 60, seconds % 60,
                units - seconds * per_second)
end
local WRITERS = {
  date_days = function(v) local y, m, d = civil(v) return format("%04d-%02d-%02d", y, m, d) end,
  datetime_ms = function(v) return datetime(v, 1000, 3) end,
  datetime_us = function(v) return datetime(v, 1000000, 6) end,
  time_ms = function(v) return time_of(v, 1000, 3) end,
  time_us = function(v) return time_of(v, 1000000, 6) end,
}
-- a key column needs a bounded type (MySQL indexes need a length)
local KEY_TYPES = { TEXT = "VARCHAR(255)", LONGTEXT = "VARCHAR(255)", LONGBLOB = "VARBINARY(255)" }

-- typed: { sql type, writer name } from the record's schema, or nil
local function field(buf, name, value, key, typed)
  if typed and typed[2] and type(value) == "number" then value = WRITERS[typed[2]](value) end
  local t, tc, text = type(value), nil, nil
  if value == nil or value == null then
    tc, text = "n", ""
  elseif t == "number" then
    if value == floor(value) and value > -2^53 and value < 2^53 then
      tc, text = "i", format("%d", value)
    elseif value ~= value or value == huge or value == -huge then
      tc, text = "n", "" -- NaN and infinities have no SQL value
    else
      tc, text = "f", format("%.17g", value)
    end
  elseif t == "string" then
    tc, text = "s", value
  elseif t == "boolean" then
    tc, text = "b", value and "1" or "0"
  elseif t == "table" then
    tc, text = "j", json_encode(value)
  elseif t == "cdata" then
    tc, text = "i", (tostring(value):gsub("[LU]+$", ""))
  else
    error("to_mysql: field '" .. tostring(name) .. "' holds a " .. t .. ", which has no column type", 0)
  end
  name = tostring(name)
  if typed then
    local sql = key and KEY_TYPES[typed[1]] or typed[1]
    buf[#buf + 1] = format("%s%s%d:%s%d:%s%d:%s", tc, key and "K" or "+", #sql, sql, #name, name,
                           #text, text)
    return
  end
  buf[#buf + 1] = format("%s%s%d:%s%d:%s", tc, key and "k" or "-", #name, name, #text, text)
end

local function sorted_keys(t, skip)
  local names = {}
  for k in pairs(t) do
    if not (skip and skip[k]) then names[#names + 1] = k end
  end
  sort(names, function(a, c) return tostring(a) < tostring(c) end)
  return names
end

-- Returns the row text for (k, v, rec), or raises (on_error decides).
local function row_encoder(node)
  local pk_mode, whitelist, pk_fields = node.props["pk.mode"], node.whitelist, node.pk_fields
  local deletes = truthy(node.props["delete.enabled"])
  local allowed
  if whitelist then
    allowed = {}
    for _, f in ipairs(whitelist) do allowed[f] = true end
  end
  return function(k, v, rec)
    local buf = {}
    local is_key = {}
    local tombstone = v == nil or v == null
    -- column types from the schemas the record carries (an Avro input's,
    -- or CDC's through its SMTs); values in Connect's JSON form first
    -- become what Avro would carry (bytes, decimal digits)
    local ks, vs = rec.key_schema, rec.value_schema
    local key_types = ks and record_schema.sql_types(ks)
    local types = vs and record_schema.sql_types(vs)
    if vs and vs.connect and not tombstone then v = record_schema.avro_value(vs, v) end
    if ks and ks.connect and type(k) == "table" then k = record_schema.avro_value(ks, k) end
    if tombstone and not deletes then
      error("to_mysql: a record with a null value (tombstone) and delete.enabled = false", 0)
    end
    buf[1] = tombstone and "D" or "W"
    if pk_mode == "kafka" then
      field(buf, "__connect_topic", rec.topic, true)
      field(buf, "__connect_partition", rec.partition, true)
      field(buf, "__connect_offset", rec.offset, true)
    elseif pk_mode == "record_key" then
      if k == nil or k == null then error("to_mysql: pk.mode record_key and the record has no key", 0) end
      if type(k) == "table" then
        for _, name in ipairs(pk_fields or sorted_keys(k)) do
          field(buf, name, k[name], true, key_types and key_types[name])
          is_key[name] = true
        end
      else
        local name = pk_fields and pk_fields[1]
        if not name then error("to_mysql: pk.mode record_key with a primitive key needs pk.fields", 0) end
        field(buf, name, k, true, types and types[name])
        is_key[name] = true
      end
    end
    if tombstone then return concat(buf) end
    if type(v) ~= "table" then
      error("to_mysql: the record's value must be an object (a table of fields), got " ..
            type(v), 0)
    end
    if pk_mode == "record_value" then
      for _, name in ipairs(pk_fields or sorted_keys(v)) do
        field(buf, name, v[name], true, types and types[name])
        is_key[name] = true
      end
    end
    for _, name in ipairs(sorted_keys(v, is_key)) do
      if not allowed or allowed[name] then field(buf, name, v[name], false, types and types[name]) end
    end
    return concat(buf)
  end
end

function compilers.mysql_sink(node, _, _, inst)
  local ctx = inst.ctx
  local by_topic, only = {}, nil
  local function declare(table_name)
    local index = core.sink_add(ctx, "mysql:" .. table_name, 0)
    local ok = C.sh_ffi_sink_set_kind(ctx, index, "mysql") == SH_OK and
               C.sh_ffi_sink_set_property(ctx, index, "table", table_name) == SH_OK
    for k, v in pairs(node.props) do
      ok = ok and C.sh_ffi_sink_set_property(ctx, index, k, v) == SH_OK
    end
    if not ok then error("to_mysql: cannot declare table " .. table_name .. ": " .. core.failure(), 0) end
    return index
  end
  for topic, table_name in pairs(node.tables) do
    if topic == false then only = declare(table_name) else by_topic[topic] = declare(table_name) end
  end
  local encode = row_encoder(node)
  local exactly_once = truthy(node.props["exactly.once"])
  local header = core.header_array_t(1)
  local last_topic, last_partition, last_offset, seq = nil, nil, nil, 0
  return function(k, v, rec)
    local index = only or by_topic[rec.topic]
    if not index then
      error("to_mysql: table.name.format uses ${topic} and this record has no topic " ..
            "(a timer's output?)", 0)
    end
    local row = encode(k, v, rec)
    local n = 0
    if exactly_once and rec.offset and rec.offset >= 0 then
      -- the input's position and this row's rank among its rows (as a
      -- repartition record's origin), stored with the row when committed
      if rec.offset == last_offset and rec.partition == last_partition and rec.topic == last_topic then
        seq = seq + 1
      else
        last_topic, last_partition, last_offset, seq = rec.topic, rec.partition, rec.offset, 0
      end
      local origin = format("%s/%d:%d:%d", rec.topic, rec.partition, rec.offset, seq)
      header[0].name, header[0].value, header[0].value_len = ORIGIN_HEADER, origin, #origin
      n = 1
      inst.mysql_origin_anchor = origin
    end
    local rc = C.sh_ffi_sink_emit(ctx, index, nil, 0, row, #row, rec.timestamp or 0, -1,
                                  n > 0 and header or nil, n)
    if rc ~= SH_OK then error(core.failure(), 0) end
  end
end

-- Decodes a row as the test driver captures it (output("mysql:<table>",
-- { key = "bytes", value = "bytes" })): { op = "W"|"D", fields = {name =
-- text}, keys = {name = true}, types = {name = letter} }.
function _M.decode_row(text)
  local row = { op = text:sub(1, 1), fields = {}, keys = {}, types = {} }
  local i = 2
  while i <= #text do
    local tc, flag = text:sub(i, i), text:sub(i + 1, i + 1)
    i = i + 2
    local parts = {}
    for p = 1, 2 do
      local colon = text:find(":", i, true)
      local len = tonumber(text:sub(i, colon - 1))
      parts[p] = text:sub(colon + 1, colon + len)
      i = colon + len + 1
    end
    row.fields[parts[1]] = tc ~= "n" and parts[2] or nil
    row.types[parts[1]] = tc
    if flag == "k" then row.keys[parts[1]] = true end
  end
  return row
end

-- ---- SQL from Lua ----

local Db = {}
Db.__index = Db

local slice_array_t = ffi.typeof("sh_ffi_slice_t[?]")

-- mysql.connect{ url = "mysql://user:pw@127.0.0.1:3306/orders" } (or
-- connection.url / connection.user / connection.password, as to_mysql).
-- Returns a connection that connects on first use (and again after a lost
-- connection), or raises on a malformed URL. Failures of its calls return
-- nil, message, retriable (true: connection lost or refused, deadlock; the
-- next call reconnects).
function _M.connect(opts)
  if type(opts) ~= "table" then error("mysql.connect expects { url = ..., user =, password = }", 2) end
  local url = opts.url or opts["connection.url"]
  if type(url) ~= "string" then error("mysql.connect: 'url' is required", 2) end
  local user = opts.user or opts["connection.user"]
  local password = opts.password or opts["connection.password"]
  local handle = C.sh_ffi_mysql_open(url, user, password)
  if handle == nil then error("mysql.connect: " .. core.failure(), 2) end
  return setmetatable({ handle = ffi.gc(handle, C.sh_ffi_mysql_close) }, Db)
end

local function params_of(...)
  local n = select("#", ...)
  if n == 0 then return nil, 0 end
  local params = slice_array_t(n)
  local anchor = {}
  for i = 1, n do
    local v = select(i, ...)
    if v ~= nil and v ~= null then
      local text
      if type(v) == "number" then
        text = (v == floor(v) and v > -2^53 and v < 2^53) and format("%d", v) or format("%.17g", v)
      elseif type(v) == "boolean" then
        text = v and "1" or "0"
      else
        text = tostring(v)
      end
      anchor[i] = text
      params[i - 1].data, params[i - 1].len = text, #text
    end
  end
  return params, n, anchor
end

local function failure()
  local message, name = core.last_error()
  return nil, message .. " (" .. name .. ")", C.sh_ffi_err_is_retriable(C.sh_ffi_err_code()) == 1
end

-- db:exec(sql, ...): runs one statement with ... bound to its '?'.
-- Returns affected rows and the generated AUTO_INCREMENT id, or nil, err,
-- retriable.
function Db:exec(sql, ...)
  if type(sql) ~= "string" then error("exec expects an SQL string", 2) end
  local params, n, anchor = params_of(...)
  local affected = C.sh_ffi_mysql_exec(self.handle, sql, params, n)
  local _ = anchor
  if affected < 0 then return failure() end
  return tonumber(affected), tonumber(C.sh_ffi_mysql_insert_id(self.handle))
end

-- db:query(sql, ...): the rows as a list of { column = value } (integers and
-- floats as numbers, NULL as nil), or nil, err, retriable.
function Db:query(sql, ...)
  if type(sql) ~= "string" then error("query expects an SQL string", 2) end
  local params, n, anchor = params_of(...)
  local res = C.sh_ffi_mysql_query(self.handle, sql, params, n)
  local _ = anchor
  if res == nil then return failure() end
  res = ffi.gc(res, C.sh_ffi_mysql_result_free)
  local columns = C.sh_ffi_mysql_result_columns(res)
  local names, kinds = {}, {}
  for i = 0, columns - 1 do
    names[i] = ffi.string(C.sh_ffi_mysql_result_column_name(res, i))
    kinds[i] = C.sh_ffi_mysql_result_column_kind(res, i)
  end
  local values = slice_array_t(columns > 0 and columns or 1)
  local rows = {}
  while C.sh_ffi_mysql_next_row(res, values) == SH_OK do
    local row = {}
    for i = 0, columns - 1 do
      if values[i].data ~= nil then
        local text = ffi.string(values[i].data, values[i].len)
        row[names[i]] = kinds[i] ~= 0 and tonumber(text) or text
      end
    end
    rows[#rows + 1] = row
  end
  C.sh_ffi_mysql_result_free(ffi.gc(res, nil))
  return rows
end

function Db:close()
  if self.handle then
    C.sh_ffi_mysql_close(ffi.gc(self.handle, nil))
    self.handle = nil
  end
end

return _M
