-- The rootless flow: an unprivileged host clones a child into new user,
-- mount and pid namespaces, writes its maps while it is parked at the
-- checkpoint, then lets it run `id`. Inside, the child is root (uid 0,
-- gid 0); outside, it is still just our own unprivileged uid and gid.
--
--   linx-lua examples/rootless.lua        (make demo runs it as uid 65534)
local process = require "linx.process"
local user = require "linxuser"

local function host_ids()
  local f = assert(io.open("/proc/self/status"))
  local status = f:read("*a")
  f:close()
  return tonumber(status:match("Uid:%s*(%d+)")), tonumber(status:match("Gid:%s*(%d+)"))
end

local uid, gid = host_ids()
print(("host:    we are uid %d, gid %d"):format(uid, gid))

-- 1. Clone. spawn returns once the child is parked: nothing of `id` has run.
local child = assert(process.spawn {
  argv = { "id" },
  namespaces = { "user", "mount", "pid" },
  stdin = "null",
  stdout = "pipe",
})
print(("spawn:   child %d parked at the checkpoint"):format(child:host_pid()))

-- 2. Map root inside to our own ids outside (deny setgroups, uid_map, gid_map).
assert(user.setup_maps(child, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))

-- The outside identity, read back from the child's /proc files.
local uid_map = assert(user.read_uid_map(child))
local gid_map = assert(user.read_gid_map(child))
print(("maps:    uid %s, gid %s, setgroups %s"):format(
  tostring(uid_map[1]), tostring(gid_map[1]), assert(user.read_setgroups(child))))

-- 3. Release it into execve.
assert(child:proceed())
local inside = child:read("stdout")
local status = child:wait()
child:close()

io.write("inside:  ", inside)
print(("outside: uid %d inside is uid %d on the host, gid %d inside is gid %d on the host"):format(
  uid_map[1].inside, uid_map[1].outside, gid_map[1].inside, gid_map[1].outside))
print(("exit:    %s"):format(status.exited and "code " .. status.code or "signal " .. status.signal))
if not (status.exited and status.code == 0) then os.exit(1) end
