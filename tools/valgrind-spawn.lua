-- The spawn loop tools/valgrind-lane runs under valgrind memcheck: every
-- path a handle can take, many times, so a leak per cycle stands out
-- (valgrind must then report zero bytes lost and zero errors).
--   linx-lua tools/valgrind-spawn.lua [CYCLES]
local process, user = require "linx.process", require "linxuser"
local cycles = tonumber(arg and arg[1]) or 100
local status_file = assert(io.open("/proc/self/status"))
local status = status_file:read("*a")
status_file:close()
local uid, gid = tonumber(status:match("Uid:%s*(%d+)")), tonumber(status:match("Gid:%s*(%d+)"))
local root = uid == 0
local function maps() return { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } } end

for i = 1, cycles do
  local path = i % 6
  if path == 0 then -- the canonical flow, output through a pipe
    local c = assert(process.spawn { argv = { "echo", "hi" }, namespaces = { "user" }, stdout = "pipe" })
    assert(user.setup_maps(c, maps()))
    assert(#user.read_uid_map(c) == 1)
    assert(c:proceed())
    local out = c:read("stdout")
    assert(out == nil or type(out) == "string")
    local st = assert(c:wait())
    assert(st.exited and st.code == 0, "echo failed")
    c:close()
  elseif path == 1 then -- closed while parked: killed and reaped
    local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
    assert(c:host_pid() > 0)
    c:close()
    c:close() -- closing twice is harmless
  elseif path == 2 then -- dropped while parked: __gc kills and reaps
    local _ = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
    _ = nil
    collectgarbage()
  elseif path == 3 then -- exec failure travels back as an error table
    local c = assert(process.spawn { argv = { "/nonexistent/linx-valgrind" } })
    local ok, err = c:proceed()
    assert(ok == nil and err.kind == "os" and err.operation == "exec", tostring(err))
    c:close()
  elseif path == 4 then -- killed while parked; the verbs report it
    local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
    assert(c:kill("KILL"))
    local st = assert(c:wait())
    assert(st.signaled)
    local ok, err = user.set_uid_map(c, { { 0, uid, 1 } })
    assert(ok == nil and (err.kind == "os" or err.kind == "bad_target"), tostring(err))
    c:close()
  else -- refused input: error tables, nothing spawned
    local ok, err = process.spawn { argv = {} }
    assert(ok == nil and type(err) == "table")
    ok, err = user.set_uid_map(1, { { 0, 0, 0 } })
    assert(ok == nil and err.kind == "bad_map")
    ok, err = user.read_uid_map(2147483647)
    assert(ok == nil and err.kind == "os")
    assert(tostring(err):find("ENOENT"))
  end
end
print(("valgrind-spawn: %d cycles as %s"):format(cycles, root and "root" or "uid " .. uid))
