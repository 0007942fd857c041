-- The environment app code runs in: the safe part of the standard library
-- and streamhost's DSL, nothing that reaches the process, the files or the
-- FFI (as Redis' scripting sandbox and OpenResty's per-request environments).
--
--   local box = sandbox.new("/path/to/app/dir")
--   local chunk, err = box:loadfile("/path/to/app/dir/app.lua")
--
-- The app file, every module it requires from its own directory and every
-- chunk it builds with load() share one environment table, fresh per load
-- (so a reload starts clean). A refused name raises where the app touches
-- it ("app.lua:12: os.execute is not available: ..."), not when it is
-- called, so the error names the user's line. streamhost's own modules run
-- in the host's environment: they use the FFI, the app only their API.
--
-- `streamhost run --unsafe` (runner.lua) and testing.load(path, { unsafe =
-- true }) bypass this module altogether.
local _M = {}

_M.HINT = "app code runs sandboxed (no process, file, FFI or debug access, no bytecode); " ..
          "`streamhost run --unsafe` lifts it"

local function refused(name, level)
  error(name .. " is not available: " .. _M.HINT, level + 1)
end

-- Reading a refused field raises at the reader's line (level 2 from a
-- metamethod is the Lua function doing the indexing).
local function guarded(prefix, fields, refuse)
  return setmetatable(fields, {
    __index = function(_, key)
      if refuse == true or refuse[key] then refused(prefix .. tostring(key), 2) end
    end,
    __metatable = false,
  })
end

local function copy(t, except)
  local c = {}
  for k, v in pairs(t) do
    if not (except and except[k]) then c[k] = v end
  end
  return c
end

-- Modules an app may require besides its own: streamhost's DSL (with
-- Connect's transforms and connector configs, streamhost.smt and
-- streamhost.connect), its MySQL client, and pure data libraries. Not
-- streamhost.core (it hands out the FFI namespace), runner or testing
-- (they run commands).
local PUBLIC = {
  streamhost = true, ["streamhost.serde"] = true, ["streamhost.window"] = true,
  ["streamhost.smt"] = true, ["streamhost.connect"] = true,
  ["streamhost.mysql"] = true, -- MySQL queries through the core (the orders application)
  cjson = true, ["cjson.safe"] = true,
}

-- Names an app would reach for, refused with a reason rather than as nil.
local REFUSED_GLOBALS = {
  io = true, debug = true, ffi = true, jit = true, package = true, loadfile = true,
  dofile = true, getfenv = true, setfenv = true, module = true,
}
local REFUSED_MODULES = {
  ffi = true, io = true, os = true, debug = true, jit = true, package = true,
  ["jit.util"] = true, ["jit.opt"] = true, ["jit.profile"] = true,
}
-- os.getenv stays: reading the environment is how apps are configured
-- (bootstrap servers, credentials), and it neither runs nor touches anything.
local OS_REFUSED = {
  execute = true, exit = true, remove = true, rename = true, tmpname = true, setlocale = true,
}

local function is_bytecode(s) return type(s) == "string" and s:byte(1) == 27 end

