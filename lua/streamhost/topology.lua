-- Compiles a builder's graph into plain Lua functions and wraps them in the
-- batch function C calls.
--
-- Every node becomes push(key, value, rec), closing over its children's push
-- functions, so a record flows through the topology as a chain of direct
-- calls that LuaJIT traces well. The batch function walks the C record array
-- inside one xpcall; when a record raises, the app's on_error policy decides
-- (fail, skip or dead_letter) and the walk resumes after that record. There
-- is no per-record pcall and no C->Lua call per record.
local ffi = require "ffi"
local core = require "streamhost.core"
local serde = require "streamhost.serde"

local C = core.C
local ffi_string = ffi.string
local cast = ffi.cast
local record_ptr_t = core.record_ptr_t

local _M = {}

local EMPTY = setmetatable({}, { __newindex = function() error("rec.headers is read-only", 2) end })

local function noop() end

local function fanout(pushes)
  local n = #pushes
  if n == 0 then return noop end
  if n == 1 then return pushes[1] end
  if n == 2 then
    local a, b = pushes[1], pushes[2]
    return function(k, v, rec) a(k, v, rec); b(k, v, rec) end
  end
  return function(k, v, rec)
    for i = 1, n do pushes[i](k, v, rec) end
  end
end

local json_encode = serde.get("json").encode

local function render(x)
  if type(x) == "table" then return json_encode(x) end
  if x == nil or x == serde.null then return "null" end
  return tostring(x)
end

-- ksqlDB PRINT's line: rowtime, key, value.
local function print_line(label, k, v, rec)
  local ts = rec.timestamp
  local line = string.format("%srowtime: %s.%03d Z, key: %s, value: %s\n",
                             label and ("[" .. label .. "] ") or "",
                             os.date("!%Y/%m/%d %H:%M:%S", math.floor(ts / 1000)), ts % 1000,
                             render(k), render(v))
  io.stdout:write(line)
end

local compilers = {}

function compilers.filter(node, out)
  local fn = node.fn
  return function(k, v, rec) if fn(k, v, rec) then out(k, v, rec) end end
end

function compilers.filter_not(node, out)
  local fn = node.fn
  return function(k, v, rec) if not fn(k, v, rec) then out(k, v, rec) end end
end

function compilers.map(node, out)
  local fn = node.fn
  return function(k, v, rec)
    local k2, v2 = fn(k, v, rec)
    out(k2, v2, rec)
  end
end

function compilers.map_values(node, out)
  local fn = node.fn
  return function(k, v, rec) out(k, fn(v, k, rec), rec) end
end

function compilers.select_key(node, out)
  local fn = node.fn
  return function(k, v, rec) out(fn(k, v, rec), v, rec) end
end

local function check_list(list, what)
  if type(list) ~= "table" then
    error(what .. " must return a list, got " .. type(list), 0)
  end
end

function compilers.flat_map(node, out)
  local fn = node.fn
  return function(k, v, rec)
    local list = fn(k, v, rec)
    if list == nil then return end
    check_list(list, "flat_map")
    for i = 1, #list do
      local kv = list[i]
      if kv.key ~= nil or kv.value ~= nil then
        out(kv.key, kv.value, rec)
      else
        out(kv[1], kv[2], rec)
      end
    end
  end
end

function compilers.flat_map_values(node, out)
  local fn = node.fn
  return function(k, v, rec)
    local list = fn(v, k, rec)
    if list == nil then return end
    check_list(list, "flat_map_values")
    for i = 1, #list do out(k, list[i], rec) end
  end
end

function compilers.foreach(node)
  return node.fn
end

function compilers.peek(node, out)
  local fn = node.fn
  return function(k, v, rec) fn(k, v, rec); out(k, v, rec) end
end

function compilers.merge(_, out) return out end
function compilers.branch_arm(_, out) return out end

function compilers.branch(node, _, child_push)
  local preds, arms = node.predicates, {}
  for i, arm in ipairs(node.arms) do arms[i] = child_push(arm.node) end
  local n = #preds
  return function(k, v, rec)
    for i = 1, n do
      if preds[i](k, v, rec) then return arms[i](k, v, rec) end
    end
  end
end

function compilers.print(node)
  local label = node.label
  return function(k, v, rec) print_line(label, k, v, rec) end
end

function compilers.sink(node, _, _, inst)
  local kenc = serde.get(node.key_serde).encode
  local venc = serde.get(node.value_serde).encode
  local ctx = inst.ctx
  local sink = C.sh_ffi_sink_add(ctx, node.topic, node.partitions or 0)
  local null = serde.null
  inst.sink_nodes[node.topic] = node
  return function(k, v, rec)
    local kb = (k ~= nil and k ~= null) and kenc(k) or nil
    local vb = (v ~= nil and v ~= null) and venc(v) or nil
    local rc = C.sh_ffi_emit(ctx, sink, kb, kb and #kb or 0, vb, vb and #vb or 0,
                             rec.timestamp, -1, rec.header_ptr, rec.header_count)
    if rc ~= 0 then error(core.errmsg(ctx), 0) end
  end
end

