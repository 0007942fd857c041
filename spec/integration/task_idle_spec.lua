-- Steady-state order across a task's inputs: Kafka Streams' max.task.idle.ms
-- rule (KIP-695). A task (one partition number across the inputs) runs its
-- records in timestamp order only while every input partition has records
-- buffered, or is known to be at its end for max.task.idle.ms; the C side is
-- runtime/kafka/task_queue_test.c (PartitionGroupTest's idling cases).
local helpers = require "spec.helpers"

local function run(dir, app, bootstrap, log_name, extra)
  helpers.write_file(dir .. "/app.lua", app)
  local log = dir .. "/" .. (log_name or "run.log")
  local pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " .. bootstrap ..
                            " --state-dir " .. dir .. "/state --http off " .. (extra or ""), log)
  return pid, log
end

-- Kafka Streams' TaskIdlingIntegrationTest.shouldInnerJoinMultiPartitionQueryable:
-- three streams, written one after another but stamped interleaved, merged;
-- every record leaves in timestamp order. Here with two partitions each and
-- two stream threads, so each thread runs a task of three partitions.
local MERGE_APP = [[
local sh = require "streamhost"
return sh.app {
  id = "task-idle-merge",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local function read(topic) return b:stream(topic, { key = "string", value = "string" }) end
    read("stream-1"):merge(read("stream-2")):merge(read("stream-3"))
      :map(function(_, value, rec) return "task" .. rec.partition, rec.topic .. " " .. value end)
      :to("stream-4", { key = "string", value = "string" })
  end,
}
]]

local MERGE_PRODUCE = [[
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 50})
for topic in ("stream-1", "stream-2", "stream-3"):  # one topic after another
    for i in range(10000):
        for part in (0, 1):
            p.produce(topic, key=str(i), value=str(i), partition=part,
                      timestamp=1700000000000 + 3 * i + int(topic[-1]))
        p.poll(0)
    p.flush()
]]

-- KIP-695's motivating case, a stream-table join whose table lags: a
-- stream record finds the table row stamped just before it even when the
-- table's rows reach the broker after the stream's (produced late), as long
-- as they come within max.task.idle.ms.
local JOIN_APP = [[
local sh = require "streamhost"
return sh.app {
  id = "task-idle-join",
  threads = 2,
  ["max.task.idle.ms"] = "20s",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local names = b:table("names", { key = "string", value = "string" })
    b:stream("visits", { key = "string", value = "string" })
     :join(names, function(visit, name) return visit .. " by " .. name end)
     :to("named-visits", { value = "string" })
  end,
}
]]

local PRODUCER = [[
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1], "linger.ms": 50})
N, KEYS, BASE = 20000, 2000, 1700000000000
]]
local VISITS = [[
for i in range(N):  # the stream first...
    p.produce("visits", key="u%d" % (i % KEYS), value="visit%d" % i, timestamp=BASE + 2 * i + 1)
    p.poll(0)
p.flush()
]]
local NAMES = [[
for i in range(N):  # ...then each key's row, stamped just before its visit
    p.produce("names", key="u%d" % (i % KEYS), value="name%d" % i, timestamp=BASE + 2 * i)
    p.poll(0)
p.flush()
]]
local JOIN_PRODUCE = PRODUCER .. VISITS .. NAMES

-- Both threads past their tables' bootstrap in the group's current
-- generation: two "tables caught up" after the last revocation. Counting
-- them over the whole log is not enough: while the second thread joins, the
-- first can be assigned everything and catch up more than once, and the
-- rebalance that follows reads the tables to their end again.
local function both_threads_steady(log)
  local text = helpers.read_file(log)
  local last = 0
  for at in text:gmatch("()revoking %d+ partition") do last = at end
  return helpers.count_matches(text:sub(last), "tables caught up") >= 2
end

