-- Kafka Connect's connector configs as streamhost apps: the JSON a user
-- POSTs to a Connect worker ({"name": ..., "config": {...}}) becomes the app
-- a user would write by hand, with the same built-in sources, sinks and
-- transforms (one code path for Lua apps and Connect's REST API).
--
--   local connect = require "streamhost.connect"
--   local spec, err = connect.app { name = "mysql-source-connector",
--                                   config = { ["connector.class"] = ..., ... } }
--   -- spec: what sh.app returns, for `run` or the test driver; or nil, err
--
-- The config is data all the way: property values are handed to the
-- builder, the transforms and the serdes as Lua values, never put into
-- code. What Connect itself reads (connector.class, name, tasks.max,
-- transforms.*, predicates.*, *.converter*, errors.*) is taken out here;
-- the rest goes to the connector as its properties.
--
-- A class this module does not have is an error that lists the ones it has,
-- as Connect's 400 does.
local sh = require "streamhost"
local smt = require "streamhost.smt"

local _M = {}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function list(s)
  local out = {}
  for item in tostring(s or ""):gmatch("[^,]+") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then out[#out + 1] = item end
  end
  return out
end

-- Converters -> serde names. A converter sets the bytes' format; the key
-- and value keep their Connect meaning (IntegerConverter: 4-byte
-- big-endian int; JsonConverter: schemaless JSON).
local CONVERTERS = {
  ["org.apache.kafka.connect.converters.IntegerConverter"] = "int",
  ["org.apache.kafka.connect.converters.LongConverter"] = "long",
  ["org.apache.kafka.connect.storage.StringConverter"] = "string",
  ["org.apache.kafka.connect.converters.ByteArrayConverter"] = "bytes",
  ["io.confluent.connect.replicator.util.ByteArrayConverter"] = "bytes",
  ["org.apache.kafka.connect.json.JsonConverter"] = "json",
  ["io.confluent.connect.avro.AvroConverter"] = "avro",
}
_M.CONVERTERS = CONVERTERS

-- Transforms -> smt constructors. Connect's $Key/$Value variants pick the
-- key or value form; options are the transform's own keys.
local TRANSFORMS = {
  ["io.debezium.transforms.UnwrapFromEnvelope"] = smt.unwrap,
  ["io.debezium.transforms.ExtractNewRecordState"] = smt.unwrap,
  ["org.apache.kafka.connect.transforms.RegexRouter"] = smt.regex_router,
  ["org.apache.kafka.connect.transforms.TimestampRouter"] = smt.timestamp_router,
  ["org.apache.kafka.connect.transforms.ExtractField$Key"] = smt.extract_field_key,
  ["org.apache.kafka.connect.transforms.ExtractField$Value"] = smt.extract_field_value,
  ["org.apache.kafka.connect.transforms.InsertField$Key"] = smt.insert_field_key,
  ["org.apache.kafka.connect.transforms.InsertField$Value"] = smt.insert_field,
  ["org.apache.kafka.connect.transforms.ValueToKey"] = smt.value_to_key,
  ["org.apache.kafka.connect.transforms.ReplaceField$Key"] = smt.replace_field_key,
  ["org.apache.kafka.connect.transforms.ReplaceField$Value"] = smt.replace_field,
  ["org.apache.kafka.connect.transforms.Cast$Key"] = smt.cast_key,
  ["org.apache.kafka.connect.transforms.Cast$Value"] = smt.cast,
  ["org.apache.kafka.connect.transforms.TimestampConverter$Key"] = smt.timestamp_converter_key,
  ["org.apache.kafka.connect.transforms.TimestampConverter$Value"] = smt.timestamp_converter,
  ["org.apache.kafka.connect.transforms.MaskField$Key"] = smt.mask_field_key,
  ["org.apache.kafka.connect.transforms.MaskField$Value"] = smt.mask_field,
  ["org.apache.kafka.connect.transforms.HoistField$Key"] = smt.hoist_field_key,
  ["org.apache.kafka.connect.transforms.HoistField$Value"] = smt.hoist_field,
  ["org.apache.kafka.connect.transforms.Filter"] = false, -- built with its predicate below
}
_M.TRANSFORMS = TRANSFORMS

local PREDICATES = {
  ["org.apache.kafka.connect.transforms.predicates.TopicNameMatches"] = smt.topic_name_matches,
  ["org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"] = smt.record_is_tombstone,
  ["org.apache.kafka.connect.transforms.predicates.HasHeaderKey"] = smt.has_header_key,
}

-- Keys Connect's worker reads itself; never a connector property.
local function framework_key(k)
  return k == "" or k == "connector.class" or k == "name" or k == "tasks.max" or
         k == "transforms" or k == "predicates" or k == "header.converter" or
         k:match("^transforms%.") or k:match("^predicates%.") or
         k:match("^key%.converter") or k:match("^value%.converter") or k:match("^errors%.")
end

-- The options of "<prefix><alias>.<option>" as a table.
local function options_of(config, prefix)
  local opts = {}
  for k, v in pairs(config) do
    if k:sub(1, #prefix) == prefix then
      local option = k:sub(#prefix + 1)
      if option ~= "type" then opts[option] = v end
    end
  end
  return opts
end

local function predicate(config, alias)
  local prefix = "predicates." .. alias .. "."
  local class = config[prefix .. "type"]
  local make = PREDICATES[class]
  if not make then
    error(string.format("predicate %s: unknown type %s (have: %s)", alias, tostring(class),
                        table.concat(sorted_keys(PREDICATES), ", ")), 0)
  end
  return make(options_of(config, prefix))
end

-- The config's transforms as one function (rec) -> rec or nil, or nil
-- when it has none. Raises with a message naming the alias.
local function transforms(config)
  local fns = {}
  for _, alias in ipairs(list(config.transforms)) do
    local prefix = "transforms." .. alias .. "."
    local class = config[prefix .. "type"]
    local make = TRANSFORMS[class]
    if make == nil then
      error(string.format("transform %s: unknown type %s (have: %s)", alias, tostring(class),
                          table.concat(sorted_keys(TRANSFORMS), ", ")), 0)
    end
    local opts = options_of(config, prefix)
    local pred_alias, negate = opts.predicate, tostring(opts.negate) == "true"
    opts.predicate, opts.negate = nil, nil
    local fn
    if class == "org.apache.kafka.connect.transforms.Filter" then
      if not pred_alias then error("transform " .. alias .. ": Filter needs a predicate", 0) end
      fn = smt.filter { predicate = predicate(config, pred_alias), negate = negate }
    else
      local ok, made = pcall(make, opts)
      if not ok then error("transform " .. alias .. ": " .. tostring(made), 0) end
      fn = made
      -- Connect applies a transform with a predicate only where it holds
      if pred_alias then
        local applies, inner = predicate(config, pred_alias), fn
        fn = function(rec)
          if (applies(rec) and true or false) ~= negate then return inner(rec) end
          return rec
        end
      end
    end
    fns[#fns + 1] = fn
  end
  if #fns == 0 then return nil end
  return smt.chain(unpack(fns))
end

-- for specs and tools: the chain a config's transforms make (nil: none)
_M.transform_chain = transforms

local function serde_of(config, which, default)
  local class = config[which .. ".converter"]
  if class == nil or class == "" then return default end
  local name = CONVERTERS[class]
  if not name then
    error(string.format("%s.converter: unknown class %s (have: %s)", which, tostring(class),
                        table.concat(sorted_keys(CONVERTERS), ", ")), 0)
  end
  return name
end

-- Properties for the connector itself: everything Connect does not read.
local function connector_properties(config)
  local props = {}
  for k, v in pairs(config) do
    if not framework_key(k) then props[k] = v end
  end
  return props
end

-- The registry an Avro converter names, for the app's kafka table.
local function registry_url(config)
  return config["value.converter.schema.registry.url"] or config["key.converter.schema.registry.url"]
end

local CONNECTORS = {}

CONNECTORS["io.debezium.connector.mysql.MySqlConnector"] = {
  type = "source", version = "2.x (streamhost)",
  topology = function(b, config, chain, opts)
    local props = connector_properties(config)
    -- the worker's connect-offsets, in place of the app's own <name>-offsets
    props["offset.storage.topic"] = opts.offsets_topic
    local stream = b:mysql_cdc(props)
    if chain then stream = stream:transform(chain) end
    stream:to(function(_, _, rec) return rec.topic end,
              { key = serde_of(config, "key", "json"), value = serde_of(config, "value", "json") })
  end,
}

CONNECTORS["io.confluent.connect.jdbc.JdbcSinkConnector"] = {
  type = "sink", version = "10.x (streamhost)",
  topology = function(b, config, chain)
    local topics = list(config.topics)
    if #topics == 0 then error("'topics' is required (a comma-separated list)", 0) end
    local props = connector_properties(config)
    props.topics = nil
    local formats = { key = serde_of(config, "key", "json"), value = serde_of(config, "value", "json") }
    for _, topic in ipairs(topics) do
      local stream = b:stream(topic, formats)
      if chain then stream = stream:transform(chain) end
      stream:to_mysql(props)
    end
  end,
}

-- Replicator is not an app: the worker runs it as `streamhost replicate`
-- with the connector's JSON (the same code path as the command), and its
-- properties are checked here by streamhost.replicator, as a Lua file's are.
CONNECTORS["io.confluent.connect.replicator.ReplicatorSourceConnector"] = {
  type = "source", version = "7.x (streamhost)", command = "replicate",
  check = function(config)
    local props = {}
    -- a key whose name a copied text lost ("": "SASL_SSL") means nothing
    for k, v in pairs(config) do
      if k ~= "" and k ~= "transforms" and not k:match("^transforms%.") then props[k] = v end
    end
    require("streamhost.replicator").config(props)
    for _, side in ipairs { "src", "dest" } do
      if not props[side .. ".kafka.bootstrap.servers"] then
        error(side .. ".kafka.bootstrap.servers is required (the " ..
              (side == "src" and "source" or "destination") .. " cluster)", 0)
      end
    end
  end,
}

_M.CONNECTORS = CONNECTORS

-- The streamhost command that runs a connector of this class in place of
-- `run examples/connect/connector.lua`, or nil: "replicate" for Replicator.
function _M.command_of(class)
  local c = CONNECTORS[class]
  return c and c.command
end

-- GET /connector-plugins: { {class =, type =, version =}, ... } by class.
function _M.plugins()
  local out = {}
  for _, class in ipairs(sorted_keys(CONNECTORS)) do
    out[#out + 1] = { class = class, type = CONNECTORS[class].type, version = CONNECTORS[class].version }
  end
  return out
end

-- "source" or "sink" for a class, or nil.
function _M.type_of(class)
  local c = CONNECTORS[class]
  return c and c.type
end

-- { name =, config = {...} } -> an app spec (sh.app's result), or nil and
-- a message fit for Connect's 400. opts.bootstrap sets bootstrap.servers;
-- opts.offsets_topic where a source keeps its positions (the worker's
-- connect-offsets; default: the app's <name>-offsets).
-- The topology is built (and its settings checked) when the app is run or
-- loaded; check() builds it here first, so a bad config fails at POST.
function _M.app(connector, opts)
  opts = opts or {}
  if type(connector) ~= "table" or type(connector.config) ~= "table" then
    return nil, "a connector is {\"name\": ..., \"config\": {...}}"
  end
  local config = connector.config
  local name = connector.name or config.name
  if type(name) ~= "string" or name == "" then return nil, "the connector has no name" end
  if config.name ~= nil and config.name ~= name then
    return nil, "Connector name configuration (" .. tostring(config.name) ..
                ") doesn't match connector name in the URL (" .. name .. ")"
  end
  local class = config["connector.class"]
  local connector_def = CONNECTORS[class]
  if connector_def and connector_def.command then
    return nil, class .. " runs as `streamhost " .. connector_def.command .. "`, not as an app"
  end
  if not connector_def then
    return nil, string.format("Failed to find any class that implements Connector and which name " ..
                              "matches %s, available connectors are: %s", tostring(class),
                              table.concat(sorted_keys(CONNECTORS), ", "))
  end
  local ok, chain = pcall(transforms, config)
  if not ok then return nil, chain end
  local kafka = { ["bootstrap.servers"] = opts.bootstrap or "embedded",
                  ["auto.offset.reset"] = "earliest" }
  kafka["schema.registry.url"] = registry_url(config)
  local spec = sh.app {
    id = name,
    kafka = kafka,
    topology = function(b) connector_def.topology(b, config, chain, opts) end,
  }
  return spec
end

-- As app(), and the topology built once on a scratch builder so that a
-- connector's own property errors surface before it is run.
function _M.check(connector, opts)
  local class = type(connector) == "table" and type(connector.config) == "table" and
                connector.config["connector.class"]
  local def = CONNECTORS[class]
  if def and def.check then
    local ok, problem = pcall(def.check, connector.config)
    if not ok then return nil, (tostring(problem):gsub("^[^:]*%.lua:%d+: ", "")) end
    return true
  end
  local spec, err = _M.app(connector, opts)
  if not spec then return nil, err end
  local builder = require("streamhost.builder").new(spec.id)
  local ok, build_err = pcall(spec.topology, builder)
  -- the builder's messages name the line of the caller, here ours: drop it
  if not ok then return nil, (tostring(build_err):gsub("^[^:]*connect%.lua:%d+: ", "")) end
  return spec
end

return _M
