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

-- Another VM (a second stream thread, a later run): the module loaded
-- afresh, with no Avro input read, so no hints.
local function other_vm()
  local saved = package.loaded["streamhost.avro"]
  package.loaded["streamhost.avro"] = nil
  local fresh = require "streamhost.avro"
  package.loaded["streamhost.avro"] = saved
  return fresh
end

describe("derived Avro schemas of one subject across VMs", function()
  local details = serde.encoder("avro", { topic = "vms-details", avro = { schema = {
    type = "record", name = "D", fields = { { name = "product_id", type = "int" } } } } })
    { product_id = 7 }
  serde.decoder("avro", { topic = "vms-details" })(details) -- this VM: product_id is int

  it("take the type the subject registered: long first, then a VM with an int hint", function()
    other_vm().encoder({ topic = "vms-a" })({ product_id = 7, qty = 2 }, {})
    assert.equal("long", (latest("vms-a-value")).product_id)
    -- this VM read product_id as int; a new field makes a new version
    serde.encoder("avro", { topic = "vms-a" })({ product_id = 8, qty = 1, stock = 3 }, {})
    local types, versions = latest("vms-a-value")
    assert.same({ 1, 2 }, versions)
    assert.equal("long", types.product_id)
    assert.equal("long", types.stock)
  end)

  it("take the type the subject registered: int first, then a VM without hints", function()
    serde.encoder("avro", { topic = "vms-b" })({ product_id = 7, qty = 2 }, {})
    assert.equal("int", (latest("vms-b-value")).product_id)
    other_vm().encoder({ topic = "vms-b" })({ product_id = 8, qty = 1 }, {})
    local types, versions = latest("vms-b-value")
    assert.same({ 1 }, versions) -- the same schema: no new version
    assert.equal("int", types.product_id)
  end)

  it("widen a registered int only for a value beyond int's range", function()
    serde.encoder("avro", { topic = "vms-c" })({ product_id = 7 }, {})
    local out = other_vm().encoder({ topic = "vms-c" })
    out({ product_id = 9 }, {})
    assert.same({ 1 }, select(2, latest("vms-c-value")))
    out({ product_id = 2 ^ 40 }, {})
    local types, versions = latest("vms-c-value")
    assert.same({ 1, 2 }, versions)
    assert.equal("long", types.product_id)
  end)

  it("derive again from the latest version when the registry refuses one", function()
    local out = serde.encoder("avro", { topic = "vms-d" }) -- int hint; no version yet
    out({ product_id = 7 }, {})
    assert.equal("int", (latest("vms-d-value")).product_id)
    -- another writer moves the subject on to long
    serde.encoder("avro", { topic = "vms-d", avro = { schema = { type = "record",
      name = "vms_d_value", fields = { { name = "product_id", type = { "null", "long" },
      default = cjson.null } } } } })({ product_id = 8 })
    out({ product_id = 9, stock = 1 }, {}) -- int would be refused now
    local types, versions = latest("vms-d-value")
    assert.same({ 1, 2, 3 }, versions)
    assert.equal("long", types.product_id)
  end)
end)
