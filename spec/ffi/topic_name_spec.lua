-- Internal topic names: Lua asks C (base/topic_name.c) through
-- core.topic_name, so the DSL, the test driver and the host name every
-- changelog, repartition and dead letter topic the same way.
local core = require "streamhost.core"
local sh = require "streamhost"
local testing = require "streamhost.testing"

describe("core.topic_name", function()
  it("names the app's internal topics as C does", function()
    assert.are.equal("shop-orders-changelog", core.topic_name("shop", "changelog", "orders"))
    assert.are.equal("shop-by_user-repartition", core.topic_name("shop", "repartition", "by_user"))
    assert.are.equal("shop-dlq", core.topic_name("shop", "dlq"))
  end)

  it("raises on a kind that is not an internal topic", function()
    assert.has_error(function() core.topic_name("shop", "source", "x") end,
                     "no internal topic kind source")
  end)

  it("raises on a name no topic can have", function()
    assert.has_error(function() core.topic_name("shop", "changelog", string.rep("x", 600)) end)
  end)

  it("is what the test driver's changelog and repartition sinks are called", function()
    local app = sh.app {
      id = "names",
      topology = function(b)
        b:stream("in", { key = "string", value = "string" })
         :group_by(function(v) return v end, { key = "string" })
         :count({ name = "counts" })
      end,
    }
    local d = testing.driver(app)
    d:input("in", { key = "string", value = "string" }):pipe("k", "v")
    local sinks = {}
    for i = 0, core.C.sh_ffi_sink_count(d.ctx) - 1 do
      sinks[require("ffi").string(core.C.sh_ffi_sink_name(d.ctx, i))] = true
    end
    assert.is_true(sinks["names-counts-changelog"])
    assert.is_true(sinks["names-counts-repartition"]) -- named after its store
    d:close()
  end)
end)
