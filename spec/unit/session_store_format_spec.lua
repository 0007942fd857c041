-- A session store written before sessions were keyed by their end (commit
-- 7bffb1c: { e = end, a = aggregate } under each session's start) is
-- rewritten when it opens, so an app upgraded over its old state goes on
-- merging into the sessions it had. The old store is built on disk with the
-- bytes the old code wrote: the key's bytes and the session's start as the
-- window store's key, JSON and origin markers as the value.
local sh = require "streamhost"
local testing = require "streamhost.testing"
local C = require("streamhost.core").C

local function app()
  local seen = {}
  return sh.app { id = "old-sessions", topology = function(b)
    b:stream("in", { key = "string", value = "long" }):group_by_key()
     :window(sh.session { gap = "30s", grace = "1m" }):count({ name = "s" })
     :to_stream():peek(function(k, v, rec)
       seen[#seen + 1] = { k, rec.window.start, rec.window["end"], v, rec.timestamp }
     end)
  end }, seen
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local dir = p:read("*l")
  p:close()
  return dir
end

describe("session stores in the format before sessions were keyed by their end", function()
  it("are rewritten at open and go on merging (Kafka Streams' session merge)", function()
    local dir = tmpdir()
    -- the store's files as the old code left them: sessions [1000, 5000]
    -- (2 records) of u and [2000, 2000] of v, under their starts
    local first, seen = app()
    local d = testing.driver(first, { state_dir = dir })
    local store = d.inst.stores.s
    local h = C.sh_ffi_store_open(d.inst.ctx, dir, d.inst.app_id, "s", 1, 0, store.retention)
    assert.is_not_nil(h)
    local function put_old(key, start, stop, count, markers)
      local value = ('{"a":%d,"e":%d}'):format(count, stop) .. (markers and "\n" .. markers or "")
      assert.equal(C.SH_OK, C.sh_ffi_window_put(h, key, #key, start, value, #value, stop))
    end
    put_old("u", 1000, 5000, 2, "0:1:0")
    put_old("v", 2000, 2000, 1)
    C.sh_ffi_store_close(h)
    assert.is_nil(rawget(store.handles, 0), "the driver has not opened it yet")

    d:input("in"):pipe("u", 1, 20000)   -- within the gap of u's session: merges
    assert.same({ { "u", 1000, 5000, nil, 5000 }, { "u", 1000, 20000, 3, 20000 } }, seen)
    assert.same({ { start = 1000, ["end"] = 20000, value = 3 } }, d:store("s"):fetch("u"))
    assert.same({ { start = 2000, ["end"] = 2000, value = 1 } }, d:store("s"):fetch("v"))
    d:close()

    -- opened again: nothing left to rewrite, the sessions as they were
    local again = testing.driver((app()), { state_dir = dir })
    assert.same({ { start = 1000, ["end"] = 20000, value = 3 } }, again:store("s"):fetch("u"))
    again:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
