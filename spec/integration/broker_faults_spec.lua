-- Broker faults end in recovery or a clear exit (issue 13): no broker at
-- start is an exit within startup.timeout naming the address; a broker that
-- goes away shows in /healthz; a different cluster behind the same address
-- stops the app with the reason; records the broker deleted before the app
-- read them are reported with their count and range.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "faults-spec",
  ["startup.timeout"] = "3s",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("numbers", { key = "string", value = "string" }):to("tagged", { value = "string" })
  end,
}
]]

-- A broker on a fixed port, so a second one can take its address.
local function broker_on(port, dir, name)
  local log = dir .. "/" .. name .. ".log"
  local pid = helpers.spawn(helpers.bin .. " broker --port " .. port ..
                            " --topic numbers:1 --topic tagged:1", log)
  helpers.wait_until("broker " .. name, 10000, function()
    return helpers.read_file(log):match("^bootstrap%.servers=(%S+)\n")
  end)
  return pid
end

local function health(port)
  local p = io.popen("curl -s --max-time 2 http://127.0.0.1:" .. port .. "/healthz")
  local body = p:read("*a")
  p:close()
  local ok, doc = pcall(cjson.decode, body)
  return ok and doc or {}
end

describe("broker faults", function()
  local dir, pids

  before_each(function()
    dir = helpers.tmpdir()
    pids = {}
    helpers.write_file(dir .. "/app.lua", APP)
  end)

  after_each(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
  end)

  it("exits within startup.timeout, naming the address, when no broker answers", function()
    local log, status = dir .. "/run.log", dir .. "/status"
    pids[#pids + 1] = helpers.spawn_with_status(
      helpers.bin .. " run " .. dir .. "/app.lua --bootstrap 127.0.0.1:1 --state-dir " .. dir ..
      "/state --http off", log, status)
    helpers.wait_until("the exit", 15000, function() return helpers.exit_status(status) end)
    assert.are.equal(1, helpers.exit_status(status))
    assert.matches("no Kafka broker answered at 127.0.0.1:1 within 3 s (startup.timeout)",
                   helpers.read_file(log), 1, true)
  end)

  it("shows brokers down in /healthz, and stops on a different cluster at the same address", function()
    local port, http = helpers.free_port(), helpers.free_port()
    local broker = broker_on(port, dir, "first")
    pids[#pids + 1] = broker
    local log, status = dir .. "/run.log", dir .. "/status"
    local app = helpers.spawn_with_status(
      helpers.bin .. " run " .. dir .. "/app.lua --bootstrap 127.0.0.1:" .. port ..
      " --state-dir " .. dir .. "/state --http 127.0.0.1:" .. http, log, status)
    pids[#pids + 1] = app
    helpers.produce("127.0.0.1:" .. port, "numbers", { { "a", "1" } })
    helpers.wait_records("127.0.0.1:" .. port, "tagged", 1, 30000)
    helpers.kill(broker, "KILL")
    helpers.wait_exit(broker)
    local doc = helpers.wait_until("/healthz to say the brokers are down", 30000, function()
      local d = health(http)
      return d.status == "failing" and d
    end)
    assert.matches("no Kafka broker answers at 127.0.0.1:" .. port, doc.reason, 1, true)
    pids[#pids + 1] = broker_on(port, dir, "second")
    helpers.wait_until("the app's exit", 60000, function() return helpers.exit_status(status) end)
    assert.are.equal(1, helpers.exit_status(status))
    assert.matches("is not the one this app started on", helpers.read_file(log), 1, true)
  end)

  it("reports records the broker deleted before they were read, with their count and range", function()
    local port = helpers.free_port()
    pids[#pids + 1] = broker_on(port, dir, "broker")
    local bootstrap = "127.0.0.1:" .. port
    helpers.produce(bootstrap, "numbers", { { "a", "1" }, { "b", "2" } })
    local run = helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " .. bootstrap ..
                " --state-dir " .. dir .. "/state --http off"
    local first = helpers.spawn(run, dir .. "/first.log")
    helpers.wait_records(bootstrap, "tagged", 2, 30000)
    helpers.kill(first, "TERM")
    helpers.wait_exit(first)
    -- ~12 MB into one partition: the embedded broker keeps about 5 MiB
    local big = {}
    for i = 1, 12000 do big[i] = { "k" .. i, string.rep("x", 1000) } end
    helpers.produce(bootstrap, "numbers", big)
    local second = helpers.spawn(run, dir .. "/second.log")
    pids[#pids + 1] = second
    local text = helpers.wait_until("the gap to be reported", 30000, function()
      local t = helpers.read_file(dir .. "/second.log")
      return t:find("were deleted before they were read", 1, true) and t
    end)
    local lost, from, to =
      text:match("numbers %[0%]: (%d+) record%(s%) at offsets (%d+)%.%.(%d+) were deleted")
    assert.are.equal("2", from)
    assert.are.equal(tonumber(lost), tonumber(to) - 2 + 1)
    -- every record is either processed or reported lost
    local out = helpers.wait_records(bootstrap, "tagged", 2 + 12000 - tonumber(lost), 60000)
    assert.are.equal(2 + 12000 - tonumber(lost), #out)
    helpers.kill(second, "TERM")
    helpers.wait_exit(second)
  end)
end)
