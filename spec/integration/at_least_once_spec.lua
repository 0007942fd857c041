-- on_error = "fail" in the real host: it stops at the bad record, commits
-- nothing past it, and a fixed version picks up exactly there.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "fail-spec",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("in", { key = "string", value = "json" })
     :map_values(function(v)
       if v.n == 13 and %s then error("thirteen is unlucky") end
       return { n = v.n }
     end)
     :to("out", { value = "json" })
  end,
}
]]

describe("on_error = fail under streamhost run", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ ["in"] = 1, out = 1 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("stops at the failing record and resumes from it after a fix", function()
    local input = {}
    for n = 1, 30 do input[n] = { "k", '{"n":' .. n .. "}" } end
    helpers.produce(broker.bootstrap, "in", input)

    local app = dir .. "/app.lua"
    helpers.write_file(app, APP:format("true"))
    local log1 = dir .. "/run1.log"
    pid = helpers.spawn("{ " .. helpers.bin .. " run " .. app .. " --bootstrap " ..
                        broker.bootstrap .. "; echo exit=$?; }", log1)
    helpers.wait_until("the app to stop", 30000, function()
      return helpers.read_file(log1):match("exit=(%d+)")
    end)
    local text = helpers.read_file(log1)
    assert.matches("exit=1", text, 1, true)
    assert.matches("record in [0] @ 12 failed (on_error = fail):", text, 1, true)
    assert.matches("thirteen is unlucky", text, 1, true)
    assert.matches("stack traceback:", text, 1, true)
    assert.are.equal(12, #helpers.consume_all(broker.bootstrap, "out"))

    helpers.write_file(app, APP:format("false"))
    local log2 = dir .. "/run2.log"
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap, log2)
    helpers.wait_records(broker.bootstrap, "out", 30, 30000)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    -- nothing lost, and since offsets were committed up to record 12, nothing repeated
    local out = helpers.consume_all(broker.bootstrap, "out")
    assert.are.equal(30, #out)
    for i, r in ipairs(out) do assert.are.equal('{"n":' .. i .. "}", r.value) end
    assert.matches("stopped after 18 records in, 18 out", helpers.read_file(log2), 1, true)
  end)
end)
