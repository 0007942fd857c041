-- The json serde: lazy values in, string.buffer out.
--
-- Decoding an object does not build a Lua table. It gives a lazy value: an
-- empty table whose metatable looks a field up in C (serde/json.cc, simdjson
-- On-Demand) when the app reads it, so a record costs what the app reads of
-- it. The bytes are checked when the value is made, so a malformed input
-- still fails at decode time. A lazy value the app does not change is
-- encoded as its input bytes. It becomes a plain table (decoded by cjson,
-- whole) when it is written to, when a nested object or array in it is read
-- (so that changes to the nested table are kept), and when it is walked with
-- pairs or next (LuaJIT has no __pairs: this module wraps the two globals,
-- which are otherwise unchanged). A lazy value keeps the bytes it reads
-- alive, so it stays valid past the batch that made it.
--
-- Values other than objects (arrays, scalars) are decoded by cjson as
-- before. Encoding follows lua-cjson 2.1.0's output (the README's
-- behaviour): numbers as %.14g, except that integers are exact up to 2^63
-- (cjson rounds those past 14 digits), an empty table is {}, a sparse array
-- becomes an object, '/' is not escaped.
local ffi = require "ffi"
local buffer = require "string.buffer"
local core = require "streamhost.core"

local C = core.C
local SH_OK, SH_NOT_FOUND, SH_INVALID = C.SH_OK, C.SH_ERR_NOT_FOUND, C.SH_ERR_INVALID
local JSON_NULL, JSON_TRUE, JSON_FALSE = C.SH_JSON_NULL, C.SH_JSON_TRUE, C.SH_JSON_FALSE
local JSON_NUMBER, JSON_STRING = C.SH_JSON_NUMBER, C.SH_JSON_STRING
local ffi_string, ffi_copy, cast = ffi.string, ffi.copy, ffi.cast
local gsub, format = string.gsub, string.format
local floor, huge = math.floor, math.huge
local tonumber, type, getmetatable, setmetatable = tonumber, type, getmetatable, setmetatable
local rawget, rawset, error = rawget, rawset, error
-- the globals as Lua has them, also when this module is loaded again
local raw_pairs = rawget(_G, "__streamhost_raw_pairs") or pairs
local raw_next = rawget(_G, "__streamhost_raw_next") or next

local cjson = require("cjson").new()
cjson.encode_sparse_array(true)
cjson.decode_invalid_numbers(false)

local _M = {}
local null = cjson.null
_M.null = null
_M.cjson = cjson

-- One parser per Lua VM (a module is loaded once per VM); the handle is
-- freed with the VM.
local parser = ffi.gc(C.sh_ffi_json_new(), C.sh_ffi_json_free)
local field_out = ffi.new("sh_ffi_json_value_t[1]")
local char_ptr = ffi.typeof("const char *")

-- A lazy value's state lives under keys no JSON field name can be, so
-- __index still sees every field name: negative integers (an object's
-- names are strings), written as literals in lazy()'s constructor so that
-- it is a template copied in a trace, not keys inserted (join: 6,509 ->
-- 6,104 instructions per record), and a table for the memo. Two keys, not
-- three: the bytes' offset and length share one number (SPAN), so a lazy
-- value is a table with a 2-slot hash part (112 bytes, not 171), most of a
-- record's garbage (hopping engine-only: GC a tenth of the time).
local SPAN, ANCHOR, MEMO = -1, -2, {}
local SPAN_SHIFT = 2 ^ 32 -- span = offset * SPAN_SHIFT + length; offset < 2^21
local LAZY = {}
local opened = nil -- the lazy value whose bytes the parser holds

local function failure() return core.failure() end

-- Turns a lazy value into the plain table cjson would have made. O(value).
-- A lazy value's bytes: their offset in ANCHOR, the Lua string or the JSON
-- arena that holds them (a number, not a pointer: a pointer in the table
-- would be a cdata object allocated per value), and their length, both in
-- SPAN.
local function bytes_of(t)
  local anchor, span = t[ANCHOR], t[SPAN]
  local offset = floor(span / SPAN_SHIFT)
  local len = span - offset * SPAN_SHIFT
  if type(anchor) == "string" then return cast(char_ptr, anchor) + offset, len end
  return anchor + offset, len
