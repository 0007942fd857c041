-- examples/wordcount through the test driver: the course's word count,
-- re-keyed by word through a repartition topic, counted into "counts".
local testing = require "streamhost.testing"

describe("examples/wordcount", function()
  it("counts words, case-insensitively, emitting every updated count", function()
    local d = testing.driver("examples/wordcount/app.lua")
    assert.truthy(d:describe():find("wordcount-counts-repartition", 1, true))
    local input = d:input("word-count-input")
    input:pipe(nil, "Kafka Streams", 1)
    input:pipe(nil, "kafka   STREAMS kafka", 2)
    input:pipe(nil, "", 3)
    input:pipe(nil, "hello", 4)
    -- kafka 1, streams 1 | kafka 2, streams 2, kafka 3 | (nothing) | hello 1
    local out = {}
    for _, r in ipairs(d:output("word-count-output"):read_all()) do
      out[#out + 1] = { r.key, r.value, r.timestamp }
    end
    assert.same({ { "kafka", 1, 1 }, { "streams", 1, 1 }, { "kafka", 2, 2 }, { "streams", 2, 2 },
                  { "kafka", 3, 2 }, { "hello", 1, 4 } }, out)
    assert.equal(3, d:store("counts"):get("kafka"))
    assert.equal(2, d:store("counts"):get("streams"))
    assert.is_nil(d:store("counts"):get("Kafka"))
    assert.same({ { key = "hello", value = 1 }, { key = "kafka", value = 3 },
                  { key = "streams", value = 2 } }, d:store("counts"):all())
    d:close()
  end)
end)
