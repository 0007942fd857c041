-- examples/avro_orders through the test driver (and its in-memory registry):
-- JSON to Avro with a given schema, Avro back to Lua, Avro out with a
-- derived schema that keeps the input's decimal and timestamp types.
local testing = require "streamhost.testing"
local cjson = require "cjson"
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"

local function latest_schema(subject)
  local url = ffi.string(core.C.sh_ffi_registry_url(nil))
  local p = io.popen("curl -s " .. url .. "/subjects/" .. subject .. "/versions/latest")
  local body = cjson.decode(p:read("*a"))
  p:close()
  return cjson.decode(body.schema)
end

describe("examples/avro_orders", function()
  it("carries orders through Avro and sums them exactly", function()
    local d = testing.driver(dofile("examples/avro_orders/app.lua"))
    local input = d:input("orders-json")
    input:pipe("k1", { id = 1, item = "lamp", qty = 2, amount = "19.99" }, 1700000000000)
    input:pipe("k2", { id = 2, item = "desk", qty = 0, amount = "250.00" }, 1700000001000)
    input:pipe("k3", { id = 3, item = "chair", qty = 4, amount = "45.50" }, 1700000002000)
    -- the driver does not feed a topic the app writes back to its readers:
    -- take the Avro bytes and pipe them in as they are
    local avro = d:output("orders-avro", { key = "string", value = "bytes" }):read_all()
    assert.equal(3, #avro)
    local decode = serde.decoder("avro", { topic = "orders-avro" })
    assert.same({ id = 1, item = "lamp", qty = 2, amount = "19.99", placed = 1700000000000 },
                decode(avro[1].value))
    local raw = d:input("orders-avro", { key = "string", value = "bytes" })
    for _, r in ipairs(avro) do raw:pipe(r.key, r.value, r.timestamp) end
    local totals = d:output("order-totals"):read_all()
    assert.same({ "k1", "k3" }, { totals[1].key, totals[2].key })
    assert.same({ item = "lamp", qty = 2, amount = "19.99", placed = 1700000000000,
                  total = 39.98 }, totals[1].value)
    assert.equal(182, totals[2].value.total)
    local types = {}
    for _, f in ipairs(latest_schema("order-totals-value").fields) do types[f.name] = f.type[2] end
    assert.same({ type = "bytes", logicalType = "decimal", precision = 9, scale = 2 }, types.amount)
    assert.same({ type = "long", logicalType = "timestamp-millis" }, types.placed)
    assert.equal("double", types.total)
  end)
end)
