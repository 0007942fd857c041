-- Panes for hopping windows (panes.lua) against the window-by-window path,
-- record for record, on a realistic stream: 50,000 records over 10,000 keys
-- (and 100 hot ones), a fifth of them out of order within the grace, some
-- later than the grace (for some of their windows or all), the stores
-- flushed every 997 records (as the host's record cache, not after every
-- record as the driver does by default). The same app aggregates each way:
-- count, sum, reduce and aggregate with panes = true (and a merge) beside
-- aggregate and reduce without (window by window). Every update
-- (key, window, value, timestamp) and the window stores must agree.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local S, MIN = 1000, 60000

-- Park-Miller: exact in doubles
local function generator(seed)
  return function(m)
    seed = seed * 16807 % 2147483647
    return seed % m
  end
end

local function stream(n, keys)
  local rand = generator(42)
  local list, t = {}, 1700000000000
  for i = 1, n do
    t = t + 20
    local ts, r = t, rand(100)
    if r < 20 then ts = t - rand(30 * S)                  -- out of order, within grace
    elseif r < 23 then ts = t - 40 * S - rand(4 * MIN) end -- beyond grace for some windows or all
    local key = rand(2) == 0 and "hot" .. rand(100) or "k" .. rand(keys)
    list[i] = { key, rand(1000), ts }
  end
  return list
end

