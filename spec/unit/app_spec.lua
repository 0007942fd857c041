-- sh.app: the checks on an app's settings, and that load errors name the
-- user's file and line. The fixtures under spec/fixtures/unit_*_app.lua are
-- broken apps whose faulty line is written in their first comment.
local ffi = require "ffi"
local sh = require "streamhost"
local testing = require "streamhost.testing"

local SPEC = "spec/unit/app_spec.lua"
local FIXTURES = "spec/fixtures/"

local function topology(b) b:stream("in", { key = "string", value = "json" }) end

-- Calls sh.app in a non-tail position, so the caller's line is this one.
local function app_error(spec)
  local line = debug.getinfo(1, "l").currentline + 1
  local ok, err = pcall(function() local app = sh.app(spec); return app end)
  assert.is_false(ok, "sh.app accepted it")
  return err, line
end

-- Loads a fixture as the test driver's user would: by its path, sandboxed.
local function load_error(name)
  local ok, err = pcall(function()
    local d = testing.driver(FIXTURES .. name)
    return d
  end)
  assert.is_false(ok, name .. " loaded")
  return err
end

-- The line number in "<file>:<line>: " at the start of err, for that file.
local function line_in(err, file)
  local escaped = file:gsub("%p", "%%%0")
  return tonumber(err:match("^" .. escaped .. ":(%d+): "))
end

describe("sh.app", function()
  it("returns the app with its settings, kafka defaulting to {}", function()
    local app = sh.app { id = "a", topology = topology }
    assert.is_true(sh.is_app(app))
    assert.equal("a", app.id)
    assert.equal(topology, app.topology)
    assert.same({}, app.kafka)
  end)

  it("accepts every documented setting", function()
    local app = sh.app {
      id = "all.settings_1-x", kafka = { ["bootstrap.servers"] = "embedded" }, topology = topology,
      on_error = "dead_letter", serdes = { key = "string" }, threads = 2, state_dir = "/tmp/x",
      http = "127.0.0.1:8080",
    }
    assert.is_true(sh.is_app(app))
    assert.equal("/tmp/x", app.state_dir)
    assert.equal("127.0.0.1:8080", app.http)
  end)

  it("refuses an http that is not HOST:PORT or off, at the caller's line", function()
    for _, http in ipairs({ "localhost", "127.0.0.1:", ":x", "on" }) do
      local err, line = app_error({ id = "a", topology = topology, http = http })
      assert.equal(SPEC .. ":" .. line .. ': sh.app: http must be "HOST:PORT" (port 0 picks one) ' ..
                   'or "off", got "' .. http .. '"', err)
    end
    for _, http in ipairs({ "off", ":0", "0.0.0.0:8088" }) do
      assert.equal(http, sh.app({ id = "a", topology = topology, http = http }).http)
    end
  end)

  it("takes max.task.idle.ms as Kafka Streams does: a duration, 0 or -1", function()
    for given, ms in pairs({ [0] = 0, [-1] = -1, ["-1"] = -1, [2000] = 2000, ["2s"] = 2000 }) do
      assert.equal(ms, sh.app({ id = "a", topology = topology, ["max.task.idle.ms"] = given })
                         .max_task_idle_ms)
    end
    assert.is_nil(sh.app({ id = "a", topology = topology }).max_task_idle_ms)
    for _, bad in ipairs({ -2, "soon", 1.5 }) do
      local err, line = app_error({ id = "a", topology = topology, ["max.task.idle.ms"] = bad })
      assert.equal(SPEC .. ":" .. line .. ': sh.app: max.task.idle.ms must be a duration ' ..
                   '(2000, "2s", 0) or -1 (never wait), got ' .. tostring(bad), err)
    end
  end)

  it("refuses an empty state_dir", function()
    local err, line = app_error({ id = "a", topology = topology, state_dir = "" })
    assert.equal(SPEC .. ":" .. line .. ": sh.app: state_dir must name a directory", err)
  end)

  it("is_app is false for a plain table", function()
    assert.is_false(sh.is_app({ id = "a", topology = topology }))
    assert.is_false(sh.is_app(nil))
  end)

  it("refuses what is not a table", function()
    local err, line = app_error("clicks")
    assert.equal(SPEC .. ":" .. line .. ": sh.app expects a table", err)
  end)

  it("refuses an unknown setting, naming it, at the caller's line", function()
    local err, line = app_error({ id = "a", topology = topology, topolgy = topology })
    assert.equal(SPEC .. ":" .. line .. ": sh.app: unknown setting 'topolgy'", err)
  end)

  it("refuses a setting of the wrong type", function()
    local err, line = app_error({ id = "a", topology = topology, threads = "4" })
    assert.equal(SPEC .. ":" .. line .. ": sh.app: 'threads' must be a number, got string", err)
    err = app_error({ id = 42, topology = topology })
    assert.truthy(err:find("sh.app: 'id' must be a string, got number", 1, true), err)
  end)

  it("requires an id", function()
    local err, line = app_error({ topology = topology })
    assert.equal(SPEC .. ":" .. line .. ": sh.app: 'id' is required: letters, digits, '.', '_' or '-' " ..
                 "(it names the consumer group and internal topics)", err)
  end)

  it("refuses an id that cannot name a consumer group or topic", function()
    for _, id in ipairs({ "", "has space", "a/b", "ü" }) do
      local err = app_error({ id = id, topology = topology })
      assert.truthy(err:find("sh.app: 'id' is required", 1, true), id)
    end
  end)

  it("requires a topology function", function()
    local err, line = app_error({ id = "a" })
    assert.equal(SPEC .. ":" .. line .. ": sh.app: 'topology' function is required", err)
  end)

  it("refuses an on_error that is not fail, skip or dead_letter", function()
    local err, line = app_error({ id = "a", topology = topology, on_error = "retry" })
    assert.equal(SPEC .. ":" .. line .. ': sh.app: on_error must be "fail", "skip" or "dead_letter", ' ..
                 'got "retry"', err)
  end)

  it("accepts each on_error policy", function()
    for _, policy in ipairs({ "fail", "skip", "dead_letter" }) do
      assert.equal(policy, sh.app({ id = "a", topology = topology, on_error = policy }).on_error)
    end
  end)
end)

