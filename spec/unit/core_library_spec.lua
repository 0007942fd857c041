-- lua/streamhost/core.lua: the library that ffi.load gives (under busted,
-- lib/libstreamhost.so) stays loaded while anything may still call into it.
-- It did not: once the modules that loaded it were dropped (busted drops a
-- spec file's modules), LuaJIT unloaded the library with its namespace, and
-- the finalizer of a cdata made earlier (the json serde's parser, kept by a
-- lazy value) jumped into unmapped memory. Three spec files run in one
-- busted process (record_schema, avro, json) ended in "Segmentation fault".
describe("the C library", function()
  it("outlives a reload of the modules that loaded it", function()
    -- a process of its own: before the fix this segfaulted
    local p = assert(io.popen("luajit spec/fixtures/core_reload.lua 2>&1; echo \"rc=$?\""))
    local out = p:read("*a")
    p:close()
    assert.equals("ok\nrc=0\n", out)
  end)

  it("is one namespace across loads of streamhost.core", function()
    local first = require("streamhost.core").C
    package.loaded["streamhost.core"] = nil
    assert.equals(first, require("streamhost.core").C)
  end)
end)
