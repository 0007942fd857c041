-- kill -9 in the middle of a restore: stores write no WAL, and a restore
-- writes no checkpoint (the loop's periodic one does, afterwards), so the
-- stores a killed restore had finished hold nothing a restart may trust.
-- The restart replays every changelog partition again from its beginning and
-- serves exactly what the changelog says; no store claims data it lacks.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local PARTITIONS = 32

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "crash-restore",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("crash-events", { key = "string", value = "string" })
     :group_by_key()
     :count({ name = "per_key" })
     :to_stream()
     :to("crash-counts", { value = "long" })
  end,
}
]]

describe("a restore killed midway", function()
  local broker, dir, pid

  setup(function()
    broker = helpers.start_broker({ ["crash-events"] = PARTITIONS, ["crash-counts"] = PARTITIONS,
                                    ["crash-restore-per_key-changelog"] = PARTITIONS })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    broker.stop()
  end)

  it("is replayed in full on the restart, exactly", function()
    -- the changelog the app would have written: 100,000 keys counted up to
    -- 4, one in ten deleted at the end (kcat -Z: an empty value is a
    -- tombstone); kcat partitions by key, as the app's own writes would
    local keys, rounds = 100000, 4
    local expected = {}
    local p = io.popen("kcat -P -b " .. broker.bootstrap .. " -t crash-restore-per_key-changelog" ..
                       " -K '|' -Z -z lz4", "w")
    for round = 1, rounds do
      for i = 1, keys do p:write(string.format("c%06d|%d\n", i, round)) end
    end
    for i = 1, keys do
      local key = string.format("c%06d", i)
      if i % 10 == 0 then p:write(key, "|\n") else expected[key] = rounds end
    end
    assert(p:close(), "kcat -P failed")
    local total = keys * rounds + keys / 10

    local app = dir .. "/app.lua"
    helpers.write_file(app, APP)
    local state = dir .. "/state"
    local function start(log)
      return helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                           " --state-dir " .. state .. " --http 127.0.0.1:0", log)
    end
    local function restored_lines(text)
      return helpers.count_matches(text, "restored store per_key partition %d+:")
    end

    -- killed once the first task is restored, with most still to go
    local first_log = dir .. "/first.log"
    pid = start(first_log)
    helpers.wait_until("the first task to be restored", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(first_log))
      return restored_lines(helpers.read_file(first_log)) >= 1
    end)
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)
    local before = restored_lines(helpers.read_file(first_log))
    assert.is_true(before < PARTITIONS, "the restore ended before the kill: " .. before)

    local log = dir .. "/restart.log"
    pid = start(log)
    local port = helpers.wait_until("the HTTP port", 20000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    local function get(path)
      local f = io.popen("curl -s 'http://127.0.0.1:" .. port .. path .. "'")
      local ok, doc = pcall(cjson.decode, f:read("*a"))
      f:close()
      return ok and type(doc) == "table" and doc or nil
    end
    helpers.wait_until("every store to be restored", 120000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      local health = get("/healthz")
      return health and health.status == "ok"
    end)
    local got, after = {}, nil
    repeat
      local doc = get("/stores/per_key?limit=5000" .. (after and "&after=" .. after or ""))
      assert(doc and doc.entries, "a page of the store")
      for _, e in ipairs(doc.entries) do got[e.key] = e.value end
      after = doc.next ~= cjson.null and doc.next or nil
    until not after
    for key, n in pairs(expected) do assert.are.equal(n, got[key], key) end
    for key in pairs(got) do assert.is_not_nil(expected[key], key .. " should be deleted") end

    -- every partition, those restored before the kill too, replayed from
    -- its beginning: nothing the killed run wrote was taken on trust
    local text = helpers.read_file(log)
    local replayed = 0
    for n in text:gmatch("restored store per_key partition %d+: (%d+) records") do
      replayed = replayed + tonumber(n)
    end
    assert.are.equal(total, replayed)
    assert.are.equal(PARTITIONS, restored_lines(text))
  end)
end)
