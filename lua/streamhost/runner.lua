-- Loads an app for the host (bin/streamhost, vm.c) and for the test driver:
-- runs the app file, builds its topology on a context and returns what C
-- needs: the app id, its Kafka properties, the files to watch for reload and
-- the batch function.
local ffi = require "ffi"
local sh = require "streamhost"
local builder_mod = require "streamhost.builder"
local topology = require "streamhost.topology"
local core = require "streamhost.core"

local C = core.C

local _M = {}

local function dir_of(path) return path:match("^(.*)/[^/]*$") or "." end

-- Builds and instantiates a checked app on ctx (an sh_ctx_t* cdata).
function _M.instantiate(app, ctx, now)
  sh.current_ctx = ctx
  local b = builder_mod.new(app)
  app.topology(b)
  if #b.sources == 0 then
    error("the topology reads nothing: call b:stream(topic, ...) in topology(b)", 0)
  end
  local inst = topology.instantiate(app, b, ctx)
  -- internal topics are read and written by the topology itself
  for _, topic in ipairs(b.repartition_topics) do
    core.sink_add(ctx, topic)
  end
  inst.start_timers(now or tonumber(C.sh_ffi_clock_now_ms()))
  return inst
end

local function kafka_list(kafka)
  local list = {}
  for k, v in pairs(kafka) do list[#list + 1] = { tostring(k), tostring(v) } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

-- Modules the app required, as files, so editing them reloads the app.
local function required_files(before, lua_dir)
  local files = {}
  for name in pairs(package.loaded) do
    if not before[name] then
      local path = package.searchpath(name, package.path)
      if path and path:sub(1, #lua_dir) ~= lua_dir then files[#files + 1] = path end
    end
  end
  table.sort(files)
  return files
end

local function load_app(app_path, ctx_ud)
  local lua_dir = dir_of(dir_of(debug.getinfo(1, "S").source:sub(2)))
  package.path = dir_of(app_path) .. "/?.lua;" .. package.path
  local before = {}
  for name in pairs(package.loaded) do before[name] = true end

  local chunk, err = loadfile(app_path)
  if not chunk then return nil, err end
  local ok, app = pcall(chunk)
  if not ok then return nil, tostring(app) end
  if not sh.is_app(app) then
    return nil, app_path .. ":1: the file must return sh.app { ... }"
  end
  local ctx = ffi.cast("sh_ctx_t *", ctx_ud)
  local built, inst = pcall(_M.instantiate, app, ctx)
  if not built then return nil, tostring(inst) end

  local files = required_files(before, lua_dir)
  table.insert(files, 1, app_path)
  local sources = {}
  for _, source in ipairs(inst.builder.sources) do
    for _, t in ipairs(source.topics) do sources[t] = source end
  end
  return {
    id = app.id,
    threads = app.threads or 1,
    state_dir = app.state_dir,
    memory_limit = app.memory_limit,
    max_batch_ms = app.max_batch_ms,
    startup_timeout_ms = app.startup_timeout_ms,
    http = app.http,
    kafka_list = kafka_list(app.kafka),
    files = files,
    table_topics = inst.builder.table_topics,
    process = inst.process,
    release_task = function(_, topic, partition) inst.release_task(topic, partition) end,
    tick = function(_, now) inst.tick(now) end,
    flush = function() inst.flush() end,
    close = function() inst.close() end,
    after_batch = function() inst.after_batch() end,
    describe = function() return inst.builder:describe() end,
    source_partitions = function(_, topic) return sources[topic] and sources[topic].partitions or 1 end,
    source_location = function(_, topic) return sources[topic] and sources[topic].location or app_path end,
  }
end

-- Entry point for vm.c: returns the app table, or nil and "file:line: message".
function _M.load(app_path, ctx_ud)
  local ok, app, err = pcall(load_app, app_path, ctx_ud)
  if not ok then return nil, tostring(app) end
  return app, err
end

return _M
