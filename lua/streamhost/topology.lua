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
local new_tab = require "table.new"
local core = require "streamhost.core"
local serde = require "streamhost.serde"
local dead_letter = require "streamhost.dead_letter"
local record_schema = require "streamhost.record_schema"
local sink_compile = require "streamhost.sink_compile"

local C = core.C
local ffi_string = ffi.string
local cast = ffi.cast
local record_ptr_t = core.record_ptr_t

local _M = {}

local ORIGIN_HEADER = sink_compile.ORIGIN_HEADER
_M.ORIGIN_HEADER = ORIGIN_HEADER

local EMPTY = setmetatable({}, { __newindex = function() error("rec.headers is read-only", 2) end })

local function noop() end

-- The C header array of the record being dispatched, and its length, kept
-- out of rec: rec is the app's to read and write, and a pointer (or a count
-- it could raise) would let sandboxed code read or write the host's memory.
-- They belong to header_rec, the rec the dispatch filled (one per instance,
-- reused for every record); any other rec (a timer's, a transform's) has
-- none. Three upvalues rather than tables keyed by rec: a hash lookup per
-- output cost ~100 instructions a record in passthrough.
local header_rec, header_ptr, header_count = nil, nil, 0

local function c_headers(rec)
  if rec == header_rec then return header_ptr, header_count end
  return nil, 0
end

local function fanout(pushes)
  local n = #pushes
  if n == 0 then return noop end
  if n == 1 then return pushes[1] end
  -- four arguments: streams push (key, value, rec), tables (key, new, old, rec)
  if n == 2 then
    local a, b = pushes[1], pushes[2]
    return function(k, v, x, y) a(k, v, x, y); b(k, v, x, y) end
  end
  return function(k, v, x, y)
    for i = 1, n do pushes[i](k, v, x, y) end
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
_M.compilers = compilers -- table.lua, group.lua and join.lua add theirs
_M.fanout = fanout

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

-- A Connect-style transform: the record as one table in, one table (or nil)
-- out. What flows on keeps the source's position (partition, offset) and
-- takes the transform's topic, timestamp and headers.
function compilers.transform(node, out)
  local fn = node.fn
  local rec_mt = {}
  return function(k, v, rec)
    -- key_schema/value_schema: what Connect's records carry; the SMTs of
    -- streamhost.smt keep them, a transform that drops them makes them unknown
    local ks, vs = rec.key_schema, rec.value_schema
    local r = fn({ topic = rec.topic, key = k, value = v, headers = rec.headers,
                   timestamp = rec.timestamp, partition = rec.partition, offset = rec.offset,
                   key_schema = ks, value_schema = vs })
    if r == nil then return end
    if type(r) ~= "table" then
      error("transform must return a record table or nil, got " .. type(r), 0)
    end
    local next_rec = rec
    if r.topic ~= rec.topic or r.timestamp ~= rec.timestamp or r.headers ~= rec.headers or
       r.key_schema ~= ks or r.value_schema ~= vs then
      rec_mt.__index = rec
      next_rec = setmetatable({ topic = r.topic, timestamp = r.timestamp or rec.timestamp,
                                headers = r.headers or rec.headers,
                                key_schema = r.key_schema or false,
                                value_schema = r.value_schema or false }, rec_mt)
      rec_mt = {}
    end
    out(r.key, r.value, next_rec)
  end
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

