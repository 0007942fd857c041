-- Prints an endless stream of page events as `key|json` lines for
-- `kcat -P -K '|'`: RATE events per second (default 20), COUNT in all
-- (default: forever).
local ffi = require "ffi"
ffi.cdef "int poll(void *fds, unsigned long nfds, int timeout);"

local rate = tonumber(arg[1]) or 20
local count = tonumber(arg[2]) or math.huge
local users = { "alice", "bob", "carol", "dave", "erin" }
local pages = { "/", "/pricing", "/docs", "/blog", "/signup" }
local actions = { "clicked", "viewed", "viewed", "scrolled" }

math.randomseed(os.time())
local i = 0
while i < count do
  i = i + 1
  local user = users[math.random(#users)]
  io.write(user, '|{"action":"', actions[math.random(#actions)], '","user":"', user,
           '","page":"', pages[math.random(#pages)], '","n":', i, "}\n")
  io.flush()
  ffi.C.poll(nil, 0, math.floor(1000 / rate))
end
