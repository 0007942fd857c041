-- Loads an app for the host (bin/streamhost, vm.c) and for the test driver:
-- runs the app file, builds its topology on a context and returns what C
-- needs: the app id, its Kafka properties, the files to watch for reload and
-- the batch function.
local ffi = require "ffi"
local sh = require "streamhost"
local builder_mod = require "streamhost.builder"
local topology = require "streamhost.topology"
local core = require "streamhost.core"
local sandbox = require "streamhost.sandbox"

local C = core.C

local _M = {}

local function dir_of(path) return path:match("^(.*)/[^/]*$") or "." end

-- Where the app's topology function is defined ("app.lua:3").
local function topology_location(app)
  local info = debug.getinfo(app.topology, "S")
  return info.source:gsub("^@", "") .. ":" .. info.linedefined
end

-- An xpcall handler for loading an app: a message that names a line of
-- streamhost's own modules, or none (a misuse checked inside the DSL, whose
-- error level a tail call made miss the user's frame), is put at the app's
-- innermost line still on the stack, else at `fallback`. Given is_app
-- (the sandbox knows every file the app runs), a line in any other file is
-- misplaced too: a tail call (`return sh.app { ... }`) left a caller's.
-- O(stack depth).
local function at_app_line(fallback, is_app)
  return function(err)
    if type(err) ~= "string" then return err end
    local file, rest = err:match("^([^\n]-):%d+: (.*)$")
    if file and not builder_mod.is_ours("@" .. file) and (not is_app or is_app(file)) then
      return err
    end
    local where = builder_mod.user_location(2, is_app) or fallback
    if not where then return err end
    return where .. ": " .. (rest or err)
  end
end

-- Two stores of one name would share their RocksDB and changelog: refused,
-- naming both lines. (A join's arms list the same stores: one table.)
local function check_store_names(b)
  local owner = {}
  for _, node in ipairs(b.nodes) do
    for _, name in ipairs(node.stores or {}) do
      local first = owner[name]
      if first and first.stores ~= node.stores then
        error(string.format("%s: a second store named '%s' (the first is at %s); give each " ..
                            "store its own name (opts.name)", node.location or "?", name,
                            first.location or "?"), 0)
      end
      owner[name] = owner[name] or node
    end
  end
end

-- Builds and instantiates a checked app on ctx (an sh_ctx_t* cdata).
-- Errors name the app's file and line.
function _M.instantiate(app, ctx, now)
  sh.current_ctx = ctx
  local b = builder_mod.new(app)
  local where = topology_location(app)
  local ok, err = xpcall(app.topology, at_app_line(where), b)
  if not ok then error(err, 0) end
  -- timers alone are a topology too (the orders application reads MySQL)
  if #b.sources == 0 and #b.timers == 0 then
    error(where .. ": the topology reads nothing: call b:stream(topic, ...) in topology(b)", 0)
  end
  check_store_names(b)
  local inst
  ok, err = xpcall(function() inst = topology.instantiate(app, b, ctx) end, at_app_line(where))
  if not ok then error(err, 0) end
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

-- Runs the app file: in a sandbox of its own unless unsafe, then with the
-- host's globals and package.path widened to the app's directory. Returns
-- the app and a function listing the files it loaded, or nil and an error.
function _M.run_file(app_path, unsafe)
  local chunk, err, files, is_app
  if unsafe then
    local lua_dir = dir_of(dir_of(debug.getinfo(1, "S").source:sub(2)))
    package.path = dir_of(app_path) .. "/?.lua;" .. package.path
    local before = {}
    for name in pairs(package.loaded) do before[name] = true end
    chunk, err = loadfile(app_path)
    files = function()
      local list = required_files(before, lua_dir)
      table.insert(list, 1, app_path)
      return list
    end
  else
    local box = sandbox.new(dir_of(app_path))
    chunk, err = box:loadfile(app_path)
    if err == "not found" then err = "cannot open " .. app_path end
    files = function() return box.files end
    is_app = function(file)
      for _, f in ipairs(box.files) do
        if f == file then return true end
      end
      return false
    end
  end
  if not chunk then return nil, err end
  local ok, app = xpcall(chunk, at_app_line(app_path .. ":1", is_app))
  if not ok then return nil, tostring(app) end
  if not sh.is_app(app) then
    return nil, app_path .. ":1: the file must return sh.app { ... }"
  end
  return app, files
end

local function load_app(app_path, ctx_ud, unsafe)
  local app, files_of = _M.run_file(app_path, unsafe)
  if not app then return nil, files_of end
  local ctx = ffi.cast("sh_ctx_t *", ctx_ud)
  local built, inst = pcall(_M.instantiate, app, ctx)
  if not built then return nil, tostring(inst) end

  local files = files_of()
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
    max_task_idle_ms = app.max_task_idle_ms,
    startup_timeout_ms = app.startup_timeout_ms,
    http = app.http,
    kafka_list = kafka_list(app.kafka),
    mysql_cdc_list = inst.builder.mysql_cdc_props,
    files = files,
    table_topics = inst.builder.table_topics,
    process = inst.process,
    release_task = function(_, topic, partition) inst.release_task(topic, partition) end,
    tick = function(_, now) return inst.tick(now) end,
    flush = function() inst.flush() end,
    close = function() inst.close() end,
    after_batch = function() inst.after_batch() end,
    describe = function() return inst.builder:describe() end,
    source_partitions = function(_, topic) return sources[topic] and sources[topic].partitions or 1 end,
    source_location = function(_, topic) return sources[topic] and sources[topic].location or app_path end,
  }
end

-- Entry point for vm.c: returns the app table, or nil and "file:line: message".
-- unsafe (--unsafe) runs the app without the sandbox.
function _M.load(app_path, ctx_ud, unsafe)
  local ok, app, err = pcall(load_app, app_path, ctx_ud, unsafe)
  if not ok then return nil, tostring(app) end
  return app, err
end

return _M