-- The C record being dispatched, for a sink that writes its bytes undecoded
-- (sink_compile.lua's RAW): a batch pointer and an index, so no cdata is
-- boxed per record.
local raw_batch, raw_index = nil, 0

sink_compile.bind(c_headers, function() return raw_batch[raw_index] end)
compilers.sink = sink_compile.compile
local RAW, raw_passthrough = sink_compile.RAW, sink_compile.raw_passthrough

local NO_CHILDREN = {}

-- Builds push functions for every node reachable from the sources.
local function compile(builder, inst)
  local memo = {}
  -- Children first, depth first, in the order a recursion would take, but
  -- on a stack of our own: a chain of 10,000 operators overflowed the Lua
  -- stack when each node recursed into its child. (A branch's compiler
  -- compiles its arms itself through push_of.) O(nodes).
  local function push_of(root)
    if memo[root] then return memo[root] end
    local stack, visited = { root }, { 0 }
    while #stack > 0 do
      local top = #stack
      local node = stack[top]
      local children = node.kind ~= "branch" and node.children or NO_CHILDREN
      local i = visited[top] + 1
      visited[top] = i
      local child = children[i]
      if child then
        if not memo[child] then stack[top + 1], visited[top + 1] = child, 0 end
      else
        stack[top], visited[top] = nil, nil
        local child_pushes = {}
        for j, c in ipairs(children) do child_pushes[j] = memo[c] end
        local compiler = compilers[node.kind]
        if not compiler then error("streamhost: no compiler for node kind " .. node.kind) end
        memo[node] = compiler(node, fanout(child_pushes), push_of, inst)
      end
    end
    return memo[root]
  end
  local function children_push(node)
    local list = {}
    for i, child in ipairs(node.children) do list[i] = push_of(child) end
    return fanout(list)
  end
  for _, source in ipairs(builder.sources) do source.push = children_push(source) end
  for _, timer in ipairs(builder.timers) do timer.push = children_push(timer) end
end

-- What is being decoded right now ("value as json"), so that an error raised
-- by a serde can be reported as a decode error without a pcall per record
-- (a pcall would cut the JIT's trace).
local decoding = nil

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

-- For the aggregations' duplicate check (group.lua): a record read from a
-- repartition topic names, in a header, the input its writer was processing
-- (topic/partition, offset) and its rank among the records that input sent
-- there. Its writer re-reads the same input after a crash and sends the same
-- origins again, so a replay is recognised.
local function set_origin(rec, internal)
  if rec.origin ~= nil then rec.origin = nil end
  if not internal then return end
  local headers = rec.headers
  local h = headers[#headers]
  if h and h.key == ORIGIN_HEADER and h.value then
    local text, start, stop = h.value:match("^(.*)|(%-?%d+),(%-?%d+)$")
    if text then rec.window = { start = tonumber(start), ["end"] = tonumber(stop) } end
    local where, off, seq = (text or h.value):match("^(.*):(%d+):(%d+)$")
    if where then
      rec.origin, rec.origin_offset, rec.origin_seq = where, tonumber(off), tonumber(seq)
    end
    -- the header is the topology's own: outputs carry the record's headers only
    headers[#headers] = nil
    local n = header_count - 1
    rec.header_count, header_count = n, n
    if n == 0 then header_ptr, rec.headers = nil, EMPTY end
  end
end

-- A CDC record's schemas, by the address of their text: C keeps one text
-- per table definition until the source is gone, so a record costs a lookup,
-- not a copy of the text.
local cdc_by_address = {}
local uintptr_t = ffi.typeof("uintptr_t")
local function cdc_schemas(ptr, len)
  len = tonumber(len)
  local addr = tonumber(cast(uintptr_t, ptr))
  local seen = cdc_by_address[addr]
  if not seen or seen.len ~= len then
    local k, v = record_schema.from_cdc(ffi_string(ptr, len))
    seen = { len = len, key = k, value = v }
    cdc_by_address[addr] = seen
  end
  return seen.key, seen.value
end

-- Whether no operator reads a source's values (every child is a count,
-- which only tells a value from nil): then they are checked, not decoded.
local function value_unread(source)
  if #source.children == 0 then return false end
  for _, child in ipairs(source.children) do
    if not child.value_unread then return false end
  end
  return true
end

local function source_dispatch(app, source, topic, rec, state)
  local kdec, kraw = serde.decoder(source.key_serde, { app = app, topic = topic, is_key = true })
  local vdec, vraw = serde.decoder(source.value_serde, { app = app, topic = topic })
  -- a malformed value still fails here, as it would decoding; a count's
  -- record then makes no lazy value nor copies its bytes (count engine-only:
  -- 5,377 -> 4,408 instructions per record)
  if value_unread(source) then vraw = serde.validator(source.value_serde) or vraw end
  local key_what = "key as " .. source.key_serde
  local value_what = "value as " .. source.value_serde
  local push = source.push
  local internal = source.internal
  local windowed = serde.windowed(source.key_serde)
  local window_of = windowed and windowed.window
  local raw_key = raw_passthrough(source, "key_serde")
  local raw_value = raw_passthrough(source, "value_serde")
  return function(r)
    decoding = key_what
    local k, v, ks, vs
    if rec.window ~= nil then rec.window = nil end
    if r.key ~= nil then
      if raw_key then
        k = RAW
      elseif kraw then
        k, ks = kraw(r.key, r.key_len)
      else
        local kb = ffi_string(r.key, r.key_len)
        k = kdec(kb)
        if window_of then
          local start, stop = window_of(kb)
          rec.window = { start = start, ["end"] = stop }
        end
      end
    end
    decoding = value_what
    if r.value ~= nil then
      if raw_value then
        v = RAW
      elseif vraw then
        v, vs = vraw(r.value, r.value_len)
      else
        v = vdec(ffi_string(r.value, r.value_len))
      end
    end
    decoding = nil
    -- the schemas the record carries: its Avro writer schemas, or the ones
    -- a CDC source knows (streamhost/record_schema.lua)
    if r.schema ~= nil then ks, vs = cdc_schemas(r.schema, r.schema_len) end
    -- stored only when there are some, or rec holds some from an earlier
    -- record of any source (state is the instance's): storing nil into rec
    -- on every record cost ~2,800 instructions a record in stateless
    if ks ~= nil or vs ~= nil or state.schemas then
      rec.key_schema, rec.value_schema = ks, vs
      state.schemas = ks ~= nil or vs ~= nil
    end
    -- a CDC record names its own topic (<prefix>.<db>.<table>)
    rec.topic = r.topic ~= nil and ffi_string(r.topic, r.topic_len) or topic
    rec.timestamp = tonumber(r.timestamp)
    rec.partition = r.partition
    rec.offset = tonumber(r.offset)
    local n = r.header_count
    rec.header_count, header_rec, header_count = n, rec, n
    if n == 0 then
      header_ptr, rec.headers = nil, EMPTY
    else
      header_ptr, rec.headers = r.headers, headers_of(r)
    end
    set_origin(rec, internal)
    push(k, v, rec)
  end
end

-- Punctuators (b:every): wall-clock ones fire from tick(now), stream-time
-- ones when the largest timestamp seen passes their due time. A late one
-- fires once, not once per missed interval (as Kafka Streams).
local function stores_view(inst)
  return function(name)
    local store = inst.stores[name]
    if not store then error("no store named '" .. tostring(name) .. "'", 2) end
    local view = {}
    function view.get(_, key)
      for _, p in ipairs(store:partitions()) do
        local v = store:get(key, p)
        if v ~= nil then return v end
      end
    end
    function view.put(_, key, value)
      local parts = store:partitions()
      for _, p in ipairs(parts) do
        if store:get(key, p) ~= nil then return store:put(key, value, p) end
      end
      return store:put(key, value, parts[1] or 0)
    end
    function view.all()
      local list = {}
      for _, p in ipairs(store:partitions()) do
        for _, e in ipairs(store:all(p)) do list[#list + 1] = store:reader_entry(e) end
      end
      return list
    end
    return view
  end
end

local function setup_timers(inst, builder)
  local stores = stores_view(inst)
  local function fire(timer, now)
    local list = timer.fn(now, stores)
    if list == nil then return end
    local rec = { timestamp = now, partition = 0, offset = -1, headers = EMPTY, header_count = 0 }
    for _, kv in ipairs(list) do
      if kv.key ~= nil or kv.value ~= nil then
        timer.push(kv.key, kv.value, rec)
      else
        timer.push(kv[1], kv[2], rec)
      end
    end
  end
  local function due(timer, now)
    if timer.next_due == nil then timer.next_due = now + timer.interval; return end
    if now < timer.next_due then return end
    timer.next_due = now - (now - timer.next_due) % timer.interval + timer.interval
    fire(timer, now)
  end
  local wall, stream = {}, {}
  for _, t in ipairs(builder.timers) do
    if t.time == "wall" then wall[#wall + 1] = t else stream[#stream + 1] = t end
  end
  function inst.start_timers(now)
    for _, t in ipairs(wall) do t.next_due = now + t.interval end
  end
  -- returns when the next wall-clock timer is due (nil: none), so the
  -- host's loop waits for records no longer than that
  function inst.tick(now)
    local next_due
    for _, t in ipairs(wall) do
      due(t, now)
      if next_due == nil or t.next_due < next_due then next_due = t.next_due end
    end
    return next_due
  end
  inst.has_stream_timers = #stream > 0
  function inst.stream_tick(ts)
    if ts <= inst.stream_time then return end
    inst.stream_time = ts
    for _, t in ipairs(stream) do due(t, ts) end
  end
end

-- Instantiates a built topology on a context: declares sources and sinks,
-- compiles, and returns an object with process(ptr, n).
function _M.instantiate(app, builder, ctx)
  local inst = { ctx = ctx, sink_nodes = {}, source_names = {}, dispatch = {}, skipped = 0,
                 stores = {}, getters = {}, app_id = app.id, app = app, builder = builder,
                 repartition_topics = {}, timers = {}, stream_time = -math.huge,
                 before_flush = {} }
  -- Room for every field a record ever gets, nil or not. In LuaJIT a nil
  -- stored under an absent key inserts the key, and a rehash drops the
  -- nil-valued keys again: sized to its non-nil fields, rec was rehashed by
  -- each record's rec.window/origin/key_schema = nil (three rehashes a
  -- record with Avro's value_schema, about half of stateless_avro's cost).
  -- The per-record paths clear a field only when it is set, so more fields
  -- than this cost a rehash once, not per record.
  local rec = new_tab(0, 32)
  rec.headers, rec.header_count = EMPTY, 0
  local dropped, late = 0, 0
  function inst.dropped(r, why)
    dropped = dropped + 1
    core.log("warn", "dropped record %s [%s] @ %s: %s (%d dropped)", tostring(r.topic),
             tostring(r.partition), tostring(r.offset), why, dropped)
  end
  function inst.late(r, store, start, stop)
    late = late + 1
    core.log("warn", "dropped late record %s [%s] @ %s (timestamp %s) for window [%s, %s) of " ..
             "store %s: beyond its grace (%d late records dropped)", tostring(r.topic),
             tostring(r.partition), tostring(r.offset), tostring(r.timestamp), tostring(start),
             tostring(stop), store, late)
  end
  -- Waits until every output so far is delivered (sh_ffi_ctx_drain): called
  -- before a store's changes are written, so that after a crash the state is
  -- never ahead of the outputs before it. Records read again after a crash
  -- are taken for replays (markers) and send only the current value: a
  -- deletion or a closed window's result written ahead of its output would
  -- otherwise never be sent.
  function inst.drain()
    if C.sh_ffi_ctx_drain(ctx) ~= C.SH_OK then error(core.failure(), 0) end
  end
  function inst.counts() return { dropped = dropped, late = late, skipped = inst.skipped } end
  compile(builder, inst)
  setup_timers(inst, builder)

  -- The stores' write-back caches (store.lua) go out together: a flush
  -- releases the batches held for cached changes (sh_ffi_ctx_release), so
  -- it must leave no store's changes behind.
  -- Before the stores, the hooks that write into their caches (panes.lua
  -- writes the windows its panes changed); stores marked flush_last go
  -- after the others (the panes, after the windows made from them: a crash
  -- between the two leaves the panes behind, and their records are applied
  -- again rather than taken for replays).
  function inst.flush()
    for _, hook in ipairs(inst.before_flush) do hook() end
    -- outputs first: what a flush writes must not get ahead of them
    for _, store in pairs(inst.stores) do
      if store:has_changes() then
        inst.drain()
        break
      end
    end
    local written = 0
    for _, store in pairs(inst.stores) do
      if not store.flush_last then written = written + store:flush_cache() end
    end
    for _, store in pairs(inst.stores) do
      if store.flush_last then written = written + store:flush_cache() end
    end
    inst.flush_wanted = false
    if written > 0 then C.sh_ffi_ctx_release(ctx) end
  end
  -- Flushed every second under load (as the consumer's
  -- auto.commit.interval.ms), and as soon as a round of the loop brought no
  -- records: an idle app's stores (pull queries read RocksDB) are current.
  local FLUSH_EVERY_MS = 1000
  local timers_tick, last_flush = inst.tick, nil
  function inst.tick(now)
    local next_due = timers_tick(now)
    last_flush = last_flush or now
    if not inst.busy or now - last_flush >= FLUSH_EVERY_MS then
      last_flush = now
      inst.flush()
    end
    inst.busy = false
    return next_due
  end
  local dispatch_state = { schemas = false } -- shared by the sources' dispatches, as rec is
  for _, source in ipairs(builder.sources) do
    for _, topic in ipairs(source.topics) do
      local index = core.source_add(ctx, topic)
      inst.source_names[index] = topic
      inst.dispatch[index] = source_dispatch(app, source, topic, rec, dispatch_state)
    end
  end

  -- a reload's trial (vm.c) judges a new version by whether it raises on
  -- recent records: there every policy is "fail"
  local policy = rawget(_G, "STREAMHOST_TRIAL") and "fail" or app.on_error or "fail"
  local write_dead_letter = policy == "dead_letter" and dead_letter.sink(inst, app)
  local dispatch = inst.dispatch
  local cursor = 0

  local stream_tick = inst.stream_tick
  local has_stream_timers = inst.has_stream_timers
  local function run(records, first, n)
    for i = first, n - 1 do
      cursor, raw_index = i, i
      local r = records[i]
      local fn = dispatch[r.source]
      if fn then fn(r) end
      if has_stream_timers then stream_tick(tonumber(r.timestamp)) end
    end
  end

  local function where(r)
    return string.format("%s [%d] @ %s", inst.source_names[r.source] or "?", r.partition,
                         tostring(r.offset):gsub("[LU]+$", ""))
  end

  -- Returns how many records were processed; fewer than n means stop, with
  -- the reason as second value.
  function inst.process(ptr, n)
    inst.busy = true
    local records = cast(record_ptr_t, ptr)
    raw_batch = records
    local first = 0
    while first < n do
      local ok, err = xpcall(run, debug.traceback, records, first, n)
      if ok then
        if inst.flush_wanted then inst.flush() end -- a cache at its bound
        return n
      end
      -- past the VM's memory.limit: what the failed record built is garbage
      -- now; collect it before anything here allocates (find does not)
      if type(err) == "string" and err:find("^not enough memory") then collectgarbage() end
      local r = records[cursor]
      local message = tostring(err)
      if decoding then
        message = "cannot decode " .. decoding .. ": " .. message
        decoding = nil
      end
      if policy == "skip" then
        inst.skipped = inst.skipped + 1
        core.log("warn", "skipped record %s (on_error = skip, %d skipped): %s", where(r),
                 inst.skipped, message:match("^[^\n]*"))
      elseif policy == "dead_letter" then
        inst.skipped = inst.skipped + 1
        write_dead_letter(r, message:match("^[^\n]*"))
        core.log("warn", "record %s sent to %s (%d so far): %s", where(r), core.topic_name(app.id, "dlq"),
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

  -- A revoked task: close this VM's handles on its stores.
  function inst.release_task(topic, partition)
    for _, store in pairs(inst.stores) do
      local decl_topic = store.source_topic
      if decl_topic == nil or decl_topic == topic then store:release(partition) end
    end
  end

  function inst.close()
    for _, store in pairs(inst.stores) do store:close() end
  end

  return inst
end

return _M
