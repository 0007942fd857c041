-- Table rows are there before the stream records that need them: at
-- assignment the table topics are read to their end before the other inputs
-- flow, and within a batch records meet in timestamp order. A stream record
-- finds the table rows stamped before it even when it was written first.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "ts-order",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local names = b:table("names", { key = "string", value = "string" })
    b:stream("visits", { key = "string", value = "string" })
     :join(names, function(visit, name) return visit .. " by " .. name end)
     :to("named-visits", { value = "string" })
  end,
}
]]

-- python3-confluent-kafka sets record timestamps, which kcat cannot
local PRODUCE = [[
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
for i in range(200):  # visits first in Kafka, but stamped later
    p.produce("visits", key="u%d" % (i % 20), value="visit%d" % i, timestamp=2000000 + i)
p.flush()
for i in range(20):
    p.produce("names", key="u%d" % i, value="name%d" % i, timestamp=1000000 + i)
p.flush()
]]

describe("inputs in timestamp order", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ names = 1, visits = 1, ["named-visits"] = 1 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("joins every stream record with the table rows stamped before it", function()
    local said = helpers.python(dir, PRODUCE, broker.bootstrap)
    assert.are.equal(200, #helpers.consume_all(broker.bootstrap, "visits"), said)
    helpers.write_file(dir .. "/app.lua", APP)
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. dir .. "/state --http off", log)
    local out = helpers.wait_records(broker.bootstrap, "named-visits", 200, 30000)
    assert.are.equal(200, #out)
    for _, r in ipairs(out) do
      local visit, name = r.value:match("^visit(%d+) by name(%d+)$")
      assert.is_truthy(visit, r.value)
      assert.are.equal(tonumber(visit) % 20, tonumber(name))
    end
  end)
end)
