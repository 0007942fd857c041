-- examples/wordcount on streamhost broker with 4 partitions and two
-- instances. One is killed with SIGKILL mid-stream and its state deleted;
-- the survivor takes its tasks over, restores their stores from the
-- changelogs, and the final counts equal a reference counted here.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local WORDS = { "kafka", "streams", "lua", "state", "join", "window", "table", "topic" }

local function instance(broker, dir, name)
  local log = dir .. "/" .. name .. ".log"
  local pid = helpers.spawn(helpers.bin .. " run examples/wordcount/app.lua --bootstrap " ..
                            broker.bootstrap .. " --state-dir " .. dir .. "/" .. name ..
                            " --http 127.0.0.1:0", log)
  return { pid = pid, log = log, dir = dir .. "/" .. name }
end

local function http_port(inst)
  return helpers.wait_until("the HTTP port of " .. inst.log, 20000, function()
    return helpers.read_file(inst.log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
  end)
end

local function count_of(port, word)
  local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/stores/counts/" .. word)
  local body = p:read("*a")
  p:close()
  local ok, doc = pcall(cjson.decode, body)
  return ok and type(doc) == "table" and doc.value or nil
end

describe("wordcount with two instances and a failover", function()
  local broker, dir, a, b

  setup(function()
    broker = helpers.start_broker({ ["word-count-input"] = 4, ["word-count-output"] = 4,
                                    ["wordcount-counts-repartition"] = 4,
                                    ["wordcount-counts-changelog"] = 4 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    for _, i in ipairs({ a, b }) do
      if i and helpers.alive(i.pid) then helpers.kill(i.pid, "KILL") end
    end
    broker.stop()
  end)

  it("ends with the reference counts after one instance is killed", function()
    local reference = {}
    local function lines(from, to)
      local list = {}
      for i = from, to do
        local words = {}
        for j = 1, 1 + i % 4 do
          local w = WORDS[(i * 7 + j * 3) % #WORDS + 1]
          words[#words + 1] = w
          reference[w] = (reference[w] or 0) + 1
        end
        list[#list + 1] = { "line" .. i, table.concat(words, " ") }
      end
      return list
    end

    a = instance(broker, dir, "a")
    b = instance(broker, dir, "b")
    for _, i in ipairs({ a, b }) do
      helpers.wait_until("both instances to get partitions", 30000, function()
        assert(helpers.alive(i.pid), helpers.read_file(i.log))
        return helpers.read_file(i.log):find("assigned", 1, true)
      end)
    end

    helpers.produce(broker.bootstrap, "word-count-input", lines(1, 400))
    -- mid-stream: both have been counting
    helpers.wait_until("both instances to process records", 30000, function()
      return #helpers.consume_all(broker.bootstrap, "word-count-output") > 200
    end)
    helpers.kill(a.pid, "KILL")
    helpers.wait_exit(a.pid)
    os.execute("rm -rf " .. a.dir)
    helpers.produce(broker.bootstrap, "word-count-input", lines(401, 800))

    local port = http_port(b)
    helpers.wait_until("the survivor's counts to equal the reference", 90000, function()
      for w, n in pairs(reference) do
        if count_of(port, w) ~= n then return false end
      end
      return true
    end)
    local text = helpers.read_file(b.log)
    assert.matches("restor", text)
    for w, n in pairs(reference) do assert.are.equal(n, count_of(port, w), w) end
  end)
end)