describe("loading an app", function()
  it("refuses a topology that reads nothing", function()
    assert.has_error(function() testing.driver(sh.app { id = "a", topology = function() end }) end,
                     "the topology reads nothing: call b:stream(topic, ...) in topology(b)")
  end)

  it("accepts a topology of timers only (an app that talks to MySQL from timers)", function()
    local ticks = 0
    local d = testing.driver(sh.app { id = "a", topology = function(b)
      b:every("1s", function() ticks = ticks + 1 end)
    end })
    for _ = 1, 3 do d:advance_wall_clock(1000) end
    assert.equal(3, ticks)
    d:close()
  end)

  it("refuses reading the same topic twice", function()
    local ok, err = pcall(testing.driver, sh.app {
      id = "a",
      topology = function(b)
        b:stream("in", { key = "string", value = "json" })
        b:stream({ "other", "in" }, { key = "string", value = "json" })
      end,
    })
    assert.is_false(ok)
    assert.truthy(err:find("topic 'in' is already a source of this topology", 1, true), err)
  end)

  it("points an unknown serde at the fixture's line", function()
    local file = FIXTURES .. "unit_unknown_serde_app.lua"
    local err = load_error("unit_unknown_serde_app.lua")
    assert.equal(file .. ":7: unknown serde 'protobuf' (known: avro, bytes, int, json, long, string)", err)
  end)

  it("points a sink without a known format at the fixture's line", function()
    local file = FIXTURES .. "unit_unknown_format_app.lua"
    local err = load_error("unit_unknown_format_app.lua")
    assert.equal(file .. ":8: to('out'): the key format is not known here; " ..
                 "pass { key = \"json\" } (or string, int, long, bytes)", err)
  end)

  -- An app file ends in `return sh.app { ... }`, a tail call: the caller's
  -- frame is gone by the time sh.app raises, yet the message must still name
  -- the file and a line of the sh.app { ... } expression.
  it("points an unknown setting of `return sh.app { ... }` at the app file", function()
    local file = FIXTURES .. "unit_bad_setting_app.lua"
    local err = load_error("unit_bad_setting_app.lua")
    local line = line_in(err, file)
    assert.truthy(line and line >= 3 and line <= 5, err)
    assert.truthy(err:find("sh.app: unknown setting 'topolgy'", 1, true), err)
  end)

  it("points a bad on_error of `return sh.app { ... }` at the app file", function()
    local file = FIXTURES .. "unit_bad_on_error_app.lua"
    local err = load_error("unit_bad_on_error_app.lua")
    local line = line_in(err, file)
    assert.truthy(line and line >= 3 and line <= 7, err)
    assert.truthy(err:find('on_error must be "fail", "skip" or "dead_letter", got "retry"', 1, true), err)
  end)

  describe("through runner.load (what `streamhost run` and reload use)", function()
    local core = require "streamhost.core"
    local runner = require "streamhost.runner"

    local function load(path)
      local ctx = ffi.gc(core.C.sh_ffi_ctx_new_capture(), core.C.sh_ffi_ctx_destroy)
      local saved = package.path
      local app, err = runner.load(path, ctx)
      package.path = saved
      return app, err, ctx
    end

    it("loads the clickstream example and describes it", function()
      local app, err = load("examples/clickstream/app.lua")
      assert.is_nil(err)
      assert.equal("clicks", app.id)
      assert.equal("examples/clickstream/app.lua", app.files[1])
      assert.same({ { "auto.offset.reset", "earliest" }, { "bootstrap.servers", "embedded" } },
                  app.kafka_list)
      assert.equal(table.concat({
        "Topologies:",
        "   Sub-topology: 0",
        "    Source: KSTREAM-SOURCE-0000000000 (topics: [clickstream])",
        "      --> KSTREAM-FILTER-0000000001",
        "    Processor: KSTREAM-FILTER-0000000001 (stores: [])",
        "      --> KSTREAM-MAPVALUES-0000000002",
        "      <-- KSTREAM-SOURCE-0000000000",
        "    Processor: KSTREAM-MAPVALUES-0000000002 (stores: [])",
        "      --> KSTREAM-SINK-0000000003",
        "      <-- KSTREAM-FILTER-0000000001",
        "    Sink: KSTREAM-SINK-0000000003 (topic: clicks)",
        "      <-- KSTREAM-MAPVALUES-0000000002",
      }, "\n") .. "\n", app.describe())
    end)

    -- The host reads these (vm.c's sh_vm_state_dir, sh_vm_http) as the
    -- defaults of --state-dir and --http: they must reach it, not be dropped.
    it("hands the host the app's state_dir and http", function()
      local path = os.tmpname() .. ".lua"
      local f = assert(io.open(path, "w"))
      f:write("local sh = require 'streamhost'\n",
              "return sh.app { id = 'x', state_dir = '/srv/x', http = '127.0.0.1:0',\n",
              "  topology = function(b) b:stream('in', { key = 'string', value = 'json' }) end }\n")
      f:close()
      local app, err = load(path)
      os.remove(path)
      assert.is_nil(err)
      assert.equal("/srv/x", app.state_dir)
      assert.equal("127.0.0.1:0", app.http)
      app = assert(load("examples/clickstream/app.lua"))
      assert.is_nil(app.state_dir)
      assert.is_nil(app.http)
    end)

    it("returns nil and file:line: message for an unknown serde", function()
      local file = FIXTURES .. "unit_unknown_serde_app.lua"
      local app, err = load(file)
      assert.is_nil(app)
      assert.equal(file .. ":7: unknown serde 'protobuf' (known: avro, bytes, int, json, long, string)", err)
    end)

    it("returns nil and file:line: message for an unknown setting", function()
      local file = FIXTURES .. "unit_bad_setting_app.lua"
      local app, err = load(file)
      assert.is_nil(app)
      local line = line_in(err, file)
      assert.truthy(line and line >= 3 and line <= 5, err)
    end)

    it("returns nil and file:line: message for a file that does not parse", function()
      local path = os.tmpname() .. ".lua"
      local f = assert(io.open(path, "w"))
      f:write("local sh = require 'streamhost'\nreturn sh.app {\n  id = 'x',,\n}\n")
      f:close()
      local app, err = load(path)
      os.remove(path)
      assert.is_nil(app)
      assert.truthy(err:find(":3: ", 1, true), err)
    end)

    it("refuses a file that does not return sh.app { ... }", function()
      local path = os.tmpname() .. ".lua"
      local f = assert(io.open(path, "w"))
      f:write("return { id = 'x' }\n")
      f:close()
      local app, err = load(path)
      os.remove(path)
      assert.is_nil(app)
      assert.equal(path .. ":1: the file must return sh.app { ... }", err)
    end)
  end)
end)
