-- `streamhost replicate` between two `streamhost broker` clusters: records
-- copied as they are (keys, values, headers, timestamps, partitions), topics
-- that appear later picked up, names rewritten by topic.rename.format, no
-- loop between A->B and B->A, and nothing lost to a SIGKILL.
local helpers = require "spec.helpers"
local cjson = require "cjson"

-- kcat as an outside producer: records { key, value } to one partition,
-- every record with the given headers ("name=value" strings).
local function produce(bootstrap, topic, partition, records, headers)
  local args = ""
  for _, h in ipairs(headers or {}) do args = args .. " -H " .. helpers.shell_quote(h) end
  local p = io.popen("kcat -P -b " .. bootstrap .. " -t " .. topic .. " -p " .. partition ..
                     " -K '|' -z none" .. args, "w")
  for _, r in ipairs(records) do p:write(r[1], "|", r[2], "\n") end
  assert(p:close(), "kcat -P failed")
end

local function partitions_of(bootstrap, topic)
  local p = io.popen("kcat -L -b " .. bootstrap .. " -t " .. topic .. " -J 2>/dev/null")
  local doc = cjson.decode(p:read("*a"))
  p:close()
  for _, t in ipairs(doc.topics or {}) do
    if t.topic == topic and not t.err then return #t.partitions end
  end
  return 0
end

-- Waits until the topic is in the cluster's list of every topic. kcat asked
-- for a topic that does not exist yet makes the mock cluster auto-create it
-- (with 4 partitions), so nothing reads a destination topic before this.
local function wait_topic(bootstrap, topic)
  helpers.wait_until(topic .. " on " .. bootstrap, 60000, function()
    local p = io.popen("kcat -L -b " .. bootstrap .. " -J 2>/dev/null")
    local ok, doc = pcall(cjson.decode, p:read("*a"))
    p:close()
    if not ok or type(doc) ~= "table" then return false end
    for _, t in ipairs(doc.topics or {}) do
      if t.topic == topic then return true end
    end
  end)
end

local function header(record, name)
  for i = 1, #(record.headers or {}), 2 do
    if record.headers[i] == name then return record.headers[i + 1] end
  end
end

local function replicate(dir, name, args)
  local log = dir .. "/" .. name .. ".log"
  local pid = helpers.spawn(helpers.bin .. " replicate --http 127.0.0.1:0 --set name=" .. name ..
                            " --set topic.poll.interval.ms=500 --set lag.log.interval.ms=1000 " ..
                            args, log)
  return { pid = pid, log = log }
end

local function stop(r)
  if r and helpers.alive(r.pid) then
    helpers.kill(r.pid, "TERM")
    helpers.wait_exit(r.pid, 30000)
  end
end

