-- sh.replicator: Replicator's property names checked where they are written.
local sh = require "streamhost"

describe("sh.replicator", function()
  it("returns the properties as strings", function()
    local p = sh.replicator { ["topic.regex"] = "dc[0-9][0-9][_].*", ["topic.poll.interval.ms"] = 500,
                              ["provenance.header.enable"] = false,
                              ["src.kafka.bootstrap.servers"] = "a:1",
                              ["dest.kafka.sasl.mechanism"] = "PLAIN",
                              ["connector.class"] = "ReplicatorSourceConnector" }
    assert.are.equal("500", p["topic.poll.interval.ms"])
    assert.are.equal("false", p["provenance.header.enable"])
    assert.are.equal("PLAIN", p["dest.kafka.sasl.mechanism"])
  end)

  it("names a misspelt property at the caller's line", function()
    local ok, err = pcall(function()
      local p = sh.replicator { ["topic.regexp"] = "x" }
      return p
    end)
    assert.is_false(ok)
    assert.matches("replicator_config_spec.lua:%d+: sh.replicator: unknown property 'topic.regexp'", err)
  end)

  it("wants to know which topics", function()
    local ok, err = pcall(sh.replicator, { ["src.kafka.bootstrap.servers"] = "a:1" })
    assert.is_false(ok)
    assert.matches("topic.regex or topic.whitelist", err, 1, true)
  end)
end)
