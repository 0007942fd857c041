-- Internal topics against `streamhost broker` (runtime/kafka/topics.c): the
-- mock cluster has no CreateTopics and auto-creates an unknown topic with 4
-- partitions as soon as a client's metadata request names it. A repartition
-- topic of a one-partition app made that way sent three quarters of the
-- re-keyed records to tasks with no table partition, where the join found
-- nothing and dropped them without a word (bench workload 6 came out at 645
-- of 12,108). The host now asks the broker for the topics it needs with their
-- partition count, and refuses to run on one that exists with another.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "rekey-join",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local users = b:table("rj-users", { key = "string", value = "string" })
    b:stream("rj-clicks", { key = "string", value = "string" })
      :select_key(function(_, user) return user end)
      :join(users, function(user, name) return user .. "=" .. name end, { name = "by_user" })
      :to("rj-out", { value = "string" })
  end,
}
]]

local USERS, CLICKS = 40, 400

local function start(topics)
  local broker = helpers.start_broker(topics)
  local users, clicks = {}, {}
  for u = 1, USERS do users[#users + 1] = { "u" .. u, "name" .. u } end
  for c = 1, CLICKS do clicks[#clicks + 1] = { "c" .. c, "u" .. (c % USERS + 1) } end
  helpers.produce(broker.bootstrap, "rj-users", users)
  helpers.produce(broker.bootstrap, "rj-clicks", clicks)
  local dir = helpers.tmpdir()
  helpers.write_file(dir .. "/app.lua", APP)
  local log = dir .. "/run.log"
  local pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " .. broker.bootstrap ..
                            " --state-dir " .. dir .. "/state --http off", log)
  return broker, pid, log
end

local function partitions(bootstrap, topic)
  local p = io.popen("kcat -L -b " .. bootstrap .. " -t " .. topic .. " 2>&1")
  local said = p:read("*a")
  p:close()
  return tonumber(said:match("topic \"" .. topic:gsub("%-", "%%-") .. "\" with (%d+) partitions"))
end

describe("internal topics on streamhost broker", function()
  it("are created with the inputs' partition count, so every re-keyed record meets its table row", function()
    local broker, pid, log = start({ ["rj-users"] = 1, ["rj-clicks"] = 1, ["rj-out"] = 1 })
    finally(function()
      helpers.kill(pid)
      helpers.wait_exit(pid)
      broker.stop()
    end)
    local out = helpers.wait_records(broker.bootstrap, "rj-out", CLICKS, 60000)
    assert.equals(CLICKS, #out)
    assert.equals(1, partitions(broker.bootstrap, "rekey-join-by_user-repartition"))
    assert.truthy(helpers.read_file(log):find(
      "created topic rekey-join-by_user-repartition with 1 partition(s)", 1, true))
  end)

  it("stops the app with an error naming a repartition topic that has another partition count", function()
    local broker, pid, log = start({ ["rj-users"] = 1, ["rj-clicks"] = 1, ["rj-out"] = 1,
                                     ["rekey-join-by_user-repartition"] = 4 })
    finally(function()
      if helpers.alive(pid) then helpers.kill(pid) end
      helpers.wait_exit(pid)
      broker.stop()
    end)
    helpers.wait_until("the app to stop", 30000, function() return not helpers.alive(pid) end)
    local said = helpers.read_file(log)
    assert.truthy(said:find("internal topic rekey-join-by_user-repartition has 4 partition(s), " ..
                            "the app needs 1", 1, true), said)
    assert.equals(0, #helpers.consume_all(broker.bootstrap, "rj-out"))
  end)
end)
