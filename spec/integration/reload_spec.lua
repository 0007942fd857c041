-- Hot reload under a steady input stream: 20 edits of the running app, some
-- of them broken, and every input still produces exactly one output, tagged
-- with the version that was in force when it was processed.
local helpers = require "spec.helpers"

local GOOD = [[
local sh = require "streamhost"
return sh.app {
  id = "reload-spec",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("numbers", { key = "string", value = "string" })
     :map_values(function(v) return v .. "|%s|" .. sh.version() end)
     :to("tagged", { value = "string" })
  end,
}
]]

-- Three ways to be refused: a syntax error, an error raised while building
-- the topology, and a change of input topics.
local BROKEN = {
  [4] = "local sh = require 'streamhost'\nreturn sh.app {\n  id = = 'x',\n}\n",
  [9] = GOOD:gsub('value = "string"', 'value = "strnig"'),
  [15] = GOOD:gsub('"numbers"', '"other_numbers"'),
}

describe("hot reload", function()
  local broker, dir, pid, generator

  setup(function()
    broker = helpers.start_broker({ numbers = 2, tagged = 2 })
    dir = helpers.tmpdir()
  end)

  teardown(function()
    for _, p in ipairs({ pid, generator }) do
      if p and helpers.alive(p) then helpers.kill(p, "KILL") end
    end
    broker.stop()
  end)

  it("swaps 20 versions in under load without losing or repeating a record", function()
    local app = dir .. "/app.lua"
    local log = dir .. "/run.log"
    helpers.write_file(app, GOOD:format("L0"))
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap, log)
    helpers.wait_until("the app to start", 10000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.read_file(log):find("assigned", 1, true)
    end)

    local total = 3000
    -- a steady stream: about 600 records/s for 5 s, from an outside producer
    generator = helpers.spawn(string.format(
      "luajit -e 'local ffi=require\"ffi\" ffi.cdef\"int poll(void*,unsigned long,int);\" " ..
      "for i=1,%d do io.write(\"k\",i%%10,\"|\",i,\"\\n\") io.flush() " ..
      "if i%%30==0 then ffi.C.poll(nil,0,50) end end' | kcat -P -b %s -t numbers -K '|'",
      total, broker.bootstrap), dir .. "/generator.log")

    local labels = { [1] = "L0" } -- version in force -> label written in that file
    local version, refused = 1, 0
    for edit = 1, 20 do
      helpers.sleep_ms(150) -- pacing of the edits, not a wait on a result
      local label = "L" .. edit
      local before = helpers.read_file(log)
      local ok_before = helpers.count_matches(before, "reloaded ")
      local failed_before = helpers.count_matches(before, "reload failed: ")
      helpers.write_file(app, BROKEN[edit] or GOOD:format(label))
      local text = helpers.wait_until("reload " .. edit .. " to be logged", 10000, function()
        local t = helpers.read_file(log)
        if helpers.count_matches(t, "reloaded ") > ok_before or
           helpers.count_matches(t, "reload failed: ") > failed_before then
          return t
        end
      end)
      if BROKEN[edit] then
        refused = refused + 1
        local line = text:match("[^\n]*reload failed: [^\n]*", #before)
        assert.is_truthy(line, text)
        assert.matches("reload failed: .-:%d+: .+; keeping version " .. version, line)
      else
        version = version + 1
        local line = text:match("[^\n]*reloaded [^\n]*", #before)
        assert.matches("reloaded " .. app:gsub("%p", "%%%0") .. " as version " .. version ..
                       " in [%d.]+ ms", line)
        labels[version] = label
      end
    end
    assert.are.equal(3, refused)
    assert.are.equal(18, version)
    assert.is_true(helpers.alive(pid), "the app must survive broken versions")

    local out = helpers.wait_records(broker.bootstrap, "tagged", total, 60000)
    assert.are.equal(total, #out, "exactly one output per input")
    local seen, last_version = {}, {}
    for _, r in ipairs(out) do
      local n, label, v = r.value:match("^(%d+)|(L%d+)|(%d+)$")
      assert.is_truthy(n, "unexpected output " .. tostring(r.value))
      n, v = tonumber(n), tonumber(v)
      assert.is_nil(seen[n], "record " .. n .. " processed twice")
      seen[n] = true
      assert.are.equal(labels[v], label, "record " .. n .. " tagged " .. label ..
                       " but version " .. v .. " was " .. tostring(labels[v]))
      -- within a partition, versions only move forward
      assert.is_true(v >= (last_version[r.partition] or 1))
      last_version[r.partition] = v
    end
    for n = 1, total do assert.is_true(seen[n], "record " .. n .. " lost") end

    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
  it("is one decision for every thread: one version number, and a store change refused", function()
    local app = dir .. "/threads-app.lua"
    local log = dir .. "/threads-run.log"
    local COUNTING = [[
local sh = require "streamhost"
return sh.app {
  id = "reload-threads-spec",
  threads = 2,
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("numbers", { key = "string", value = "string" })
     :group_by_key({ key = "%s" }):count({ name = "per_key" })
     :to_stream():to("tagged", { key = "%s", value = "long" })
  end,
}
]]
    helpers.write_file(app, COUNTING:format("string", "string"))
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap ..
                        " --state-dir " .. dir .. "/threads-state --http off", log)
    helpers.wait_until("both threads to be assigned", 30000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.count_matches(helpers.read_file(log), "assigned %d partition") >= 2
    end)
    -- a compatible edit: logged once for the process, as version 2
    helpers.write_file(app, COUNTING:format("string", "string") .. "-- edited\n")
    local text = helpers.wait_until("the reload", 10000, function()
      local t = helpers.read_file(log)
      return t:find("reloaded ", 1, true) and t
    end)
    assert.matches("reloaded .- as version 2 in [%d.]+ ms %(2 stream threads%)", text)
    -- the store's key format changes: refused before any thread swaps
    helpers.write_file(app, COUNTING:format("json", "json"))
    text = helpers.wait_until("the refusal", 10000, function()
      local t = helpers.read_file(log)
      return t:find("reload failed: ", 1, true) and t
    end)
    assert.matches("store per_key changes its key format from string to json", text, 1, true)
    assert.matches("keeping version 2", text, 1, true)
    assert.are.equal(1, helpers.count_matches(text, "reloaded "))
    assert.is_true(helpers.alive(pid))
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
end)
