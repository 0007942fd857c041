-- sh.app { state_dir =, http = } are honoured by `streamhost run` when the
-- command line does not say otherwise (issue 7: they were accepted and
-- ignored).
local helpers = require "spec.helpers"

describe("app settings", function()
  local broker, pid

  after_each(function()
    if pid and helpers.alive(pid) then helpers.kill(pid, "KILL") end
    if broker then broker.stop() end
  end)

  it("keeps state in the app's state_dir and serves pull queries on the app's http", function()
    broker = helpers.start_broker({ words = 1, counted = 1 })
    local dir = helpers.tmpdir()
    local state = dir .. "/app-state"
    local app = dir .. "/app.lua"
    helpers.write_file(app, ([[
local sh = require "streamhost"
return sh.app {
  id = "settings-spec",
  state_dir = %q,
  http = "127.0.0.1:0",
  kafka = { ["auto.offset.reset"] = "earliest" },
  topology = function(b)
    b:stream("words", { key = "string", value = "string" })
     :group_by_key():count({ name = "n" }):to_stream():to("counted", { value = "long" })
  end,
}
]]):format(state))
    helpers.produce(broker.bootstrap, "words", { { "a", "x" }, { "b", "y" }, { "a", "z" } })
    local log = dir .. "/run.log"
    pid = helpers.spawn(helpers.bin .. " run " .. app .. " --bootstrap " .. broker.bootstrap, log)
    helpers.wait_records(broker.bootstrap, "counted", 3, 30000)
    local text = helpers.read_file(log)
    assert.matches("state in " .. state:gsub("%p", "%%%0"), text)
    local port = text:match("pull queries on http://127%.0%.0%.1:(%d+)/")
    assert.is_truthy(port, text)
    assert.are_not.equal("8088", port)
    -- the store shows a count once the loop flushed its cache (at once when
    -- idle, at most a second under load): wait for it
    local body
    helpers.wait_until("the count of a in the store", 10000, function()
      local p = io.popen("curl -s http://127.0.0.1:" .. port .. "/stores/n/a")
      body = p:read("*a")
      p:close()
      local ok, doc = pcall(require("cjson").decode, body)
      return ok and type(doc) == "table" and doc.value == 2
    end)
    assert.are.equal(2, require("cjson").decode(body).value, body)
    assert.is_truthy(io.open(state .. "/n/0/db/CURRENT"), "the store lives under the app's state_dir")
    helpers.kill(pid, "TERM")
    helpers.wait_exit(pid)
  end)
end)
