-- Hopping windows under `streamhost run`, threads = 2, with panes and
-- without (the default path, through the record cache): pull queries (GET
-- /stores/NAME/KEY) answer windows, not panes, with the sums the input
-- makes; after a restart into an empty state dir the stores come back from
-- their changelogs, and records after it add to the restored windows; a
-- reload keeps them too. Expected windows are worked out from the input
-- topic's own timestamps, as read back with kcat.
local helpers = require "spec.helpers"
local cjson = require "cjson"

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "panes-spec",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("amounts", { key = "string", value = "string" })
     :group_by_key()
     :window(sh.hopping { size = "3m", advance = "1m", grace = "30s" })
     :sum(function(v) return tonumber(v) end, { name = "per_window", panes = %s })
     :to_stream()
     :to("per-window", { value = "long" })
  end,
}
]]

local SIZE, ADVANCE, GRACE = 180000, 60000, 30000

-- key -> { [start] = sum } of the windows the store still shows: those
-- open at their partition's stream time
local function expected(records)
  local st, sums = {}, {}
  for _, r in ipairs(records) do
    if not st[r.partition] or r.timestamp > st[r.partition] then st[r.partition] = r.timestamp end
  end
  for _, r in ipairs(records) do
    local first = r.timestamp - SIZE + ADVANCE
    first = first - first % ADVANCE
    for start = first, r.timestamp, ADVANCE do
      if start + SIZE + GRACE > st[r.partition] then
        sums[r.key] = sums[r.key] or {}
        sums[r.key][start] = (sums[r.key][start] or 0) + tonumber(r.value)
      end
    end
  end
  return sums
end

local function windows(port, key)
  local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/stores/per_window/" .. key)
  local ok, doc = pcall(cjson.decode, p:read("*a"))
  p:close()
  if not ok or type(doc) ~= "table" or type(doc.windows) ~= "table" then return nil end
  local got = {}
  for _, w in ipairs(doc.windows) do
    assert.are.equal(w.start + SIZE, w["end"])
    got[w.start] = w.value
  end
  return got
end

local function same(a, b)
  for k, v in pairs(a) do if b[k] ~= v then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

for _, panes in ipairs({ true, false }) do
  local title = "hopping windows " .. (panes and "with" or "without") .. " panes, threads = 2"
  describe(title, function()
    local broker, dir, pid

    setup(function()
      broker = helpers.start_broker({ amounts = 4, ["per-window"] = 4,
                                      ["panes-spec-per_window-changelog"] = 4,
                                      ["panes-spec-per_window-panes-changelog"] = 4 })
      dir = helpers.tmpdir()
    end)

    teardown(function()
      if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
      broker.stop()
    end)

    local function start(state, log)
      pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                          broker.bootstrap .. " --state-dir " .. state ..
                          " --http 127.0.0.1:0", log)
      helpers.wait_until("both threads to be assigned partitions", 30000, function()
        assert(helpers.alive(pid), helpers.read_file(log))
        return helpers.count_matches(helpers.read_file(log), "assigned [12] partition") >= 2
      end)
      return helpers.wait_until("the HTTP port", 20000, function()
        return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
      end)
    end

    local function produce(from, to)
      local input = {}
      for i = from, to do input[#input + 1] = { "k" .. (i * 7) % 31, tostring(i % 13) } end
      helpers.produce(broker.bootstrap, "amounts", input)
    end

    local function check(port, total, log)
      local records = helpers.wait_records(broker.bootstrap, "amounts", total)
      local want = expected(records)
      helpers.wait_until("every key's windows to match", 60000, function()
        assert(helpers.alive(pid), helpers.read_file(log))
        for key, sums in pairs(want) do
          local got = windows(port, key)
          if not got or not same(got, sums) then return false end
        end
        return true
      end)
      return want
    end

    it("answers pull queries with windows, and restores them from the changelogs", function()
      local app = APP:format(tostring(panes))
      helpers.write_file(dir .. "/app.lua", app)
      local log = dir .. "/run.log"
      local port = start(dir .. "/state", log)
      produce(1, 3000)
      check(port, 3000, log)
      assert.matches("2 stream threads", helpers.read_file(log), 1, true)
      helpers.kill(pid, "TERM")
      helpers.wait_exit(pid)
      assert.is_nil(helpers.read_file(log):match("ERROR"))

      -- an empty state dir: both stores restored from their changelogs
      local log2 = dir .. "/run2.log"
      port = start(dir .. "/state2", log2)
      check(port, 3000, log2)
      produce(3001, 4000)
      check(port, 4000, log2)
      -- a new version of the app: the panes stay, and go on from where they were
      helpers.write_file(dir .. "/app.lua", app .. "-- edited\n")
      local text = helpers.wait_until("the reload", 20000, function()
        local t = helpers.read_file(log2)
        return t:find("reloaded ", 1, true) and t
      end)
      assert.matches("reloaded .- as version 2 in [%d.]+ ms %(2 stream threads%)", text)
      produce(4001, 5000)
      local want = check(port, 5000, log2)
      -- windows holding records from before and after the restart
      local spanning = 0
      for _ in pairs(want) do spanning = spanning + 1 end
      assert.is_true(spanning > 0)
      -- the updates downstream: one per window of each record
      local updates = helpers.wait_records(broker.bootstrap, "per-window", 5000)
      assert.is_true(#updates >= 5000)
      helpers.kill(pid, "TERM")
      helpers.wait_exit(pid)
      text = helpers.read_file(log2)
      assert.is_nil(text:match("ERROR"))
      if panes then
        assert.matches("restored store per_window%-panes partition %d: %d+ records", text)
      end
      assert.matches("restored store per_window partition %d: %d+ records", text)
    end)
  end)
end
