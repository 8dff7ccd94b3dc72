-- A multi-range map, written by a privileged host (root): the child keeps
-- uid 0 (the host's root, mapped 0 -> 0), and ids 1..65535 inside map to
-- a block of unused host ids at 100000. Inside, the child switches to uid
-- 1000, which the host sees as 101000. An unprivileged host may only map
-- its own single id, so as non-root this example explains and stops.
--
--   linx-lua examples/multirange.lua
local process = require "linx.process"
local user = require "linxuser"

local f = assert(io.open("/proc/self/status"))
local host_uid = tonumber(f:read("*a"):match("Uid:%s*(%d+)"))
f:close()
if host_uid ~= 0 then
  print("skipped: a multi-range map needs root (CAP_SETUID/CAP_SETGID over the parent namespace)")
  print("         (unprivileged hosts map only their own id; newuidmap(1) covers /etc/subuid ranges)")
  return
end

local maps = {
  user.map(0, 0, 1),          -- root stays root
  user.map(1, 100001, 65535), -- 1..65535 -> 100001..165535
}

-- The workload: print who it is, then become uid/gid 1000 and print again.
local child = assert(process.spawn {
  argv = { "sh", "-c", "id -u; setpriv --reuid=1000 --regid=1000 --clear-groups sh -c 'id -u; id -g'" },
  namespaces = { "user", "mount", "pid" },
  stdout = "pipe",
})
-- Privileged: setgroups may stay "allow" (setpriv --clear-groups needs it).
assert(user.setup_maps(child, { uid = maps, gid = maps, setgroups = "skip" }))

print("uid_map of child " .. child:host_pid() .. ":")
for i, m in ipairs(assert(user.read_uid_map(child))) do
  print(("  %d. %-32s (inside %d, outside %d, length %d)"):format(i, tostring(m), m.inside, m.outside, m.length))
end
print("setgroups: " .. assert(user.read_setgroups(child)))

assert(child:proceed())
local out = child:read("stdout")
local status = child:wait()
child:close()

local before, after_uid, after_gid = out:match("^(%d+)\n(%d+)\n(%d+)\n$")
print("inside, at start:      uid " .. before)
print("inside, after setpriv: uid " .. after_uid .. ", gid " .. after_gid)
-- Where inside uid 1000 lands on the host, by the map we wrote.
for _, m in ipairs(maps) do
  local id = tonumber(after_uid)
  if id >= m.inside and id < m.inside + m.length then
    print(("on the host that is:  uid %d"):format(m.outside + id - m.inside))
  end
end
print("exit: code " .. tostring(status.code))
if status.code ~= 0 then os.exit(1) end
