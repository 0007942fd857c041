-- Reads that go through a store's write-back cache instead of flushing it:
-- Store:each on a key-value store merges the changes not yet flushed into
-- RocksDB's entries, and a session store's fetch overlays its cached
-- windows. A flush would have to wait for every output before it (the
-- outputs-first rule), once per record of a left join or a session.
local core = require "streamhost.core"
local Store = require "streamhost.store"

local C = core.C

describe("store reads through the record cache", function()
  local ctx, dir, inst

  before_each(function()
    ctx = C.sh_ffi_ctx_new_capture()
    dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    C.sh_ffi_ctx_set_state_dir(ctx, dir)
    -- a store's inst: its context and the hooks a flush would call
    inst = { ctx = ctx, stores = {}, drained = 0 }
    function inst.drain() inst.drained = inst.drained + 1 end
    function inst.flush()
      inst.drain()
      for _, store in pairs(inst.stores) do store:flush_cache() end
    end
  end)

  after_each(function()
    for _, store in pairs(inst.stores) do store:close() end
    C.sh_ffi_ctx_destroy(ctx)
    os.execute("rm -rf " .. dir)
  end)

  local function listed(store, p)
    local seen = {}
    store:each(p, function(kb, value)
      seen[#seen + 1] = kb .. "=" .. tostring(type(value) == "table" and value.n or value)
    end)
    return table.concat(seen, " ")
  end

  it("each merges a key-value store's unflushed changes in key order", function()
    local store = Store.declare(inst, { name = "kv", key_serde = "bytes", source_topic = "in" })
    for _, k in ipairs({ "b", "d", "f", "h" }) do store:put(k, { n = 1 }, 0, 1) end
    inst.flush()
    local drained = inst.drained
    store:put("a", { n = 2 }, 0, 2)   -- before every stored key
    store:put("d", { n = 2 }, 0, 2)   -- replaces a stored one
    store:put("f", nil, 0, 2)         -- deletes one
    store:put("g", 7, 0, 2)           -- between two
    store:put("z", { n = 2 }, 0, 2)   -- after every stored key
    store:put("y", nil, 0, 2)         -- a deletion of a key never stored
    assert.are.equal("a=2 b=1 d=2 g=7 h=1 z=2", listed(store, 0))
    assert.are.equal(drained, inst.drained) -- nothing written, nothing waited for
    assert.is_true(store:has_changes())
    -- stopping early stops there
    local first
    store:each(0, function(kb) first = kb; return false end)
    assert.are.equal("a", first)
    -- once flushed, RocksDB says the same
    inst.flush()
    assert.is_false(store:has_changes())
    assert.are.equal("a=2 b=1 d=2 g=7 h=1 z=2", listed(store, 0))
  end)

  it("each at size matches the flushed store", function()
    local store = Store.declare(inst, { name = "big", key_serde = "bytes", source_topic = "in" })
    local want, x = {}, 12345
    for round = 1, 3 do
      for _ = 1, 3000 do
        x = (x * 48271) % 2147483647
        local k = string.format("k%05d", x % 5000)
        if x % 7 == 0 then
          store:put(k, nil, 0, round)
          want[k] = nil
        else
          store:put(k, x % 1000, 0, round)
          want[k] = x % 1000
        end
      end
      if round < 3 then inst.flush() end
    end
    local keys = {}
    for k in pairs(want) do keys[#keys + 1] = k end
    table.sort(keys)
    local expected = {}
    for i, k in ipairs(keys) do expected[i] = k .. "=" .. want[k] end
    assert.are.equal(table.concat(expected, " "), listed(store, 0))
    inst.flush()
    assert.are.equal(table.concat(expected, " "), listed(store, 0))
  end)

  it("a session store's fetch sees its cached windows, and a window never written needs no delete",
     function()
    local store = Store.declare(inst, { name = "sess", key_serde = "string", kind = Store.WINDOW,
                                        source_topic = "in", retention = 10 ^ 9, sessions = true,
                                        window_cache = true })
    -- stored: sessions ending at 100 and 300
    store:window_put("u", 100, { s = 50, a = 1 }, 0, 100)
    store:window_put("u", 300, { s = 250, a = 1 }, 0, 300)
    inst.flush()
    -- cached: 300 merged into a session ending at 400; 100 grows to 150
    store:window_put("u", 300, nil, 0, 400)
    store:window_put("u", 400, { s = 250, a = 3 }, 0, 400, nil, true)
    store:window_put("u", 100, { s = 50, a = 2 }, 0, 150)
    local got = {}
    for _, w in ipairs(store:fetch("u", 0, 2 ^ 53, 0)) do got[#got + 1] = w.start .. ":" .. w.value.a end
    assert.are.equal("100:2 400:3", table.concat(got, " "))
    -- the session at 400 grows to 500 before any flush: 400 was never written
    store:window_put("u", 400, nil, 0, 500)
    store:window_put("u", 500, { s = 250, a = 4 }, 0, 500, nil, true)
    local dirty = store:dirty_entries(0)
    local deletes_skipped = 0
    for _, e in ipairs(dirty) do
      local slot = require "streamhost.cache_entry"
      if e[slot.VALUE] == nil and e[slot.STORED] == false then
        deletes_skipped = deletes_skipped + 1
      end
    end
    assert.are.equal(1, deletes_skipped) -- 400's; 300's delete is written
    inst.flush()
    got = {}
    for _, w in ipairs(store:fetch("u", 0, 2 ^ 53, 0)) do got[#got + 1] = w.start .. ":" .. w.value.a end
    assert.are.equal("100:2 500:4", table.concat(got, " "))
    -- and RocksDB holds just those two
    got = {}
    for _, e in ipairs(store:all(0)) do got[#got + 1] = e.start .. ":" .. e.value.a end
    assert.are.equal("100:2 500:4", table.concat(got, " "))
  end)

  it("a window written without a read and deleted before a flush is deleted from RocksDB",
     function()
    local store = Store.declare(inst, { name = "win", key_serde = "string", kind = Store.WINDOW,
                                        source_topic = "in", retention = 10 ^ 9,
                                        window_cache = true })
    store:window_put("u", 100, 1, 0, 100)
    inst.flush()
    store:release(0) -- as at a revocation: the cache forgets, RocksDB keeps the window
    store:window_put("u", 100, 2, 0, 150) -- cached again, never read
    store:window_put("u", 100, nil, 0, 160)
    inst.flush()
    assert.are.same({}, store:all(0))
  end)
end)
