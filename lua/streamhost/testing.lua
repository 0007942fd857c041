-- The topology test driver, as Kafka Streams' TopologyTestDriver: pipe
-- records into input topics, read what the topology wrote to output topics.
-- Same Lua topology code and same C core as `streamhost run`
-- (lib/libstreamhost.so), no broker: the context captures emitted records in
-- memory and the driver decodes them with the sink's serdes.
--
--   local d = testing.driver("examples/clickstream/app.lua")  -- sandboxed, as `run`
--   local d = testing.driver(app)                             -- an sh.app built by the spec
--   d:input("clickstream"):pipe("u1", { action = "clicked" }, 1000)
--   local out = d:output("clicks"):read_all()  -- { {key=, value=, timestamp=, headers=}, ... }
--
-- Errors: a misuse (an unknown topic or store, a closed driver) raises at the
-- caller's line; a record the topology fails on under on_error = "fail"
-- raises from pipe, as TopologyTestDriver throws, so a spec cannot miss it;
-- a failure of the machinery itself (no temporary directory, a store that
-- cannot be read) returns nil, message (luv's and lua-resty-core's way).
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local runner = require "streamhost.runner"

local C = core.C
local SH_OK, SH_NOT_FOUND = C.SH_OK, C.SH_ERR_NOT_FOUND
local _M = {}

local Driver, Input, Output = {}, {}, {}
Driver.__index, Input.__index, Output.__index = Driver, Input, Output

-- Loads an app file as `streamhost run` does: in the sandbox (no process,
-- file or FFI access), unless opts.unsafe, so a spec sees the same refusals
-- as the host. Raises "file:line: message" when the file does not load.
function _M.load(path, opts)
  if type(path) ~= "string" then error("testing.load expects the path of an app file", 2) end
  local app, err = runner.run_file(path, opts and opts.unsafe)
  if not app then error(err, 0) end
  return app
end

