-- Windowed aggregations at size under `streamhost run`, threads = 2: hopping
-- count and sum, a session count and an emit = "final" tumbling sum over
-- WINSCALE_KEYS keys and WINSCALE_RECORDS records on 8 partitions, produced
-- at a steady pace while the app is reloaded (a valid edit, a syntax error,
-- a version raising on some records under on_error = "dead_letter", a valid
-- one again), killed with SIGKILL and restarted into an empty state dir,
-- then killed again and restarted on the state dir it left.
-- Every output and every store is compared with what the input topic, as
-- read back with kcat, makes (minus the records the dead letter topic holds).
local helpers = require "spec.helpers"
local cjson = require "cjson"

local RECORDS = tonumber(os.getenv("WINSCALE_RECORDS") or "60000")
local KEYS = tonumber(os.getenv("WINSCALE_KEYS") or "10000")
local RATE = tonumber(os.getenv("WINSCALE_RATE") or "5000") -- records/s produced
local PARTITIONS = 8
local HOP_SIZE, HOP_ADVANCE, GAP, TUMBLE = 4000, 2000, 1000, 2000

local APP = [[
local sh = require "streamhost"
return sh.app {
  id = "winscale",
  threads = 2,
  on_error = "dead_letter",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    local input = b:stream("events", { key = "string", value = "string" })
      :map_values(function(v)
        local i, amount = v:match("^(%%d+):(%%d+)")
        %s
        return tonumber(amount)
      end)
    local grouped = input:group_by_key()
    local hopping = grouped:window(sh.hopping { size = "4s", advance = "2s" })
    hopping:count({ name = "hop_count" }):to_stream()
      :map(function(k, v, rec) return k, rec.window.start .. ":" .. tostring(v) end)
      :to("hop-count-out", { key = "string", value = "string" })
    hopping:sum(function(v) return v end, { name = "hop_sum" }):to_stream()
      :map(function(k, v, rec) return k, rec.window.start .. ":" .. tostring(v) end)
      :to("hop-sum-out", { key = "string", value = "string" })
    grouped:window(sh.session { gap = "1s" }):count({ name = "sessions" }):to_stream()
      :map(function(k, v, rec)
        return k, rec.window.start .. ":" .. rec.window["end"] .. ":" .. tostring(v)
      end)
      :to("session-out", { key = "string", value = "string" })
    grouped:window(sh.tumbling { size = "2s" })
      :sum(function(v) return v end, { name = "final_sum", emit = "final" }):to_stream()
      :map(function(k, v, rec) return k, rec.window.start .. ":" .. tostring(v) end)
      :to("final-out", { key = "string", value = "string" })
  end,
}
]]

local VERSIONS = {
  plain = APP:format(""),
  edited = APP:format("amount = amount + 0 -- an edit that changes nothing"),
  broken = APP:format("if then"),
  raising_often = APP:format('if tonumber(i) % 5 == 0 then error("refusing record " .. i) end'),
  raising = APP:format('if tonumber(i) % 997 == 0 then error("refusing record " .. i) end'),
  plain_again = APP:format("-- back to the plain version"),
}

-- ---- what the input makes ----