local function both(name, emit, state_dir)
  local seen = {}
  local function collect(t, as)
    seen[as] = {}
    t:to_stream():peek(function(k, v, rec)
      local list = seen[as]
      list[#list + 1] = { k, rec.window.start, rec.window["end"], v, rec.timestamp }
    end)
  end
  local w = sh.hopping { size = "3m", advance = "1m", grace = "30s" }
  local function max(a, b) if b > a then return b end return a end
  local function zero() return 0 end
  local function init() return { n = 0, top = 0 } end
  local function add(agg, v) return { n = agg.n + 1, top = max(agg.top, v) } end
  local function merge(a, b) return { n = a.n + b.n, top = max(a.top, b.top) } end
  local app = sh.app { id = name, topology = function(b)
    local g = b:stream("in", { key = "string", value = "long" }):group_by_key():window(w)
    collect(g:count({ name = "count_panes", emit = emit, panes = true }), "count_panes")
    collect(g:aggregate(zero, function(agg) return agg + 1 end, { name = "count_straight", emit = emit }),
            "count_straight")
    collect(g:sum({ name = "sum_panes", emit = emit, panes = true }), "sum_panes")
    collect(g:aggregate(zero, function(agg, v) return agg + v end, { name = "sum_straight", emit = emit }),
            "sum_straight")
    collect(g:reduce(max, { name = "max_panes", merge = max, emit = emit, panes = true }),
            "max_panes")
    collect(g:reduce(max, { name = "max_straight", emit = emit }), "max_straight")
    collect(g:aggregate(init, add, { name = "agg_panes", merge = merge, emit = emit, panes = true }),
            "agg_panes")
    collect(g:aggregate(init, add, { name = "agg_straight", emit = emit }), "agg_straight")
  end }
  return testing.driver(app, { state_dir = state_dir }), seen
end

local PAIRS = { "count", "sum", "max", "agg" }

-- the first difference, or nil
local function differs(a, b)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if x == nil or y == nil then return string.format("update %d: %s against %s", i,
                                                       tostring(x), tostring(y)) end
    for j = 1, 5 do
      local u, v = x[j], y[j]
      if type(u) == "table" then u, v = u.n .. "/" .. u.top, v.n .. "/" .. v.top end
      if u ~= v then
        return string.format("update %d (key %s, window %s): field %d is %s with panes, %s without",
                             i, x[1], tostring(x[2]), j, tostring(u), tostring(v))
      end
    end
  end
end

local function windows_of(d, name)
  local list = assert(d:store(name):all())
  local out = {}
  for _, e in ipairs(list) do
    local v = e.value
    if type(v) == "table" then v = v.n .. "/" .. v.top end
    out[#out + 1] = string.format("%s@%d=%s", e.key, e.start, tostring(v))
  end
  table.sort(out)
  return out
end

-- Pipes the stream with the driver's flush after every record held back:
-- the stores flush every `every` records, and the window stores are
-- compared at every fifth flush and at the end.
local function run(d, records, every)
  local flush, flushing = d.inst.flush, false
  d.inst.flush = function() if flushing then flush() end end
  local input = d:input("in")
  for i, r in ipairs(records) do
    input:pipe(r[1], r[2], r[3])
    if i % every == 0 or i == #records then
      flushing = true
      flush()
      if i % (5 * every) == 0 or i == #records then
        for _, pair in ipairs(PAIRS) do
          assert.same(windows_of(d, pair .. "_straight"), windows_of(d, pair .. "_panes"))
        end
      end
      flushing = false
    end
  end
  d.inst.flush = flush
end

describe("panes for hopping windows", function()
  local records = stream(50000, 10000)

  it("send every update the window-by-window path sends, and keep the same windows", function()
    local d, seen = both("panes-changes")
    run(d, records, 997)
    for _, pair in ipairs(PAIRS) do
      local panes, straight = seen[pair .. "_panes"], seen[pair .. "_straight"]
      assert.is_nil(differs(panes, straight), pair)
      assert.is_true(#panes > 100000, pair .. ": " .. #panes .. " updates")
    end
    local counts = d.inst.counts()
    assert.is_true(counts.late > 1000, "late records: " .. counts.late)
    -- the pane stores hold panes, the window stores windows
    assert.truthy(d.inst.stores["count_panes-panes"])
    assert.is_nil(d.inst.stores["count_straight-panes"])
    d:close()
  end)

  it("emit = final: the same final results", function()
    local d, seen = both("panes-final", "final")
    run(d, records, 997)
    for _, pair in ipairs(PAIRS) do
      local panes, straight = seen[pair .. "_panes"], seen[pair .. "_straight"]
      assert.is_nil(differs(panes, straight), pair)
      assert.is_true(#panes > 10000, pair .. ": " .. #panes .. " results")
    end
    d:close()
  end)

  it("go on from their stores after a restart, as the window-by-window path does", function()
    local whole, seen = both("panes-restart")
    local head = {}
    for i = 1, 24000 do head[i] = records[i] end
    run(whole, head, 997)
    whole:close()
    -- the same stream in two runs on one state dir, stopped cleanly between
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local half = 12000
    local parts = { {}, {} }
    for i = 1, 2 * half do table.insert(parts[i <= half and 1 or 2], records[i]) end
    local joined = {}
    for n, part in ipairs(parts) do
      local d, seen_part = both("panes-restart", nil, dir)
      -- offsets go on, or the second run's records would be taken for
      -- replays of the first's (the aggregates' origin markers)
      d.offsets["in"] = n == 1 and 0 or half
      run(d, part, 997)
      for as, list in pairs(seen_part) do
        joined[as] = joined[as] or {}
        for _, u in ipairs(list) do table.insert(joined[as], u) end
      end
      d:close()
    end
    os.execute("rm -rf '" .. dir .. "'")
    for _, pair in ipairs(PAIRS) do
      assert.is_nil(differs(joined[pair .. "_panes"], seen[pair .. "_panes"]), pair)
      assert.is_nil(differs(joined[pair .. "_straight"], seen[pair .. "_straight"]), pair)
    end
  end)

  it("are asked for with panes = true, and need a merge for aggregate and reduce", function()
    local function app(opts)
      return sh.app { id = "bad", topology = function(b)
        b:stream("in", { key = "string", value = "long" }):group_by_key()
         :window(sh.hopping { size = "3m", advance = "1m" })
         :aggregate(function() return 0 end, function(a) return a + 1 end, opts)
      end }
    end
    assert.has_error(function() testing.driver(app({ merge = "plus" })) end)
    assert.has_error(function() testing.driver(app({ panes = "yes" })) end)
    local ok, err = pcall(testing.driver, app({ panes = true }))
    assert.is_false(ok)
    assert.matches("panes = true needs { merge", tostring(err), 1, true)
    -- without panes = true, count keeps updating every window
    local d = testing.driver(sh.app { id = "plain", topology = function(b)
      b:stream("in", { key = "string", value = "long" }):group_by_key()
       :window(sh.hopping { size = "3m", advance = "1m" }):count({ name = "c" })
    end })
    assert.is_nil(d.inst.stores["c-panes"])
    d:close()
  end)
end)
