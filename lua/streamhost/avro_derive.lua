-- Writer schemas derived from records, as ksqlDB derives a stream's columns
-- (streamhost/avro.lua uses them when to() gives no schema): a record of
-- optional fields, integers as long, other numbers as double, widened as
-- new fields and types appear so that successive versions stay BACKWARD
-- compatible. Fields taken from an Avro input keep their types there
-- (hints: the input record's top-level field types).
local cjson = require("cjson").new()

local null = cjson.null
local type, pairs, next = type, pairs, next

local _M = {}

local function is_list(t) return #t > 0 or next(t) == nil end

local function sanitize(name)
  name = tostring(name):gsub("[^%w_]", "_")
  if not name:match("^[%a_]") then name = "_" .. name end
  return name
end

-- The shape of a value: a type description this module can merge and print.
local function shape(v)
  local tv = type(v)
  if tv == "string" then return { t = "string" } end
  if tv == "boolean" then return { t = "boolean" } end
  if tv == "number" then return { t = v == math.floor(v) and v == v and "long" or "double" } end
  if tv == "cdata" then return { t = "long" } end
  if tv == "table" then
    if is_list(v) then return { t = "array", items = v[1] ~= nil and shape(v[1]) or nil } end
    local fields, order = {}, {}
    for k, x in pairs(v) do
      -- a null says nothing of a field's type: it joins the schema when a
      -- value does (a null field and an absent one encode alike)
      if x ~= null then
        k = tostring(k)
        fields[k] = shape(x)
        order[#order + 1] = k
      end
    end
    table.sort(order)
    local known = {}
    for _, k in ipairs(order) do known[k] = true end
    return { t = "record", fields = fields, order = order, known = known }
  end
  return nil -- null: no type known yet
end

-- Does the shape s already describe v? (the per-record check; no allocation)
local function covers(s, v)
  if v == nil or v == null then return true end
  if not s then return false end
  local tv, t = type(v), s.t
  if tv == "string" or tv == "boolean" then return t == tv end
  if tv == "number" then return t == "double" or (t == "long" and v == math.floor(v)) end
  if tv == "cdata" then return t == "long" or t == "double" end
  if tv ~= "table" then return false end
  if is_list(v) then
    if t ~= "array" then return false end
    for i = 1, #v do
      if not covers(s.items, v[i]) then return false end
    end
    return true
  end
  if t ~= "record" then return false end
  local fields, known = s.fields, s.known
  for k, x in pairs(v) do
    if x ~= null then
      if not known[k] then return false end
      local f, tx = fields[k], type(x)
      if tx == "string" or tx == "boolean" then
        if not f or f.t ~= tx then return false end
      elseif tx == "number" then
        if not f or not (f.t == "double" or (f.t == "long" and x == math.floor(x))) then
          return false
        end
      elseif not covers(f, x) then
        return false
      end
    end
  end
  return true
end

-- Widens old with new: fields are added, never removed; long widens to
-- double; a conflict keeps the old type (encoding will say what failed).
local function merge(old, new)
  if not old then return new end
  if not new then return old end
  if old.t == "long" and new.t == "double" then return new end
  if old.t ~= new.t then return old end
  if old.t == "array" then return { t = "array", items = merge(old.items, new.items) } end
  if old.t == "record" then
    local fields, order, known = {}, {}, {}
    for _, k in ipairs(old.order) do
      fields[k] = merge(old.fields[k], new.fields[k])
      order[#order + 1] = k
      known[k] = true
    end
    for _, k in ipairs(new.order) do
      if not known[k] then
        fields[k] = new.fields[k]
        order[#order + 1] = k
        known[k] = true
      end
    end
    return { t = "record", fields = fields, order = order, known = known }
  end
  return old
end

-- ---- types kept from an Avro input ----

local PRIMITIVE = { boolean = true, int = true, long = true, float = true, double = true,
                    bytes = true, string = true }

-- A field type worth keeping: a primitive, possibly with a logical type,
-- possibly in a union with null (named types are left to derivation: their
-- definitions may live elsewhere in the input's schema).
local function simple_type(t)
  if type(t) == "string" then return PRIMITIVE[t] and t or nil end
  if type(t) ~= "table" then return nil end
  if t[1] ~= nil then
    if #t == 2 and t[1] == "null" then return simple_type(t[2]) end
    if #t == 2 and t[2] == "null" then return simple_type(t[1]) end
    return nil
  end
  return PRIMITIVE[t.type] and t or nil
end

-- Does an input field's type fit the values seen (their shape)?
local function fits(hint, s)
  if not s then return true end
  local base = type(hint) == "table" and hint.type or hint
  local logical = type(hint) == "table" and hint.logicalType
  local t = s.t
  if t == "string" then
    return base == "string" or base == "bytes" or (base == "int" and logical == "date")
  end
  if t == "long" then
    return base == "int" or base == "long" or base == "float" or base == "double"
  end
  if t == "double" then
    return base == "float" or base == "double" or (base == "bytes" and logical == "decimal")
  end
  return t == "boolean" and base == "boolean"
end

-- hints: the input's field types, for the top-level record only.
local function schema_json(s, name, hints)
  if not s then return "string" end
  if s.t == "array" then
    return { type = "array", items = { "null", schema_json(s.items, name .. "_item") } }
  end
  if s.t ~= "record" then return s.t end
  local fields = {}
  for _, k in ipairs(s.order) do
    local hint = hints and hints[k]
    local field_type
    if hint and fits(hint, s.fields[k]) then
      field_type = hint
    else
      field_type = schema_json(s.fields[k], name .. "_" .. sanitize(k))
    end
    fields[#fields + 1] = { name = sanitize(k), type = { "null", field_type }, default = null }
  end
  return { type = "record", name = name, fields = fields }
end

-- Field names in derived schemas must be Avro names; keys that are not are
-- refused rather than renamed, so nothing is written under another name.
local function check_names(v, where)
  if type(v) ~= "table" or is_list(v) then return end
  for k, x in pairs(v) do
    if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") then
      error(string.format("avro: key %q of %s is not an Avro field name; give a schema " ..
                          "(avro = { schema = ... }) with a map for such keys", tostring(k),
                          where), 0)
    end
    check_names(x, where)
  end
end


_M.shape, _M.covers, _M.merge, _M.check_names, _M.sanitize = shape, covers, merge, check_names, sanitize
_M.simple_type, _M.fits = simple_type, fits

-- The schema's JSON text for shape s: a record named name, fields typed
-- from hints where they fit.
function _M.schema_text(s, name, hints)
  return cjson.encode(schema_json(s, name, hints))
end

return _M
