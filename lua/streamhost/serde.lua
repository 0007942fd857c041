-- Serdes: how keys and values turn into bytes and back. Names match what a
-- Kafka user expects: json, string, int (4-byte big-endian, as Connect's
-- IntegerConverter), long (8-byte big-endian), bytes, avro (Confluent's wire
-- format with a Schema Registry: streamhost/avro.lua). A Lua string is a
-- byte string, so `string` and `bytes` differ only in intent.
local json = require "streamhost.json"
local bit = require "bit"
local buffer = require "string.buffer"

local _M = {}

local cjson = json.cjson

local byte, char, sub = string.byte, string.char, string.sub
local band, rshift = bit.band, bit.rshift
local floor = math.floor

local function check_type(value, want, name)
  if type(value) ~= want then
    error(string.format("%s serde cannot encode a %s", name, type(value)), 0)
  end
end

local serdes = {
  -- lazy objects in, string.buffer out (json.lua); decode_ptr reads a
  -- record's bytes without a Lua string, encode_ref writes without one
  json = {
    encode = json.encode,
    encode_ref = json.encode_ref,
    decode = json.decode,
    decode_ptr = json.decode_ptr,
    validate_ptr = json.validate_ptr,
  },
  string = {
    encode = function(v)
      if type(v) == "number" then return tostring(v) end
      check_type(v, "string", "string")
      return v
    end,
    decode = function(s) return s end,
  },
  bytes = {
    encode = function(v) check_type(v, "string", "bytes"); return v end,
    decode = function(s) return s end,
  },
  int = {
    encode = function(v)
      check_type(v, "number", "int")
      if v ~= floor(v) or v < -2147483648 or v > 2147483647 then
        error("int serde: " .. tostring(v) .. " is not a 32-bit integer", 0)
      end
      return char(band(rshift(v, 24), 255), band(rshift(v, 16), 255),
                  band(rshift(v, 8), 255), band(v, 255))
    end,
    decode = function(s)
      if #s ~= 4 then error("int serde: expected 4 bytes, got " .. #s, 0) end
      local a, b, c, d = byte(s, 1, 4)
      local n = ((a * 256 + b) * 256 + c) * 256 + d
      if n >= 2147483648 then n = n - 4294967296 end
      return n
    end,
  },
  long = {
    -- Lua numbers are doubles: longs beyond 2^53 lose precision.
    encode = function(v)
      check_type(v, "number", "long")
      if v ~= floor(v) then error("long serde: " .. tostring(v) .. " is not an integer", 0) end
      local neg = v < 0
      if neg then v = -v - 1 end
      local bytes = {}
      for i = 8, 1, -1 do
        local b = v % 256
        if neg then b = 255 - b end
        bytes[i] = b
        v = floor(v / 256)
      end
      return char(unpack(bytes))
    end,
    decode = function(s)
      if #s ~= 8 then error("long serde: expected 8 bytes, got " .. #s, 0) end
      local negative = byte(s, 1) >= 128
      local n = 0
      for i = 1, 8 do
        local b = byte(s, i)
        -- two's complement: sum the inverted bytes so -1 stays exact
        n = n * 256 + (negative and 255 - b or b)
      end
      if negative then n = -n - 1 end
      return n
    end,
  },
}

-- avro is bound to a topic (its subject) and a registry: topology.lua gets
-- it through _M.encoder/_M.decoder. Unbound, inside the process (a store's
-- keys), its values are kept as JSON.
serdes.avro = { encode = serdes.json.encode, decode = serdes.json.decode }

-- cjson for the app's own use; encode knows lazy values
_M.json = setmetatable({ encode = json.encode }, { __index = cjson })
_M.null = json.null

-- The encode function of serde `name` for records written to where.topic
-- (where: { app =, topic =, is_key =, avro = options from to() }), and, when
-- the serde can, a second one returning (pointer, length) valid until its
-- next call, for C calls that copy the bytes.
function _M.encoder(name, where)
  if name == "avro" then return require("streamhost.avro").encoder(where) end
  local s = _M.get(name)
  return s.encode, s.encode_ref
end

