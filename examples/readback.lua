-- Reading maps back from a running child. The child (`cat`) runs until
-- its stdin ends, so while it runs the host can look at its identity:
-- through the handle, by plain pid (what any tool sees), and from inside
-- (cat prints its own /proc/self/uid_map when asked).
--
--   linx-lua examples/readback.lua
local process = require "linx.process"
local user = require "linxuser"

local f = assert(io.open("/proc/self/status"))
local status_text = f:read("*a")
f:close()
local uid = tonumber(status_text:match("Uid:%s*(%d+)"))
local gid = tonumber(status_text:match("Gid:%s*(%d+)"))

local child = assert(process.spawn {
  argv = { "sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; cat >/dev/null; echo done" },
  namespaces = { "user" },
  stdin = "pipe",
  stdout = "pipe",
})
local pid = child:host_pid()

-- Before the maps: the files exist but are empty.
print(("before setup: %d uid entries, %d gid entries, setgroups %s"):format(
  #assert(user.read_uid_map(child)), #assert(user.read_gid_map(child)), assert(user.read_setgroups(child))))

assert(user.setup_maps(child, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))
assert(child:proceed())

-- The child is running now (blocked reading its stdin): read its maps.
local by_handle = assert(user.read_uid_map(child))
local by_pid = assert(user.read_uid_map(pid))
print("running, via the handle: uid " .. tostring(by_handle[1]) .. ", gid " .. tostring(assert(user.read_gid_map(child))[1]))
print("running, via pid " .. pid .. ": uid " .. tostring(by_pid[1]))
print("same map both ways: " .. tostring(by_handle[1] == by_pid[1]))

-- A Map read back can be written elsewhere unchanged: give a second child
-- the very same maps.
local twin = assert(process.spawn { argv = { "id", "-u" }, namespaces = { "user" }, stdout = "pipe" })
assert(user.setup_maps(twin, { uid = by_handle, gid = assert(user.read_gid_map(child)) }))
assert(twin:proceed())
io.write("twin with the copied map says uid ", twin:read("stdout"))
twin:wait()
twin:close()

-- Let the first child finish: write() then read() ends its stdin.
assert(child:write("anything\n"))
local out = child:read("stdout")
local status = child:wait()
child:close()
io.write("the child's own view of its maps:\n", (out:gsub("done\n$", "")))
print(("exit: code %d"):format(status.code))
