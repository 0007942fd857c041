-- Serdes: how keys and values turn into bytes and back. Names match what a
-- Kafka user expects: json, string, int (4-byte big-endian, as Connect's
-- IntegerConverter), long (8-byte big-endian), bytes, avro (Confluent's wire
-- format with a Schema Registry: streamhost/avro.lua). A Lua string is a
-- byte string, so `string` and `bytes` differ only in intent.
local cjson = require("cjson").new()
local bit = require "bit"

local _M = {}

cjson.encode_sparse_array(true)
cjson.decode_invalid_numbers(false)

local byte, char, find, gsub = string.byte, string.char, string.find, string.gsub
local band, rshift = bit.band, bit.rshift
local floor = math.floor

local function check_type(value, want, name)
  if type(value) ~= want then
    error(string.format("%s serde cannot encode a %s", name, type(value)), 0)
  end
end

local serdes = {
  json = {
    -- cjson escapes every '/' as '\/'; both are valid JSON, the plain one
    -- reads better in PRINT and kcat. Safe because a '/' is always escaped,
    -- so '\/' only ever is that escape.
    encode = function(v)
      local s = cjson.encode(v)
      if find(s, "\\/", 1, true) then s = gsub(s, "\\/", "/") end
      return s
    end,
    decode = function(s) return cjson.decode(s) end,
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

_M.json = cjson
_M.null = cjson.null

-- The encode function of serde `name` for records written to where.topic
-- (where: { app =, topic =, is_key =, avro = options from to() }).
function _M.encoder(name, where)
  if name == "avro" then return require("streamhost.avro").encoder(where) end
  return _M.get(name).encode
end

-- The decode function of serde `name` for records read from where.topic,
-- and, when the serde can read the batch's bytes in place, a second one
-- taking (pointer, length).
function _M.decoder(name, where)
  if name == "avro" then return require("streamhost.avro").decoder(where) end
  return _M.get(name).decode, nil
end

function _M.names()
  local list = {}
  for name in pairs(serdes) do list[#list + 1] = name end
  table.sort(list)
  return list
end

-- Returns the serde called `name`, or raises a usage error at `level`.
function _M.get(name, level)
  local s = serdes[name]
  if not s then
    error(string.format("unknown serde '%s' (known: %s)", tostring(name),
                        table.concat(_M.names(), ", ")), (level or 1) + 1)
  end
  return s
end

return _M
