-- A schema derived for an Avro output (lua/streamhost/avro.lua) keeps the
-- types of the fields it took from the Avro inputs, the same for every
-- record: a record that carries no schema (it came through a repartition
-- or a join's internal JSON topic) took the types of whichever input the VM
-- had decoded last, so product_id was int after one input and long after
-- another, and the registry refused the next version (int vs long in the
-- union). The in-process registry, as the test driver has it.
local ffi = require "ffi"
local cjson = require "cjson"
local core = require "streamhost.core"
local serde = require "streamhost.serde"

local function latest(subject)
  local url = ffi.string(core.C.sh_ffi_registry_url(nil))
  local p = io.popen("curl -s " .. url .. "/subjects/" .. subject .. "/versions")
  local versions = cjson.decode(p:read("*a"))
  p:close()
  p = io.popen("curl -s " .. url .. "/subjects/" .. subject .. "/versions/latest")
  local body = cjson.decode(p:read("*a"))
  p:close()
  local types = {}
  for _, f in ipairs(cjson.decode(body.schema).fields) do types[f.name] = f.type[2] end
  return types, versions
end

local function encoded(topic, schema, value)
  return serde.encoder("avro", { topic = topic, avro = { schema = schema } })(value)
end

describe("a derived Avro schema", function()
  local details = encoded("types-details", { type = "record", name = "D", fields = {
    { name = "id", type = "int" }, { name = "product_id", type = "int" },
    { name = "qty", type = "long" } } }, { id = 1, product_id = 7, qty = 2 })
  local products = encoded("types-products", { type = "record", name = "P", fields = {
    { name = "id", type = "int" }, { name = "name", type = "string" } } },
    { id = 7, name = "lamp" })
  local read_details = serde.decoder("avro", { topic = "types-details" })
  local read_products = serde.decoder("avro", { topic = "types-products" })

  it("keeps an input's int whichever input was decoded last", function()
    read_details(details)
    read_products(products) -- has no product_id
    local out = serde.encoder("avro", { topic = "types-out" })
    out({ product_id = 7, qty = 2, stock = 5 }, {}) -- a record that carries no schema
    local types = latest("types-out-value")
    assert.equal("int", types.product_id)
    assert.equal("long", types.qty)
    assert.equal("long", types.stock) -- in no input: derived
  end)

  it("is the same for every encoder of the topic (threads, runs)", function()
    read_products(products)
    read_details(details)
    read_products(products)
    local again = serde.encoder("avro", { topic = "types-out" })
    again({ product_id = 8, qty = 1, stock = -1 }, {})
    local types, versions = latest("types-out-value")
    assert.same({ 1 }, versions)
    assert.equal("int", types.product_id)
  end)
end)
