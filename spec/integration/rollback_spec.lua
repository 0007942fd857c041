-- Automatic rollback (issue 13): the last version that ran cleanly is kept
-- in the state directory; a restart after a watchdog exit on a newer
-- version starts from it and says so loudly, unless --no-rollback.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "rollback-spec",
  ["max.batch.ms"] = 1500,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("numbers", { key = "string", value = "string" })
     :map_values(function(v)
       %s
       return v .. "|%s"
     end)
     :to("tagged", { value = "string" })
  end,
}
]]

describe("rollback", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ numbers = 1, tagged = 1 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("restarts a version that hung from the last one that ran cleanly", function()
    local app, state = dir .. "/app.lua", dir .. "/state"
    local run = helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                " --state-dir " .. state .. " --http off"
    helpers.write_file(app, APP:format("", "good"))
    helpers.produce(broker.bootstrap, "numbers", { { "a", "1" } })
    local log = dir .. "/first.log"
    pid = helpers.spawn(run, log)
    -- a version is kept once it has run cleanly for 10 s
    helpers.wait_until("the version to be kept", 30000, function()
      return helpers.read_file(log):find("ran cleanly: kept", 1, true)
    end)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)

    -- a newer version hangs on record "2": the watchdog ends it (status 3)
    helpers.write_file(app, APP:format("if v == '2' then while true do end end", "bad"))
    local status = dir .. "/status"
    pid = helpers.spawn_with_status(run, dir .. "/second.log", status)
    helpers.produce(broker.bootstrap, "numbers", { { "b", "2" } })
    helpers.wait_until("the watchdog's exit", 30000, function() return helpers.exit_status(status) end)
    assert.are.equal(3, helpers.exit_status(status))

    -- the restart (a supervisor's) rolls back, loudly, and gets past record "2"
    log = dir .. "/third.log"
    pid = helpers.spawn(run, log)
    local out = helpers.wait_records(broker.bootstrap, "tagged", 2, 30000)
    assert.are.equal("2|good", out[2].value)
    assert.matches("ROLLBACK: " .. app:gsub("%p", "%%%0") ..
                   ": the watchdog ended the last run of this version", helpers.read_file(log))
    -- fixing the app file reloads it over the rolled-back copy
    helpers.write_file(app, APP:format("", "fixed"))
    helpers.wait_until("the fix to load", 30000, function()
      return helpers.read_file(log):find("reloaded " .. app, 1, true)
    end)
    helpers.produce(broker.bootstrap, "numbers", { { "c", "3" } })
    out = helpers.wait_records(broker.bootstrap, "tagged", 3, 30000)
    assert.are.equal("3|fixed", out[3].value)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
end)