-- load/loadstring for text only, in the sandbox's environment by default.
local function text_loader(box)
  local function load_text(chunk, chunkname, mode, env)
    if mode ~= nil and mode ~= "t" then
      error("load: mode '" .. tostring(mode) .. "' is refused: only text chunks load (" ..
            _M.HINT .. ")", 2)
    end
    if is_bytecode(chunk) then
      error("load: binary chunks (bytecode) are refused: " .. _M.HINT, 2)
    end
    if type(chunk) == "function" then
      -- a reader function: join its pieces, so the first byte can be checked
      local parts = {}
      while true do
        local piece = chunk()
        if piece == nil or piece == "" then break end
        parts[#parts + 1] = piece
      end
      chunk = table.concat(parts)
      if is_bytecode(chunk) then
        error("load: binary chunks (bytecode) are refused: " .. _M.HINT, 2)
      end
    end
    return load(chunk, chunkname, "t", env or box.env)
  end
  return load_text, function(s, chunkname) return load_text(s, chunkname) end
end

local Sandbox = {}
Sandbox.__index = Sandbox

-- require inside the sandbox: the public modules, then the app directory's
-- own (DIR/a/b.lua or DIR/a/b/init.lua for "a.b"), loaded sandboxed and
-- remembered per sandbox.
local function make_require(box)
  local loading = {}
  return function(name)
    if type(name) ~= "string" then error("require expects a module name", 2) end
    local have = box.loaded[name]
    if have ~= nil then return have end
    if PUBLIC[name] then return require(name) end
    if REFUSED_MODULES[name] then refused("require '" .. name .. "'", 2) end
    if name:match("^streamhost%.") then
      refused("require '" .. name .. "' (streamhost's internals; apps use require " ..
              "'streamhost')", 2)
    end
    if not name:match("^[%w_%-%.]+$") then
      error("require '" .. name .. "': a module name is letters, digits, '_', '-' and '.'", 2)
    end
    if loading[name] then error("require '" .. name .. "': loop in requires", 2) end
    local rel = name:gsub("%.", "/")
    local tried = {}
    for _, path in ipairs({ box.dir .. "/" .. rel .. ".lua", box.dir .. "/" .. rel .. "/init.lua" }) do
      local chunk, err = box:loadfile(path)
      if chunk then
        loading[name] = true
        local ok, result = pcall(chunk, name)
        loading[name] = nil
        if not ok then error(result, 0) end
        if result == nil then result = true end
        box.loaded[name] = result
        return result
      elseif err ~= "not found" then
        error(err, 0)
      end
      tried[#tried + 1] = "\n\tno file '" .. path .. "'"
    end
    error("module '" .. name .. "' not found (the sandbox loads the app's own modules from " ..
          box.dir .. " and streamhost's public ones):" .. table.concat(tried), 2)
  end
end

local function safe_collectgarbage(opt, arg)
  if opt == nil or opt == "collect" or opt == "count" or opt == "step" then
    return collectgarbage(opt, arg)
  end
  refused("collectgarbage('" .. tostring(opt) .. "')", 2)
end

-- The string metatable is shared with streamhost's own code: an app must not
-- be able to swap the functions streamhost calls through it.
local function safe_getmetatable(x)
  if type(x) == "string" then return false end
  return getmetatable(x)
end

-- A fresh sandbox for an app whose own modules live in dir.
function _M.new(dir)
  local box = setmetatable({ dir = dir or ".", loaded = {}, files = {} }, Sandbox)
  local load_text, loadstring_text = text_loader(box)
  local env = {
    _VERSION = _VERSION, assert = assert, error = error, ipairs = ipairs, next = next,
    pairs = pairs, pcall = pcall, print = print, rawequal = rawequal, rawget = rawget,
    rawset = rawset, select = select, setmetatable = setmetatable, tonumber = tonumber,
    tostring = tostring, type = type, unpack = unpack, xpcall = xpcall,
    getmetatable = safe_getmetatable, collectgarbage = safe_collectgarbage,
    load = load_text, loadstring = loadstring_text, require = make_require(box),
    string = copy(string, { dump = true }), table = copy(table), math = copy(math),
    bit = copy(bit), coroutine = copy(coroutine),
    os = guarded("os.", { time = os.time, clock = os.clock, date = os.date,
                          difftime = os.difftime, getenv = os.getenv }, OS_REFUSED),
  }
  env.string = guarded("string.", env.string, { dump = true })
  env._G = env
  box.env = setmetatable(env, {
    __index = function(_, key)
      if REFUSED_GLOBALS[key] then refused(tostring(key), 2) end
    end,
  })
  return box
end

-- Loads a text chunk from path in the sandbox. Returns the chunk, or nil and
-- "not found" when there is no such file, or nil and a message.
function Sandbox:loadfile(path)
  local f = io.open(path, "rb")
  if not f then return nil, "not found" end
  local text = f:read("*a")
  f:close()
  if not text then return nil, "cannot read " .. path end
  if is_bytecode(text) then
    return nil, path .. ": a precompiled (bytecode) file is refused: " .. _M.HINT
  end
  self.files[#self.files + 1] = path
  return load(text, "@" .. path, "t", self.env)
end

return _M
