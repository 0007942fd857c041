-- examples/clickstream against a real `streamhost broker`, with kcat as the
-- outside producer and consumer.
local helpers = require "spec.helpers"
local cjson = require "cjson"

describe("examples/clickstream on streamhost broker", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ clickstream = 3, clicks = 3 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("keeps the clicks, reshaped, one output per clicked input", function()
    local input, expected = {}, {}
    local actions = { "clicked", "viewed", "clicked", "scrolled" }
    for i = 1, 40 do
      local user = "u" .. (i % 7)
      local action = actions[i % 4 + 1]
      local value = string.format('{"action":"%s","user":"%s","page":"/p%d"}', action, user, i)
      input[#input + 1] = { user, value }
      if action == "clicked" then expected["/p" .. i] = user end
    end
    helpers.produce(broker.bootstrap, "clickstream", input)

    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run examples/clickstream/app.lua --bootstrap " ..
                        broker.bootstrap, log)
    local want = 0
    for _ in pairs(expected) do want = want + 1 end
    assert.are.equal(20, want)
    local out = helpers.wait_records(broker.bootstrap, "clicks", want, 30000)

    local seen = {}
    for _, r in ipairs(out) do
      local v = cjson.decode(r.value)
      assert.is_string(v.page)
      assert.are.equal(expected[v.page], r.key, "key of " .. v.page)
      assert.are.equal(expected[v.page], v.user)
      -- ts carries the input record's timestamp, which is the output's too
      assert.are.equal(r.timestamp, v.ts)
      assert.is_nil(v.action)
      assert.is_nil(seen[v.page], "duplicate output for " .. v.page)
      seen[v.page] = true
    end
    for page in pairs(expected) do assert.is_true(seen[page], "missing " .. page) end

    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    local text = helpers.read_file(log)
    assert.matches("stopped after 40 records in, 20 out", text, 1, true)
    assert.is_nil(text:match("ERROR"), text)
  end)
end)
