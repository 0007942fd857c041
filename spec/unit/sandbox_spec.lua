-- App code runs sandboxed (issue 13): no process control, no files, no FFI,
-- no debug, no bytecode. Each escape is refused with the app's file:line and
-- a message saying why and how to lift it (--unsafe). Apps are loaded from
-- their files by the test driver, the same way `streamhost run` loads them.
local helpers = require "spec.helpers"
local testing = require "streamhost.testing"

local HEADER = "local sh = require 'streamhost'\n"
local TOPOLOGY = [[
return sh.app { id = "sandboxed", topology = function(b)
  b:stream("in", { key = "string", value = "string" }):to("out")
end }
]]

local dir

local function write_app(name, body)
  local path = dir .. "/" .. name
  helpers.write_file(path, body)
  return path
end

-- The error of loading an app whose line 2 is `line`.
local function refusal(line)
  local path = write_app("app.lua", HEADER .. line .. "\n" .. TOPOLOGY)
  local ok, err = pcall(testing.load, path)
  assert.is_false(ok, line .. " was allowed")
  return tostring(err), path
end

local function assert_refused_at_line_2(line, what)
  local err, path = refusal(line)
  assert.equal(path .. ":2:", err:sub(1, #path + 3), err)
  assert.matches(what, err, 1, true)
  assert.matches("sandboxed", err, 1, true)
  assert.matches("--unsafe", err, 1, true)
end

describe("the app sandbox", function()
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it("refuses process control: os.execute, os.exit, io.popen", function()
    assert_refused_at_line_2("os.execute('id')", "os.execute is not available")
    assert_refused_at_line_2("local exit = os.exit; exit(7)", "os.exit is not available")
    assert_refused_at_line_2("io.popen('id')", "io is not available")
    assert_refused_at_line_2("local tmp = os.tmpname()", "os.tmpname is not available")
  end)

  it("refuses files: io.open, loadfile, dofile, os.remove", function()
    assert_refused_at_line_2("io.open('/etc/passwd')", "io is not available")
    assert_refused_at_line_2("loadfile('/etc/passwd')", "loadfile is not available")
    assert_refused_at_line_2("dofile('/tmp/x.lua')", "dofile is not available")
    assert_refused_at_line_2("os.remove('/tmp/x')", "os.remove is not available")
  end)

  it("refuses the FFI, debug, jit, package and environment escapes", function()
    assert_refused_at_line_2("local ffi = require 'ffi'", "require 'ffi' is not available")
    assert_refused_at_line_2("local x = ffi", "ffi is not available")
    assert_refused_at_line_2("debug.getinfo(1)", "debug is not available")
    assert_refused_at_line_2("local d = require 'debug'", "require 'debug' is not available")
    assert_refused_at_line_2("jit.off()", "jit is not available")
    assert_refused_at_line_2("package.loadlib('libc.so.6', 'system')", "package is not available")
    assert_refused_at_line_2("local g = getfenv(2)", "getfenv is not available")
    assert_refused_at_line_2("setfenv(1, {})", "setfenv is not available")
    assert_refused_at_line_2("local C = require('streamhost.core').C",
                             "require 'streamhost.core' (streamhost's internals")
    assert_refused_at_line_2("collectgarbage('stop')", "collectgarbage('stop') is not available")
  end)

  it("refuses bytecode: load of a binary chunk, string.dump", function()
    local bytecode = string.dump(function() return 1 end)
    assert_refused_at_line_2(("load(%q)"):format(bytecode), "binary chunks (bytecode) are refused")
    assert_refused_at_line_2(("loadstring(%q)"):format(bytecode), "binary chunks (bytecode) are refused")
    assert_refused_at_line_2("load('return 1', 'x', 'b')", "mode 'b' is refused")
    assert_refused_at_line_2("string.dump(print)", "string.dump is not available")
  end)

  it("refuses a precompiled app file", function()
    local path = dir .. "/app.lua"
    helpers.write_file(path, string.dump(function() return 1 end))
    local ok, err = pcall(testing.load, path)
    assert.is_false(ok)
    assert.matches("bytecode", tostring(err), 1, true)
  end)

  it("keeps the safe standard library, and text load() runs sandboxed too", function()
    local path = write_app("app.lua", HEADER .. [[
local parts = {}
for w in ("a b"):gmatch("%S+") do parts[#parts + 1] = w:upper() end
assert(math.floor(2.5) == 2 and table.concat(parts) == "AB" and os.time() > 0)
assert(os.getenv("HOME") ~= nil or os.getenv("PATH") ~= nil)
assert(bit.band(6, 3) == 2 and type(coroutine.wrap(function() end)) == "function")
assert(select("#", pcall(error, "x")) == 2 and tostring(nil) == "nil")
local ok, err = pcall(load("return os.execute('id')"))
assert(not ok and err:match("os.execute is not available"), err)
assert(getmetatable("") == false)
]] .. TOPOLOGY)
    local app = testing.load(path)
    assert.equal("sandboxed", app.id)
  end)

  it("loads the app's own modules sandboxed, and none from elsewhere", function()
    helpers.write_file(dir .. "/helper.lua", "return { run = function() return io.popen('id') end }\n")
    local path = write_app("app.lua", HEADER .. [[
local helper = require "helper"
return sh.app { id = "sandboxed", topology = function(b)
  b:stream("in", { key = "string", value = "string" })
   :map_values(function(v) if v == "escape" then helper.run() end return v end)
   :to("out", { value = "string" })
end }
]])
    local d = testing.driver(path)
    d:input("in"):pipe("k", "fine")
    assert.equal("fine", d:output("out"):read().value)
    local ok, err = pcall(function() d:input("in"):pipe("k", "escape") end)
    assert.is_false(ok)
    assert.matches(dir .. "/helper.lua:1: io is not available", tostring(err), 1, true)
    d:close()

    path = write_app("app.lua", HEADER .. "local lfs = require 'lfs'\n" .. TOPOLOGY)
    ok, err = pcall(testing.load, path)
    assert.is_false(ok)
    assert.matches(path .. ":2: module 'lfs' not found", tostring(err), 1, true)
  end)

  it("refuses an escape at run time with the record and the app's line", function()
    local path = write_app("app.lua", HEADER .. [[
return sh.app { id = "sandboxed", topology = function(b)
  b:stream("in", { key = "string", value = "string" })
   :map_values(function(v) return os.exit(7) end):to("out", { value = "string" })
end }
]])
    local d = testing.driver(path)
    local ok, err = pcall(function() d:input("in"):pipe("k", "v") end)
    assert.is_false(ok)
    assert.matches("in [0] @ 0", tostring(err), 1, true)
    assert.matches(path .. ":4: os.exit is not available", tostring(err), 1, true)
    d:close()
  end)

  it("hands app code no pointer into the host, and ignores a forged header count", function()
    local path = write_app("app.lua", HEADER .. [[
return sh.app { id = "sandboxed", topology = function(b)
  b:stream("in", { key = "string", value = "string" })
   :map_values(function(v, _, rec)
     for field, x in pairs(rec) do
       if type(x) == "cdata" or type(x) == "userdata" then error("rec." .. field .. " is " .. type(x)) end
     end
     rec.header_count = 100000
     return v
   end)
   :to("out", { value = "string" })
end }
]])
    local d = testing.driver(path)
    d:input("in"):pipe("k", "v", 1, { { key = "h", value = "1" } })
    local out = d:output("out"):read()
    assert.equal("v", out.value)
    assert.same({ { key = "h", value = "1" } }, out.headers)
    d:close()
  end)

  it("gives each load a fresh environment: globals do not leak between loads", function()
    local path = write_app("app.lua", HEADER .. "assert(seen == nil); seen = true\n" .. TOPOLOGY)
    testing.load(path)
    testing.load(path)
  end)

  it("lets apps use Connect's transforms, a MySQL connection and the log", function()
    -- the workshop's CDC app and orders application load sandboxed
    local path = write_app("app.lua", HEADER ..
      "local smt = require 'streamhost.smt'\n" ..
      "assert(smt.unwrap and sh.mysql_connect and sh.log)\n" .. TOPOLOGY)
    assert.equal("sandboxed", testing.load(path).id)
    for _, example in ipairs { "examples/mysql_cdc/app.lua", "examples/supply_demand/orders.lua" } do
      assert.is_true(pcall(testing.load, example), example)
    end
    assert.has_error(function() require("streamhost").log("loud", "x") end,
                     "sh.log: level must be error, warn, info or debug")
  end)

  it("is lifted by { unsafe = true }, as by `streamhost run --unsafe`", function()
    local path = write_app("app.lua", HEADER .. "assert(io.open and os.execute and require('ffi'))\n" ..
                                      TOPOLOGY)
    assert.equal("sandboxed", testing.load(path, { unsafe = true }).id)
    local d = testing.driver(path, { unsafe = true })
    d:close()
  end)
end)
