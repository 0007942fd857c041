-- The avro serde: Confluent's wire format through the C core (runtime/serde/).
--
-- Decoding makes one FFI call per record; C fills an array of plain value
-- structs (depth first) and this module walks it into tables, with field
-- names as strings interned once per name, so no C->Lua call is made per
-- record. Encoding flattens a table into the same kind of array (a table
-- with string keys is a record or a map, a list an array; the schema
-- decides) and makes one FFI call; C checks it against the writer schema.
--
-- Values as Lua sees them: records -> tables, arrays -> lists, maps ->
-- tables, unions -> the branch's value, null -> serde.null, bytes and
-- fixed -> strings, enums -> their symbol, decimal -> its exact digits as a
-- string ("-12.50"), date -> "YYYY-MM-DD", time-millis/micros and
-- timestamp-millis/micros -> numbers (ms or µs), uuid -> string. longs
-- beyond 2^53 lose precision, as with the long serde.
--
-- Writer schemas: `avro = { schema = <JSON text or Lua table> }` on to(),
-- else one derived from the records (streamhost/avro_derive.lua), which
-- keeps the types of fields taken from the Avro inputs (a field read as int
-- stays int, whichever input was decoded last).
-- Subjects follow TopicNameStrategy (<topic>-key, <topic>-value), or
-- RecordNameStrategy (the record's full name) with `avro = {
-- subject_name_strategy = "RecordNameStrategy" }`. A schema is registered
-- once per (subject, schema) per VM.
local ffi = require "ffi"
local core = require "streamhost.core"
local derive = require "streamhost.avro_derive"
local record_schema = require "streamhost.record_schema"
local cjson = require("cjson").new()

local C = core.C
local ffi_string, tonumber, type, pairs, next = ffi.string, tonumber, type, pairs, next
local new_tab = require "table.new"
local null = cjson.null

local _M = {}

local V_NULL, V_BOOLEAN, V_INTEGER, V_NUMBER, V_STRING, V_RECORD, V_ARRAY, V_MAP =
  C.SH_AVRO_V_NULL, C.SH_AVRO_V_BOOLEAN, C.SH_AVRO_V_INTEGER, C.SH_AVRO_V_NUMBER,
  C.SH_AVRO_V_STRING, C.SH_AVRO_V_RECORD, C.SH_AVRO_V_ARRAY, C.SH_AVRO_V_MAP

local value_array_t = ffi.typeof("sh_ffi_avro_value_t[?]")

-- One handle per registry URL per VM (handles are not shared across VMs).
local handles = {}

-- What the last failing call said (the core's one error channel).
local function errmsg() return (core.last_error()) end

local function registry_url(app)
  local url = C.sh_ffi_registry_url(app and app.kafka and app.kafka["schema.registry.url"])
  if url == nil then error("avro: " .. errmsg(), 0) end
  return ffi_string(url)
end

local function handle_for(url)
  local h = handles[url]
  if h then return h end
  local avro = C.sh_ffi_avro_new(url)
  if avro == nil then error("avro: " .. core.failure(), 0) end
  h = { avro = ffi.gc(avro, C.sh_ffi_avro_destroy), names = {}, url = url, objects = {} }
  handles[url] = h
  return h
end


-- ---- decoding ----

local values_out = ffi.new("const sh_ffi_avro_value_t *[1]")
local count_out = ffi.new("int32_t[1]")

-- The types of the top-level fields of every Avro value schema this VM has
-- read ({ field = type }), so a schema derived for an output that carries
-- no schema of its own (a record that came through an internal JSON topic:
-- a repartition, a join's) keeps the Avro types of the fields it took from
-- the inputs (a decimal stays a decimal, an int an int). A name's type is
-- the first one read, widened from int to long if an input has it as long:
-- it does not depend on which input happened to be decoded last before the
-- record, which flipped a field between int and long across records,
-- threads and runs, and the registry refused the next version.
local input_types = {}
local input_seen = setmetatable({}, { __mode = "k" }) -- handle -> { [id] = true }
local u8_ptr = ffi.typeof("const uint8_t *")

local function learn_types(h, id)
  local seen = input_seen[h]
  if not seen then
    seen = {}
    input_seen[h] = seen
  end
  if seen[id] then return end
  seen[id] = true
  local text = C.sh_ffi_avro_schema_text(h.avro, id)
  local ok, schema = pcall(cjson.decode, text ~= nil and ffi_string(text) or "null")
  if not (ok and type(schema) == "table" and schema.type == "record") then return end
  for _, f in ipairs(schema.fields or {}) do
    local t = derive.simple_type(f.type)
    local had = input_types[f.name]
    if t and had == nil then
      input_types[f.name] = t
    elseif t == "long" and had == "int" then
      input_types[f.name] = "long"
    end
  end
end
_M.learn_types = learn_types

-- The writer schema of id as a record_schema object (once per id), which
-- a decoded record carries on (rec.key_schema / rec.value_schema).
local function schema_object(h, id)
  local objects = h.objects
  local obj = objects[id]
  if obj == nil then
    obj = false
    local text = C.sh_ffi_avro_schema_text(h.avro, id)
    if text ~= nil then
      text = ffi_string(text)
      local ok, t = pcall(cjson.decode, text)
      if ok then obj = record_schema.object(t, text, false) end
    end
    objects[id] = obj
  end
  return obj or nil
end

-- A record schema's builder: straight-line Lua made once per writer
-- schema, one assignment per field in the schema's order (the order C
-- fills the array in), with no loop. The generic walk's loops become root
-- traces of their own, and a record that leaves one returns to a lower
-- frame, which LuaJIT does not compile: every record the app then filters
-- out ran in the interpreter. Nested values still take the generic walk.
local builder_env = { ffi_string = ffi_string, tonumber = tonumber, null = null,
                      new_tab = new_tab, S = V_STRING, I = V_INTEGER, N = V_NUMBER,
                      B = V_BOOLEAN, Z = V_NULL, R = V_RECORD }

local function record_builder(text, build_from)
  if text == nil then return false end
  local ok, schema = pcall(cjson.decode, ffi_string(text))
  if not (ok and type(schema) == "table" and schema.type == "record"
          and type(schema.fields) == "table") then return false end
  local n = #schema.fields
  -- a table constructor with the field names as constant keys is a copy of
  -- a template in a trace; assigning them one by one inserted each key
  -- into a fresh hash part. Lua allows 200 locals a function.
  if n > 150 then return false end
  local src = { "local ffi_string, tonumber, null, new_tab, S, I, N, B, Z, R, build_from = ...",
                "return function(vals)",
                "  local root = vals[0]",
                string.format("  if root.kind ~= R or root.integer ~= %d then", n),
                "    return build_from(vals, 0)",
                "  end",
                "  local pos, c, k = 1" }
  local fields = {}
  for i, f in ipairs(schema.fields) do
    if type(f.name) ~= "string" then return false end
    local var = "v" .. i
    fields[#fields + 1] = string.format("[%q] = %s", f.name, var)
    src[#src + 1] = table.concat({
      "  local " .. var,
      "  c = vals[pos]; k = c.kind",
      "  if k == S then " .. var .. " = ffi_string(c.data, c.len); pos = pos + 1",
      "  elseif k == I then " .. var .. " = tonumber(c.integer); pos = pos + 1",
      "  elseif k == N then " .. var .. " = c.number; pos = pos + 1",
      "  elseif k == Z then " .. var .. " = null; pos = pos + 1",
      "  elseif k == B then " .. var .. " = c.integer ~= 0; pos = pos + 1",
      "  else " .. var .. ", pos = build_from(vals, pos) end" }, "\n")
  end
  src[#src + 1] = "  return { " .. table.concat(fields, ", ") .. " }\nend"
  local chunk = assert(load(table.concat(src, "\n"), "=avro record builder"))
  local e = builder_env
  return chunk(e.ffi_string, e.tonumber, e.null, e.new_tab, e.S, e.I, e.N, e.B, e.Z, e.R, build_from)
end

local function decoder(h, track)
  local avro, names = h.avro, h.names
  local vals, pos
  local function name_of(id)
    local s = names[id]
    if not s then
      s = ffi_string(C.sh_ffi_avro_name(avro, id))
      names[id] = s
    end
    return s
  end
  -- Scalars are converted inside the loops rather than by a call per
  -- value: LuaJIT traces loops well and recursion poorly, and most fields
  -- are scalars. Only nested records, lists and maps recurse.
  local build
  local function children(node, kind)
    local n = tonumber(node.integer)
    if kind == V_ARRAY then
      local t = new_tab(n, 0)
      for i = 1, n do
        local child = vals[pos]
        local ck = child.kind
        if ck == V_STRING then
          pos = pos + 1
          t[i] = ffi_string(child.data, child.len)
        elseif ck == V_INTEGER then
          pos = pos + 1
          t[i] = tonumber(child.integer)
        elseif ck == V_NUMBER then
          pos = pos + 1
          t[i] = child.number
        else
          t[i] = build()
        end
      end
      return t
    end
    local t = new_tab(0, n)
    local record = kind == V_RECORD
    for _ = 1, n do
      local key
      if record then
        local id = vals[pos].name
        key = names[id] or name_of(id)
      else
        local k = vals[pos]
        pos = pos + 1
        key = ffi_string(k.data, k.len)
      end
      local child = vals[pos]
      local ck = child.kind
      if ck == V_STRING then
        pos = pos + 1
        t[key] = ffi_string(child.data, child.len)
      elseif ck == V_INTEGER then
        pos = pos + 1
        t[key] = tonumber(child.integer)
      elseif ck == V_NUMBER then
        pos = pos + 1
        t[key] = child.number
      else
        t[key] = build()
      end
    end
    return t
  end
  build = function()
    local node = vals[pos]
    pos = pos + 1
    local kind = node.kind
    if kind == V_STRING then return ffi_string(node.data, node.len) end
    if kind == V_INTEGER then return tonumber(node.integer) end
    if kind == V_NUMBER then return node.number end
    if kind == V_RECORD or kind == V_ARRAY or kind == V_MAP then return children(node, kind) end
    if kind == V_BOOLEAN then return node.integer ~= 0 end
    return null
  end
  -- build() from pos in vals, for the generated record builders
  local function build_from(at_vals, at)
    vals, pos = at_vals, at
    local v = build()
    return v, pos
  end
  local builders = {} -- writer schema id -> its record builder, or false
  -- ptr, len: the framed bytes (a Lua string or a pointer into the batch)
  return function(ptr, len)
    local rc = C.sh_ffi_avro_decode(avro, ptr, len, values_out, count_out)
    if rc ~= 0 then error(errmsg(), 0) end
    local b = ffi.cast(u8_ptr, ptr)
    local id = ((b[1] * 256 + b[2]) * 256 + b[3]) * 256 + b[4]
    if track then learn_types(h, id) end
    local at = values_out[0]
    local record = builders[id]
    if record == nil then
      record = record_builder(C.sh_ffi_avro_schema_text(avro, id), build_from)
      builders[id] = record
    end
    if record then return record(at), schema_object(h, id) end
    vals, pos = at, 0
    return build(), schema_object(h, id)
  end
end

-- ---- encoding ----

local function flattener()
  local cap = 64
  local tape = ffi.new(value_array_t, cap)
  local n = 0
  local anchors = {} -- key strings made here, alive until the FFI call returns
  local function put(kind)
    if n == cap then
      local bigger = ffi.new(value_array_t, cap * 2)
      ffi.copy(bigger, tape, ffi.sizeof("sh_ffi_avro_value_t") * cap)
      tape, cap = bigger, cap * 2
    end
    local i = n
    n = n + 1
    local node = tape[i]
    node.kind = kind
    node.name = -1
    return i
  end
  local flatten
  -- one value that is not a table, at a fresh index. put() first, then
  -- `tape`: in `tape[put(k)].x = v` Lua reads the upvalue before the call,
  -- so the put that grows the tape wrote v one past the end of the old one
  -- (a heap overrun) and left the new slot's value 0 (a snapshot row's
  -- column read 0 when the envelope's value crossed the 64th slot)
  local function scalar(v, tv)
    if tv == "string" then
      local i = put(V_STRING)
      tape[i].data, tape[i].len = v, #v
    elseif tv == "number" then
      local i = put(V_NUMBER)
      tape[i].number = v
    elseif tv == "boolean" then
      local i = put(V_BOOLEAN)
      tape[i].integer = v and 1 or 0
    elseif v == nil or v == null then
      put(V_NULL)
    elseif tv == "cdata" and ffi.istype("int64_t", v) then
      local i = put(V_INTEGER)
      tape[i].integer = v
    else
      error("avro cannot encode a " .. tv, 0)
    end
  end
  flatten = function(v)
    local tv = type(v)
    if tv ~= "table" then return scalar(v, tv) end
    local len = #v
    if len > 0 or next(v) == nil then
      local i = put(V_ARRAY)
      tape[i].integer = len
      for k = 1, len do
        local x = v[k]
        local tx = type(x)
        if tx == "table" then flatten(x) else scalar(x, tx) end
      end
      return
    end
    local i = put(V_MAP)
    local count = 0
    for k, x in pairs(v) do
      if type(k) ~= "string" then
        k = tostring(k)
        anchors[#anchors + 1] = k
      end
      local ki = put(V_STRING)
      tape[ki].data, tape[ki].len = k, #k
      local tx = type(x)
      if tx == "table" then flatten(x) else scalar(x, tx) end
      count = count + 1
    end
    tape[i].integer = count
  end
  local function reserve(k) -- the tape, with room for k values
    if cap < k then
      tape, cap = ffi.new(value_array_t, k), k
    end
    return tape
  end
  return function(value)
    n = 0
    flatten(value)
    return tape, n, anchors
  end, reserve
end

-- A derived record shape's flattener: straight-line Lua made once per
-- shape that has only scalar fields (the usual stream), filling the same
-- values the generic flattener would, with no loop, for the reason given
-- at record_builder. It returns nil, and the generic path runs, for any
-- value the shape does not cover: a key it lacks (table.nkeys counts
-- them), a value of another type, an int field out of range, a table
-- with a metatable, int64 cdata.
local flat_env = { nkeys = require "table.nkeys", null = null, type = type, floor = math.floor,
                   getmetatable = getmetatable, S = V_STRING, N = V_NUMBER, B = V_BOOLEAN,
                   Z = V_NULL, M = V_MAP }
local FLAT_CHECK = {
  string = 'type(x) == "string" then node.kind = S; node.data = x; node.len = #x',
  boolean = 'type(x) == "boolean" then node.kind = B; node.integer = x and 1 or 0',
  double = 'type(x) == "number" then node.kind = N; node.number = x',
  long = 'type(x) == "number" and x == floor(x) then node.kind = N; node.number = x',
  int = 'type(x) == "number" and x == floor(x) and x >= -2147483648 and x <= 2147483647 then ' ..
        'node.kind = N; node.number = x',
}

local function flat_record_encoder(derived, int_fields)
  local order = derived.order or {}
  local is_int = {}
  for _, name in ipairs(int_fields) do is_int[name] = true end
  local src = { "local nkeys, null, type, floor, getmetatable, S, N, B, Z, M, keys = ...",
                "return function(value, tape)",
                '  if type(value) ~= "table" or getmetatable(value) ~= nil then return nil end',
                "  local seen, i, x, node = 0, 1" }
  for k, name in ipairs(order) do
    local shape = derived.fields[name]
    local t = shape and shape.t
    if t == "long" and is_int[name] then t = "int" end
    local check = FLAT_CHECK[t]
    if not check then return false end
    src[#src + 1] = table.concat({
      string.format("  x = value[keys[%d]]", k),
      "  if x ~= nil then",
      "    seen = seen + 1",
      "    node = tape[i]; node.kind = S; node.name = -1",
      string.format("    node.data = keys[%d]; node.len = %d", k, #name),
      "    node = tape[i + 1]; node.name = -1",
      "    if x == null then node.kind = Z",
      "    elseif " .. check,
      "    else return nil end",
      "    i = i + 2",
      "  end" }, "\n")
  end
  src[#src + 1] = "  if nkeys(value) ~= seen then return nil end"
  src[#src + 1] = "  node = tape[0]; node.kind = M; node.name = -1; node.integer = seen"
  src[#src + 1] = "  return i\nend"
  local chunk = assert(load(table.concat(src, "\n"), "=avro record flattener"))
  local e = flat_env
  return chunk(e.nkeys, e.null, e.type, e.floor, e.getmetatable, e.S, e.N, e.B, e.Z, e.M, order),
         1 + 2 * #order
end

-- ---- types kept from the Avro inputs ----

-- The inputs' field types (learn_types), or nil before any.
local function input_hints()
  if next(input_types) == nil then return nil end
  return input_types
end

-- ---- types a subject registered ----

-- subject -> { field = type } of its latest version ({} for none), per
-- handle: fetched once per subject per VM, again when a version is refused.
local registered = setmetatable({}, { __mode = "k" })

local function registered_types(h, subject, refresh)
  local by_subject = registered[h]
  if not by_subject then
    by_subject = {}
    registered[h] = by_subject
  end
  local types = by_subject[subject]
  if types and not refresh then return types end
  types = {}
  local text = C.sh_ffi_avro_latest(h.avro, subject)
  if text ~= nil then
    local ok, schema = pcall(cjson.decode, ffi_string(text))
    if ok and type(schema) == "table" and schema.type == "record" then
      for _, f in ipairs(schema.fields or {}) do
        local t = derive.simple_type(f.type)
        if t then types[f.name] = t end
      end
    end
  end
  -- no version yet, or the registry did not answer: derived as before,
  -- and registering will say what is wrong
  by_subject[subject] = types
  return types
end

-- ---- the serde as topology.lua binds it ----

-- where: { app =, topic =, is_key =, avro = the to() node's avro options }
function _M.decoder(where)
  -- The handle is made on the first record, not when the topology is
  -- built: `run` starts the embedded broker's registry after the app loads.
  local decode
  local function raw(ptr, len)
    if not decode then decode = decoder(handle_for(registry_url(where.app)), not where.is_key) end
    return decode(ptr, len)
  end
  -- Strings and bytes decode as pointers into s, read while the record is
  -- built, so s must outlive that. `return raw(s, #s)` was a tail call: it
  -- dropped the only frame holding a caller's temporary (dec(enc(v))), and
  -- a collection while building freed it (garbled strings in about one run
  -- in three of a 160-field round trip). An upvalue anchors it until then.
  local anchor -- luacheck: ignore (written only to keep s alive)
  return function(s)
    anchor = s
    local v, schema = raw(s, #s)
    anchor = nil
    return v, schema
  end, raw
end

function _M.encoder(where)
  local opts = where.avro or {}
  local given = where.is_key and opts.key_schema or (not where.is_key and opts.schema)
  if type(given) == "table" then
    given = cjson.encode(given)
  elseif type(given) == "string" and not given:match("^%s*[%[{\"]") then
    given = cjson.encode(given) -- a bare type name: "long"
  end
  local strategy = opts.subject_name_strategy or "TopicNameStrategy"
  if strategy ~= "TopicNameStrategy" and strategy ~= "RecordNameStrategy" then
    error("avro: subject_name_strategy is TopicNameStrategy or RecordNameStrategy, not " ..
          tostring(strategy), 0)
  end
  local suffix = where.is_key and "-key" or "-value"
  local record_name = derive.sanitize(where.topic) .. (where.is_key and "_key" or "_value")
  local h, flatten, reserve
  local fast, fast_size = nil, 0 -- the derived shape's flat_record_encoder (false: none)
  local writers = {} -- schema text -> writer index
  local derived = nil -- the shape so far
  local derived_text = nil

  local function subject_for(text)
    if strategy == "TopicNameStrategy" then return where.topic .. suffix end
    local decoded = cjson.decode(text)
    local name = type(decoded) == "table" and decoded.name
    if not name then error("avro: RecordNameStrategy needs a named (record) schema", 0) end
    if decoded.namespace and not name:find(".", 1, true) then
      name = decoded.namespace .. "." .. name
    end
    return name
  end

  local function writer(text)
    local w = writers[text]
    if w then return w end
    w = C.sh_ffi_avro_writer(h.avro, subject_for(text), text)
    if w < 0 then error("avro: " .. errmsg(), 0) end
    writers[text] = w
    return w
  end

  local out = ffi.new("sh_ffi_slice_t[1]")
  local function encode_with(w, value)
    local tape, n, anchors = flatten(value)
    local rc = C.sh_ffi_avro_encode(h.avro, w, tape, n, out)
    for i = #anchors, 1, -1 do anchors[i] = nil end
    if rc ~= 0 then return nil, errmsg() end
    return out[0].data, out[0].len
  end

  local schema_field = where.is_key and "key_schema" or "value_schema"
  -- A field's type is settled when it first joins the derived schema (from
  -- the hints of the record that brought it, else from its value) and kept:
  -- records of several inputs (a join's) never flip it between versions.
  -- The subject's latest version comes first: a field it registered keeps
  -- that type while the values fit it, so encoders that saw different
  -- inputs (another thread, another run) agree with the registry.
  local settled = {} -- field -> its hint, or false (derived from values)
  local subject = strategy == "TopicNameStrategy" and where.topic .. suffix or record_name
  local hints_used = nil -- the hints of the last derivation
  local int_fields = {} -- fields derived as int: their values are range checked
  local too_big = {} -- fields whose values left int's range: derived, never int again

  local function derive_text(refresh)
    local reg = registered_types(h, subject, refresh)
    local use = {}
    int_fields = {}
    for _, name in ipairs(derived.order or {}) do
      if settled[name] == nil then settled[name] = hints_used and hints_used[name] or false end
      local t = reg[name]
      if not (t and derive.fits(t, derived.fields and derived.fields[name])) then
        t = settled[name] or nil
      end
      if too_big[name] then t = nil end
      if t and (type(t) == "table" and t.type or t) == "int" then int_fields[#int_fields + 1] = name end
      use[name] = t
    end
    derived_text = derive.schema_text(derived, record_name, use)
    fast = nil
  end

  -- Do the value's int fields fit int? A field that no longer does is
  -- derived again (long), and the registry judges the new version.
  local function ints_fit(value)
    if type(value) ~= "table" then return true end
    local ok = true
    for i = 1, #int_fields do
      local name = int_fields[i]
      local v = value[name]
      if type(v) == "number" and (v < -2147483648 or v > 2147483647) then
        too_big[name] = true
        ok = false
      end
    end
    return ok
  end

  local function derived_writer()
    local w = writers[derived_text]
    if w then return w end
    w = C.sh_ffi_avro_writer(h.avro, subject_for(derived_text), derived_text)
    if w >= 0 then
      writers[derived_text] = w
      return w
    end
    -- refused: the subject may have moved on (another thread registered a
    -- version); derive again from its latest version, once
    derive_text(true)
    w = writers[derived_text]
    if w then return w end
    w = C.sh_ffi_avro_writer(h.avro, subject_for(derived_text), derived_text)
    if w < 0 then error("avro: " .. errmsg(), 0) end
    writers[derived_text] = w
    return w
  end

  -- The encoding as (pointer, length), valid until the handle's next encode.
  local function encode_ref(value, rec)
    if not h then
      h = handle_for(registry_url(where.app))
      flatten, reserve = flattener()
    end
    if given then
      local p, n = encode_with(writer(given), value)
      if not p then error("avro: " .. n, 0) end
      return p, n
    end
    -- a schema the record carries from a source that knows its columns
    -- (CDC: Debezium's, kept through the SMTs) is written as it is when
    -- the value still fits it
    local carried = rec and rec[schema_field]
    if carried and carried.connect and (type(carried.t) ~= "table" or carried.t.type ~= "record"
                                        or record_schema.covers(carried, value)) then
      local p, n = encode_with(writer(carried.text), record_schema.avro_value(carried, value))
      if p then return p, n end
      -- the value does not fit after all (a transform changed a field's
      -- type): a derived schema, as for any other value
    end
    if derived then
      if fast == nil then fast, fast_size = flat_record_encoder(derived, int_fields) end
      if fast then
        local tape = reserve(fast_size)
        local n = fast(value, tape)
        if n then
          if C.sh_ffi_avro_encode(h.avro, derived_writer(), tape, n, out) ~= 0 then
            error("avro: " .. errmsg(), 0)
          end
          return out[0].data, out[0].len
        end
      end
    end
    if not (derived and derive.covers(derived, value) and ints_fit(value)) then
      hints_used = carried and record_schema.hints(carried, derive.simple_type) or input_hints()
      derive.check_names(value, "a record for " .. where.topic)
      derived = derive.merge(derived, derive.shape(value))
      derive_text(false)
      if not ints_fit(value) then derive_text(false) end
    end
    local p, n = encode_with(derived_writer(), value)
    if not p then error("avro: " .. n, 0) end
    return p, n
  end
  return function(value, rec) return ffi_string(encode_ref(value, rec)) end, encode_ref
end

return _M