-- The decode function of serde `name` for records read from where.topic,
-- and, when the serde can read the batch's bytes in place, a second one
-- taking (pointer, length).
function _M.decoder(name, where)
  if name == "avro" then return require("streamhost.avro").decoder(where) end
  local s = _M.get(name)
  return s.decode, s.decode_ptr -- json reads a record's bytes in place (json.lua)
end

-- For a value that no operator reads: a check of a record's bytes that
-- raises for those decoding would refuse, without making the value, or nil
-- when the serde has none (decode then).
function _M.validator(name)
  local s = serdes[name]
  return s and s.validate_ptr
end

function _M.names()
  local list = {}
  for name, s in pairs(serdes) do
    if not s.encode_windowed then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

-- Windowed keys, as Kafka Streams' TimeWindowedSerde and
-- SessionWindowedSerde write them: the inner key's bytes, then the window
-- start as 8 big-endian bytes ("windowed:<inner>:<size ms>", the end is
-- start + size), or then the end and the start ("session-windowed:<inner>").
-- decode gives the inner key; window(bytes) gives start and end;
-- encode_windowed(key, {start =, ["end"] =}) writes one. Names are made by
-- sh.windowed, or by a windowed table for its stream.
-- A time window's start, encoded once for every key of the window rather
-- than per record (a table and an unpack each); the few starts in use stay,
-- and the cache is emptied when it fills.
local be64_cache, be64_cached = {}, 0
local function be64(n)
  local b = be64_cache[n]
  if b == nil then
    b = serdes.long.encode(n) -- raises for a non-integer, which is never cached
    if be64_cached >= 256 then be64_cache, be64_cached = {}, 0 end
    be64_cache[n], be64_cached = b, be64_cached + 1
  end
  return b
end

local function windowed_serde(name)
  local inner_name, size = name:match("^windowed:(%w+):(%d+)$")
  local session = false
  if not inner_name then
    inner_name = name:match("^session%-windowed:(%w+)$")
    session = inner_name ~= nil
  end
  local inner = inner_name and serdes[inner_name]
  if not inner then return nil end
  size = tonumber(size)
  local suffix = session and 16 or 8
  local decode_long = serdes.long.decode
  local s = { inner = inner_name, size = size, session = session }
  function s.encode()
    error("a windowed key needs its window: write it from a windowed table's stream", 0)
  end
  function s.encode_windowed(k, w)
    if not w then error("a windowed key needs its window: the record has none", 0) end
    if session then
      local long = serdes.long.encode -- a session's bounds are its records' times: no cache
      return inner.encode(k) .. long(w["end"]) .. long(w.start)
    end
    return inner.encode(k) .. be64(w.start)
  end
  -- A time window's key as (pointer, length), valid until the next call,
  -- for the sinks' C calls that copy it: no Lua string per output.
  if not session then
    local out = buffer.new()
    function s.encode_windowed_ref(k, w)
      if not w then error("a windowed key needs its window: the record has none", 0) end
      out:reset()
      out:put(inner.encode(k), be64(w.start))
      return out:ref()
    end
  end
  function s.decode(bytes)
    if #bytes < suffix then
      error(string.format("%s serde: expected at least %d bytes, got %d", name, suffix, #bytes), 0)
    end
    return inner.decode(sub(bytes, 1, #bytes - suffix))
  end
  function s.window(bytes)
    local n = #bytes
    if session then
      return decode_long(sub(bytes, n - 7)), decode_long(sub(bytes, n - 15, n - 8))
    end
    local start = decode_long(sub(bytes, n - 7))
    return start, start + size
  end
  serdes[name] = s
  return s
end

-- The serde's description when `name` is a windowed key serde, else nil.
function _M.windowed(name)
  if type(name) ~= "string" then return nil end
  local s = serdes[name] or windowed_serde(name)
  return s and s.encode_windowed and s or nil
end

-- The plain key format under a windowed one (the name itself otherwise).
function _M.inner(name)
  local w = _M.windowed(name)
  return w and w.inner or name
end

-- Returns the serde called `name`, or raises a usage error at `level`.
function _M.get(name, level)
  local s = serdes[name] or (type(name) == "string" and windowed_serde(name))
  if not s then
    error(string.format("unknown serde '%s' (known: %s)", tostring(name),
                        table.concat(_M.names(), ", ")), (level or 1) + 1)
  end
  return s
end

return _M
