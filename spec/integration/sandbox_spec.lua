-- The real binary runs app code sandboxed (issue 13: an app ran `id` and
-- os.exit(7) killed the host); only `run --unsafe` lifts it, loudly.
local helpers = require "spec.helpers"

local function run_command(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out:gsub("exit=%d+%s*$", ""), tonumber(out:match("exit=(%d+)%s*$"))
end

describe("streamhost's sandbox", function()
  local dir, pid

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    pid = nil
    os.execute("rm -rf '" .. dir .. "'")
  end)

  local function app(line)
    local path = dir .. "/app.lua"
    helpers.write_file(path, "local sh = require 'streamhost'\n" .. line .. "\n" .. [[
return sh.app { id = "sandbox-spec", topology = function(b)
  b:stream("in", { key = "string", value = "string" }):to("out")
end }
]])
    return path
  end

  it("refuses os.exit and os.execute in run and describe, naming the app's line", function()
    local marker = dir .. "/ran"
    local path = app("os.execute('touch " .. marker .. "')")
    local out, rc = run_command(helpers.bin .. " describe " .. path)
    assert.equal(1, rc, out)
    assert.matches(path .. ":2: os.execute is not available", out, 1, true)
    path = app("os.exit(7)")
    out, rc = run_command(helpers.bin .. " run " .. path .. " --http off --state-dir " .. dir .. "/s")
    assert.equal(1, rc, out)
    assert.matches(path .. ":2: os.exit is not available", out, 1, true)
    assert.is_nil(io.open(marker), "the command ran")
  end)

  it("runs unsandboxed with --unsafe and says so at start", function()
    local marker = dir .. "/ran"
    local path = app("os.execute('touch " .. marker .. "')")
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. path .. " --unsafe --http off --state-dir " ..
                        dir .. "/s", log)
    helpers.wait_until("the app to load", 20000, function() return io.open(marker) end)
    local text = helpers.read_file(log)
    assert.matches("UNSAFE: --unsafe given", text, 1, true)
    assert.is_true(text:find("UNSAFE", 1, true) < (text:find("\n", 1, true) or #text + 1),
                   "the warning is the first line: " .. text)
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
end)
