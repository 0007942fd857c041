-- The stream loop against a real broker, for what only shows at size or
-- with several threads (issue 7): a batch's headers are never dropped
-- however many its records carry, and stopping with threads = 2 commits
-- every thread's offsets before any thread leaves the group.
local helpers = require "spec.helpers"

local function end_offsets(bootstrap, topic)
  local ends = {}
  for _, r in ipairs(helpers.consume_all(bootstrap, topic)) do
    ends[r.partition] = math.max(ends[r.partition] or 0, r.offset + 1)
  end
  return ends
end

describe("the stream loop", function()
  local broker, dir, pid

  before_each(function()
    dir = helpers.tmpdir()
  end)

  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    if broker then broker.stop() end
    broker, pid = nil, nil
  end)

  it("passes every header of a batch of 4,096 records on, past any fixed pool", function()
    broker = helpers.start_broker({ tagged = 1, ["header-counts"] = 1 })
    -- 8 headers a record: a full batch carries 32,768, twice the old pool
    local headers = {}
    for i = 1, 8 do headers[#headers + 1] = "-H h" .. i .. "=v" .. i end
    local total = 10000
    local p = io.popen("kcat -P -b " .. broker.bootstrap .. " -t tagged -K '|' -z none " ..
                       table.concat(headers, " "), "w")
    for i = 1, total do p:write("k", i, "|", i, "\n") end
    assert(p:close())
    local app = dir .. "/app.lua"
    helpers.write_file(app, [[
local sh = require "streamhost"
return sh.app {
  id = "headers-spec",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("tagged", { key = "string", value = "string" })
     :map_values(function(v, _, rec)
       local names = {}
       for _, h in ipairs(rec.headers) do names[#names + 1] = h.key or h.name end
       return v .. "|" .. #rec.headers .. "|" .. table.concat(names, ",")
     end)
     :to("header-counts", { key = "string", value = "string" })
  end,
}
]])
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http off --log-level debug", log)
    local out = helpers.wait_records(broker.bootstrap, "header-counts", total, 60000)
    assert.are.equal(total, #out)
    local short = 0
    for _, r in ipairs(out) do
      local count = tonumber(r.value:match("^%d+|(%d+)|"))
      if count ~= 8 then short = short + 1 end
    end
    assert.are.equal(0, short, "records whose headers were dropped")
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    -- the batches really were bigger than the old pool's 4,096 records / 4
    local text = helpers.read_file(log)
    local per_batch = tonumber(text:match("batches, ([%d.]+) records per batch"))
    assert.is_true(per_batch and per_batch > 2048, text)
  end)

  it("runs a wall-clock timer on time while no records come, not once per idle poll", function()
    broker = helpers.start_broker({ idle = 1, ticks = 1 })
    local app = dir .. "/app.lua"
    helpers.write_file(app, [[
local sh = require "streamhost"
return sh.app {
  id = "timer-spec",
  topology = function(b)
    b:stream("idle", { key = "string", value = "string" })
     :to("ticks", { key = "string", value = "string" })
    b:every("10ms", function(now) return { { "t", string.format("%d", now) } } end)
     :to("ticks", { key = "string", value = "string" })
  end,
}
]])
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http off", dir .. "/run.log")
    local out = helpers.wait_records(broker.bootstrap, "ticks", 60, 60000)
    local gaps = {}
    for i = 2, #out do gaps[#gaps + 1] = tonumber(out[i].value) - tonumber(out[i - 1].value) end
    table.sort(gaps)
    -- an idle poll waits 100 ms: a timer that waited for it would show that
    local median = gaps[math.floor(#gaps / 2)]
    assert.is_true(median < 50, "median gap " .. median .. " ms between 10 ms ticks")
  end)

  it("commits every thread's offsets before any thread leaves the group (threads = 2)", function()
    broker = helpers.start_broker({ events = 4, ["per-key-counts"] = 4,
                                    ["stop-spec-per_key-changelog"] = 4 })
    local app = dir .. "/app.lua"
    helpers.write_file(app, [[
local sh = require "streamhost"
return sh.app {
  id = "stop-spec",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest", ["auto.commit.interval.ms"] = "60000" },
  topology = function(b)
    b:stream("events", { key = "string", value = "string" })
     :group_by_key()
     :count({ name = "per_key" })
     :to_stream()
     :to("per-key-counts", { value = "long" })
  end,
}
]])
    local input = {}
    for i = 1, 20000 do input[#input + 1] = { "k" .. i % 101, "v" .. i } end
    helpers.produce(broker.bootstrap, "events", input)
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/state --http off", log)
    helpers.wait_records(broker.bootstrap, "per-key-counts", 20000, 60000)
    -- auto-commit waits a minute here: only the stop's own commits count
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
    local text = helpers.read_file(log)
    assert.matches("2 stream threads", text, 1, true)
    local ends = end_offsets(broker.bootstrap, "events")
    local got = helpers.committed(dir, broker.bootstrap, "stop-spec", "events", 4)
    for partition = 0, 3 do
      assert.are.equal(ends[partition], got[partition],
                       "partition " .. partition .. " committed short of its end\n" .. text)
    end
  end)
end)
