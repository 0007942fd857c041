-- The FFI surface: lua/streamhost/cdefs.lua is exactly the header's CDEF
-- section, every function it declares exists in lib/libstreamhost.so, and
-- the capture context (what the test driver stands on) behaves as the header
-- says.
local ffi = require "ffi"
require "streamhost.core" -- ffi.cdef of lua/streamhost/cdefs.lua, once per process

local HEADER = "runtime/include/streamhost_ffi.h"
local CDEFS = "lua/streamhost/cdefs.lua"

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

-- The lines strictly between "/* CDEF-BEGIN */" and "/* CDEF-END */", each
-- ending in "\n".
local function cdef_section()
  local lines, inside, seen_begin, seen_end = {}, false, false, false
  for line in io.lines(HEADER) do
    if line == "/* CDEF-BEGIN */" then
      assert(not seen_begin, "two CDEF-BEGIN markers")
      inside, seen_begin = true, true
    elseif line == "/* CDEF-END */" then
      assert(inside, "CDEF-END before CDEF-BEGIN")
      inside, seen_end = false, true
    elseif inside then
      lines[#lines + 1] = line .. "\n"
    end
  end
  assert(seen_begin and seen_end, "markers not found in " .. HEADER)
  return table.concat(lines)
end

local function without_comments(text)
  return (text:gsub("/%*.-%*/", " "))
end

local function declared_functions()
  local names, seen = {}, {}
  for name in without_comments(cdef_section()):gmatch("(sh_ffi_[%w_]+)%s*%(") do
    if not seen[name] then names[#names + 1], seen[name] = name, true end
  end
  return names
end

local lib = ffi.load(assert(os.getenv("STREAMHOST_LIB"), "STREAMHOST_LIB is not set"))

local function new_ctx()
  return ffi.gc(lib.sh_ffi_ctx_new_capture(), lib.sh_ffi_ctx_destroy)
end

local function str(p, len)
  if p == nil then return nil end
  return len and ffi.string(p, len) or ffi.string(p)
end

local run_isolated = require("spec.helpers").run_isolated

describe("cdefs.lua", function()
  it("is the header's CDEF section, as a Lua string", function()
    assert.equal(cdef_section(), require "streamhost.cdefs")
  end)

  it("is the generated file, byte for byte", function()
    assert.equal("-- Generated from " .. HEADER .. " by scripts/gen-cdefs.sh; do not edit.\n" ..
                 "return [[\n" .. cdef_section() .. "]]\n", slurp(CDEFS))
  end)

  it("holds nothing ffi.cdef or a long string cannot take", function()
    local section = cdef_section()
    assert.falsy(section:find("\n#"), "a preprocessor line in the CDEF section")
    assert.falsy(section:find("^#"), "a preprocessor line in the CDEF section")
    assert.falsy(section:find("]]", 1, true), "']]' would end cdefs.lua's long string")
  end)

  it("declares the functions the Lua side calls", function()
    local declared = {}
    for _, name in ipairs(declared_functions()) do declared[name] = true end
    for _, name in ipairs({ "sh_ffi_err_name", "sh_ffi_err_describe", "sh_ffi_err_code",
                            "sh_ffi_err_message", "sh_ffi_err_is_retriable", "sh_ffi_err_is_fatal",
                            "sh_ffi_ctx_new_capture", "sh_ffi_ctx_destroy", "sh_ffi_source_add",
                            "sh_ffi_sink_add", "sh_ffi_sink_emit", "sh_ffi_sink_capture_next",
                            "sh_ffi_log_write", "sh_ffi_clock_now_ms", "sh_ffi_ctx_version" }) do
      assert.is_true(declared[name], name)
    end
  end)

  -- sh_ffi_<subsystem>_<verb>: no bare sh_ffi_<verb> (sh_ffi_emit, sh_ffi_log).
  it("names every function sh_ffi_<subsystem>_<verb>", function()
    local subsystems = { err = true, ctx = true, source = true, sink = true, log = true,
                         clock = true, topic = true, store = true, window = true, mysql = true,
                         avro = true, registry = true, json = true }
    for _, name in ipairs(declared_functions()) do
      local subsystem = name:match("^sh_ffi_([%l]+)_[%w_]+$")
      assert.truthy(subsystem and subsystems[subsystem], name)
    end
  end)

  -- One error channel: no per-handle errmsg function beside sh_ffi_err_message.
  it("has one error-message function", function()
    local channels = {}
    for _, name in ipairs(declared_functions()) do
      if name:find("errmsg", 1, true) or name:find("_message", 1, true) then
        channels[#channels + 1] = name
      end
    end
    assert.same({ "sh_ffi_err_message" }, channels)
  end)
end)

describe("lib/libstreamhost.so", function()
  it("defines every sh_ffi_* function the header declares", function()
    local missing = {}
    for _, name in ipairs(declared_functions()) do
      if not pcall(function() return lib[name] end) then missing[#missing + 1] = name end
    end
    assert.same({}, missing)
  end)
end)

describe("sh_ffi_err_name and sh_ffi_err_describe", function()
  -- Enumerators of sh_err_t, read from the header: { name, value }.
  local function enumerators()
    local body = without_comments(cdef_section()):match("typedef enum sh_err%s*(%b{})")
    local list = {}
    for name, value in body:gmatch("(SH_[%w_]+)%s*=%s*(%d+)") do
      list[#list + 1] = { name, tonumber(value) }
    end
    return list
  end

  -- base/errors.h's SH_ERRDEF(name, class, "description") entries, in order.
  local function errdefs()
    local list = {}
    for name, class, description in
        slurp("runtime/base/errors.h"):gmatch('\nSH_ERRDEF%((SH_[%w_]+), (%l+), "([^"]*)"%)') do
      list[#list + 1] = { name = name, class = class, description = description }
    end
    return list
  end

  it("the header numbers the codes 0, 1, 2, ... and SH_ERR__COUNT follows the last", function()
    local list = enumerators()
    assert.truthy(#list >= 10)
    for i, e in ipairs(list) do assert.equal(i - 1, e[2], e[1]) end
    assert.equal("SH_ERR__COUNT", list[#list][1])
    assert.equal(#list - 1, tonumber(ffi.new("sh_err_t", "SH_ERR__COUNT")))
    assert.equal(6, tonumber(lib.SH_ERR_NOT_FOUND)) -- codes are never renumbered
  end)

  it("the header's sh_err_t and base/errors.h list the same codes in the same order", function()
    local list, header = errdefs(), enumerators()
    assert.equal(#header - 1, #list)
    for i, def in ipairs(list) do assert.equal(header[i][1], def.name) end
  end)

  it("name every code by its enumerator and describe each differently", function()
    local descriptions = {}
    for _, e in ipairs(enumerators()) do
      local name, code = e[1], e[2]
      if name ~= "SH_ERR__COUNT" then
        assert.equal(name, ffi.string(lib.sh_ffi_err_name(code)))
        local d = ffi.string(lib.sh_ffi_err_describe(code))
        assert.truthy(#d > 0, name)
        assert.are_not.equal("unknown error code", d, name)
        assert.is_nil(descriptions[d], "two codes share the description '" .. d .. "'")
        descriptions[d] = name
      end
    end
  end)

  it("name, describe and class the codes as base/errors.h lists them", function()
    for code, def in ipairs(errdefs()) do
      code = code - 1
      assert.equal(def.name, ffi.string(lib.sh_ffi_err_name(code)))
      assert.equal(def.description, ffi.string(lib.sh_ffi_err_describe(code)))
      assert.equal(def.class == "retriable" and 1 or 0, lib.sh_ffi_err_is_retriable(code), def.name)
      assert.equal(def.class == "fatal" and 1 or 0, lib.sh_ffi_err_is_fatal(code), def.name)
    end
  end)

  it("keep librdkafka's distinction: a full queue is retriable, a fatal error is not", function()
    assert.equal(1, lib.sh_ffi_err_is_retriable(lib.SH_ERR_QUEUE_FULL))
    assert.equal(0, lib.sh_ffi_err_is_fatal(lib.SH_ERR_QUEUE_FULL))
    assert.equal(1, lib.sh_ffi_err_is_fatal(lib.SH_ERR_FATAL))
    assert.equal(0, lib.sh_ffi_err_is_retriable(lib.SH_ERR_FATAL))
    assert.equal(0, lib.sh_ffi_err_is_retriable(lib.SH_ERR_STORE))
  end)

  it("answer SH_ERR_UNKNOWN for a code out of range", function()
    for _, code in ipairs({ -1, tonumber(lib.SH_ERR__COUNT), 1000, -2147483648 }) do
      assert.equal("SH_ERR_UNKNOWN", ffi.string(lib.sh_ffi_err_name(code)))
      assert.equal("unknown error code", ffi.string(lib.sh_ffi_err_describe(code)))
    end
  end)
end)

describe("a capture context", function()
  it("starts empty at version 0", function()
    local ctx = new_ctx()
    assert.equal(0, lib.sh_ffi_source_count(ctx))
    assert.equal(0, lib.sh_ffi_sink_count(ctx))
    assert.equal(0, lib.sh_ffi_ctx_version(ctx))
  end)

  it("sh_ffi_source_add numbers topics from 0 and returns the same index for the same topic", function()
    local ctx = new_ctx()
    assert.equal(0, lib.sh_ffi_source_add(ctx, "a"))
    assert.equal(1, lib.sh_ffi_source_add(ctx, "b"))
    assert.equal(0, lib.sh_ffi_source_add(ctx, "a"))
    assert.equal(2, lib.sh_ffi_source_count(ctx))
    assert.equal("b", str(lib.sh_ffi_source_name(ctx, 1)))
    assert.is_nil(str(lib.sh_ffi_source_name(ctx, 2)))
    assert.is_nil(str(lib.sh_ffi_source_name(ctx, -1)))
  end)

  it("sh_ffi_source_add and sh_ffi_sink_add refuse an empty or NULL name with -1", function()
    local ctx = new_ctx()
    assert.equal(-1, lib.sh_ffi_source_add(ctx, ""))
    assert.equal(-1, lib.sh_ffi_source_add(ctx, nil))
    assert.equal(-1, lib.sh_ffi_sink_add(ctx, "", 0))
    assert.equal(-1, lib.sh_ffi_sink_add(ctx, nil, 0))
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_err_code())
    assert.equal("a sink needs a topic name", ffi.string(lib.sh_ffi_err_message()))
    assert.equal(0, lib.sh_ffi_source_count(ctx))
    assert.equal(0, lib.sh_ffi_sink_count(ctx))
  end)

  it("sh_ffi_sink_add returns the same index for the same topic (dedup)", function()
    local ctx = new_ctx()
    assert.equal(0, lib.sh_ffi_sink_add(ctx, "x", 0))
    assert.equal(1, lib.sh_ffi_sink_add(ctx, "y", 3))
    assert.equal(0, lib.sh_ffi_sink_add(ctx, "x", 0))
    assert.equal(1, lib.sh_ffi_sink_add(ctx, "y", 6))
    assert.equal(2, lib.sh_ffi_sink_count(ctx))
    assert.equal("x", str(lib.sh_ffi_sink_name(ctx, 0)))
    assert.equal("y", str(lib.sh_ffi_sink_name(ctx, 1)))
    assert.is_nil(str(lib.sh_ffi_sink_name(ctx, 2)))
  end)

  it("keeps sources and sinks apart", function()
    local ctx = new_ctx()
    assert.equal(0, lib.sh_ffi_source_add(ctx, "t"))
    assert.equal(0, lib.sh_ffi_sink_add(ctx, "u", 0))
    assert.equal(1, lib.sh_ffi_sink_add(ctx, "t", 0))
    assert.equal(1, lib.sh_ffi_source_count(ctx))
  end)

  it("sh_ffi_sink_emit with headers, then sh_ffi_sink_capture_next gives back the same bytes", function()
    local ctx = new_ctx()
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    local key, value = "k\0ey", "v\0\1\255alue"
    local headers = ffi.new("sh_ffi_header_t[3]")
    headers[0].name, headers[0].value, headers[0].value_len = "h1", "a\0b", 3
    headers[1].name, headers[1].value, headers[1].value_len = "h2", nil, 0
    headers[2].name, headers[2].value, headers[2].value_len = "h1", "", 0
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(ctx, sink, key, #key, value, #value,
                                                 1700000000123LL, 2, headers, 3))

    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_capture_next(ctx, sink, out))
    local r = out[0]
    assert.equal(key, str(r.key, r.key_len))
    assert.equal(value, str(r.value, r.value_len))
    assert.equal(1700000000123, tonumber(r.timestamp))
    assert.equal(2, r.partition)
    assert.equal(3, r.header_count)
    assert.equal("h1", str(r.headers[0].name))
    assert.equal("a\0b", str(r.headers[0].value, r.headers[0].value_len))
    assert.equal("h2", str(r.headers[1].name))
    assert.is_true(r.headers[1].value == nil)
    assert.equal("h1", str(r.headers[2].name))
    assert.is_true(r.headers[2].value ~= nil, "an empty header value is not a null one")
    assert.equal(0, tonumber(r.headers[2].value_len))
    assert.equal(lib.SH_ERR_NOT_FOUND, lib.sh_ffi_sink_capture_next(ctx, sink, out))
  end)

  it("copies the bytes: changing the caller's buffers after emit changes nothing", function()
    local ctx = new_ctx()
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    local key, value, name, hv = ffi.new("char[4]", "key"), ffi.new("char[6]", "value"),
                                 ffi.new("char[2]", "h"), ffi.new("char[2]", "v")
    local headers = ffi.new("sh_ffi_header_t[1]")
    headers[0].name, headers[0].value, headers[0].value_len = name, hv, 1
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(ctx, sink, key, 3, value, 5, 1, -1, headers, 1))
    ffi.fill(key, 3, 88)
    ffi.fill(value, 5, 88)
    ffi.fill(name, 1, 88)
    ffi.fill(hv, 1, 88)
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_capture_next(ctx, sink, out))
    assert.equal("key", str(out[0].key, out[0].key_len))
    assert.equal("value", str(out[0].value, out[0].value_len))
    assert.equal("h", str(out[0].headers[0].name))
    assert.equal("v", str(out[0].headers[0].value, 1))
  end)

  it("tells a null key and value from empty ones, and a record without headers", function()
    local ctx = new_ctx()
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(ctx, sink, nil, 0, nil, 0, 5, -1, nil, 0))
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(ctx, sink, "", 0, "", 0, 6, -1, nil, 0))
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_capture_next(ctx, sink, out))
    assert.is_true(out[0].key == nil)
    assert.is_true(out[0].value == nil)
    assert.equal(0, out[0].header_count)
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_capture_next(ctx, sink, out))
    assert.is_true(out[0].key ~= nil)
    assert.is_true(out[0].value ~= nil)
    assert.equal(0, tonumber(out[0].key_len))
    assert.equal(6, tonumber(out[0].timestamp))
  end)

  it("captures per sink, first in first out", function()
    local ctx = new_ctx()
    local a, b = lib.sh_ffi_sink_add(ctx, "a", 0), lib.sh_ffi_sink_add(ctx, "b", 0)
    for i, sink in ipairs({ a, b, a, a }) do
      local v = "v" .. i
      assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(ctx, sink, nil, 0, v, #v, i, -1, nil, 0))
    end
    local out = ffi.new("sh_ffi_record_t[1]")
    local function drain(sink)
      local list = {}
      while lib.sh_ffi_sink_capture_next(ctx, sink, out) == lib.SH_OK do
        list[#list + 1] = str(out[0].value, out[0].value_len)
      end
      return list
    end
    assert.same({ "v1", "v3", "v4" }, drain(a))
    assert.same({ "v2" }, drain(b))
    assert.same({}, drain(a))
  end)

  it("keeps two contexts apart", function()
    local one, two = new_ctx(), new_ctx()
    local s1 = lib.sh_ffi_sink_add(one, "out", 0)
    local s2 = lib.sh_ffi_sink_add(two, "out", 0)
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_emit(one, s1, nil, 0, "x", 1, 1, -1, nil, 0))
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_ERR_NOT_FOUND, lib.sh_ffi_sink_capture_next(two, s2, out))
    assert.equal(lib.SH_OK, lib.sh_ffi_sink_capture_next(one, s1, out))
  end)

  it("sh_ffi_sink_emit to an unknown sink fails with SH_ERR_INVALID and says why", function()
    local ctx = new_ctx()
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    local invalid = lib.SH_ERR_INVALID
    assert.equal(invalid, lib.sh_ffi_sink_emit(ctx, 5, nil, 0, "x", 1, 1, -1, nil, 0))
    assert.equal(invalid, lib.sh_ffi_err_code())
    assert.equal("emit to unknown sink 5", ffi.string(lib.sh_ffi_err_message()))
    assert.equal(invalid, lib.sh_ffi_sink_emit(ctx, -1, nil, 0, "x", 1, 1, -1, nil, 0))
    assert.equal(invalid, lib.sh_ffi_sink_emit(ctx, 1, nil, 0, "x", 1, 1, -1, nil, 0))
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_ERR_NOT_FOUND, lib.sh_ffi_sink_capture_next(ctx, sink, out))
  end)

  it("sh_ffi_sink_emit refuses a negative header count with SH_ERR_INVALID", function()
    local ctx = new_ctx()
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_sink_emit(ctx, sink, nil, 0, "x", 1, 1, -1, nil, -1))
    assert.equal("emit to out: -1 headers announced but none given",
                 ffi.string(lib.sh_ffi_err_message()))
  end)

  it("sh_ffi_sink_capture_next refuses an unknown sink with SH_ERR_INVALID", function()
    local ctx = new_ctx()
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_sink_capture_next(ctx, 0, out))
    assert.equal("capture_next from unknown sink 0", ffi.string(lib.sh_ffi_err_message()))
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_sink_capture_next(ctx, -1, out))
  end)

  it("an empty sink is an answer (SH_ERR_NOT_FOUND), not a failure: the last error stays", function()
    local ctx = new_ctx()
    local out = ffi.new("sh_ffi_record_t[1]")
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_sink_capture_next(ctx, 3, out))
    local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
    assert.equal(lib.SH_ERR_NOT_FOUND, lib.sh_ffi_sink_capture_next(ctx, sink, out))
    assert.equal(lib.SH_ERR_INVALID, lib.sh_ffi_err_code())
    assert.equal("capture_next from unknown sink 3", ffi.string(lib.sh_ffi_err_message()))
  end)

  -- "SH_ERR_INVALID: bad argument: ... NULL where not allowed": a header
  -- without a name must be refused, not crash the process.
  it("sh_ffi_sink_emit refuses a header with a NULL name with SH_ERR_INVALID (no crash)", function()
    local out, rc = run_isolated([[
      local ffi = require "ffi"
      require "streamhost.core"
      local lib = ffi.load(os.getenv("STREAMHOST_LIB"))
      local ctx = lib.sh_ffi_ctx_new_capture()
      local sink = lib.sh_ffi_sink_add(ctx, "out", 0)
      local h = ffi.new("sh_ffi_header_t[1]")
      h[0].name, h[0].value, h[0].value_len = nil, "v", 1
      local rc = lib.sh_ffi_sink_emit(ctx, sink, nil, 0, "x", 1, 1, -1, h, 1)
      print("rc=" .. ffi.string(lib.sh_ffi_err_name(rc)))
      print(ffi.string(lib.sh_ffi_err_message()))
      local h2 = lib.sh_ffi_sink_emit(ctx, sink, nil, 0, "x", 1, 1, -1, nil, 2)
      print("rc2=" .. ffi.string(lib.sh_ffi_err_name(h2)))
    ]])
    assert.equal(0, rc, out)
    assert.truthy(out:find("rc=SH_ERR_INVALID\nemit to out: header 0 has no name\n", 1, true), out)
    assert.truthy(out:find("rc2=SH_ERR_INVALID\n", 1, true), out)
  end)

  -- In a process of its own: a crash there fails this test instead of
  -- killing the runner, and "destroyed" proves the call returned.
  it("sh_ffi_ctx_destroy accepts NULL", function()
    local out, rc = run_isolated([[
      local ffi = require "ffi"
      require "streamhost.core"
      local lib = ffi.load(os.getenv("STREAMHOST_LIB"))
      lib.sh_ffi_ctx_destroy(nil)
      print("destroyed")
    ]])
    assert.equal(0, rc, out)
    assert.equal("destroyed\n", out)
  end)
end)

describe("sh_ffi_clock_now_ms", function()
  it("is wall-clock time in milliseconds", function()
    local before = os.time() * 1000
    local now = tonumber(lib.sh_ffi_clock_now_ms())
    local after = (os.time() + 1) * 1000
    assert.truthy(now >= before - 1000 and now <= after, tostring(now))
  end)
end)