describe("max.task.idle.ms", function()
  local broker, pid

  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    pid = nil
    if broker then broker.stop() end
    broker = nil
  end)

  it("merges three streams written one after another in timestamp order (threads = 2)", function()
    broker = helpers.start_broker({ ["stream-1"] = 2, ["stream-2"] = 2, ["stream-3"] = 2,
                                    ["stream-4"] = 2 })
    local dir = helpers.tmpdir()
    helpers.python(dir, MERGE_PRODUCE, broker.bootstrap)
    local log
    pid, log = run(dir, MERGE_APP, broker.bootstrap)
    local out = helpers.wait_records(broker.bootstrap, "stream-4", 60000, 120000)
    assert.are.equal(60000, #out)
    local last, seen = {}, {}
    for _, r in ipairs(out) do
      local topic, i = r.value:match("^stream%-(%d) (%d+)$")
      assert.is_truthy(topic, r.value)
      local ts = 3 * tonumber(i) + tonumber(topic)
      -- one key per task: its records in the order the task ran them
      assert.is_true(ts > (last[r.key] or -1),
                     r.key .. ": " .. r.value .. " after timestamp " .. tostring(last[r.key]))
      last[r.key] = ts
      seen[r.key] = (seen[r.key] or 0) + 1
    end
    assert.are.same({ task0 = 30000, task1 = 30000 }, seen)
    assert.are.equal(0, helpers.count_matches(helpers.read_file(log), "ERROR"))
  end)

  it("holds a stream's records for a table produced late (threads = 2)", function()
    broker = helpers.start_broker({ names = 4, visits = 4, ["named-visits"] = 4 })
    local dir = helpers.tmpdir()
    local log
    pid, log = run(dir, JOIN_APP, broker.bootstrap)
    -- steady state: past each thread's bootstrap, which reads tables to
    -- their end before the stream (a table written meanwhile would be read
    -- whole first, by that rule, not this one)
    helpers.wait_until("both threads past the tables' bootstrap", 30000, function()
      return both_threads_steady(log)
    end)
    helpers.python(dir, JOIN_PRODUCE, broker.bootstrap)
    local out = helpers.wait_records(broker.bootstrap, "named-visits", 20000, 120000)
    assert.are.equal(20000, #out)
    for _, r in ipairs(out) do
      local visit, name = r.value:match("^visit(%d+) by name(%d+)$")
      assert.is_truthy(visit, r.value)
      assert.are.equal(visit, name, "the row stamped just before the visit: " .. r.value)
    end
    assert.are.equal(0, helpers.count_matches(helpers.read_file(log), "ERROR"))
  end)

  it("commits nothing past the records it holds: a SIGKILL while they wait loses none", function()
    broker = helpers.start_broker({ names = 4, visits = 4, ["named-visits"] = 4 })
    local dir = helpers.tmpdir()
    local log
    pid, log = run(dir, JOIN_APP, broker.bootstrap, "first.log", "--log-level debug")
    helpers.wait_until("both threads past the tables' bootstrap", 30000, function()
      return both_threads_steady(log)
    end)
    helpers.python(dir, PRODUCER .. VISITS, broker.bootstrap)
    helpers.wait_until("visits held for their names", 15000, function()
      return helpers.read_file(log):find("holding %d+ record") ~= nil
    end)
    local committed = 0
    for _, offset in pairs(helpers.committed(dir, broker.bootstrap, "task-idle-join", "visits", 4)) do
      committed = committed + math.max(offset, 0)
    end
    assert.are.equal(0, committed)
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)
    assert.are.equal(0, #helpers.consume_all(broker.bootstrap, "named-visits"))

    pid, log = run(dir, JOIN_APP, broker.bootstrap, "second.log")
    helpers.wait_until("the restarted threads past the tables' bootstrap", 60000, function()
      return both_threads_steady(log)
    end)
    helpers.python(dir, PRODUCER .. NAMES, broker.bootstrap)
    local out = helpers.wait_records(broker.bootstrap, "named-visits", 20000, 120000)
    assert.are.equal(20000, #out)
    for _, r in ipairs(out) do
      local visit, name = r.value:match("^visit(%d+) by name(%d+)$")
      assert.are.equal(visit, name, r.value)
    end
  end)
end)
