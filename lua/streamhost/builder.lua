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
  mysql_sink = "MYSQL-SINK",
}

-- streamhost's own modules, by the source name LuaJIT gives their chunks.
local OURS = "@" .. (debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") or ".") .. "/"

function _M.is_ours(source) return source:sub(1, #OURS) == OURS end

-- Where the app's own code is on the stack ("app.lua:12"): the innermost
-- Lua frame outside streamhost's modules (and, given is_app, in a file it
-- accepts), above `level`; nil when a tail call dropped it. O(stack depth).
function _M.user_location(level, is_app)
  for l = (level or 1) + 1, 200 do
    local info = debug.getinfo(l, "Sl")
    if not info then return nil end
    if info.what ~= "C" and info.currentline > 0 and info.source:sub(1, 1) == "@" and
       not _M.is_ours(info.source) and (not is_app or is_app(info.source:sub(2))) then
      return info.source:sub(2) .. ":" .. info.currentline
    end
  end
end

function _M.new(app)
  -- these add their methods to streams and tables
  require "streamhost.group"
  require "streamhost.join"
  require "streamhost.mysql"
  return setmetatable({ app = app, nodes = {}, sources = {}, sinks = {}, source_topics = {},
                        repartition_topics = {}, timers = {}, table_topics = {} }, Builder)
end

-- Adds a node; parents is a list of nodes. Returns the node.
function Builder:add(kind, parents, fields)
  local node = fields or {}
  node.kind = kind
  node.parents = parents
  node.children = {}
  node.location = node.location or _M.user_location(2) -- names the app's line in load errors
  node.name = string.format("%s-%s-%010d", node.prefix or "KSTREAM",
                            KIND_NAMES[kind] or kind:upper():gsub("_", "-"), #self.nodes)
  -- the topic whose partitions are this node's tasks (stores live per task)
  node.task_topic = node.task_topic or (parents[1] and parents[1].task_topic)
  node.partitions = node.partitions or (parents[1] and parents[1].partitions)
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
  local node = self:source(topics, key, value, opts.partitions, 3)
  local s = Stream.new(self, node, key, value)
  -- windowed keys are partitioned by their bytes, window included: a join
  -- or grouping by the inner key must repartition first
  s.key_changed = serde.windowed(key) ~= nil
  return s
end

-- b:every(interval, fn, { time = "wall" | "stream" }): a punctuator. fn(now,
-- stores) runs every interval of wall-clock or stream time, may read and
-- write stores (stores(name):get/put/all) and returns a list of {key, value}
-- that flows on as a stream.
function Builder:every(interval, fn, opts)
  local window = require "streamhost.window"
  local Stream = require "streamhost.stream"
  local ms = window.duration(interval, "every", 2)
  if ms <= 0 then error("every: the interval must be positive", 2) end
  if type(fn) ~= "function" then error("every expects a function (now, stores)", 2) end
  opts = opts or {}
  local time = opts.time or "wall"
  if time ~= "wall" and time ~= "stream" then
    error("every: time must be \"wall\" or \"stream\", got \"" .. tostring(time) .. "\"", 2)
  end
  local node = self:add("timer", {}, { interval = ms, fn = fn, time = time })
  self.timers[#self.timers + 1] = node
  return Stream.new(self, node, opts.key, opts.value)
end

-- b:mysql_cdc { Debezium's properties }: the change events of a MySQL or
-- MariaDB server as a stream, read from its binlog by the host (runtime/mysql).
-- Keys and values are Debezium's JSON; each record's topic (rec.topic) is
-- <topic.prefix>.<db>.<table>. An app reads only this source when it has it.
local CDC_REQUIRED = { "topic.prefix|database.server.name", "database.server.id" }

function Builder:mysql_cdc(props)
  local Stream = require "streamhost.stream"
  if type(props) ~= "table" then
    error("mysql_cdc expects a table of Debezium's properties", 2)
  end
  if self.mysql_cdc_props then error("mysql_cdc: an app reads one MySQL server", 2) end
  for _, names in ipairs(CDC_REQUIRED) do
    local found = false
    for name in names:gmatch("[^|]+") do found = found or props[name] ~= nil end
    if not found then
      error("mysql_cdc: '" .. names:gsub("|", "' (or '") .. (names:find("|", 1, true) and "')" or "'") ..
            " is required", 2)
    end
  end
  local list = {}
  for k, v in pairs(props) do
    if type(k) ~= "string" then error("mysql_cdc: property names are strings", 2) end
    list[#list + 1] = { k, tostring(v) }
  end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  self.mysql_cdc_props = list
  local prefix = props["topic.prefix"] or props["database.server.name"]
  -- the source's name: never a Kafka topic (':' is not allowed in one)
  local node = self:source({ "mysql-cdc:" .. tostring(prefix) }, "json", "json", 1, 3)
  node.cdc = true
  return Stream.new(self, node, "json", "json")
end

function Builder:table(topic, opts)
  return require("streamhost.table").source(self, topic, opts)
end

-- Adds a source node over topics. level points errors at the user's line.
function Builder:source(topics, key, value, partitions, level)
  for _, t in ipairs(topics) do
    if self.source_topics[t] then
      error("topic '" .. t .. "' is already a source of this topology; " ..
            "reuse the stream instead of reading the topic twice", level)
    end
  end
  local caller = debug.getinfo(level, "Sl") or { source = "?", currentline = 0 }
  local node = self:add("source", {}, { topics = topics, key_serde = key, value_serde = value,
                                        partitions = partitions, task_topic = topics[1],
                                        location = caller.source:gsub("^@", "") .. ":" ..
                                                   caller.currentline })
  for _, t in ipairs(topics) do self.source_topics[t] = node end
  self.sources[#self.sources + 1] = node
  return node
end

local function stores_of(node)
  return node.stores and table.concat(node.stores, ", ") or ""
end

-- Sub-topologies are the connected parts of the graph: a repartition topic
-- links its sink and its source only through Kafka.
local function components(nodes)
  local root = {}
  local function find(n)
    while root[n] ~= n do root[n] = root[root[n]]; n = root[n] end
    return n
  end
  for _, n in ipairs(nodes) do root[n] = n end
  for _, n in ipairs(nodes) do
    for _, p in ipairs(n.parents) do root[find(n)] = find(p) end
  end
  local order, groups = {}, {}
  for _, n in ipairs(nodes) do
    local r = find(n)
    if not groups[r] then groups[r] = {}; order[#order + 1] = r end
    table.insert(groups[r], n)
  end
  local list = {}
  for i, r in ipairs(order) do list[i] = groups[r] end
  return list
end

function Builder:describe()
  local out = { "Topologies:" }
  local function names(list)
    local n = {}
    for i, node in ipairs(list) do n[i] = node.name end
    return table.concat(n, ", ")
  end
  for id, group in ipairs(components(self.nodes)) do
    out[#out + 1] = "   Sub-topology: " .. (id - 1)
    for _, node in ipairs(group) do
      if node.kind == "source" then
        out[#out + 1] = string.format("    Source: %s (topics: [%s])", node.name,
                                      table.concat(node.topics, ", "))
      elseif node.kind == "sink" then
        out[#out + 1] = string.format("    Sink: %s (topic: %s)", node.name,
                                      node.topic or "<topic function>")
      elseif node.kind == "mysql_sink" then
        local tables = {}
        for _, t in pairs(node.tables) do tables[#tables + 1] = t end
        table.sort(tables)
        out[#out + 1] = string.format("    Sink: %s (MySQL table: %s)", node.name,
                                      table.concat(tables, ", "))
      else
        out[#out + 1] = string.format("    Processor: %s (stores: [%s])", node.name,
                                      stores_of(node))
      end
      if #node.children > 0 then out[#out + 1] = "      --> " .. names(node.children) end
      if #node.parents > 0 then out[#out + 1] = "      <-- " .. names(node.parents) end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return _M
