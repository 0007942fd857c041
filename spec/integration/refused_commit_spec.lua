-- A partition that comes back to the thread that gave it up, after the
-- group refused that thread's commit, goes on where the thread left it
-- (runtime/kafka/resume.h). The mock cluster refuses every commit while its
-- group rebalances, so a second instance joining makes this happen every
-- time: the first instance's revocation commit is refused, and half its
-- partitions come back to it.
local helpers = require "spec.helpers"

local PER_PARTITION = 2500

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "refused-commit",
  threads = 1,
  -- no commit on a timer: only the revocation's, which the group refuses
  kafka = { ["auto.offset.reset"] = "earliest", ["auto.commit.interval.ms"] = "600000" },
  topology = function(b)
    b:stream("in", { key = "string", value = "string" }):to("out", { value = "string" })
  end,
}
]]

local PRODUCE = [[
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 20})
for part in range(4):
    for i in range(%d):
        p.produce("in", key=str(i), value="p%%d-%%d" %% (part, i), partition=part)
        if i %% 1000 == 0:
            p.poll(0)
p.flush()
]]

local function committed(dir, bootstrap)
  return helpers.committed(dir, bootstrap, "refused-commit", "in", 4)
end

local function start(dir, name, bootstrap)
  local log = dir .. "/" .. name .. ".log"
  local pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " .. bootstrap ..
                            " --state-dir " .. dir .. "/" .. name .. " --http off", log)
  return pid, log
end

describe("a partition back after a refused commit", function()
  local broker, first, second

  after_each(function()
    for _, pid in ipairs({ first, second }) do
      if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    first, second = nil, nil
    if broker then broker.stop() end
    broker = nil
  end)

  it("goes on where its thread left it: no record lost, none processed twice", function()
    broker = helpers.start_broker({ ["in"] = 4, out = 4 })
    local dir = helpers.tmpdir()
    helpers.python(dir, PRODUCE:format(PER_PARTITION), broker.bootstrap)
    helpers.write_file(dir .. "/app.lua", APP)
    local first_log
    first, first_log = start(dir, "first", broker.bootstrap)
    helpers.wait_records(broker.bootstrap, "out", 4 * PER_PARTITION, 60000)
    for part = 0, 3 do -- nothing committed yet: every position is only stored
      assert.is_true((committed(dir, broker.bootstrap)[part] or -1) < 0)
    end

    second = start(dir, "second", broker.bootstrap)
    local resumed = helpers.wait_until("the first instance to resume partitions", 60000, function()
      return helpers.read_file(first_log):match("resuming %d+ partition%(s%)[^\n]*: ([^\n]*)")
    end)
    assert.matches("commit before revocation failed", helpers.read_file(first_log), 1, true)
    local kept = {}
    for part, offset in resumed:gmatch("in%[(%d+)%]@(%d+)") do
      assert.are.equal(PER_PARTITION, tonumber(offset))
      kept[tonumber(part)] = true
    end
    local kept_count = 0
    for _ in pairs(kept) do kept_count = kept_count + 1 end
    assert.are.equal(2, kept_count) -- range assignment: two partitions each

    -- the second instance reads its two from the start (nothing was
    -- committed: at-least-once); the first reads nothing again
    local out = helpers.wait_records(broker.bootstrap, "out", 6 * PER_PARTITION, 60000)
    local per_input = {}
    for _, r in ipairs(out) do
      local part = tonumber(r.value:match("^p(%d)%-"))
      per_input[part] = (per_input[part] or 0) + 1
    end
    for part = 0, 3 do
      assert.are.equal(kept[part] and PER_PARTITION or 2 * PER_PARTITION, per_input[part],
                       "outputs of input partition " .. part)
    end

    -- the resumed positions were stored again: a clean stop commits them
    helpers.kill(first, "TERM")
    helpers.wait_exit(first)
    local now = committed(dir, broker.bootstrap)
    for part in pairs(kept) do assert.are.equal(PER_PARTITION, now[part]) end
    assert.are.equal(0, helpers.count_matches(helpers.read_file(first_log), "ERROR"))
  end)
end)
