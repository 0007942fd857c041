-- Compiles a topology's sink nodes (b:to, a repartition's internal topic,
-- to() with a topic function) into push functions that encode a record and
-- emit it to its C sink. topology.lua registers compile() as the "sink"
-- compiler and binds what a sink reads of the record being dispatched: its
-- C headers and, for an undecoded passthrough, its C record.
local core = require "streamhost.core"
local serde = require "streamhost.serde"

local C = core.C
local SH_OK = C.SH_OK

local _M = {}

local ORIGIN_HEADER = "__streamhost.origin"
_M.ORIGIN_HEADER = ORIGIN_HEADER

-- Bound once by topology.lua (see bind): c_headers(rec) -> the C header
-- array and count of the record being dispatched (nil, 0 for any other rec);
-- raw_record() -> that record itself.
local c_headers, raw_record

function _M.bind(headers_of_dispatched, dispatched_record)
  c_headers, raw_record = headers_of_dispatched, dispatched_record
end

-- A repartition sink: the record's origin travels in a header after the
-- record's own (which go on, as in Kafka Streams), ranked among the records
-- the same input sent here, so a replay is recognised downstream.
local function internal_sink(inst, kenc, venc, sink)
  local ctx = inst.ctx
  local origin_only = core.header_array_t(1)
  local last_topic, last_partition, last_offset, seq = nil, nil, nil, 0
  return function(k, v, rec)
    if rec.offset == last_offset and rec.partition == last_partition and rec.topic == last_topic then
      seq = seq + 1
    else
      last_topic, last_partition, last_offset, seq = rec.topic, rec.partition, rec.offset, 0
    end
    local origin = string.format("%s/%d:%d:%d", rec.topic or "timer", rec.partition,
                                 rec.offset, seq)
    -- a windowed record keeps its window across the topic ('|' is in no topic name)
    local w = rec.window
    if w then origin = string.format("%s|%.0f,%.0f", origin, w.start, w["end"]) end
    local ptr, n = c_headers(rec)
    local header = origin_only
    if n > 0 then
      header = core.header_array_t(n + 1)
      for i = 0, n - 1 do header[i] = ptr[i] end
    end
    header[n].name, header[n].value, header[n].value_len = ORIGIN_HEADER, origin, #origin
    local kb = kenc(k)
    local vb = v ~= nil and venc(v) or nil
    local rc = C.sh_ffi_sink_emit(ctx, sink, kb, #kb, vb, vb and #vb or 0, rec.timestamp, -1,
                                  header, n + 1)
    if rc ~= SH_OK then error(core.failure(), 0) end
  end
end

-- to(function (key, value, rec) -> topic): a sink per topic, declared as
-- the topic first appears (the host binds it then).
local function dynamic_sink(node, inst)
  local ctx, topic_fn, null = inst.ctx, node.topic_fn, serde.null
  local sinks, encoders = {}, {}
  inst.dynamic_sink_node = inst.dynamic_sink_node or node
  return function(k, v, rec)
    local topic = topic_fn(k, v, rec)
    if type(topic) ~= "string" or topic == "" then
      error("the topic function of to() returned " .. tostring(topic) .. ", not a topic name", 0)
    end
    local sink = sinks[topic]
    if not sink then
      sink = core.sink_add(ctx, topic, node.partitions or 1)
      sinks[topic] = sink
      inst.sink_nodes[topic] = node
      -- serdes per topic: an avro one registers under the topic's subjects
      encoders[topic] = {
        serde.encoder(node.key_serde, { app = inst.app, topic = topic, is_key = true,
                                        avro = node.avro }),
        serde.encoder(node.value_serde, { app = inst.app, topic = topic, avro = node.avro }) }
    end
    local kenc, venc = encoders[topic][1], encoders[topic][2]
    local kb = (k ~= nil and k ~= null) and kenc(k, rec) or nil
    local vb = (v ~= nil and v ~= null) and venc(v, rec) or nil
    local rc = C.sh_ffi_sink_emit(ctx, sink, kb, kb and #kb or 0, vb, vb and #vb or 0,
                                  rec.timestamp, -1, c_headers(rec))
    if rc ~= SH_OK then error(core.failure(), 0) end
  end
end

-- A key or value that a source hands straight to its sinks, undecoded: the
-- sinks write the input's bytes (raw_record(): the C record being dispatched, which topology.lua keeps
-- as a batch pointer and a number, so no cdata is boxed per record)
-- without a Lua string in between. Only a source whose every child is a
-- plain sink of the same identity serde gets it (see raw_passthrough), so
-- no app code ever sees this marker or the pointer.
local RAW = setmetatable({}, { __tostring = function() return "raw bytes" end })
_M.RAW = RAW


function _M.compile(node, _, _, inst)
  if node.topic_fn then return dynamic_sink(node, inst) end
  local where = { app = inst.app, topic = node.topic, is_key = true, avro = node.avro }
  local kenc = serde.encoder(node.key_serde, where)
  local venc, venc_ref = serde.encoder(node.value_serde, { app = inst.app, topic = node.topic,
                                                          avro = node.avro })
  local ctx = inst.ctx
  local sink = core.sink_add(ctx, node.topic, node.partitions or 0)
  local null = serde.null
  if node.internal then return internal_sink(inst, kenc, venc, sink) end
  inst.sink_nodes[node.topic] = node
  local windowed = serde.windowed(node.key_serde)
  local wenc = windowed and windowed.encode_windowed
  local wenc_ref = windowed and windowed.encode_windowed_ref
  return function(k, v, rec)
    local kb, klen, vb, vlen = nil, 0, nil, 0
    if k == RAW then
      local r = raw_record()
      kb, klen = r.key, r.key_len
    elseif k ~= nil and k ~= null then
      if wenc_ref then
        kb, klen = wenc_ref(k, rec.window) -- emit copies the bytes
      else
        kb = wenc and wenc(k, rec.window) or kenc(k, rec)
        klen = #kb
      end
    end
    if v == RAW then
      local r = raw_record()
      vb, vlen = r.value, r.value_len
    elseif v ~= nil and v ~= null then
      if venc_ref then
        vb, vlen = venc_ref(v, rec) -- emit copies the bytes before the next encode
      else
        vb = venc(v, rec)
        vlen = #vb
      end
    end
    local rc = C.sh_ffi_sink_emit(ctx, sink, kb, klen, vb, vlen, rec.timestamp, -1, c_headers(rec))
    if rc ~= SH_OK then error(core.failure(), 0) end
  end
end

-- Serdes whose decode and encode are the identity on bytes: what such a
-- source reads, a sink of the same serde would write unchanged.
local IDENTITY = { bytes = true, string = true }

-- Whether a source's key (which = "key_serde") or value can skip decoding:
-- every child is a plain sink (one topic, not internal) with the same
-- identity serde.
local function raw_passthrough(source, which)
  if source.internal or not IDENTITY[source[which]] or #source.children == 0 then return false end
  for _, child in ipairs(source.children) do
    if child.kind ~= "sink" or child.internal or child.topic_fn or child[which] ~= source[which] then
      return false
    end
  end
  return true
end
_M.raw_passthrough = raw_passthrough

return _M
