-- The HTTP endpoint of the real binary (issue 13): POST /reload needs the
-- token, made on the first start, printed once and kept in the state
-- directory; --http-auth all closes reads too (not /healthz); a non-loopback
-- address without a token is refused at start; 1,020 idle connections are
-- capped and closed, and requests are served again.
local helpers = require "spec.helpers"

local APP = [[
local sh = require "streamhost"
return sh.app { id = "http-auth-spec", topology = function(b)
  b:stream("in", { key = "string", value = "string" }):to("out")
end }
]]

-- curl's status code for method url, with an optional token.
local function status(method, url, token)
  local p = io.popen("curl -s -o /dev/null -w '%{http_code}' -X " .. method ..
                     (token and (" -H 'Authorization: Bearer " .. token .. "'") or "") .. " " .. url)
  local code = tonumber(p:read("*a"))
  p:close()
  return code
end

describe("the HTTP endpoint's token", function()
  local dir, pid

  before_each(function()
    dir = helpers.tmpdir()
    helpers.write_file(dir .. "/app.lua", APP)
  end)
  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    pid = nil
    os.execute("rm -rf '" .. dir .. "'")
  end)

  -- Starts the app; returns its base URL and its log's path.
  -- a log per start: the next start's shell truncates it only when it runs,
  -- and a wait could read the last run's lines meanwhile
  local starts = 0
  local function start(flags)
    starts = starts + 1
    local log = dir .. "/run-" .. starts .. ".log"
    pid = helpers.spawn(helpers.bin .. " run " .. dir .. "/app.lua --state-dir " .. dir ..
                        "/state --http 127.0.0.1:0 " .. (flags or ""), log)
    local port = helpers.wait_until("the HTTP endpoint", 20000, function()
      return helpers.read_file(log):match("pull queries on http://127%.0%.0%.1:(%d+)/")
    end)
    return "http://127.0.0.1:" .. port, log
  end

  local function stop()
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end

  it("is made on the first start, printed once, kept, and needed by POST /reload", function()
    local url, log = start()
    local text = helpers.read_file(log)
    local token = text:match("http token %(kept in [^)]+%): (%x+)")
    assert.is_truthy(token, text)
    assert.equal(1, helpers.count_matches(text, token))
    assert.equal(token, helpers.read_file(dir .. "/state/http-token"):match("%x+"))
    assert.equal(401, status("POST", url .. "/reload"))
    assert.equal(401, status("POST", url .. "/reload", "wrong"))
    assert.equal(202, status("POST", url .. "/reload", token))
    assert.equal(200, status("GET", url .. "/topology"))
    stop()

    -- the next start keeps the token and does not print it again
    url, log = start()
    text = helpers.read_file(log)
    assert.is_nil(text:find(token, 1, true), text)
    assert.matches("http token: the one in " .. dir .. "/state/http-token", text, 1, true)
    assert.equal(202, status("POST", url .. "/reload", token))
    stop()
  end)

  it("guards reads too with --http-auth all, but not /healthz", function()
    local url = start("--http-token s3cret --http-auth all")
    assert.equal(401, status("GET", url .. "/topology"))
    assert.equal(200, status("GET", url .. "/topology", "s3cret"))
    assert.equal(401, status("GET", url .. "/stores/none/k"))
    assert.is_not.equal(401, status("GET", url .. "/healthz"))
    stop()
  end)

  it("caps and closes 1,020 idle connections, then serves again", function()
    local url = start()
    local port = url:match(":(%d+)$")
    -- holds 1,020 connections open without a byte sent; prints how many the
    -- server closed at once (over the cap) and how many within 20 s
    local script = dir .. "/idle.py"
    helpers.write_file(script, [[
import socket, sys, time, select
port = int(sys.argv[1])
conns = []
for _ in range(1020):
    s = socket.socket(); s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port)); conns.append(s)
    except OSError:
        pass
time.sleep(1)
done = set()
def closed(s):
    if s in done: return True
    p = select.poll(); p.register(s, select.POLLIN)
    if not p.poll(0): return False
    try: gone = s.recv(1) == b""
    except OSError: gone = True
    if gone: done.add(s)
    return gone
at_once = sum(1 for s in conns if closed(s))
deadline = time.time() + 20
while time.time() < deadline and not all(closed(s) for s in conns):
    time.sleep(0.2)
print(len(conns), at_once, sum(1 for s in conns if closed(s)), flush=True)
]])
    local p = io.popen("python3 " .. script .. " " .. port .. " 2>&1")
    local out = p:read("*a")
    p:close()
    local opened, at_once, closed = out:match("(%d+) (%d+) (%d+)")
    assert.is_truthy(opened, out)
    assert.is_true(tonumber(opened) - tonumber(at_once) <= 32, out)
    assert.equal(tonumber(opened), tonumber(closed), out)
    assert.equal(200, status("GET", url .. "/topology"))
    stop()
  end)

  it("refuses a non-loopback address without a token, naming the way out", function()
    local p = io.popen(helpers.bin .. " run " .. dir .. "/app.lua --state-dir " .. dir ..
                       "/state --http 0.0.0.0:0 2>&1; echo \"exit=$?\"")
    local out = p:read("*a")
    p:close()
    assert.matches("exit=1", out, 1, true)
    assert.matches("refusing to serve HTTP on 0.0.0.0:0 without a token", out, 1, true)
    assert.matches("--http-token", out, 1, true)
  end)
end)
