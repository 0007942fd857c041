-- State under `streamhost run`: restore from the changelog after a crash,
-- pull queries over HTTP, and `streamhost reset`. The app counts words in a
-- key-value store it opens through the FFI directly, so these specs test
-- the host's side alone, whatever the DSL does.
--
-- `streamhost broker` has no CreateTopics and would auto-create the
-- changelog with 4 partitions, so the specs create it with --topic, with the
-- source's partition count, as a user of the embedded broker must.
local helpers = require "spec.helpers"

local APP = [[
local ffi = require "ffi"
local sh = require "streamhost"
require "streamhost.core"
local C = ffi.C
local handles, ctx = { counts = {}, per_minute = {} }, nil
local out = ffi.new("sh_ffi_slice_t[1]")
local function store(name, partition)
  if not handles[name][partition] then
    handles[name][partition] = C.sh_ffi_store_open(ctx, C.sh_ffi_ctx_state_dir(ctx), "counter",
                                                   name, name == "counts" and 0 or 1, partition,
                                                   3600000)
    assert(handles[name][partition] ~= nil, ffi.string(C.sh_ffi_err_message()))
  end
  return handles[name][partition]
end
-- counts per minute, the minute taken from a numeric value (else the
-- record's timestamp), so a spec can choose its windows
local function count_minute(k, v, rec)
  local ts = tonumber(v) or tonumber(rec.timestamp)
  local h, start, n = store("per_minute", rec.partition), ts - ts % 60000, 0
  if C.sh_ffi_window_get(h, k, #k, start, out) == C.SH_OK then
    n = tonumber(ffi.string(out[0].data, out[0].len))
  end
  local s = tostring(n + 1)
  assert(C.sh_ffi_window_put(h, k, #k, start, s, #s, ts) == C.SH_OK)
end
return sh.app {
  id = "counter",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    ctx = sh.current_ctx
    C.sh_ffi_store_declare(ctx, "counts", 0, 0, "words", "string", "json")
    C.sh_ffi_sink_add(ctx, "counter-counts-changelog", 0)
    C.sh_ffi_store_declare(ctx, "per_minute", 1, 3600000, "words", "string", "json")
    C.sh_ffi_store_set_window_size(ctx, "per_minute", 60000)
    C.sh_ffi_sink_add(ctx, "counter-per_minute-changelog", 0)
    b:stream("words", { key = "string", value = "string" })
     :map_values(function(v, k, rec)
       count_minute(k, v, rec)
       local h, n = store("counts", rec.partition), 0
       if C.sh_ffi_store_get(h, k, #k, out) == C.SH_OK then
         n = tonumber(ffi.string(out[0].data, out[0].len))
       end
       local s = tostring(n + 1)
       assert(C.sh_ffi_store_put(h, k, #k, s, #s, rec.timestamp) == C.SH_OK)
       return n + 1
     end)
     :to("counts", { key = "string", value = "json" })
  end,
}
]]

local TOPICS = { words = 2, counts = 2, ["counter-counts-changelog"] = 2,
                 ["counter-per_minute-changelog"] = 2 }

local function words(list, value)
  local records = {}
  for i, w in ipairs(list) do records[i] = { w, value or "x" } end
  return records
end

-- The latest count per word in the output topic.
local function latest(bootstrap)
  local counts = {}
  for _, r in ipairs(helpers.consume_all(bootstrap, "counts")) do counts[r.key] = tonumber(r.value) end
  return counts
end

local function wait_count(bootstrap, word, n)
  helpers.wait_until(word .. " counted " .. n, 40000, function()
    return latest(bootstrap)[word] == n
  end)
end

-- After a kill -9, at-least-once may count a record twice (its outputs went
-- out, its offset was not yet committed), never lose one: the counts only
-- grow, and reach at least the number of records.
local function wait_at_least(bootstrap, word, n)
  helpers.wait_until(word .. " counted at least " .. n, 40000, function()
    return (latest(bootstrap)[word] or 0) >= n
  end)
end

local function assert_never_decreases(bootstrap, word)
  local last = 0
  for _, r in ipairs(helpers.consume_all(bootstrap, "counts")) do
    if r.key == word then
      assert.is_true(tonumber(r.value) >= last, word .. " went from " .. last .. " to " .. r.value)
      last = tonumber(r.value)
    end
  end
end

local function capture(cmd)
  local p = io.popen(cmd .. " 2>&1; echo exit=$?")
  local text = p:read("*a")
  p:close()
  return text
end

describe("state under streamhost run", function()
  local broker, dir, pids

  local function run(state_dir, log, extra)
    -- --unsafe: the app opens its stores through the FFI, which the sandbox refuses
    local pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --unsafe --bootstrap " ..
                              broker.bootstrap .. " --state-dir " .. state_dir .. " " ..
                              (extra or "--http off"), log)
    pids[#pids + 1] = pid
    return pid
  end

  before_each(function()
    broker = helpers.start_broker(TOPICS)
    dir = helpers.tmpdir()
    pids = {}
    helpers.write_file(dir .. "/app.lua", APP)
  end)

  after_each(function()
    for _, pid in ipairs(pids) do
      if helpers.alive(pid) then helpers.kill(pid, "KILL") end
    end
    broker.stop()
    if not os.getenv("KEEP") then os.execute("rm -rf " .. helpers.shell_quote(dir)) end
  end)

  it("continues counting after kill -9, from its checkpoint or from the changelog alone", function()
    local state = dir .. "/state"
    local pid = run(state, dir .. "/run1.log")
    helpers.produce(broker.bootstrap, "words", words { "a", "b", "a" })
    wait_count(broker.bootstrap, "a", 2)
    helpers.wait_until("a checkpoint", 20000, function()
      return helpers.read_file(state .. "/counts/0/checkpoint") ~= "" or
             helpers.read_file(state .. "/counts/1/checkpoint") ~= ""
    end)
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)

    -- same state directory: nothing deleted, the count goes on
    local log2 = dir .. "/run2.log"
    pid = run(state, log2)
    helpers.produce(broker.bootstrap, "words", words { "a" })
    wait_at_least(broker.bootstrap, "a", 3)
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)

    -- an empty state directory: everything comes back from the changelog
    local log3 = dir .. "/run3.log"
    run(dir .. "/fresh", log3)
    helpers.produce(broker.bootstrap, "words", words { "a", "b" })
    wait_at_least(broker.bootstrap, "a", 4)
    wait_at_least(broker.bootstrap, "b", 2)
    assert_never_decreases(broker.bootstrap, "a")
    assert_never_decreases(broker.bootstrap, "b")
    local text = helpers.read_file(log3)
    assert.matches("restored store counts partition %d: %d+ records from counter%-counts%-changelog", text)
    assert.is_nil(text:match("ERROR"))
  end)

  it("answers pull queries over HTTP", function()
    local log = dir .. "/run.log"
    run(dir .. "/state", log, "--http 127.0.0.1:0")
    local port = helpers.wait_until("the HTTP port", 20000, function()
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    local base = "http://127.0.0.1:" .. port
    -- the token run made on its first start (printed once, kept in the state directory)
    local token = helpers.read_file(dir .. "/state/http-token"):match("%x+")
    local function get(path, method)
      local text = capture("curl -s -w '\\n%{http_code}' " .. (method and "-X " .. method .. " " or "") ..
                           "-H 'Authorization: Bearer " .. token .. "' " ..
                           helpers.shell_quote(base .. path))
      local body, status = text:match("^(.*)\n(%d+)exit=")
      return body, tonumber(status)
    end
    helpers.produce(broker.bootstrap, "words", words({ "a", "b", "a", "c" }, "120000"))
    wait_count(broker.bootstrap, "c", 1)

    local body, status = get("/stores/counts/a")
    assert.are.equal(200, status)
    assert.are.equal('{"key": "a", "value": 2}\n', body)
    body, status = get("/stores/counts")
    assert.are.equal(200, status)
    assert.are.equal('{"entries": [{"key": "a", "value": 2}, {"key": "b", "value": 1}, ' ..
                     '{"key": "c", "value": 1}], "next": null}\n', body)
    body = get("/stores/counts?limit=2")
    assert.are.equal('{"entries": [{"key": "a", "value": 2}, {"key": "b", "value": 1}], ' ..
                     '"next": "b"}\n', body)
    body = get("/stores/counts?limit=2&after=b")
    assert.are.equal('{"entries": [{"key": "c", "value": 1}], "next": null}\n', body)

    body, status = get("/stores/counts/zz")
    assert.are.equal(404, status)
    assert.matches('"error": "no key zz in store counts"', body, 1, true)
    body, status = get("/stores/nope/a")
    assert.are.equal(404, status)
    assert.matches('"error": "no store nope in this app"', body, 1, true)

    body, status = get("/stores/per_minute/a")
    assert.are.equal(200, status)
    assert.are.equal('{"key": "a", "windows": [{"start": 120000, "end": 180000, "value": 2}]}\n', body)
    body = get("/stores/per_minute/a?from=100000&to=120000")
    assert.are.equal('{"key": "a", "windows": [{"start": 120000, "end": 180000, "value": 2}]}\n', body)
    body, status = get("/stores/per_minute/a?from=0&to=60000")
    assert.are.equal(404, status)
    assert.matches('"error": "no windows for key a in store per_minute"', body, 1, true)
    body = get("/stores/per_minute?limit=1&after=a&after_start=0")
    assert.are.equal('{"entries": [{"key": "a", "start": 120000, "end": 180000, "value": 2}], ' ..
                     '"next": "a", "next_start": 120000}\n', body)

    body, status = get("/healthz")
    assert.are.equal(200, status)
    assert.are.equal('{"status": "ok"}\n', body)
    body, status = get("/topology")
    assert.are.equal(200, status)
    assert.matches("topics: [words]", body, 1, true)

    body, status = get("/reload", "POST")
    assert.are.equal(202, status)
    assert.are.equal('{"status": "reload requested"}\n', body)
    helpers.wait_until("the reload", 20000, function()
      return helpers.read_file(log):match("reloaded .* as version 2")
    end)
    -- the store is still served by the new version
    body, status = get("/stores/counts/a")
    assert.are.equal(200, status)
    assert.are.equal('{"key": "a", "value": 2}\n', body)
  end)

  it("goes on without pull queries when the port is taken", function()
    local log1, log2 = dir .. "/run1.log", dir .. "/run2.log"
    run(dir .. "/s1", log1, "--http 127.0.0.1:0")
    local port = helpers.wait_until("the HTTP port", 20000, function()
      return helpers.read_file(log1):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    run(dir .. "/s2", log2, "--http 127.0.0.1:" .. port)
    helpers.wait_until("the second instance to run", 20000, function()
      return helpers.read_file(log2):match("running .* as counter")
    end)
    assert.matches("WARN  http: cannot listen on 127.0.0.1:" .. port, helpers.read_file(log2), 1, true)
  end)

  it("reset says what it will do, then starts the app over", function()
    -- reset loads the app sandboxed (only run takes --unsafe): the same
    -- count through the DSL instead of the FFI
    helpers.write_file(dir .. "/app.lua", [[
local sh = require "streamhost"
return sh.app { id = "counter", topology = function(b)
  b:stream("words", { key = "string", value = "string" })
   :group_by_key():count({ name = "counts" }):to_stream()
   :to("counts", { key = "string", value = "json" })
end }
]])
    local state = dir .. "/state"
    local pid = run(state, dir .. "/run1.log")
    helpers.produce(broker.bootstrap, "words", words { "a", "a", "b" })
    wait_count(broker.bootstrap, "a", 2)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)

    local reset = helpers.bin .. " reset " .. dir .. "/app.lua --state-dir " .. state ..
                  " --bootstrap " .. broker.bootstrap
    local text = capture(reset .. " </dev/null")
    assert.matches("delete the local state directory " .. state, text, 1, true)
    assert.matches("Nothing done", text, 1, true)
    assert.matches("exit=1", text, 1, true)

    text = capture(reset .. " --yes")
    assert.matches("set consumer group counter's offsets on words to its beginning", text, 1, true)
    assert.matches("Reset done", text, 1, true)
    assert.matches("exit=0", text, 1, true)

    -- offsets back at the beginning and the store empty: the three words are
    -- counted again from zero, not on top of the old counts
    local before = #helpers.consume_all(broker.bootstrap, "counts")
    run(state, dir .. "/run2.log")
    helpers.wait_until("the words counted again", 40000, function()
      return #helpers.consume_all(broker.bootstrap, "counts") >= before + 3
    end)
    local seen = {}
    for _, r in ipairs(helpers.consume_all(broker.bootstrap, "counts")) do
      seen[r.key] = (seen[r.key] or "") .. r.value .. " "
    end
    assert.are.same({ a = "1 2 1 2 ", b = "1 1 " }, seen)
  end)
end)