-- testing.driver(app_or_path, opts): an app given by its path is loaded
-- sandboxed (testing.load); one built by the spec itself is the spec's code.
function _M.driver(app, opts)
  if type(app) == "string" then app = _M.load(app, opts) end
  if not require("streamhost").is_app(app) then
    error("testing.driver expects the result of sh.app { ... }", 2)
  end
  opts = opts or {}
  local ctx = C.sh_ffi_ctx_new_capture()
  if ctx == nil then return nil, core.last_error() end
  ctx = ffi.gc(ctx, C.sh_ffi_ctx_destroy)
  -- real RocksDB stores, in a directory of their own; opts.state_dir
  -- names one that outlives the driver, so a second driver on it is the
  -- same app restarted (after a crash: close() only closes the stores)
  local state_dir = opts.state_dir
  if not state_dir then
    local p = io.popen("mktemp -d /tmp/streamhost-driver.XXXXXX")
    state_dir = p and p:read("*l")
    if p then p:close() end
    if not state_dir or state_dir == "" then
      return nil, "testing.driver: cannot make a temporary state directory under /tmp"
    end
  end
  C.sh_ffi_ctx_set_state_dir(ctx, state_dir)
  local wall_clock = opts.wall_clock or 0
  local inst = runner.instantiate(app, ctx, wall_clock)
  local d = setmetatable({ app = app, ctx = ctx, inst = inst, offsets = {}, state_dir = state_dir,
                           keep_state = opts.state_dir ~= nil, wall_clock = wall_clock,
                           closed = false }, Driver)
  d.record = core.record_array_t(1)
  -- records the topology writes to itself (repartition topics) flow back in,
  -- changelog records are read by nobody here
  d.loops = {}
  for _, topic in ipairs(inst.builder.repartition_topics) do
    d.loops[#d.loops + 1] = { sink = core.sink_add(ctx, topic, 0),
                              source = core.source_add(ctx, topic), topic = topic }
  end
  d.changelogs = {}
  for name in pairs(inst.stores) do
    d.changelogs[#d.changelogs + 1] = core.sink_add(ctx, core.topic_name(app.id, "changelog", name), 0)
  end
  return d
end

local function source_of(d, topic)
  for _, source in ipairs(d.inst.builder.sources) do
    for _, t in ipairs(source.topics) do
      if t == topic then return source end
    end
  end
end

local function check_open(d)
  if d.closed then error("the driver is closed", 3) end
end

-- opts.key / opts.value choose the serdes used to write (default: the
-- source's), as Kafka Streams' createInputTopic with serializers; "bytes"
-- pipes raw bytes.
function Driver:input(topic, opts)
  check_open(self)
  local source = source_of(self, topic)
  if not source then error("input('" .. tostring(topic) .. "'): the topology does not read it", 2) end
  local key_serde = opts and opts.key or source.key_serde
  local value_serde = opts and opts.value or source.value_serde
  local avro = opts and opts.avro
  serde.get(key_serde, 2)
  serde.get(value_serde, 2)
  local kenc = serde.encoder(key_serde, { app = self.inst.app, topic = topic, is_key = true,
                                          avro = avro })
  local windowed = serde.windowed(key_serde)
  -- a windowed key is piped as { key = k, window = { start =, ["end"] = } }
  if windowed then kenc = function(k) return windowed.encode_windowed(k.key, k.window) end end
  return setmetatable({ driver = self, topic = topic, source = source,
                        index = core.source_add(self.ctx, topic), kenc = kenc,
                        venc = serde.encoder(value_serde, { app = self.inst.app, topic = topic,
                                                            avro = avro }) },
                   Input)
end

-- Pipes one record. timestamp defaults to the driver's wall clock; headers is
-- an optional list of { key = name, value = bytes }; topic (for a
-- b:mysql_cdc input) the record's own topic, as <prefix>.<db>.<table>.
function Input:pipe(key, value, timestamp, headers, topic)
  local d = self.driver
  check_open(d)
  local kb = key ~= nil and self.kenc(key) or nil
  local vb = value ~= nil and self.venc(value) or nil
  local offset = d.offsets[self.topic] or 0
  d.offsets[self.topic] = offset + 1
  local r = d.record[0]
  r.key, r.key_len = kb, kb and #kb or 0
  r.value, r.value_len = vb, vb and #vb or 0
  r.timestamp = timestamp or d.wall_clock
  r.offset, r.partition, r.source = offset, 0, self.index
  r.topic, r.topic_len = topic, topic and #topic or 0
  local anchor = { kb, vb, topic }
  if headers and #headers > 0 then
    local h = core.header_array_t(#headers)
    for i, header in ipairs(headers) do
      h[i - 1].name, h[i - 1].value = header.key, header.value
      h[i - 1].value_len = header.value and #header.value or 0
    end
    r.headers, r.header_count, anchor[3] = h, #headers, h
  else
    r.headers, r.header_count = nil, 0
  end
  local done, err = d.inst.process(d.record, 1)
  d.anchor = anchor
  if done < 1 then error(err, 2) end
  d:drain_internal(2)
  return self
end

local internal_record = ffi.new("sh_ffi_record_t[1]")

-- Feeds what the topology wrote to its repartition topics back to it, until
-- nothing is left; drops changelog records.
function Driver:drain_internal(level)
  local more = true
  while more do
    more = false
    for _, loop in ipairs(self.loops) do
      while C.sh_ffi_sink_capture_next(self.ctx, loop.sink, internal_record) == SH_OK do
        more = true
        local r = internal_record[0]
        local offset = self.offsets[loop.topic] or 0
        self.offsets[loop.topic] = offset + 1
        r.source, r.offset, r.partition = loop.source, offset, 0
        r.topic, r.topic_len = nil, 0
        local done, err = self.inst.process(internal_record, 1)
        if done < 1 then error(err, level + 1) end
      end
    end
  end
  self.inst.flush() -- as if committed after every record: stores show every change
  for _, sink in ipairs(self.changelogs) do
    while C.sh_ffi_sink_capture_next(self.ctx, sink, internal_record) == SH_OK do end
  end
end

-- Pipes a list of { key, value, timestamp } (or {key=, value=, timestamp=}).
function Input:pipe_all(list)
  for _, r in ipairs(list) do
    if r.key ~= nil or r.value ~= nil then
      self:pipe(r.key, r.value, r.timestamp, r.headers)
    else
      self:pipe(r[1], r[2], r[3])
    end
  end
  return self
end

function Driver:output(topic, opts)
  check_open(self)
  local node = self.inst.sink_nodes[topic] or self.inst.dynamic_sink_node
  local key_serde = opts and opts.key or (node and node.key_serde)
  local value_serde = opts and opts.value or (node and node.value_serde)
  if not key_serde or not value_serde then
    error("output('" .. tostring(topic) .. "'): the topology does not write it; " ..
          "pass { key = ..., value = ... } to read it anyway", 2)
  end
  local windowed = serde.windowed(key_serde)
  return setmetatable({ driver = self, topic = topic,
                        sink = core.sink_add(self.ctx, topic, 0),
                        kdec = serde.decoder(key_serde, { app = self.inst.app, topic = topic,
                                                          is_key = true }),
                        window_of = windowed and windowed.window,
                        vdec = serde.decoder(value_serde, { app = self.inst.app, topic = topic }) },
                   Output)
end

local scratch = ffi.new("sh_ffi_record_t[1]")

-- Takes the next record written to the topic, or nil.
function Output:read()
  check_open(self.driver)
  local r = scratch[0]
  local rc = C.sh_ffi_sink_capture_next(self.driver.ctx, self.sink, scratch)
  if rc == SH_NOT_FOUND then return nil end
  if rc ~= SH_OK then return nil, core.last_error() end
  local headers = {}
  for i = 0, r.header_count - 1 do
    local h = r.headers[i]
    headers[#headers + 1] = { key = ffi.string(h.name),
                              value = h.value ~= nil and ffi.string(h.value, h.value_len) or nil }
  end
  local kb = r.key ~= nil and ffi.string(r.key, r.key_len) or nil
  local window = nil
  if kb and self.window_of then
    local start, stop = self.window_of(kb)
    window = { start = start, ["end"] = stop }
  end
  return {
    key = kb and self.kdec(kb) or nil,
    value = r.value ~= nil and self.vdec(ffi.string(r.value, r.value_len)) or nil,
    timestamp = tonumber(r.timestamp),
    headers = headers,
    window = window,  -- windowed keys only
  }
end

function Output:read_all()
  local list = {}
  while true do
    local r, err, name = self:read()
    if r == nil then
      if err then return nil, err, name end
      return list
    end
    list[#list + 1] = r
  end
end

function Output:is_empty()
  local r = self:read()
  if r then error("output('" .. self.topic .. "') is not empty: it holds a record", 2) end
  return true
end

-- Moves wall-clock time forward (wall-clock punctuators fire here).
function Driver:advance_wall_clock(ms)
  check_open(self)
  if type(ms) ~= "number" or ms < 0 then error("advance_wall_clock expects ms >= 0", 2) end
  self.wall_clock = self.wall_clock + ms
  self.inst.tick(self.wall_clock)
  self:drain_internal(2)
end

-- A store of the topology: get(key), all(), and for window stores
-- fetch(key, from, to) -> { {start =, ["end"] =, value =}, ... } by start.
function Driver:store(name)
  check_open(self)
  local store = self.inst.stores[name]
  if not store then
    local names = {}
    for n in pairs(self.inst.stores) do names[#names + 1] = n end
    table.sort(names)
    error(string.format("store('%s'): no such store (stores: %s)", tostring(name),
                        table.concat(names, ", ")), 2)
  end
  local d = self
  -- a store that cannot be read is a runtime failure: nil, message
  local function read(fn, ...)
    local ok, result = pcall(fn, ...)
    if not ok then return nil, tostring(result) end
    return result
  end
  local function entries(list)
    for _, e in ipairs(list) do store:reader_entry(e) end
    return list
  end
  return {
    get = function(_, key)
      check_open(d)
      return read(function() return (store:get(key, 0)) end)
    end,
    all = function()
      check_open(d)
      return read(function() return entries(store:all(0)) end)
    end,
    fetch = function(_, key, from, to)
      check_open(d)
      return read(function() return entries(store:fetch(key, from or 0, to or 2 ^ 53, 0)) end)
    end,
  }
end

function Driver:describe() return self.inst.builder:describe() end

function Driver:close()
  if self.closed then return end
  self.closed = true
  self.inst.close()
  C.sh_ffi_ctx_destroy(ffi.gc(self.ctx, nil))
  self.ctx = nil
  if not self.keep_state then os.execute("rm -rf '" .. self.state_dir .. "'") end
end

return _M
