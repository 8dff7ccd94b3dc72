-- The full-range rootless container: an unprivileged user gives a child
-- root inside AND a whole 65,536-id range, as podman and crun do, from
-- the user's /etc/subuid and /etc/subgid entries.
--
--   linx-lua examples/full-range.lua      (as a user with a subordinate range)
--
-- The kernel lets an unprivileged process map only its own id; for the
-- range, setup_maps runs shadow's setuid helpers newuidmap/newgidmap
-- (package uidmap), which check the range against those files.
local process, user = require "linx.process", require "linxuser"

-- inside 0 -> our own uid, inside 1..65536 -> our subordinate range
local maps, err = user.rootless_maps()
if not maps then
  print("skipped: " .. tostring(err))
  print(("  (an administrator grants a range with: usermod --add-subuids 100000-165535 "
    .. "--add-subgids 100000-165535 %s)"):format(tostring(err.user)))
  os.exit(0)
end
for _, side in ipairs { "uid", "gid" } do
  for i, m in ipairs(maps[side]) do print(("%s map %d: %s"):format(side, i, tostring(m))) end
end

-- A child in new user, mount and pid namespaces, parked before its
-- first instruction while we write its maps.
local c = assert(process.spawn {
  argv = { "sh", "-c", [[
    echo "inside:        uid $(id -u), gid $(id -g)"
    setpriv --reuid 1000 --regid 1000 --clear-groups sh -c 'echo "as 1000:       uid $(id -u), gid $(id -g)"'
    setpriv --reuid 65535 --regid 65535 --clear-groups sh -c 'echo "as 65535:      uid $(id -u), gid $(id -g)"'
    echo "overflow:      $(cat /proc/sys/kernel/overflowuid) (what unmapped ids show as)"
  ]] },
  namespaces = { "user", "mount", "pid" },
  stdout = "pipe",
})
-- helper = "auto" (the default) picks newuidmap/newgidmap: these maps are
-- more than our own id; the two run side by side. rootless_maps() says
-- setgroups = "skip", so newgidmap decides: with a subgid range mapped it
-- leaves setgroups allowed, and the container may call setgroups
-- (setpriv --clear-groups above needs that), as under podman.
assert(user.setup_maps(c, maps))
print("setgroups:     " .. user.read_setgroups(c))
assert(c:proceed())
io.write(c:read("stdout"))
print("exit:          code " .. c:wait().code)

-- To prepare a root filesystem for this container, chown on the host to
-- the ids the kernel will translate to.
print(("host ids:      inside uid 1000 is host uid %d; host uid %d is inside uid %d"):format(
  user.to_host(maps.uid, 1000), maps.uid[2].outside, user.to_inside(maps.uid, maps.uid[2].outside)))
