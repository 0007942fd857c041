-- emit = "final" (final.lua) against the updates emit = "changes" sends,
-- on a realistic stream: 50,000 records over 10,000 keys (and 100 hot
-- ones), a fifth out of order within the grace, some later than it, the
-- stores flushed every 997 records (as the host's record cache, not after
-- every record as the driver does by default), so that windows close
-- between flushes and across them. Each window closed by the end must be
-- sent once, after it closed, with the last update's value and timestamp,
-- in the order windows close (by end, then start, then the key's bytes);
-- a stream cut in two runs on one state dir (a clean stop between) sends
-- the same results.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local S, MIN = 1000, 60000
local GRACE = 30 * S

-- Park-Miller: exact in doubles
local function generator(seed)
  return function(m)
    seed = seed * 16807 % 2147483647
    return seed % m
  end
end

local function stream(n, keys, spacing)
  local rand = generator(7)
  local list, t = {}, 1700000000000
  for i = 1, n do
    t = t + spacing
    local ts, r = t, rand(100)
    if r < 20 then ts = t - rand(GRACE)                   -- out of order, within grace
    elseif r < 23 then ts = t - 40 * S - rand(4 * MIN) end -- beyond grace for some windows or all
    local key = rand(2) == 0 and "hot" .. rand(100) or "k" .. rand(keys)
    list[i] = { key, rand(1000), ts }
  end
  return list
end

-- One app, each aggregation twice: every update, and final. seen[name]
-- lists { key, start, end, value, timestamp } as sent.
local function app_of(name, windows)
  local seen = {}
  local function collect(t, as)
    seen[as] = {}
    t:to_stream():peek(function(k, v, rec)
      local list = seen[as]
      if type(v) == "table" then v = v.n .. "/" .. v.top end
      list[#list + 1] = { k, rec.window.start, rec.window["end"], v, rec.timestamp }
    end)
  end
  local function init() return { n = 0, top = 0 } end
  local function add(agg, v) return { n = agg.n + 1, top = math.max(agg.top, v) } end
  local function merge(a, b) return { n = a.n + b.n, top = math.max(a.top, b.top) } end
  local app = sh.app { id = name, topology = function(b)
    local g = b:stream("in", { key = "string", value = "long" }):group_by_key():window(windows)
    for _, emit in ipairs({ "changes", "final" }) do
      collect(g:sum({ name = "sum_" .. emit, emit = emit }), "sum_" .. emit)
      -- a table result: final.lua keeps it as it was at its update
      collect(g:aggregate(init, add, { name = "agg_" .. emit, emit = emit, merge = merge }),
              "agg_" .. emit)
    end
  end }
  return app, seen
end

-- Pipes records, with the stores flushed every `every` records (the
-- driver's flush after every record held back), or after every record.
local function run(d, records, every)
  local flush, flushing = d.inst.flush, false
  if every then d.inst.flush = function() if flushing then flush() end end end
  local input = d:input("in")
  for i, r in ipairs(records) do
    input:pipe(r[1], r[2], r[3])
    if every and (i % every == 0 or i == #records) then
      flushing = true
      flush()
      flushing = false
    end
  end
  d.inst.flush = flush
end

-- The results final must have sent: the last update of each window closed
-- by stream time st (a nil last update, a session merged away: none).
local function expected(changes, is_closed, st)
  local last, order = {}, {}
  for _, u in ipairs(changes) do
    local id = u[1] .. "@" .. u[2] .. "-" .. u[3]
    if last[id] == nil then order[#order + 1] = id end
    last[id] = u
  end
  local want = {}
  for _, id in ipairs(order) do
    local u = last[id]
    if u[4] ~= nil and is_closed(u[3], st) then want[id] = u end
  end
  return want
end

local function check(finals, want, st_of_send)
  local got, n = {}, 0
  for i, u in ipairs(finals) do
    local id = u[1] .. "@" .. u[2] .. "-" .. u[3]
    assert.is_nil(got[id], "sent twice: " .. id)
    got[id] = true
    n = n + 1
    local w = want[id]
    assert.is_not_nil(w, "sent, but not closed or never updated: " .. id)
    assert.are.equal(w[4], u[4], id)
    assert.are.equal(w[5], u[5], id)
    if i > 1 then -- in the order windows close
      local p = finals[i - 1]
      assert.is_true(p[3] < u[3] or (p[3] == u[3] and (p[2] < u[2] or (p[2] == u[2] and p[1] < u[1]))),
                     "out of order: " .. id .. " after " .. p[1] .. "@" .. p[2] .. "-" .. p[3])
    end
    if st_of_send then
      assert.is_true(u[3] + GRACE <= st_of_send[i], "sent before it closed: " .. id)
    end
  end
  for id in pairs(want) do assert.is_true(got[id], "never sent: " .. id) end
  return n
end

local function max_ts(records)
  local st = -math.huge
  for _, r in ipairs(records) do if r[3] > st then st = r[3] end end
  return st
end

describe("emit = final", function()
  local records = stream(50000, 10000, 20)
  local hopping = sh.hopping { size = "3m", advance = "1m", grace = "30s" }
  local function closed(stop, st) return stop + GRACE <= st end

  it("sends each closed window's last update once, in order, flushed every 997 records", function()
    local app, seen = app_of("final-many", hopping)
    local d = testing.driver(app)
    -- stream time when each result was sent
    local sent_at, st = {}, -math.huge
    local finals = seen.sum_final
    local input = d:input("in")
    local flush, flushing = d.inst.flush, false
    d.inst.flush = function() if flushing then flush() end end
    for i, r in ipairs(records) do
      local before = #finals
      if r[3] > st then st = r[3] end
      input:pipe(r[1], r[2], r[3])
      for j = before + 1, #finals do sent_at[j] = st end
      if i % 997 == 0 then
        flushing = true
        flush()
        flushing = false
      end
    end
    for _, name in ipairs({ "sum", "agg" }) do
      local want = expected(seen[name .. "_changes"], closed, st)
      local n = check(seen[name .. "_final"], want, name == "sum" and sent_at or nil)
      assert.is_true(n > 10000, name .. ": " .. n .. " results")
    end
    d:close()
  end)

  it("sends the same results when the stream is cut in two runs on one state dir", function()
    local app, whole = app_of("final-restart", hopping)
    local d = testing.driver(app)
    run(d, records, 997)
    d:close()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local half = 24001 -- not on a flush: the stop flushes what is cached
    local parts = { {}, {} }
    for i, r in ipairs(records) do table.insert(parts[i <= half and 1 or 2], r) end
    local joined = { sum_final = {}, agg_final = {} }
    for n, part in ipairs(parts) do
      local app_n, seen = app_of("final-restart", hopping)
      local dn = testing.driver(app_n, { state_dir = dir })
      -- offsets go on, or the second run's records would be taken for
      -- replays of the first's (the aggregates' origin markers)
      dn.offsets["in"] = n == 1 and 0 or half
      run(dn, part, 997)
      for as, list in pairs(joined) do
        for _, u in ipairs(seen[as]) do list[#list + 1] = u end
      end
      -- results still waiting at the stop come out in the second run
      if n == 1 then assert.is_true(#assert(dn:store("sum_final-final"):all()) > 1000) end
      dn:close()
    end
    os.execute("rm -rf '" .. dir .. "'")
    for _, as in ipairs({ "sum_final", "agg_final" }) do
      assert.are.equal(#whole[as], #joined[as], as)
      assert.are.same(whole[as], joined[as], as)
    end
  end)

  it("sends each closed session once, with many keys", function()
    local gap = 5 * S
    local app, seen = app_of("final-sessions", sh.session { gap = "5s", grace = "30s" })
    local d = testing.driver(app)
    local some = {}
    for i = 1, 20000 do some[i] = records[i] end
    run(d, some, nil) -- sessions read RocksDB: the driver flushes after every record
    local st = max_ts(some)
    local function session_closed(stop, t) return stop + gap + GRACE < t end
    for _, name in ipairs({ "sum", "agg" }) do
      local want = expected(seen[name .. "_changes"], session_closed, st)
      local n = check(seen[name .. "_final"], want)
      assert.is_true(n > 1000, name .. ": " .. n .. " sessions")
    end
    d:close()
  end)
end)
