-- Round trips against Debian's python3-avro, byte for byte, both ways: for
-- every Avro type and logical type, python decodes what streamhost wrote
-- (after the 5-byte header, with the schema fetched from the registry) to
-- the expected datum and, encoding that datum itself, writes exactly the
-- same bytes; streamhost decodes python's bytes back to the Lua value.
-- (Maps have one entry: a Lua table keeps no order, so longer maps round
-- trip by value, not bytes.)
local avro = require "streamhost.avro"
local cjson = require "cjson"
local helpers = require "spec.helpers"
local ffi = require "ffi"
local core = require "streamhost.core"

local null = cjson.null
local PYTHON = "/usr/bin/python3"

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local function decimal(precision, scale)
  return { type = "bytes", logicalType = "decimal", precision = precision, scale = scale }
end

local record_schema = {
  type = "record", name = "Order", namespace = "shop",
  fields = {
    { name = "id", type = "long" },
    { name = "item", type = "string" },
    { name = "price", type = decimal(10, 2) },
    { name = "placed", type = { type = "long", logicalType = "timestamp-millis" } },
    { name = "lines", type = { type = "array", items = {
        type = "record", name = "Line", fields = {
          { name = "sku", type = "string" }, { name = "qty", type = "int" } } } } },
    { name = "note", type = { "null", "string" }, default = null },
    { name = "status", type = { type = "enum", name = "Status", symbols = { "NEW", "PAID" } } },
  },
}

-- { name, schema, Lua value, Python expression for the same datum }
local cases = {
  { "null", "null", null, "None" },
  { "boolean true", "boolean", true, "True" },
  { "boolean false", "boolean", false, "False" },
  { "int", "int", -2147483648, "-2147483648" },
  { "int max", "int", 2147483647, "2147483647" },
  { "long", "long", 1234567890123, "1234567890123" },
  { "long negative", "long", -3, "-3" },
  { "float", "float", 1.5, "1.5" },
  { "double", "double", -1234.0625, "-1234.0625" },
  { "bytes", "bytes", "\0\1\255", "b'\\x00\\x01\\xff'" },
  { "string", "string", "h\195\169llo", "'h\\u00e9llo'" },
  { "empty string", "string", "", "''" },
  { "enum", { type = "enum", name = "Suit", symbols = { "HEART", "SPADE" } }, "SPADE", "'SPADE'" },
  { "fixed", { type = "fixed", name = "Four", size = 4 }, "ab\0d", "b'ab\\x00d'" },
  { "array", { type = "array", items = "int" }, { 1, -2, 3 }, "[1, -2, 3]" },
  { "empty array", { type = "array", items = "int" }, {}, "[]" },
  { "map", { type = "map", values = "long" }, { a = 7 }, "{'a': 7}" },
  { "empty map", { type = "map", values = "long" }, {}, "{}" },
  { "union null", { "null", "string" }, null, "None" },
  { "union string", { "null", "string" }, "x", "'x'" },
  { "union long", { "null", "long", "string" }, 5, "5" },
  { "decimal bytes", decimal(10, 2), "-12.34", "Decimal('-12.34')" },
  { "decimal zero", decimal(10, 2), "0.00", "Decimal('0.00')" },
  { "decimal big", decimal(38, 9), "123456789012345678901.123456789",
    "Decimal('123456789012345678901.123456789')" },
  { "decimal fixed", { type = "fixed", name = "Money", size = 8, logicalType = "decimal",
                      precision = 18, scale = 4 }, "-123.4567",
    "Decimal('-123.4567')" },
  { "date", { type = "int", logicalType = "date" }, "2024-02-29", "datetime.date(2024, 2, 29)" },
  { "date before 1970", { type = "int", logicalType = "date" }, "1969-12-31",
    "datetime.date(1969, 12, 31)" },
  { "time-millis", { type = "int", logicalType = "time-millis" }, 45296789,
    "datetime.time(12, 34, 56, 789000)" },
  { "time-micros", { type = "long", logicalType = "time-micros" }, 45296789123,
    "datetime.time(12, 34, 56, 789123)" },
  { "timestamp-millis", { type = "long", logicalType = "timestamp-millis" }, 1700000000123,
    "datetime.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=utc)" },
  { "timestamp-micros", { type = "long", logicalType = "timestamp-micros" }, 1700000000123456,
    "datetime.datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=utc)" },
  { "local-timestamp-millis", { type = "long", logicalType = "local-timestamp-millis" },
    1700000000123, "1700000000123" },
  { "uuid", { type = "string", logicalType = "uuid" }, "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
    "'f81d4fae-7dec-11d0-a765-00a0c91e6bf6'" },
  { "record", record_schema,
    { id = 42, item = "lamp", price = "19.99", placed = 1700000000000,
      lines = { { sku = "a-1", qty = 2 }, { sku = "b-2", qty = 1 } }, note = null,
      status = "PAID" },
    "{'id': 42, 'item': 'lamp', 'price': Decimal('19.99'), " ..
    "'placed': datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=utc), " ..
    "'lines': [{'sku': 'a-1', 'qty': 2}, {'sku': 'b-2', 'qty': 1}], 'note': None, " ..
    "'status': 'PAID'}" },
}

local function run_python(request)
  local dir = helpers.tmpdir()
  helpers.write_file(dir .. "/in.json", cjson.encode(request))
  local p = io.popen(PYTHON .. " spec/fixtures/avro_python.py < " .. dir .. "/in.json 2>&1")
  local out = p:read("*a")
  p:close()
  os.execute("rm -rf " .. dir)
  local ok, decoded = pcall(cjson.decode, out)
  assert(ok, "python3-avro failed: " .. out)
  return decoded
end

describe("avro against python3-avro", function()
  local written, results = {}, {}
  local decode

  setup(function()
    local request = { registry = ffi.string(core.C.sh_ffi_registry_url(nil)), cases = {} }
    for i, c in ipairs(cases) do
      local encode = avro.encoder({ topic = "roundtrip-" .. i, avro = { schema = c[2] } })
      written[i] = encode(c[3])
      request.cases[i] = { name = c[1], framed_hex = hex(written[i]), value = c[4] }
    end
    for _, r in ipairs(run_python(request)) do results[r.name] = r end
    decode = avro.decoder({ topic = "roundtrip" })
  end)

  for i, c in ipairs(cases) do
    it(c[1] .. ": python reads what streamhost wrote and writes the same bytes", function()
      local r = results[c[1]]
      assert.is_truthy(r, "no python result")
      assert.is_true(r.equal, "python decoded " .. tostring(r.decoded))
      assert.equal(r.python_hex, hex(written[i]:sub(6)))
    end)
    it(c[1] .. ": streamhost reads what python wrote", function()
      local framed = written[i]:sub(1, 5) .. unhex(results[c[1]].python_hex)
      assert.same(c[3], decode(framed))
    end)
  end
end)