-- Builds push functions for every node reachable from the sources.
local function compile(builder, inst)
  local memo = {}
  local function push_of(node)
    if memo[node] then return memo[node] end
    local child_pushes = {}
    if node.kind ~= "branch" then
      for i, child in ipairs(node.children) do child_pushes[i] = push_of(child) end
    end
    local compiler = compilers[node.kind]
    if not compiler then error("streamhost: no compiler for node kind " .. node.kind) end
    local push = compiler(node, fanout(child_pushes), push_of, inst)
    memo[node] = push
    return push
  end
  for _, source in ipairs(builder.sources) do
    source.push = fanout((function()
      local list = {}
      for i, child in ipairs(source.children) do list[i] = push_of(child) end
      return list
    end)())
  end
end

local function decoder(name, what)
  local decode = serde.get(name).decode
  return function(bytes)
    local ok, v = pcall(decode, bytes)
    if not ok then error(string.format("cannot decode %s as %s: %s", what, name, v), 0) end
    return v
  end
end

local function headers_of(r)
  local n = r.header_count
  if n == 0 then return EMPTY end
  local list = {}
  for i = 0, n - 1 do
    local h = r.headers[i]
    list[i + 1] = { key = ffi_string(h.name),
                    value = h.value ~= nil and ffi_string(h.value, h.value_len) or nil }
  end
  return list
end

-- One dispatch function per source topic: decode, fill rec, push.
local function source_dispatch(source, topic, rec)
  local kdec = decoder(source.key_serde, "key")
  local vdec = decoder(source.value_serde, "value")
  local push = source.push
  return function(r)
    local k = r.key ~= nil and kdec(ffi_string(r.key, r.key_len)) or nil
    local v = r.value ~= nil and vdec(ffi_string(r.value, r.value_len)) or nil
    rec.topic = topic
    rec.timestamp = tonumber(r.timestamp)
    rec.partition = r.partition
    rec.offset = tonumber(r.offset)
    rec.header_count = r.header_count
    rec.header_ptr = r.headers
    rec.headers = r.header_count == 0 and EMPTY or headers_of(r)
    push(k, v, rec)
  end
end

local function dead_letter_sink(inst, app)
  local topic = app.id .. "-dlq"
  local sink = C.sh_ffi_sink_add(inst.ctx, topic, 0)
  return function(r, message)
    local extra = {
      { "__streamhost.errors.topic", inst.source_names[r.source] or "?" },
      { "__streamhost.errors.partition", tostring(r.partition) },
      { "__streamhost.errors.offset", tostring(r.offset):gsub("[LU]+$", "") },
      { "__streamhost.errors.message", message },
    }
    local n = r.header_count + #extra
    local headers = core.header_array_t(n)
    for i = 0, r.header_count - 1 do headers[i] = r.headers[i] end
    for i, h in ipairs(extra) do
      local slot = headers[r.header_count + i - 1]
      slot.name, slot.value, slot.value_len = h[1], h[2], #h[2]
    end
    inst.dead_letter_anchor = extra -- keeps the header strings alive through the call
    local rc = C.sh_ffi_emit(inst.ctx, sink, r.key, r.key_len, r.value, r.value_len,
                             r.timestamp, -1, headers, n)
    if rc ~= 0 then
      error("cannot write to " .. topic .. ": " .. core.errmsg(inst.ctx), 0)
    end
  end
end

-- Instantiates a built topology on a context: declares sources and sinks,
-- compiles, and returns an object with process(ptr, n).
function _M.instantiate(app, builder, ctx)
  local inst = { ctx = ctx, sink_nodes = {}, source_names = {}, dispatch = {}, skipped = 0 }
  local rec = { headers = EMPTY, header_count = 0 }
  compile(builder, inst)
  for _, source in ipairs(builder.sources) do
    for _, topic in ipairs(source.topics) do
      local index = C.sh_ffi_source_add(ctx, topic)
      inst.source_names[index] = topic
      inst.dispatch[index] = source_dispatch(source, topic, rec)
    end
  end

  local policy = app.on_error or "fail"
  local write_dead_letter = policy == "dead_letter" and dead_letter_sink(inst, app)
  local dispatch = inst.dispatch
  local cursor = 0

  local function run(records, first, n)
    for i = first, n - 1 do
      cursor = i
      local r = records[i]
      local fn = dispatch[r.source]
      if fn then fn(r) end
    end
  end

  local function where(r)
    return string.format("%s [%d] @ %s", inst.source_names[r.source] or "?", r.partition,
                         tostring(r.offset):gsub("[LU]+$", ""))
  end

  -- Returns how many records were processed; fewer than n means stop, with
  -- the reason as second value.
  function inst.process(ptr, n)
    local records = cast(record_ptr_t, ptr)
    local first = 0
    while first < n do
      local ok, err = xpcall(run, debug.traceback, records, first, n)
      if ok then return n end
      local r = records[cursor]
      local message = tostring(err)
      if policy == "skip" then
        inst.skipped = inst.skipped + 1
        core.log("warn", "skipped record %s (on_error = skip, %d skipped): %s", where(r),
                 inst.skipped, message:match("^[^\n]*"))
      elseif policy == "dead_letter" then
        inst.skipped = inst.skipped + 1
        write_dead_letter(r, message:match("^[^\n]*"))
        core.log("warn", "record %s sent to %s-dlq (%d so far): %s", where(r), app.id,
                 inst.skipped, message:match("^[^\n]*"))
      else
        return cursor, string.format("record %s failed (on_error = fail): %s", where(r), message)
      end
      first = cursor + 1
    end
    return n
  end

  function inst.after_batch()
    io.stdout:flush()
  end

  return inst
end

return _M