local function split(s, n)
  local parts = {}
  for p in s:gmatch("[^:]+") do parts[#parts + 1] = p end
  assert(#parts == n, s)
  return parts
end

local function parse_input(r)
  local i, amount = r.value:match("^(%d+):(%d+)")
  return tonumber(i), tonumber(amount)
end

-- Walks each partition in offset order as a task does (stream time, late
-- windows); returns the expected stores and outputs.
local function expected(records, dead)
  local by_partition = {}
  for _, r in ipairs(records) do
    by_partition[r.partition] = by_partition[r.partition] or {}
    table.insert(by_partition[r.partition], r)
  end
  local hop_count, hop_sum, final, sessions = {}, {}, {}, {}
  local late, stream_time = 0, {}
  local session_list = {} -- key -> list of {s, e, n}
  for p, list in pairs(by_partition) do
    table.sort(list, function(a, b) return a.offset < b.offset end)
    local st = -math.huge
    for _, r in ipairs(list) do
      local i, amount = parse_input(r)
      if not dead[i] then
        local t = r.timestamp
        if t > st then st = t end
        local first = t - HOP_SIZE + HOP_ADVANCE
        first = first - first % HOP_ADVANCE
        for start = first, t, HOP_ADVANCE do
          -- emit = changes: grace is a day, nothing here is late
          local id = r.key .. "@" .. start
          hop_count[id] = (hop_count[id] or 0) + 1
          hop_sum[id] = (hop_sum[id] or 0) + amount
        end
        local tumble = t - t % TUMBLE
        if tumble + TUMBLE <= st then
          late = late + 1
        else
          local id = r.key .. "@" .. tumble
          final[id] = (final[id] or 0) + amount
        end
        local ss = session_list[r.key] or {}
        session_list[r.key] = ss
        -- merge every session within gap of t (timestamps of a key rise
        -- within its partition, so only the last can be near)
        local last = ss[#ss]
        if last and t - last.e <= GAP and last.s - t <= GAP then
          last.s, last.e, last.n = math.min(last.s, t), math.max(last.e, t), last.n + 1
        else
          ss[#ss + 1] = { s = t, e = t, n = 1 }
        end
      end
    end
    stream_time[p] = st
  end
  for key, ss in pairs(session_list) do
    for _, s in ipairs(ss) do sessions[key .. "@" .. s.s .. "@" .. s.e] = s.n end
  end
  return { hop_count = hop_count, hop_sum = hop_sum, final = final, sessions = sessions,
           late = late, stream_time = stream_time }
end

-- The last value sent per window (key@start), from an output topic.
local function last_values(records, session)
  local last = {}
  table.sort(records, function(a, b)
    if a.partition ~= b.partition then return a.partition < b.partition end
    return a.offset < b.offset
  end)
  for _, r in ipairs(records) do
    if session then
      local s, e, v = unpack(split(r.value, 3))
      last[r.key .. "@" .. s .. "@" .. e] = v ~= "nil" and tonumber(v) or nil
    else
      local s, v = unpack(split(r.value, 2))
      last[r.key .. "@" .. s] = tonumber(v)
    end
  end
  return last
end

local function diff(want, got, what)
  local missing, wrong, extra, shown = 0, 0, 0, {}
  for k, v in pairs(want) do
    if got[k] == nil then missing = missing + 1
    elseif got[k] ~= v then
      wrong = wrong + 1
      if #shown < 5 then shown[#shown + 1] = k .. " want " .. v .. " got " .. got[k] end
    end
  end
  for k in pairs(got) do
    if want[k] == nil then
      extra = extra + 1
      if #shown < 10 then shown[#shown + 1] = k .. " unexpected " .. tostring(got[k]) end
    end
  end
  if missing + wrong + extra == 0 then return nil end
  return string.format("%s: %d missing, %d wrong, %d extra; %s", what, missing, wrong, extra,
                       table.concat(shown, "; "))
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- Every entry of a windowed store through GET /stores/NAME paging.
local function store_entries(port, name, session)
  local got, after = {}, ""
  while true do
    local p = io.popen("curl -s 'http://127.0.0.1:" .. port .. "/stores/" .. name ..
                       "?limit=5000" .. after .. "'")
    local text = p:read("*a")
    p:close()
    local ok, doc = pcall(cjson.decode, text)
    assert(ok and type(doc) == "table" and doc.entries, name .. ": " .. text:sub(1, 300))
    for _, e in ipairs(doc.entries) do
      if session then got[e.key .. "@" .. e.start .. "@" .. e["end"]] = e.value
      else got[e.key .. "@" .. e.start] = e.value end
    end
    if doc.next == nil or doc.next == cjson.null then return got end
    after = "&after=" .. doc.next .. "&after_start=" .. doc.next_start
  end
end

describe("windowed aggregations at size, threads = 2", function()
  local broker, dir, pid, generator

  setup(function()
    local topics = { events = PARTITIONS, ["winscale-dlq"] = 1 }
    for _, t in ipairs({ "hop-count-out", "hop-sum-out", "session-out", "final-out" }) do
      topics[t] = PARTITIONS
    end
    for _, s in ipairs({ "hop_count", "hop_sum", "sessions", "final_sum", "final_sum-final" }) do
      topics["winscale-" .. s .. "-changelog"] = PARTITIONS
    end
    broker = helpers.start_broker(topics)
    dir = helpers.tmpdir()
  end)

  teardown(function()
    for _, p in ipairs({ pid, generator }) do
      if p and helpers.alive(p) then helpers.kill(p, "KILL") end
    end
    broker.stop()
  end)

  local function start(state, log)
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --bootstrap " ..
                        broker.bootstrap .. " --state-dir " .. state ..
                        " --http 127.0.0.1:0", log)
    helpers.wait_until("both threads to be assigned partitions", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.count_matches(helpers.read_file(log), "assigned %d+ partition") >= 2
    end)
    return helpers.wait_until("the HTTP port", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
  end

  local function reload(log, content)
    local before = helpers.read_file(log)
    local ok0 = helpers.count_matches(before, "reloaded ")
    local failed0 = helpers.count_matches(before, "reload failed: ")
    helpers.write_file(dir .. "/app.lua", content)
    local r = helpers.wait_until("a reload to be logged", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      local t = helpers.read_file(log)
      if helpers.count_matches(t, "reloaded ") > ok0 then return { "reloaded", t:sub(#before) } end
      if helpers.count_matches(t, "reload failed: ") > failed0 then
        return { "failed", t:sub(#before) }
      end
    end)
    return r[1], r[2]
  end

  -- how many records the generator has handed to kcat (its progress lines)
  local function produced()
    local text = helpers.read_file(dir .. "/generator.log")
    return tonumber(text:match("(%d+)\n$") or "0")
  end

  it("matches an independent computation through reloads and a SIGKILL", function()
    local t0 = os.time()
    print("winscale: dir " .. dir)
    local log = dir .. "/run.log"
    helpers.write_file(dir .. "/app.lua", VERSIONS.plain)
    start(dir .. "/state", log)
    -- keys drawn by an LCG (MINSTD, exact in doubles), so a key's records come at uneven intervals and
    -- some of them fall within a session gap of each other
    generator = helpers.spawn(string.format(
      "(luajit -e 'local ffi=require\"ffi\" ffi.cdef\"int poll(void*,unsigned long,int);\" " ..
      "local x=12345 for i=1,%d do x=(x*48271)%%2147483647 local a=(x-x%%%d)/%d " ..
      "io.write(\"k\",x%%%d,\"|\",i,\":\",a%%17,\"\\n\") " ..
      "if i%%%d==0 then io.flush() io.stderr:write(i,\"\\n\") ffi.C.poll(nil,0,50) end end' " ..
      "| kcat -P -b %s -t events -K '|' -z none)",
      RECORDS, KEYS, KEYS, KEYS, math.max(1, math.floor(RATE / 20)), broker.bootstrap),
      dir .. "/generator.log")

    local function wait_produced(n)
      helpers.wait_until(n .. " records produced", 120000, function()
        assert(helpers.alive(pid), helpers.read_file(log))
        return produced() >= n
      end)
    end

    wait_produced(RECORDS * 0.15)
    local outcome, text = reload(log, VERSIONS.edited)
    assert.are.equal("reloaded", outcome, text)
    outcome, text = reload(log, VERSIONS.broken)
    assert.are.equal("failed", outcome, text)
    assert.matches("reload failed: [^\n]*app%.lua:%d+: [^\n]*; keeping version 2", text)
    -- raising on one record in five: the trial on recent records refuses it
    outcome, text = reload(log, VERSIONS.raising_often)
    assert.are.equal("failed", outcome, text)
    assert.matches("reload failed: [^\n]*app%.lua: version %d+ was tried on %d+ recent record%(s%) " ..
                   "and record events %[%d+%] @ %d+ failed %(on_error = fail%): [^\n]*app%.lua:11: " ..
                   "refusing record %d+", text)
    assert.matches("; keeping version 2", text, 1, true)
    wait_produced(RECORDS * 0.3)
    outcome, text = reload(log, VERSIONS.raising)
    print("raising version: " .. outcome .. ": " .. (text:match("[^\n]*reload[^\n]*") or ""))
    wait_produced(RECORDS * 0.45)
    local clean = helpers.count_matches(helpers.read_file(log), "ran cleanly")
    outcome, text = reload(log, VERSIONS.plain_again)
    assert.are.equal("reloaded", outcome, text)
    -- the records the raising version refused stay refused only once their
    -- offsets are committed: read again after the SIGKILL, the version in
    -- force would count them (at-least-once). So the kill waits until this
    -- version has run cleanly (10 s, offsets committed every second).
    helpers.wait_until("the last version to run cleanly", 60000, function()
      assert(helpers.alive(pid), helpers.read_file(log))
      return helpers.count_matches(helpers.read_file(log), "ran cleanly") > clean
    end)
    wait_produced(RECORDS * 0.7)
    -- a SIGKILL mid-stream, then a start into an empty state dir
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)
    local log2 = dir .. "/run2.log"
    start(dir .. "/state2", log2)
    -- and one more into the state dir it left (a checkpoint behind RocksDB)
    wait_produced(RECORDS * 0.85)
    helpers.kill(pid, "KILL")
    helpers.wait_exit(pid)
    local log3 = dir .. "/run3.log"
    local port = start(dir .. "/state2", log3)
    helpers.wait_until("the generator to finish", 600000, function()
      assert(helpers.alive(pid), helpers.read_file(log3))
      return not helpers.alive(generator)
    end)
    local t_produced = os.time()

    local input = helpers.wait_records(broker.bootstrap, "events", RECORDS, 120000)
    assert.are.equal(RECORDS, #input)
    -- records the raising version refused, by their sequence number
    local dead, dead_n = {}, 0
    for _, r in ipairs(helpers.consume_all(broker.bootstrap, "winscale-dlq")) do
      local i = tonumber(r.value:match("^(%d+):"))
      assert.are.equal(0, i % 997, r.value)
      if not dead[i] then dead_n = dead_n + 1 end
      dead[i] = true
    end
    local want = expected(input, dead)
    local keys = {}
    for _, r in ipairs(input) do keys[r.key] = true end

    -- the hopping stores and outputs (a day's grace: every window is kept)
    local got
    local matched = pcall(helpers.wait_until, "the hopping stores to match",
                          tonumber(os.getenv("WINSCALE_WAIT") or "120") * 1000, function()
      assert(helpers.alive(pid), helpers.read_file(log3))
      got = { hop_count = store_entries(port, "hop_count"), hop_sum = store_entries(port, "hop_sum") }
      return not diff(want.hop_count, got.hop_count, "hop_count")
         and not diff(want.hop_sum, got.hop_sum, "hop_sum")
    end)
    if not matched then
      local shown = 0
      for id, v in pairs(want.hop_count) do
        if got.hop_count[id] ~= v and shown < 4 then
          shown = shown + 1
          local key = id:match("^(.*)@")
          for _, r in ipairs(input) do
            if r.key == key then
              local i = parse_input(r)
              print(string.format("  %s p%d @%d ts %d %s dead=%s", key, r.partition, r.offset,
                                  r.timestamp, r.value, tostring(dead[i])))
            end
          end
        end
      end
      error((diff(want.hop_count, got.hop_count, "hop_count") or "") .. "\n" ..
            (diff(want.hop_sum, got.hop_sum, "hop_sum") or ""))
    end
    local t_done = os.time()
    local outputs = {}
    for _, name in ipairs({ "hop-count-out", "hop-sum-out", "session-out", "final-out" }) do
      outputs[name] = helpers.consume_all(broker.bootstrap, name)
    end
    local problems = {}
    local function check(d) if d then problems[#problems + 1] = d end end
    check(diff(want.hop_count, last_values(outputs["hop-count-out"]), "hop-count-out"))
    check(diff(want.hop_sum, last_values(outputs["hop-sum-out"]), "hop-sum-out"))
    check(diff(want.sessions, last_values(outputs["session-out"], true), "session-out"))

    -- emit = final: exactly the windows closed by their partition's stream
    -- time, each once
    local want_final, partition_of = {}, {}
    for _, r in ipairs(input) do partition_of[r.key] = r.partition end
    for id, v in pairs(want.final) do
      local key, from = id:match("^(.*)@(%d+)$")
      if tonumber(from) + TUMBLE <= want.stream_time[partition_of[key]] then want_final[id] = v end
    end
    -- A result sent in the moments before a SIGKILL may be sent again
    -- (at-least-once: the records that made it are read again), but always
    -- with the same value. (Open defect, README: when the app lags behind
    -- its input, as under ASan at 200,000 records, a SIGKILL can lose some,
    -- and a merged-away session's tombstone; this check and session-out's
    -- then fail. At the default size the app keeps up and they pass.)
    local final_got, repeated = {}, 0
    for _, r in ipairs(outputs["final-out"]) do
      local s, v = unpack(split(r.value, 2))
      local id = r.key .. "@" .. s
      if final_got[id] then
        repeated = repeated + 1
        if final_got[id] ~= tonumber(v) then
          problems[#problems + 1] = "final-out " .. id .. " sent as " .. final_got[id] ..
                                    ", then as " .. v
        end
      end
      final_got[id] = final_got[id] or tonumber(v)
    end
    check(diff(want_final, final_got, "final-out"))
    if os.getenv("WINSCALE_DUMP") then -- what the run saw, for a look afterwards
      local f = io.open(dir .. "/dump.txt", "w")
      for _, r in ipairs(input) do
        f:write("in ", r.partition, " ", r.offset, " ", r.timestamp, " ", r.key, " ", r.value, "\n")
      end
      for _, name in ipairs({ "final-out", "session-out" }) do
        for _, r in ipairs(outputs[name]) do
          f:write(name, " ", r.partition, " ", r.offset, " ", r.timestamp, " ", r.key, " ",
                  r.value, "\n")
        end
      end
      for id, v in pairs(want_final) do f:write("want ", id, " ", v, "\n") end
      f:close()
    end

    -- stores that keep only open windows: whatever they hold is right
    local sessions = store_entries(port, "sessions", true)
    for id, v in pairs(sessions) do
      if want.sessions[id] ~= v then
        problems[#problems + 1] = "sessions store " .. id .. " = " .. tostring(v) ..
          " want " .. tostring(want.sessions[id])
        break
      end
    end
    local final_store = store_entries(port, "final_sum")
    for id, v in pairs(final_store) do
      if want.final[id] ~= v then
        problems[#problems + 1] = "final_sum store " .. id .. " = " .. tostring(v) ..
          " want " .. tostring(want.final[id])
        break
      end
    end

    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid, 60000)
    local text1, text2, text3 = helpers.read_file(log), helpers.read_file(log2), helpers.read_file(log3)
    print(string.format(
      "winscale: %d records, %d keys, %d partitions; dead letters %d; late %d; " ..
      "hopping windows %d; sessions %d; final windows %d (outputs %d, repeated %d); " ..
      "open sessions in store %d; final_sum store %d; outputs: hop-count %d, hop-sum %d, " ..
      "session %d; produced in %d s, matched %d s later, %d s in all",
      RECORDS, count(keys), PARTITIONS, dead_n, want.late, count(want.hop_count),
      count(want.sessions), count(want_final), #outputs["final-out"], repeated,
      count(sessions), count(final_store), #outputs["hop-count-out"], #outputs["hop-sum-out"],
      #outputs["session-out"], t_produced - t0, t_done - t_produced, os.time() - t0))
    for _, t in ipairs({ text1, text2, text3 }) do
      for line in t:gmatch("[^\n]*ERROR[^\n]*") do
        if not line:find("refusing record", 1, true) and not line:find("reload failed: ", 1, true) then
          problems[#problems + 1] = "error logged: " .. line
        end
      end
    end
    assert.are.same({}, problems)
    assert.matches("restored store hop_count partition %d: %d+ records", text2 .. text3)
  end)
end)
