-- Avro end to end on `streamhost broker --registry`: an outside client
-- (python3-confluent-kafka + python3-avro) registers a schema and writes
-- Avro orders, `streamhost run` reads them, derives its output's schema
-- (keeping the input's field types) and writes Avro, and the outside client
-- reads that back with the schema it fetches by id.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local PYTHON = "/usr/bin/python3 spec/fixtures/avro_kafka.py"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "avro-ID",
  threads = THREADS,
  kafka = { REGISTRY["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("IN", { key = "string", value = "avro" })
     :filter(function(_, o) return o.qty > 0 end)
     :map_values(function(o)
       return { id = o.id, item = o.item, qty = o.qty, price = o.price, placed = o.placed,
                total = tonumber(o.price) * o.qty }
     end)
     :to("OUT", { value = "avro" })
  end,
}
]]

-- registry: the URL for the app's kafka table, or nil for none there
local function app_text(registry, id, input, output, threads)
  local entry = registry and string.format("[\"schema.registry.url\"] = %q, ", registry) or ""
  return (APP:gsub("REGISTRY", entry):gsub("ID", id):gsub("IN", input):gsub("OUT", output)
             :gsub("THREADS", tostring(threads)))
end

describe("avro on streamhost broker --registry", function()
  local dir, broker, app_pid, bootstrap, registry

  setup(function()
    dir = helpers.tmpdir()
    broker = helpers.start_registry_broker(dir, { "orders:1", "order_totals:1", "orders_big:4",
                                                  "totals_big:4" })
    bootstrap, registry = broker.bootstrap, broker.registry
  end)

  teardown(function()
    if app_pid and helpers.alive(app_pid) then helpers.kill(app_pid, "KILL") end
    if broker then broker.stop() end
  end)

  it("prints schema.registry.url after bootstrap.servers", function()
    local text = helpers.read_file(dir .. "/broker.log")
    -- stdout's two lines, one after the other (the log line is stderr's)
    assert.truthy(text:find("bootstrap%.servers=[^\n]+\nschema%.registry%.url=http://127%.0%.0%.1:%d+\n"),
                  text)
  end)

  it("reads what an outside client wrote and writes what it can read", function()
    assert.is_true(os.execute(PYTHON .. " produce " .. bootstrap .. " " .. registry ..
                              " orders 40") == 0)
    helpers.write_file(dir .. "/app.lua", app_text(registry, "orders", "orders", "order_totals", 1))
    local log = dir .. "/run.log"
    app_pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --http off --bootstrap " ..
                            bootstrap, log)
    local p = io.popen(PYTHON .. " consume " .. bootstrap .. " " .. registry ..
                       " order_totals 30 2>&1")
    local out = {}
    for line in p:lines() do
      local ok, r = pcall(cjson.decode, line)
      assert(ok, line)
      out[#out + 1] = r
    end
    p:close()
    assert.equal(30, #out) -- qty = i % 4: a quarter are 0
    for _, r in ipairs(out) do
      local v = r.value
      local i = v.id
      assert.equal("k" .. i, r.key)
      assert.equal(i % 4, v.qty)
      assert.equal("item-" .. (i % 5), v.item)
      assert.equal(i .. ".25", v.price) -- the decimal's digits, exactly
      assert.equal((i + 0.25) * (i % 4), v.total)
      -- placed kept its input's type, timestamp-millis: python reads a datetime
      assert.equal(string.format("2024-01-01 00:00:%02d+00:00", i), v.placed)
    end
    -- the derived schema was registered once, under order_totals-value
    local ph = io.popen("curl -s " .. registry .. "/subjects/order_totals-value/versions")
    assert.same({ 1 }, cjson.decode(ph:read("*a")))
    ph:close()
    helpers.kill(app_pid, "TERM")
    helpers.wait_exit(app_pid)
    local text = helpers.read_file(log)
    assert.is_nil(text:match("ERROR"), text)
    assert.is_nil(text:match("WARN"), text)
  end)

  it("carries 100,000 records with two stream threads, registering its schema once", function()
    assert.is_true(os.execute(PYTHON .. " produce " .. bootstrap .. " " .. registry ..
                              " orders_big 100000") == 0)
    -- the registry from the command line this time
    helpers.write_file(dir .. "/big.lua", app_text(nil, "big", "orders_big", "totals_big", 2))
    local log = dir .. "/big.log"
    app_pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/big.lua --http off --bootstrap " ..
                            bootstrap .. " --set schema.registry.url=" .. registry, log)
    local p = io.popen(PYTHON .. " summary " .. bootstrap .. " " .. registry ..
                       " totals_big 75000 2>&1")
    local out = p:read("*a")
    p:close()
    local ok, summary = pcall(cjson.decode, out)
    assert(ok, out)
    -- qty = i % 4: a quarter are filtered out. Each kept order once by id
    -- (a record read again after a rebalance is at-least-once, counted apart)
    assert.equal(75000, summary.records)
    assert.equal(3750000000, summary.ids)        -- the sum of the kept orders' ids
    assert.equal(0, summary.bad)                 -- every decimal exact
    assert.equal(1, #summary.schema_ids)         -- one writer schema for both threads
    local ph = io.popen("curl -s " .. registry .. "/subjects/totals_big-value/versions")
    assert.same({ 1 }, cjson.decode(ph:read("*a")))
    ph:close()
    helpers.kill(app_pid, "TERM")
    helpers.wait_exit(app_pid)
    local text = helpers.read_file(log)
    assert.is_nil(text:match("ERROR"), text)
  end)

  it("stops with what to do when an app on a real cluster names no registry", function()
    helpers.write_file(dir .. "/none.lua", app_text(nil, "none", "orders", "none_out", 1))
    local log = dir .. "/none.log"
    app_pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/none.lua --http off --bootstrap " ..
                            bootstrap, log)
    helpers.wait_exit(app_pid, 30000)
    local text = helpers.read_file(log)
    assert.truthy(text:find("no schema registry: set schema.registry.url in the app's kafka " ..
                            "table, or --set schema.registry.url=URL", 1, true), text)
  end)

  it("gives an app on the embedded broker the registry beside it", function()
    helpers.write_file(dir .. "/embedded.lua", [[
local sh = require "streamhost"
return sh.app {
  id = "avro-embedded",
  kafka = { ["bootstrap.servers"] = "embedded", ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("plain", { key = "string", value = "json" }):to("typed", { value = "avro" })
  end,
}
]])
    local log = dir .. "/embedded.log"
    app_pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/embedded.lua --http off", log)
    local embedded, url
    helpers.wait_until("the embedded broker and registry", 20000, function()
      local text = helpers.read_file(log)
      embedded = text:match("embedded broker at (%S+)")
      url = text:match("embedded schema registry at (%S+)")
      return embedded and url and text:find("assigned", 1, true)
    end)
    helpers.produce(embedded, "plain", { { "a", '{"n":1,"s":"x"}' }, { "b", '{"n":2,"s":"y"}' } })
    local p = io.popen(PYTHON .. " consume " .. embedded .. " " .. url .. " typed 2 2>&1")
    local out = {}
    for line in p:lines() do out[#out + 1] = cjson.decode(line) end
    p:close()
    assert.same({ { "a", 1, "x" }, { "b", 2, "y" } },
                { { out[1].key, out[1].value.n, out[1].value.s },
                  { out[2].key, out[2].value.n, out[2].value.s } })
    local text = helpers.read_file(log)
    assert.falsy(text:find("in memory", 1, true), text) -- not a registry of its own
    helpers.kill(app_pid, "TERM")
    helpers.wait_exit(app_pid)
  end)
end)
