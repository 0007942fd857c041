-- threads = 2: two stream threads in one process, each with its own
-- consumer and Lua VM, share the partitions; pull queries see the stores of
-- both, and every input is counted once.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "threads-spec",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("events", { key = "string", value = "string" })
     :group_by_key()
     :count({ name = "per_key" })
     :to_stream()
     :to("per-key-counts", { value = "long" })
  end,
}
]]

describe("threads = 2", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ events = 4, ["per-key-counts"] = 4,
                                    ["threads-spec-per_key-changelog"] = 4 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("splits the partitions between two threads and counts every record once", function()
    local app = dir .. "/app.lua"
    helpers.write_file(app, APP)
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http 127.0.0.1:0", log)
    -- both consumers of the group get partitions before the input comes
    helpers.wait_until("both threads to be assigned partitions", 30000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      local text = helpers.read_file(log)
      return helpers.count_matches(text, "assigned [12] partition") >= 2
    end)
    local reference, input = {}, {}
    for i = 1, 400 do
      local key = "k" .. (i * 7) % 23
      reference[key] = (reference[key] or 0) + 1
      input[#input + 1] = { key, "v" .. i }
    end
    helpers.produce(broker.bootstrap, "events", input)
    local port = helpers.wait_until("the HTTP port", 20000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    local function count(key)
      local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/stores/per_key/" .. key)
      local ok, doc = pcall(cjson.decode, p:read("*a"))
      p:close()
      return ok and type(doc) == "table" and doc.value or nil
    end
    helpers.wait_until("every count to match", 60000, function()
      for key, n in pairs(reference) do
        if count(key) ~= n then return false end
      end
      return true
    end)
    assert.matches("2 stream threads", helpers.read_file(log), 1, true)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    local text = helpers.read_file(log)
    assert.are.equal(1, helpers.count_matches(text, "stopped after"))
    -- every thread commits before any leaves the group (issue 7, defect 4)
    assert.is_nil(text:find("cannot commit", 1, true), text)
    assert.is_nil(text:match("ERROR"), text)
  end)
end)
