-- KStream: the record-at-a-time operations of the DSL. Each method adds a
-- node to the builder's graph and returns a new stream over it. User
-- functions receive (key, value, rec), or (value, key, rec) for the _values
-- forms, where rec carries timestamp, topic, partition, offset and headers.
local _M = {}
local Stream = {}
Stream.__index = Stream

function _M.new(builder, node, key_serde, value_serde)
  return setmetatable({ builder = builder, node = node, key_serde = key_serde,
                        value_serde = value_serde }, Stream)
end

function _M.is_stream(x) return getmetatable(x) == Stream end

-- Other modules (group.lua, join.lua) add their methods to this class.
_M.Stream = Stream

local function check_fn(fn, method)
  if type(fn) ~= "function" then
    error(method .. " expects a function, got " .. type(fn), 3)
  end
end

-- Adds a one-function processor. keep_key/keep_value say whether the key and
-- value formats survive the operation.
local function derive(self, kind, fn, keep_key, keep_value, extra)
  check_fn(fn, kind)
  local fields = extra or {}
  fields.fn = fn
  local node = self.builder:add(kind, { self.node }, fields)
  local s = _M.new(self.builder, node, keep_key and self.key_serde or nil,
                   keep_value and self.value_serde or nil)
  -- a stateful step after a key change must repartition (as Kafka Streams)
  s.key_changed = self.key_changed or not keep_key
  return s
end

function Stream:filter(fn) return derive(self, "filter", fn, true, true) end
function Stream:filter_not(fn) return derive(self, "filter_not", fn, true, true) end
function Stream:map(fn) return derive(self, "map", fn, false, false) end
function Stream:map_values(fn) return derive(self, "map_values", fn, true, false) end
function Stream:select_key(fn) return derive(self, "select_key", fn, false, true) end
function Stream:flat_map(fn) return derive(self, "flat_map", fn, false, false) end
function Stream:flat_map_values(fn) return derive(self, "flat_map_values", fn, true, false) end
function Stream:peek(fn) return derive(self, "peek", fn, true, true) end

function Stream:foreach(fn)
  derive(self, "foreach", fn, true, true)
end

-- split(p1, p2, ...) returns one stream per predicate; split{ name = p, ... }
-- returns a table of streams by name. A record goes to the first branch
-- whose predicate holds, and is dropped if none does (as KStream#split).
function Stream:split(first, ...)
  local preds, names = {}, nil
  if type(first) == "table" then
    names = {}
    for name in pairs(first) do names[#names + 1] = name end
    table.sort(names)
    for i, name in ipairs(names) do preds[i] = first[name] end
  else
    preds = { first, ... }
  end
  if #preds == 0 then error("split needs at least one predicate", 2) end
  for _, p in ipairs(preds) do check_fn(p, "split") end
  local branch = self.builder:add("branch", { self.node }, { predicates = preds })
  local streams = {}
  for i = 1, #preds do
    local node = self.builder:add("branch_arm", { branch }, { index = i })
    node.name = node.name:gsub("BRANCH_ARM", "BRANCH-" .. (names and names[i] or i))
    streams[i] = _M.new(self.builder, node, self.key_serde, self.value_serde)
  end
  branch.arms = streams
  if names then
    local by_name = {}
    for i, name in ipairs(names) do by_name[name] = streams[i] end
    return by_name
  end
  return unpack(streams)
end

function Stream:merge(other)
  if not _M.is_stream(other) then error("merge expects a stream", 2) end
  local node = self.builder:add("merge", { self.node, other.node })
  local same_key = self.key_serde == other.key_serde
  local same_value = self.value_serde == other.value_serde
  return _M.new(self.builder, node, same_key and self.key_serde or nil,
                same_value and self.value_serde or nil)
end

-- transform(fn): a Kafka Connect single message transform. fn(rec) gets
-- { topic, key, value, headers, timestamp, partition, offset } and returns
-- a record (the same table changed, or a new one) or nil to drop it. The
-- transforms of streamhost.smt are such functions.
function Stream:transform(fn)
  if type(fn) ~= "function" then
    error("transform expects a function (rec) -> rec or nil, got " .. type(fn), 2)
  end
  return derive(self, "transform", fn, true, true)
end

-- to(topic, opts) or to(function(key, value, rec) return topic end, opts):
-- the second form picks each record's topic (Kafka Streams'
-- TopicNameExtractor); its topics are made as they first appear.
function Stream:to(topic, opts)
  local topic_fn = type(topic) == "function" and topic or nil
  if not topic_fn and (type(topic) ~= "string" or topic == "") then
    error("to(topic, opts): topic must be a name or a function (key, value, rec) -> name", 2)
  end
  opts = opts or {}
  local b = self.builder
  local what = topic_fn and "to(<topic function>)" or "to('" .. topic .. "')"
  local node = b:add("sink", { self.node }, {
    topic = not topic_fn and topic or nil,
    topic_fn = topic_fn,
    key_serde = b:serde_name(opts, "key", self.key_serde, what, 2),
    value_serde = b:serde_name(opts, "value", self.value_serde, what, 2),
    partitions = opts.partitions,
    avro = opts.avro,
  })
  b.sinks[#b.sinks + 1] = node
end

-- Prints key, value and timestamp of every record on stdout, like ksqlDB's PRINT.
function Stream:print(label)
  self.builder:add("print", { self.node }, { label = label })
end

return _M
