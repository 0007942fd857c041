std = "luajit"
max_line_length = 110
files["spec"] = { std = "+busted" }
files["bench"] = { std = "+busted" }
exclude_files = { "lua/streamhost/cdefs.lua" }
files["examples"] = { unused_args = false }
