-- luacheck configuration (make lint). Code must run on Lua 5.1 to 5.4 and
-- LuaJIT, so the standard library is their union.
std = "max"
max_line_length = 140 -- spec names and assertion messages run long
-- ngx is OpenResty's global, used by examples/openresty.
files["examples/openresty"] = { read_globals = { "ngx" } }
-- busted's globals (describe, it, pending, assert's extended fields, ...).
files["spec"] = { std = "+busted" }
-- Fixtures are data for the specs, written as their own scripts.
exclude_files = { "build/", "spec/fixtures/" }
