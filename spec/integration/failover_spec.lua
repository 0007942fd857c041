-- Two instances of a word count share 4 partitions on `streamhost broker`;
-- one is killed with SIGKILL mid-stream and its state directory deleted. The
-- survivor takes its partitions over, restores their stores from the
-- changelogs and the final counts equal a reference computed here.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "wcfail",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("lines", { key = "string", value = "string" })
     :flat_map_values(function(line)
       local words = {}
       for word in line:gmatch("%S+") do words[#words + 1] = word end
       return words
     end)
     :select_key(function(_, word) return word end)
     :group_by_key({ key = "string" })
     :count({ name = "counts" })
     :to_stream()
     :to("word-counts", { key = "string", value = "json" })
  end,
}
]]

-- Internal topics as wide as the input: `streamhost broker` cannot be asked
-- to create them and would make them 4 wide by chance only.
local TOPICS = { lines = 4, ["word-counts"] = 4, ["wcfail-counts-changelog"] = 4,
                 ["wcfail-counts-repartition"] = 4 }

local WORDS = { "kafka", "streams", "lua", "state", "store", "window", "join", "table" }

local function lines(from, to, reference)
  local records = {}
  for i = from, to do
    local words = {}
    for j = 0, i % 5 do
      local w = WORDS[(i * 7 + j * 3) % #WORDS + 1]
      words[#words + 1] = w
      reference[w] = (reference[w] or 0) + 1
    end
    records[#records + 1] = { "line" .. i, table.concat(words, " ") }
  end
  return records
end

local function latest(bootstrap)
  local counts = {}
  for _, r in ipairs(helpers.consume_all(bootstrap, "word-counts")) do
    counts[r.key] = tonumber(r.value)
  end
  return counts
end

local function same(a, b)
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

describe("two instances of a word count", function()
  local broker, dir, pids = nil, nil, {}

  setup(function()
    broker = helpers.start_broker(TOPICS)
    dir = helpers.tmpdir()
    helpers.write_file(dir .. "/app.lua", APP)
  end)

  teardown(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    broker.stop()
    os.execute("rm -rf " .. helpers.shell_quote(dir))
  end)

  local function run(name)
    local log = dir .. "/" .. name .. ".log"
    local pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                              broker.bootstrap .. " --state-dir " .. dir .. "/" .. name ..
                              " --http off", log)
    pids[#pids + 1] = pid
    return pid, log
  end

  it("survive the loss of one, state and all", function()
    local reference = {}
    local a = run("a")
    local _, log_b = run("b")
    helpers.wait_until("both instances to hold partitions", 40000, function()
      return helpers.read_file(dir .. "/a.log"):match("assigned [1-9]") and
             helpers.read_file(log_b):match("assigned [1-9]")
    end)
    helpers.produce(broker.bootstrap, "lines", lines(1, 200, reference))
    helpers.wait_until("the first counts", 40000, function()
      return same(latest(broker.bootstrap), reference)
    end)

    helpers.kill(a, "KILL")
    helpers.wait_exit(a)
    os.execute("rm -rf " .. helpers.shell_quote(dir .. "/a"))
    helpers.produce(broker.bootstrap, "lines", lines(201, 400, reference))
    helpers.wait_until("the final counts", 60000, function()
      return same(latest(broker.bootstrap), reference)
    end)
    local text = helpers.read_file(log_b)
    assert.matches("restored store counts partition %d: %d+ records", text)
    assert.is_nil(text:match("ERROR"))
  end)
end)
