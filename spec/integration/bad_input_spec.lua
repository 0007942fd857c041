-- Bad input against the real binary and broker (issue 13): a 2 MB poison
-- value, over the producer's limit, goes to the dead letter topic cut to
-- fit and the app carries on (it used to stop, at the same offset on every
-- restart); and a new group reads its inputs from the start without being
-- told (auto.offset.reset = earliest, Kafka Streams' default).
local helpers = require "spec.helpers"

local function header(headers, name)
  -- kcat -J lists headers as [name, value, name, value, ...]
  for i = 1, #(headers or {}), 2 do
    if headers[i] == name then return headers[i + 1] end
  end
end

describe("bad input under streamhost run", function()
  local broker, dir, pid

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    pid = nil
    if broker then broker.stop() end
    broker = nil
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("cuts a dead letter too big for the producer to fit, and goes on", function()
    broker = helpers.start_broker({ raw = 1, parsed = 1, ["poison-dlq"] = 1 })
    helpers.write_file(dir .. "/app.lua", [[
local sh = require "streamhost"
return sh.app { id = "poison", on_error = "dead_letter", topology = function(b)
  b:stream("raw", { key = "string", value = "json" }):to("parsed", { value = "json" })
end }
]])
    local big = dir .. "/big.txt"
    local f = assert(io.open(big, "wb"))
    f:write(string.rep("x", 2 * 1024 * 1024), "\n")
    f:close()
    assert(os.execute("kcat -P -b " .. broker.bootstrap .. " -t raw -z none " ..
                      "-X message.max.bytes=4000000 " .. big) == 0)
    helpers.produce(broker.bootstrap, "raw", { { "k1", '{"ok":1}' } })
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. dir .. "/state --http off", log)
    local parsed = helpers.wait_records(broker.bootstrap, "parsed", 1, 30000)
    assert.equal("k1", parsed[1].key)
    local letters = helpers.wait_records(broker.bootstrap, "poison-dlq", 1, 30000)
    local letter = letters[1]
    assert.is_true(#letter.value < 1000000, #letter.value)
    assert.equal("value", header(letter.headers, "__streamhost.errors.truncated"))
    -- (kcat may keep the line's end in the value)
    assert.is_true(tonumber(header(letter.headers, "__streamhost.errors.original.size")) >=
                   2 * 1024 * 1024)
    local text = helpers.read_file(log)
    assert.matches("record raw [0] @ 0 is too big for the dead letter topic poison-dlq", text, 1, true)
    assert.is_true(helpers.alive(pid), text)
  end)

  it("reads records sent before the group's first assignment (auto.offset.reset earliest)", function()
    broker = helpers.start_broker({ early = 1, copied = 1 })
    local records = {}
    for i = 1, 2000 do records[i] = { "k" .. i, tostring(i) } end
    helpers.produce(broker.bootstrap, "early", records)
    helpers.write_file(dir .. "/app.lua", [[
local sh = require "streamhost"
return sh.app { id = "early-reader", topology = function(b)
  b:stream("early", { key = "string", value = "string" }):to("copied", { value = "string" })
end }
]])
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. dir .. "/state --http off",
                        dir .. "/run.log")
    local copied = helpers.wait_records(broker.bootstrap, "copied", 2000, 40000)
    assert.equal(2000, #copied)
  end)
end)
