-- Scripts that never return cannot wedge the host (issue 13): a new version
-- that hangs, raises or allocates without end is refused by its trial on
-- recent records while the running one goes on; a batch that runs past
-- max.batch.ms ends the process with status 3, naming the version; a stop
-- asked for while Lua runs is honoured within about a second.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "stuck-spec",
  on_error = "fail",
  ["max.batch.ms"] = %d,
  -- a small budget, so the version allocating without end reaches it long
  -- before the trial's 5 s (1 GB, the default, took longer on a busy machine)
  ["memory.limit"] = "64MB",
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

local function app_with(body, label, max_batch_ms)
  return APP:format(max_batch_ms or 30000, body, label)
end

describe("a script that never returns", function()
  local broker, dir, pid

  before_each(function()
    broker = helpers.start_broker({ numbers = 1, tagged = 1 })
    dir = helpers.tmpdir()
  end)

  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    -- only the binary's own processes under this test's directory
    os.execute("pkill -KILL -f " .. helpers.shell_quote("^" .. helpers.bin .. " run " .. dir) ..
               " 2>/dev/null")
    broker.stop()
  end)

  it("is refused by the trial of a reload; the running version goes on", function()
    local app = dir .. "/app.lua"
    local log = dir .. "/run.log"
    helpers.write_file(app, app_with("", "v1"))
    helpers.produce(broker.bootstrap, "numbers", { { "a", "1" }, { "b", "2" } })
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http off", log)
    helpers.wait_records(broker.bootstrap, "tagged", 2, 30000)
    local bad = {
      { "while true do end", "ran past its time budget" },
      { "error('boom in the new version')", "boom in the new version" },
      { "local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end",
        "needed more than its memory budget" },
    }
    for i, case in ipairs(bad) do
      local before = helpers.count_matches(helpers.read_file(log), "reload failed: ")
      helpers.write_file(app, app_with(case[1], "bad" .. i))
      local text = helpers.wait_until("refusal " .. i, 60000, function()
        local t = helpers.read_file(log)
        return helpers.count_matches(t, "reload failed: ") > before and t
      end)
      assert.matches(case[2], text, 1, true)
      assert.matches("keeping version 1", text, 1, true)
      assert.is_true(helpers.alive(pid))
    end
    -- still version 1, and still processing
    helpers.produce(broker.bootstrap, "numbers", { { "c", "3" } })
    local out = helpers.wait_records(broker.bootstrap, "tagged", 3, 30000)
    assert.are.equal("3|v1", out[3].value)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)

  it("past max.batch.ms ends the process with status 3, naming the version", function()
    local app = dir .. "/app.lua"
    local log = dir .. "/run.log"
    local status = dir .. "/status"
    -- hangs on the second record only, so no trial of a reload is involved
    helpers.write_file(app, app_with("if v == '2' then while true do end end", "v1", 1500))
    pid = helpers.spawn_with_status(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                            " --state-dir " .. dir .. "/state --http off", log, status)
    helpers.produce(broker.bootstrap, "numbers", { { "a", "1" }, { "b", "2" } })
    helpers.wait_until("the watchdog's exit", 30000, function() return helpers.exit_status(status) end)
    assert.are.equal(3, helpers.exit_status(status))
    local text = helpers.read_file(log)
    assert.matches("a batch of stuck%-spec version 1 has run for %d+ ms, past max%.batch%.ms %(1500%)",
                   text)
  end)

  it("honours SIGTERM within about a second while Lua runs", function()
    local app = dir .. "/app.lua"
    local log = dir .. "/run.log"
    local status = dir .. "/status"
    helpers.write_file(app, app_with("if v == '2' then while true do end end", "v1", 600000))
    pid = helpers.spawn_with_status(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                            " --state-dir " .. dir .. "/state --http off", log, status)
    helpers.produce(broker.bootstrap, "numbers", { { "a", "1" }, { "b", "2" } })
    helpers.wait_records(broker.bootstrap, "tagged", 1, 30000)
    -- the binary itself, not the shell that waits for its status
    local ps = io.popen("pgrep -f " .. helpers.shell_quote("^" .. helpers.bin .. " run " .. app))
    local child = ps:read("*l")
    ps:close()
    assert.is_truthy(child)
    os.execute("kill -TERM " .. child)
    -- the watchdog's grace is one second; its tick and the traceback wait add
    -- at most another: bounded, not a fixed sleep
    helpers.wait_until("the exit after SIGTERM", 5000, function() return helpers.exit_status(status) end)
    assert.are.equal(3, helpers.exit_status(status))
    assert.matches("a stop was asked for, but a batch of stuck-spec version 1", helpers.read_file(log),
                   1, true)
  end)
  it("keeps a VM within memory.limit: the record that needs more fails under on_error", function()
    local app = dir .. "/app.lua"
    local log = dir .. "/run.log"
    helpers.write_file(app, [[
local sh = require "streamhost"
return sh.app {
  id = "memory-spec",
  on_error = "skip",
  ["memory.limit"] = "64MB",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("numbers", { key = "string", value = "string" })
     :map_values(function(v)
       if v == "hog" then
         local t = {}
         for i = 1, 1e8 do t[i] = string.rep("x", 100) .. i end
       end
       return v .. "|ok"
     end)
     :to("tagged", { value = "string" })
  end,
}
]])
    helpers.produce(broker.bootstrap, "numbers", { { "a", "1" }, { "b", "hog" }, { "c", "3" } })
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http off", log)
    local out = helpers.wait_records(broker.bootstrap, "tagged", 2, 60000)
    assert.are.equal("1|ok", out[1].value)
    assert.are.equal("3|ok", out[2].value)
    local text = helpers.read_file(log)
    assert.matches("skipped record numbers [0] @ 1", text, 1, true)
    assert.matches("not enough memory", text, 1, true)
    assert.is_true(helpers.alive(pid))
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
end)
