-- The topology test driver (streamhost.testing), used exactly as the issue
-- shows it: pipe records into input topics, read what the topology wrote.
-- Expected records are written out by hand from the clickstream app's code.
local sh = require "streamhost"
local testing = require "streamhost.testing"

local CLICKSTREAM = "examples/clickstream/app.lua"

local function clickstream_driver()
  return testing.driver(CLICKSTREAM)
end

local run_isolated = require("spec.helpers").run_isolated

describe("testing.driver", function()
  it("runs the issue's example: one click in, one reshaped click out", function()
    local d = clickstream_driver()
    d:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" }, 1000)
    local out = d:output("clicks"):read_all()
    assert.same({
      { key = "u1", value = { user = "u1", page = "/", ts = 1000 }, timestamp = 1000, headers = {} },
    }, out)
    d:advance_wall_clock(60000)
    d:close()
  end)

  it("applies the topology: a record the filter rejects produces nothing", function()
    local d = clickstream_driver()
    d:input("clickstream"):pipe("u1", { action = "viewed", user = "u1", page = "/" }, 1000)
    assert.same({}, d:output("clicks"):read_all())
  end)

  it("keeps the order records were piped in", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    input:pipe("u3", { action = "clicked", user = "u3", page = "/c" }, 30)
    input:pipe("u1", { action = "viewed", user = "u1", page = "/x" }, 10)
    input:pipe("u1", { action = "clicked", user = "u1", page = "/a" }, 10)
    input:pipe("u2", { action = "clicked", user = "u2", page = "/b" }, 20)
    assert.same({
      { key = "u3", value = { user = "u3", page = "/c", ts = 30 }, timestamp = 30, headers = {} },
      { key = "u1", value = { user = "u1", page = "/a", ts = 10 }, timestamp = 10, headers = {} },
      { key = "u2", value = { user = "u2", page = "/b", ts = 20 }, timestamp = 20, headers = {} },
    }, d:output("clicks"):read_all())
  end)

  it("returns self from pipe so calls chain", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    assert.equal(input, input:pipe("u1", { action = "clicked", user = "u1", page = "/" }, 1))
  end)

  it("pipe_all takes positional and named records", function()
    local d = clickstream_driver()
    d:input("clickstream"):pipe_all({
      { "u1", { action = "clicked", user = "u1", page = "/1" }, 1 },
      { key = "u2", value = { action = "clicked", user = "u2", page = "/2" }, timestamp = 2 },
    })
    assert.same({
      { key = "u1", value = { user = "u1", page = "/1", ts = 1 }, timestamp = 1, headers = {} },
      { key = "u2", value = { user = "u2", page = "/2", ts = 2 }, timestamp = 2, headers = {} },
    }, d:output("clicks"):read_all())
  end)

  it("forwards headers given to pipe to the outputs, in order", function()
    local d = clickstream_driver()
    d:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" }, 5, {
      { key = "trace-id", value = "abc" },
      { key = "binary", value = "\0\1\255" },
      { key = "trace-id", value = "second" },
    })
    local out = d:output("clicks"):read_all()
    assert.equal(1, #out)
    assert.same({
      { key = "trace-id", value = "abc" },
      { key = "binary", value = "\0\1\255" },
      { key = "trace-id", value = "second" },
    }, out[1].headers)
  end)

  it("forwards a header with a null value as a header without value", function()
    local d = clickstream_driver()
    d:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" }, 5,
                                { { key = "empty" } })
    local out = d:output("clicks"):read_all()
    assert.same({ { key = "empty" } }, out[1].headers)
  end)

  it("does not carry headers of one record over to the next", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    input:pipe("u1", { action = "clicked", user = "u1", page = "/" }, 1, { { key = "h", value = "1" } })
    input:pipe("u2", { action = "clicked", user = "u2", page = "/" }, 2)
    local out = d:output("clicks"):read_all()
    assert.same({ { key = "h", value = "1" } }, out[1].headers)
    assert.same({}, out[2].headers)
  end)

  it("read takes one record at a time and returns nil when the topic is drained", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    input:pipe("u1", { action = "clicked", user = "u1", page = "/a" }, 1)
    input:pipe("u2", { action = "clicked", user = "u2", page = "/b" }, 2)
    local out = d:output("clicks")
    assert.equal("u1", out:read().key)
    assert.equal("u2", out:read().key)
    assert.is_nil(out:read())
    assert.same({}, out:read_all())
  end)

  it("read_all drains: a second read_all sees only newer records", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    local out = d:output("clicks")
    input:pipe("u1", { action = "clicked", user = "u1", page = "/a" }, 1)
    assert.equal(1, #out:read_all())
    input:pipe("u2", { action = "clicked", user = "u2", page = "/b" }, 2)
    local second = out:read_all()
    assert.equal(1, #second)
    assert.equal("u2", second[1].key)
  end)

  it("is_empty holds on an empty output and raises when a record is waiting", function()
    local d = clickstream_driver()
    local out = d:output("clicks")
    assert.is_true(out:is_empty())
    d:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" }, 1)
    assert.has_error(function() out:is_empty() end)
  end)

  it("stamps a record piped without timestamp with the driver's wall clock", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    input:pipe("u1", { action = "clicked", user = "u1", page = "/" })
    d:advance_wall_clock(60000)
    input:pipe("u2", { action = "clicked", user = "u2", page = "/" })
    d:advance_wall_clock(500)
    input:pipe("u3", { action = "clicked", user = "u3", page = "/" })
    local out = d:output("clicks"):read_all()
    assert.same({ 0, 60000, 60500 }, { out[1].timestamp, out[2].timestamp, out[3].timestamp })
    assert.same({ 0, 60000, 60500 }, { out[1].value.ts, out[2].value.ts, out[3].value.ts })
  end)

  it("starts the wall clock where opts.wall_clock says", function()
    local d = testing.driver(CLICKSTREAM, { wall_clock = 1700000000000 })
    d:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" })
    assert.equal(1700000000000, d:output("clicks"):read().timestamp)
  end)

  it("advance_wall_clock refuses a negative or non-number step", function()
    local d = clickstream_driver()
    assert.has_error(function() d:advance_wall_clock(-1) end, nil)
    assert.has_error(function() d:advance_wall_clock("10") end)
  end)

  it("raises, at the caller's line, for an input topic the topology does not read", function()
    local d = clickstream_driver()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() d:input("nope") end)
    assert.is_false(ok)
    assert.equal("spec/unit/driver_spec.lua:" .. line .. ": input('nope'): the topology does not read it",
                 err)
  end)

  it("raises, at the caller's line, for an output topic the topology does not write", function()
    local d = clickstream_driver()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() d:output("clickstream") end)
    assert.is_false(ok)
    assert.truthy(err:find("spec/unit/driver_spec.lua:" .. line .. ": output('clickstream'): " ..
                           "the topology does not write it", 1, true), err)
  end)

  it("reads a topic the topology does not write when given serdes (and finds it empty)", function()
    local d = clickstream_driver()
    assert.same({}, d:output("elsewhere", { key = "string", value = "string" }):read_all())
  end)

  it("refuses something that is not an app", function()
    assert.has_error(function() testing.driver({ id = "x" }) end,
                     "testing.driver expects the result of sh.app { ... }")
  end)

  it("keeps two drivers of the same app apart", function()
    local a, b = clickstream_driver(), clickstream_driver()
    a:input("clickstream"):pipe("u1", { action = "clicked", user = "u1", page = "/" }, 1)
    assert.same({}, b:output("clicks"):read_all())
    assert.equal(1, #a:output("clicks"):read_all())
  end)

  it("numbers offsets per input topic from 0", function()
    local offsets = {}
    local app = sh.app {
      id = "offsets",
      topology = function(b)
        local function note(_, _, rec) offsets[#offsets + 1] = rec.topic .. "@" .. rec.offset end
        b:stream("a", { key = "string", value = "string" }):foreach(note)
        b:stream("b", { key = "string", value = "string" }):foreach(note)
      end,
    }
    local d = testing.driver(app)
    d:input("a"):pipe("k", "1", 1)
    d:input("a"):pipe("k", "2", 1)
    d:input("b"):pipe("k", "3", 1)
    d:input("a"):pipe("k", "4", 1)
    assert.same({ "a@0", "a@1", "b@0", "a@2" }, offsets)
  end)

  it("pipes raw bytes through an input opened with serdes of the test's choosing", function()
    local d = clickstream_driver()
    d:input("clickstream", { key = "bytes", value = "bytes" })
     :pipe("u\0", '{"action":"clicked","user":"u9","page":"/raw"}', 7)
    assert.same({
      { key = "u\0", value = { user = "u9", page = "/raw", ts = 7 }, timestamp = 7, headers = {} },
    }, d:output("clicks"):read_all())
  end)

  it("refuses an unknown serde for an input, at the caller's line", function()
    local d = clickstream_driver()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() d:input("clickstream", { value = "protobuf" }) end)
    assert.is_false(ok)
    assert.equal("spec/unit/driver_spec.lua:" .. line .. ": unknown serde 'protobuf' " ..
                 "(known: avro, bytes, int, json, long, string)", err)
  end)

  it("refuses an unknown serde for an output", function()
    local d = clickstream_driver()
    assert.has_error(function() d:output("clicks", { key = "string", value = "protobuf" }) end)
  end)

  it("refuses pipe after close, at the caller's line", function()
    local d = clickstream_driver()
    local input = d:input("clickstream")
    d:close()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() input:pipe("u1", { action = "clicked" }, 1) end)
    assert.is_false(ok)
    assert.equal("spec/unit/driver_spec.lua:" .. line .. ": the driver is closed", err)
  end)

  -- A C failure is a runtime failure, not a misuse: the driver's store view
  -- returns nil and the C core's message (with its code's name); in the
  -- record path the same failure reaches the app's on_error policy.
  it("returns nil and the C core's message when a store cannot be opened", function()
    local d = testing.driver(sh.app { id = "broken", topology = function(b)
      b:stream("in", { key = "string", value = "json" }):group_by_key():count({ name = "n" })
    end })
    -- the state directory becomes a plain file: RocksDB cannot be created there
    assert(os.remove(d.state_dir))
    assert(io.open(d.state_dir, "w")):close()
    local value, err = d:store("n"):get("k")
    assert.is_nil(value)
    local prefix = "cannot open store n partition 0: cannot create " .. d.state_dir .. "/n/0: "
    assert.equal(prefix, err:sub(1, #prefix))
    assert.equal(" (SH_ERR_STORE)", err:sub(-15))
    local list, all_err = d:store("n"):all()
    assert.is_nil(list)
    assert.equal(err, all_err)
    local ok, pipe_err = pcall(function() d:input("in"):pipe("k", {}, 1) end)
    assert.is_false(ok)
    assert.truthy(pipe_err:find("on_error = fail", 1, true), pipe_err)
    assert.truthy(pipe_err:find("cannot open store n partition 0", 1, true), pipe_err)
    os.remove(d.state_dir)
    d:close()
  end)

  -- Reading, or opening an input or output, after close must raise like pipe
  -- does, not crash the process: run in a child luajit so a crash shows as a
  -- failure here rather than killing busted.
  for _, case in ipairs({
    { "reading an output", "local o = d:output('clicks'); d:close(); o:read()" },
    { "opening an output", "d:close(); d:output('clicks')" },
    { "opening an input", "d:close(); d:input('clickstream')" },
    { "piping after close, twice, with garbage collected in between",
      "local i = d:input('clickstream'); d:close(); d:close(); collectgarbage(); collectgarbage(); " ..
      "i:pipe('u1', { action = 'clicked' }, 1)" },
  }) do
    it("raises 'the driver is closed' for " .. case[1] .. " after close (no crash)", function()
      local out, rc = run_isolated(string.format([[
        local testing = require "streamhost.testing"
        local d = testing.driver(dofile(%q))
        local ok, err = pcall(function() %s end)
        print(ok, err)
      ]], CLICKSTREAM, case[2]))
      assert.equal(0, rc, out)
      assert.truthy(out:find("false", 1, true), out)
      assert.truthy(out:find("the driver is closed", 1, true), out)
    end)
  end
end)
