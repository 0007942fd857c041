-- One Kafka Connect connector, as Connect's REST API takes it, run as a
-- streamhost app: STREAMHOST_CONNECTOR holds the JSON a user POSTs to
-- /connectors ({"name": ..., "config": {...}}). streamhost.connect turns it
-- into the app one would write by hand; the config stays data, nothing of
-- it becomes code. `run --bootstrap` picks the cluster.
local cjson = require "cjson.safe"
local connect = require "streamhost.connect"

local text = os.getenv("STREAMHOST_CONNECTOR")
if not text or text == "" then
  error("set STREAMHOST_CONNECTOR to a connector's JSON: {\"name\": ..., \"config\": {...}}", 0)
end
local connector, decode_err = cjson.decode(text)
if not connector then error("STREAMHOST_CONNECTOR: " .. tostring(decode_err), 0) end
-- the worker's offset.storage.topic (connect-offsets), where a source's positions go
local spec, err = connect.app(connector, { offsets_topic = os.getenv("STREAMHOST_CONNECT_OFFSETS_TOPIC") })
if not spec then error(err, 0) end
return spec
