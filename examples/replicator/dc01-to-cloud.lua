-- The workshop's "replicator-dc01-to-ccloud": every dcNN_ topic of the
-- on-prem cluster but the out-of-stock events, copied to the cloud one.
--   bin/streamhost replicate examples/replicator/dc01-to-cloud.lua \
--     --set src.kafka.bootstrap.servers=$ONPREM_BOOTSTRAP \
--     --set dest.kafka.bootstrap.servers=$CLOUD_BOOTSTRAP
local sh = require "streamhost"

return sh.replicator {
  name = "replicator-dc01-to-ccloud",
  ["topic.regex"] = "dc[0-9][0-9][_].*",
  ["topic.blacklist"] = "dc01_out_of_stock_events",
  ["topic.poll.interval.ms"] = 5000,
  ["src.kafka.bootstrap.servers"] = "127.0.0.1:9092",
  ["dest.kafka.bootstrap.servers"] = "127.0.0.1:9093",
}