end

local function materialize(t)
  local whole = cjson.decode(ffi_string(bytes_of(t)))
  if opened == t then opened = nil end
  setmetatable(t, nil)
  t[SPAN], t[ANCHOR], t[MEMO] = nil, nil, nil
  for k, v in raw_pairs(whole) do t[k] = v end
  return t
end
_M.materialize = materialize

-- Whether v is a lazy value still (not changed, not walked).
function _M.is_lazy(v) return getmetatable(v) == LAZY end

-- A value read again after another one was opened (a table row that every
-- stream record of a join reads) keeps the scalar fields it gave in a memo
-- (MEMO, made at the first reopening), so that it is not parsed again per
-- read. Scalars only: they cannot be changed behind the value's back.
function LAZY.__index(t, name)
  if type(name) ~= "string" then return nil end
  local memo = rawget(t, MEMO)
  if memo then
    local known = memo[name]
    if known ~= nil then return known end
  end
  if opened ~= t then
    local ptr, len = bytes_of(t)
    if C.sh_ffi_json_open(parser, ptr, len) ~= SH_OK then error(failure(), 2) end
    opened = t
    if not memo then
      memo = {}
      rawset(t, MEMO, memo)
    end
  end
  local rc = C.sh_ffi_json_field(parser, name, #name, field_out)
  if rc == SH_NOT_FOUND then return nil end
  if rc ~= SH_OK then error(failure(), 2) end
  local v = field_out[0]
  local kind = v.type
  local value
  if kind == JSON_NUMBER then value = v.number
  elseif kind == JSON_STRING then value = ffi_string(v.str, v.len)
  elseif kind == JSON_NULL then value = null
  elseif kind == JSON_TRUE then value = true
  elseif kind == JSON_FALSE then value = false
  else
    -- a nested object or array: the value becomes a plain table, so that
    -- what the app changes in the nested table is what gets encoded
    return materialize(t)[name]
  end
  if memo then memo[name] = value end
  return value
end

function LAZY.__newindex(t, name, value)
  materialize(t)[name] = value
end

LAZY.__streamhost_materialize = materialize

function _M.is_lazy(v) return getmetatable(v) == LAZY end

-- pairs and next see a lazy value's fields once it is a plain table. They
-- ask the metatable, so that a value made by another load of this module
-- (busted reloads modules per file) is seen too.
local function settle(t)
  local mt = getmetatable(t)
  if type(mt) == "table" and rawget(mt, "__streamhost_materialize") then
    mt.__streamhost_materialize(t)
  end
end
if not rawget(_G, "__streamhost_raw_pairs") then
  rawset(_G, "__streamhost_raw_pairs", raw_pairs)
  rawset(_G, "__streamhost_raw_next", raw_next)
  rawset(_G, "pairs", function(t) settle(t); return raw_pairs(t) end)
  rawset(_G, "next", function(t, k) settle(t); return raw_next(t, k) end)
end

-- lazy()'s constructor spells SPAN and ANCHOR as literals, with constant
-- values: then it is a template (TDUP), copied with its keys in place, and
-- the stores after it find them (HREFK). With the arguments as values it
-- was an empty table and a key insert (lj_tab_newkey) per key and record.
-- offset is below 2^21 (an arena's, or 0): the span is an exact double.
assert(SPAN == -1 and ANCHOR == -2)
local function lazy(offset, len, anchor)
  local t = { [-1] = 0, [-2] = false } -- SPAN, ANCHOR
  t[SPAN], t[ANCHOR] = offset * SPAN_SHIFT + len, anchor
  setmetatable(t, LAZY)
  opened = t
  return t
end

local function brace_after_spaces(ptr, len)
  for i = 0, len - 1 do
    local c = ptr[i]
    if c == 123 then return true end -- {
    if c ~= 32 and c ~= 9 and c ~= 10 and c ~= 13 then return false end
  end
  return false
end

-- Whether the first byte other than white space is '{'. The usual case is
-- answered without a loop: a loop here, in every record's trace, counted
-- towards the trace's loop unroll limit and aborted it.
local function first_byte_is_brace(ptr, len)
  if len > 0 and ptr[0] == 123 then return true end
  return brace_after_spaces(ptr, len)
end

-- Decodes a Lua string: a lazy value for an object (anchored by the string
-- itself), cjson's result for anything else.
function _M.decode(s)
  local ptr = cast(char_ptr, s)
  local len = #s
  if first_byte_is_brace(ptr, len) then
    local rc = C.sh_ffi_json_open(parser, ptr, len)
    if rc == SH_OK then return lazy(0, len, s) end
    opened = nil
    if rc ~= SH_INVALID then error(failure(), 0) end
  end
  return cjson.decode(s)
end

-- Decodes bytes that live only as long as the batch (a record's value): an
-- object's bytes are copied into an arena shared by the lazy values of many
-- records and kept alive by them.
-- The arena comes from malloc: ffi.new would zero it, which cost more than
-- the copies it holds.
pcall(ffi.cdef, "void *malloc(size_t size); void free(void *ptr);")
local char_array = ffi.typeof("char *")
local ARENA_SIZE = 256 * 1024
local arena, arena_used = nil, ARENA_SIZE
function _M.decode_ptr(ptr, len)
  len = tonumber(len)
  if first_byte_is_brace(ptr, len) then
    if arena_used + len > ARENA_SIZE then
      local size = len > ARENA_SIZE and len or ARENA_SIZE
      local mem = ffi.C.malloc(size)
      if mem == nil then error("no memory for a " .. size .. "-byte JSON arena", 0) end
      arena = ffi.gc(cast(char_array, mem), ffi.C.free)
      arena_used = 0
    end
    local copy = arena + arena_used
    ffi_copy(copy, ptr, len)
    local rc = C.sh_ffi_json_open(parser, copy, len)
    if rc == SH_OK then
      local offset = arena_used
      arena_used = arena_used + len
      return lazy(offset, len, arena)
    end
    opened = nil
    if rc ~= SH_INVALID then error(failure(), 0) end
  end
  return cjson.decode(ffi_string(ptr, len))
end

-- Checks a record's bytes as decode_ptr would, for a value that nothing
-- reads (a count's, see topology.lua): an object is opened in place, with
-- no copy and no lazy value, and gives true; anything else is decoded as
-- decode_ptr decodes it. Malformed bytes raise as they do there.
function _M.validate_ptr(ptr, len)
  len = tonumber(len)
  if first_byte_is_brace(ptr, len) then
    opened = nil -- the parser holds these bytes now, no lazy value's
    local rc = C.sh_ffi_json_open(parser, ptr, len)
    if rc == SH_OK then return true end
    if rc ~= SH_INVALID then error(failure(), 0) end
  end
  return cjson.decode(ffi_string(ptr, len))
end

-- ---- encoding ----

local MAX_DEPTH = 1000
local out = buffer.new()

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
for i = 0, 31 do
  local c = string.char(i)
  if not escapes[c] then escapes[c] = format("\\u%04x", i) end
end
escapes["\127"] = "\\u007f"

-- The check is a C call: find's pattern is not compiled, and a byte loop
-- here became a trace of its own whose exit could not return to the
-- encoder's frames ("NYI: return to lower frame"), so the rest of every
-- encode ran interpreted.
local function put_string(b, s)
  if C.sh_ffi_json_escapes(s, #s) ~= 0 then s = gsub(s, '[%c"\\]', escapes) end
  b:put('"', s, '"')
end

-- Object keys as written ('"name":'), cached per key string: the same few
-- names recur in every record, so each is checked for escapes and framed
-- once, and written with one append instead of an escape check (a C call)
-- and four. A cache that grows past KEYS_MAX names (keys that are data, a
-- map of ids say) starts again empty.
local KEYS_MAX = 4096
local framed_keys, framed_count = {}, 0

local function put_key(b, k)
  local framed = framed_keys[k]
  if framed == nil then
    local s = k
    if C.sh_ffi_json_escapes(s, #s) ~= 0 then s = gsub(s, '[%c"\\]', escapes) end
    framed = '"' .. s .. '":'
    if framed_count >= KEYS_MAX then framed_keys, framed_count = {}, 0 end
    framed_keys[k] = framed
    framed_count = framed_count + 1
  end
  b:put(framed)
end

local function put_number(b, n)
  if n ~= n or n == huge or n == -huge then
    error("Cannot serialise number: must not be NaN or Inf", 0)
  end
  -- An integer as %d, which is what tostring's %.14g writes for one below
  -- 1e14 (and exact past it, where %.14g rounds), at a fraction of the
  -- cost: %.14g went through the general float formatter (~300
  -- instructions a number). Zero keeps %.14g, for its sign.
  if n == floor(n) and n < 9.2e18 and n > -9.2e18 and n ~= 0 then
    b:putf("%d", n)
  else
    b:put(n)
  end
end

local encode_value

-- cjson's rule: a table whose keys are all positive integers is an array of
-- length max key, unless it is sparse (max > 2 * count and max > 10); an
-- empty table is an object.
-- Tables are walked by tail calls over next, not by a for-in loop: this
-- LuaJIT compiles no loop over next, and such an inner loop aborts every
-- trace around it ("inner loop in root trace") until the record path runs
-- interpreted.
local function scan(t, k, max, count)
  k = raw_next(t, k)
  if k == nil then
    if max > 10 and max > count * 2 then return -1 end
    return max
  end
  if type(k) ~= "number" or k <= 0 or k ~= floor(k) then return -1 end
  return scan(t, k, k > max and k or max, count + 1)
end

local function array_length(t) return scan(t, nil, 0, 0) end

-- An object's fields after k (k nil: from the first), comma-separated.
local function put_fields(b, t, k, depth)
  local first = k == nil
  local v
  k, v = raw_next(t, k)
  if k == nil then return end
  if not first then b:put(",") end
  local tk = type(k)
  if tk == "string" then
    put_key(b, k)
  elseif tk == "number" then
    b:put('"')
    put_number(b, k)
    b:put('":')
  else
    error("Cannot serialise table: table key must be a number or string", 0)
  end
  -- scalars here, not through encode_value: a flat object's encoding then
  -- has no recursion, which made encode_value a root trace ending in
  -- up-recursion that every record's trace had to link to
  local tv = type(v)
  if tv == "string" then
    put_string(b, v)
  elseif tv == "number" then
    put_number(b, v)
  else
    encode_value(b, v, depth)
  end
  return put_fields(b, t, k, depth)
end

local function put_table(b, t, depth)
  if depth > MAX_DEPTH then
    error(format("Cannot serialise, excessive nesting (%d)", depth), 0)
  end
  if getmetatable(t) == LAZY then
    b:putcdata(bytes_of(t))
    return
  end
  local n = array_length(t)
  if n > 0 then
    b:put("[")
    for i = 1, n do
      if i > 1 then b:put(",") end
      encode_value(b, t[i], depth)
    end
    b:put("]")
    return
  end
  b:put("{")
  put_fields(b, t, nil, depth)
  b:put("}")
end

encode_value = function(b, v, depth)
  local tv = type(v)
  if tv == "string" then
    put_string(b, v)
  elseif tv == "number" then
    put_number(b, v)
  elseif tv == "table" then
    put_table(b, v, depth + 1)
  elseif tv == "boolean" then
    b:put(v and "true" or "false")
  elseif v == nil or v == null then
    b:put("null")
  else
    error("Cannot serialise " .. tv .. ": type not supported", 0)
  end
end

-- The encoding as a Lua string.
-- (Results are kept in locals before they are returned: a trace cannot
-- return to a lower frame straight from a tail call of a built-in, "NYI:
-- return to lower frame", and fell back to the interpreter there.)
function _M.encode(v)
  out:reset()
  encode_value(out, v, 0)
  local s = out:tostring()
  return s
end

-- Appends the encoding to string.buffer b.
function _M.encode_into(b, v)
  encode_value(b, v, 0)
end

-- The encoding as (pointer, length), valid until the next encode: for C
-- calls that copy the bytes, without a Lua string in between.
function _M.encode_ref(v)
  out:reset()
  encode_value(out, v, 0)
  local ptr, len = out:ref()
  return ptr, len
end

return _M
