-- emit = "final" under `streamhost run`, threads = 2, four partitions, 200
-- keys: each window closed by its partition's stream time is sent once,
-- with the sum its records make, a key's windows in order; results still
-- waiting at a stop come out after a restart into an empty state dir (the
-- buffer restored from its changelog), and after a reload. Records carry
-- event timestamps 20 ms apart (python3-confluent-kafka sets them; kcat
-- cannot), so windows close throughout each run; expected results are
-- worked out from the input topic as read back with kcat.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "emit-final-spec",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("amounts", { key = "string", value = "string" })
     :group_by_key()
     :window(sh.hopping { size = "10s", advance = "5s", grace = "2s" })
     :sum(function(v) return tonumber(v) end, { name = "per_window", emit = "final" })
     :to_stream()
     :map_values(function(v, _, rec) return rec.window.start .. ":" .. v end)
     :to("finals", { key = "string", value = "string" })
  end,
}
]]

local PRODUCE = [[
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
for i in range(int(sys.argv[2]), int(sys.argv[3]) + 1):
    p.produce("amounts", key="k%d" % ((i * 7) % 200), value=str(i % 13),
              timestamp=1700000000000 + 20 * i)
p.flush()
]]

local SIZE, ADVANCE, GRACE = 10000, 5000, 2000

-- "key@start" -> sum, for the windows closed by their partition's stream time
local function expected(records)
  local st, sums = {}, {}
  for _, r in ipairs(records) do
    if not st[r.partition] or r.timestamp > st[r.partition] then st[r.partition] = r.timestamp end
  end
  for _, r in ipairs(records) do
    local first = r.timestamp - SIZE + ADVANCE
    first = first - first % ADVANCE
    for start = first, r.timestamp, ADVANCE do
      if start + SIZE + GRACE <= st[r.partition] then
        local id = r.key .. "@" .. start
        sums[id] = (sums[id] or 0) + tonumber(r.value)
      end
    end
  end
  return sums
end

describe("emit = final, threads = 2", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ amounts = 4, finals = 4,
                                    ["emit-final-spec-per_window-changelog"] = 4,
                                    ["emit-final-spec-per_window-final-changelog"] = 4 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  local function start(state, log)
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. state .. " --http off", log)
    helpers.wait_until("both threads to be assigned partitions", 30000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.count_matches(helpers.read_file(log), "assigned [12] partition") >= 2
    end)
  end

  local function produce(from, to)
    helpers.python(dir, PRODUCE, broker.bootstrap, from, to)
  end

  -- Waits for every closed window's result; then checks there is no other,
  -- none twice, and each key's in order of window start.
  local function check(total, log)
    local want = expected(helpers.wait_records(broker.bootstrap, "amounts", total))
    local n = 0
    for _ in pairs(want) do n = n + 1 end
    local out = helpers.wait_until(n .. " results", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      local got = helpers.consume_all(broker.bootstrap, "finals")
      return #got >= n and got
    end)
    local seen, last = {}, {}
    for _, r in ipairs(out) do
      local from, sum = r.value:match("^(%d+):(%d+)$")
      from, sum = tonumber(from), tonumber(sum)
      local id = r.key .. "@" .. from
      assert.is_nil(seen[id], "sent twice: " .. id)
      seen[id] = true
      assert.are.equal(want[id], sum, id)
      assert.is_true(from > (last[r.key] or -1), "out of order: " .. id)
      last[r.key] = from
    end
    assert.are.equal(n, #out)
    return n
  end

  it("sends each closed window once, across a restart into an empty state dir and a reload",
     function()
    helpers.write_file(dir .. "/app.lua", APP)
    local log = dir .. "/run.log"
    start(dir .. "/state", log)
    produce(1, 2000)
    local first = check(2000, log)
    assert.is_true(first > 500, first .. " results")
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    assert.is_nil(helpers.read_file(log):match("ERROR"))

    -- an empty state dir: the windows and the results waiting restored
    -- from their changelogs
    local log2 = dir .. "/run2.log"
    start(dir .. "/state2", log2)
    produce(2001, 4000)
    check(4000, log2)
    -- a new version of the app: what waits is sent by the new one
    helpers.write_file(dir .. "/app.lua", APP .. "-- edited\n")
    local text = helpers.wait_until("the reload", 20000, function()
      local t = helpers.read_file(log2)
      return t:find("reloaded ", 1, true) and t
    end)
    assert.matches("reloaded .- as version 2 in [%d.]+ ms %(2 stream threads%)", text)
    produce(4001, 6000)
    check(6000, log2)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    text = helpers.read_file(log2)
    assert.is_nil(text:match("ERROR"))
    assert.matches("restored store per_window%-final partition %d: %d+ records", text)
  end)
end)
