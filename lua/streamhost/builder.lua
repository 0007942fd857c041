-- The topology builder handed to an app's `topology(b)` function. It records
-- a graph of nodes (sources, processors, sinks) in creation order; nothing
-- runs here. topology.lua compiles the graph into functions, and describe()
-- prints it the way Kafka Streams' Topology#describe does.
local serde = require "streamhost.serde"

local _M = {}
local Builder = {}
Builder.__index = Builder

local KIND_NAMES = {
  source = "SOURCE", filter = "FILTER", filter_not = "FILTER", map = "MAP",
  map_values = "MAPVALUES", select_key = "KEY-SELECT", flat_map = "FLATMAP",
  flat_map_values = "FLATMAPVALUES", foreach = "FOREACH", peek = "PEEK",
  branch = "BRANCH", merge = "MERGE", sink = "SINK", print = "PRINTER",
}

function _M.new(app)
  return setmetatable({ app = app, nodes = {}, sources = {}, sinks = {}, source_topics = {} },
                      Builder)
end

-- Adds a node; parents is a list of nodes. Returns the node.
function Builder:add(kind, parents, fields)
  local node = fields or {}
  node.kind = kind
  node.parents = parents
  node.children = {}
  node.name = string.format("KSTREAM-%s-%010d", KIND_NAMES[kind] or kind:upper(), #self.nodes)
  for _, p in ipairs(parents) do p.children[#p.children + 1] = node end
  self.nodes[#self.nodes + 1] = node
  return node
end

-- Resolves a serde name given in opts, falling back to `inherited`, then to the
-- app's default serdes. level points error messages at the user's line.
function Builder:serde_name(opts, field, inherited, what, level)
  local name = opts and opts[field] or inherited
  if not name and self.app.serdes then name = self.app.serdes[field] end
  if not name then
    error(string.format("%s: the %s format is not known here; pass { %s = \"json\" } " ..
                        "(or string, int, long, bytes)", what, field, field), level + 1)
  end
  serde.get(name, level + 1)
  return name
end

function Builder:stream(topics, opts)
  local Stream = require "streamhost.stream"
  if type(topics) == "string" then topics = { topics } end
  if type(topics) ~= "table" or #topics == 0 then
    error("stream(topic, opts): topic must be a name or a list of names", 2)
  end
  opts = opts or {}
  local key = self:serde_name(opts, "key", nil, "stream('" .. topics[1] .. "')", 2)
  local value = self:serde_name(opts, "value", nil, "stream('" .. topics[1] .. "')", 2)
  for _, t in ipairs(topics) do
    if self.source_topics[t] then
      error("topic '" .. t .. "' is already a source of this topology; " ..
            "reuse the stream instead of reading the topic twice", 2)
    end
  end
  local caller = debug.getinfo(2, "Sl")
  local node = self:add("source", {}, { topics = topics, key_serde = key, value_serde = value,
                                        partitions = opts.partitions,
                                        location = caller.source:gsub("^@", "") .. ":" ..
                                                   caller.currentline })
  for _, t in ipairs(topics) do self.source_topics[t] = node end
  self.sources[#self.sources + 1] = node
  return Stream.new(self, node, key, value)
end

local function stores_of(node)
  return node.stores and table.concat(node.stores, ", ") or ""
end

function Builder:describe()
  local out = { "Topologies:", "   Sub-topology: 0" }
  local function names(list)
    local n = {}
    for i, node in ipairs(list) do n[i] = node.name end
    return table.concat(n, ", ")
  end
  for _, node in ipairs(self.nodes) do
    if node.kind == "source" then
      out[#out + 1] = string.format("    Source: %s (topics: [%s])", node.name,
                                    table.concat(node.topics, ", "))
    elseif node.kind == "sink" then
      out[#out + 1] = string.format("    Sink: %s (topic: %s)", node.name, node.topic)
    else
      out[#out + 1] = string.format("    Processor: %s (stores: [%s])", node.name, stores_of(node))
    end
    if #node.children > 0 then out[#out + 1] = "      --> " .. names(node.children) end
    if #node.parents > 0 then out[#out + 1] = "      <-- " .. names(node.parents) end
  end
  return table.concat(out, "\n") .. "\n"
end

return _M