describe("streamhost replicate", function()
  local a, b, dir
  local running = {}

  before_each(function()
    a = helpers.start_broker({ dc01_sales = 3, dc01_out_of_stock_events = 1 })
    b = helpers.start_broker({})
    dir = helpers.tmpdir()
  end)

  after_each(function()
    for _, r in ipairs(running) do
      if helpers.alive(r.pid) then helpers.kill(r.pid, "KILL") end
    end
    running = {}
    a.stop()
    b.stop()
  end)

  local function start(name, args)
    local r = replicate(dir, name, args)
    running[#running + 1] = r
    return r
  end

  it("copies records as they are, picks up new topics and renames them", function()
    for p = 0, 2 do
      local records = {}
      for i = 1, 50 do records[i] = { "k" .. p .. "-" .. i, '{"n":' .. i .. ',"s":"ünï"}' } end
      produce(a.bootstrap, "dc01_sales", p, records, { "origin=dc01", "trace=" .. p })
    end
    produce(a.bootstrap, "dc01_out_of_stock_events", 0, { { "x", "excluded" } })
    local r = start("copier", "--set src.kafka.bootstrap.servers=" .. a.bootstrap ..
                    " --set dest.kafka.bootstrap.servers=" .. b.bootstrap ..
                    " --set 'topic.regex=dc[0-9][0-9][_].*'" ..
                    " --set topic.blacklist=dc01_out_of_stock_events" ..
                    " --set 'topic.rename.format=${topic}.replica'")

    wait_topic(b.bootstrap, "dc01_sales.replica")
    local copied = helpers.wait_records(b.bootstrap, "dc01_sales.replica", 150, 60000)
    assert.are.equal(3, partitions_of(b.bootstrap, "dc01_sales.replica"))
    local source = helpers.consume_all(a.bootstrap, "dc01_sales")
    local by_key = {}
    for _, rec in ipairs(source) do by_key[rec.key] = rec end
    assert.are.equal(150, #copied)
    for _, rec in ipairs(copied) do
      local orig = by_key[rec.key]
      assert.is_truthy(orig, rec.key)
      assert.are.equal(orig.value, rec.value)
      assert.are.equal(orig.partition, rec.partition)
      assert.are.equal(orig.timestamp, rec.timestamp)
      assert.are.equal("dc01", header(rec, "origin"))
      assert.are.equal(tostring(orig.partition), header(rec, "trace"))
      assert.matches("^mockCluster%x+,dc01_sales," .. orig.partition .. "," .. orig.offset .. "$",
                     header(rec, "__replicator_id"))
    end
    helpers.wait_until("the blacklisted topic to be left alone", 10000, function()
      return helpers.read_file(r.log):match("lag %d+:")
    end)
    assert.is_nil(helpers.read_file(r.log):match("copying dc01_out_of_stock_events"))

    -- a topic created while it runs (auto-created by kcat) is picked up
    produce(a.bootstrap, "dc02_sales", 1, { { "late", "arrival" } })
    wait_topic(b.bootstrap, "dc02_sales.replica")
    local late = helpers.wait_records(b.bootstrap, "dc02_sales.replica", 1, 60000)
    assert.are.equal("arrival", late[1].value)
    assert.are.equal(1, late[1].partition)
    assert.are.equal(partitions_of(a.bootstrap, "dc02_sales"),
                     partitions_of(b.bootstrap, "dc02_sales.replica"))

    -- lag per partition, in the log and over HTTP
    local port = helpers.wait_until("the /lag address", 10000, function()
      return helpers.read_file(r.log):match("lag at http://127%.0%.0%.1:(%d+)/lag")
    end)
    helpers.wait_until("lag 0 for dc01_sales [2] over HTTP", 20000, function()
      local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/lag")
      local ok, doc = pcall(cjson.decode, p:read("*a"))
      p:close()
      if not ok or type(doc) ~= "table" then return false end
      for _, part in ipairs(doc.partitions) do
        if part.topic == "dc01_sales" and part.partition == 2 and part["end"] == 50 then
          return part.lag == 0
        end
      end
    end)
    assert.matches("lag %d+:.* dc01_sales%[2%]=%d+", helpers.read_file(r.log))
    stop(r)
    local text = helpers.read_file(r.log)
    assert.matches("151 records copied", text, 1, true)
    assert.is_nil(text:match("ERROR"))
  end)

  it("does not loop with A->B and B->A over the same topics", function()
    local from_a, from_b = {}, {}
    for i = 1, 20 do from_a[i] = { "a" .. i, "from-a-" .. i } end
    for i = 1, 10 do from_b[i] = { "b" .. i, "from-b-" .. i } end
    produce(a.bootstrap, "dc01_out_of_stock_events", 0, from_a)
    local ab = start("a-to-b", "--set src.kafka.bootstrap.servers=" .. a.bootstrap ..
                     " --set dest.kafka.bootstrap.servers=" .. b.bootstrap ..
                     " --set topic.whitelist=dc01_out_of_stock_events")
    wait_topic(b.bootstrap, "dc01_out_of_stock_events")
    helpers.wait_records(b.bootstrap, "dc01_out_of_stock_events", 20, 60000)
    produce(b.bootstrap, "dc01_out_of_stock_events", 0, from_b)
    local ba = start("b-to-a", "--set src.kafka.bootstrap.servers=" .. b.bootstrap ..
                     " --set dest.kafka.bootstrap.servers=" .. a.bootstrap ..
                     " --set topic.whitelist=dc01_out_of_stock_events")
    helpers.wait_records(a.bootstrap, "dc01_out_of_stock_events", 30, 60000)
    helpers.wait_records(b.bootstrap, "dc01_out_of_stock_events", 30, 60000)
    -- both have seen every record of the other side by now: nothing more comes
    helpers.wait_until("b-to-a to skip a's own records", 30000, function()
      return helpers.read_file(ba.log):match("20 not copied back")
        or helpers.read_file(ba.log):match('"not_copied_back":20')
        or (function()
          local port = helpers.read_file(ba.log):match("lag at http://127%.0%.0%.1:(%d+)/lag")
          if not port then return false end
          local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/lag")
          local body = p:read("*a")
          p:close()
          return body:match('"not_copied_back":20') ~= nil
        end)()
    end)
    helpers.sleep_ms(3000)
    stop(ab)
    stop(ba)
    assert.are.equal(30, #helpers.consume_all(a.bootstrap, "dc01_out_of_stock_events"))
    assert.are.equal(30, #helpers.consume_all(b.bootstrap, "dc01_out_of_stock_events"))
    assert.matches("10 not copied back", helpers.read_file(ab.log), 1, true)
    assert.matches("20 not copied back", helpers.read_file(ba.log), 1, true)
  end)

  it("loses nothing to a SIGKILL and counts the duplicates", function()
    -- a producer keeps writing while the replicator is killed and restarted
    local chunks, per_chunk = 40, 2500
    local total = chunks * per_chunk
    for c = 1, chunks do
      local lines = {}
      for i = 1, per_chunk do lines[i] = "k" .. i .. "|" .. c .. "-" .. i end
      helpers.write_file(dir .. "/chunk" .. c, table.concat(lines, "\n") .. "\n")
    end
    local producer = helpers.spawn("for c in $(seq 1 " .. chunks .. "); do kcat -P -b " ..
                                   a.bootstrap .. " -t dc01_sales -K '|' -z none < " .. dir ..
                                   "/chunk$c; sleep 0.2; done", dir .. "/producer.log")
    local args = "--set src.kafka.bootstrap.servers=" .. a.bootstrap ..
                 " --set dest.kafka.bootstrap.servers=" .. b.bootstrap ..
                 " --set topic.whitelist=dc01_sales"
    local first = start("killed", args)
    helpers.wait_until("the first copies", 60000, function()
      return helpers.read_file(first.log):match("replicator killed: [1-9]%d* copied")
    end)
    helpers.sleep_ms(1500)
    helpers.kill(first.pid, "KILL")
    helpers.wait_exit(first.pid)
    local at_kill = #helpers.consume_all(b.bootstrap, "dc01_sales")
    assert.is_true(helpers.alive(producer), "the producer should still be writing")
    local second = start("killed", args)
    helpers.wait_exit(producer, 60000)
    helpers.wait_records(b.bootstrap, "dc01_sales", total, 120000)
    helpers.sleep_ms(2000)
    stop(second)
    local copied = helpers.consume_all(b.bootstrap, "dc01_sales")
    local seen, duplicates = {}, 0
    for _, rec in ipairs(copied) do
      if seen[rec.value] then duplicates = duplicates + 1 end
      seen[rec.value] = true
    end
    local distinct = 0
    for _ in pairs(seen) do distinct = distinct + 1 end
    print(string.format("\nreplicator SIGKILL: %d of %d copied before the kill, %d duplicates " ..
                        "after the restart, %d distinct, none lost", at_kill, total, duplicates,
                        distinct))
    assert.are.equal(total, distinct)
    assert.are.equal(total + duplicates, #copied)
  end)
end)
