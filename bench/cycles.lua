-- N container cycles from one linx-lua script: the linxuser row of the
-- benchmark, the same job as `baseline cycles N`:
-- spawn /bin/true into new user+mount+pid namespaces (parked), write
-- setgroups/uid_map/gid_map (inside 0 -> our uid/gid), proceed, wait.
--   linx-lua cycles.lua N
-- With a root filesystem as the second argument, each container also
-- pivots into it, mounts proc and sets a hostname (the inside steps):
--   linx-lua cycles.lua N /path/to/rootfs     (it needs /bin/true and /proc)
-- BENCH_CYCLE_PROGRAM=/path runs that program instead of /bin/true (the
-- exit0 rows: bench/exit0.c, an exec that costs next to nothing).
-- The plain rows pass inside = {init = false}: the C baseline has no init.
-- BENCH_CYCLE_SANDBOX=1 with a rootfs is the sandbox row instead: the
-- defaults (a new session, linx-init as pid 1) plus root, caps = {} (when
-- this build knows the option) and no_new_privs, no proc or hostname:
--   BENCH_CYCLE_SANDBOX=1 linx-lua cycles.lua N /path/to/rootfs
local process = require "linx.process"
local user = require "linxuser"

local n = assert(tonumber(arg[1]), "usage: cycles.lua N [rootfs]")
local rootfs = arg[2]

local f = assert(io.open("/proc/self/status"))
local status = f:read("a")
f:close()
local uid = tonumber(status:match("\nUid:%s*(%d+)"))
local gid = tonumber(status:match("\nGid:%s*(%d+)"))

-- Built once and reused, as a script doing this in a loop would.
local program = os.getenv("BENCH_CYCLE_PROGRAM") or "/bin/true"
local spawn_opts = {argv = {program}, namespaces = {"user", "mount", "pid"}, inside = {init = false}}
if rootfs and os.getenv("BENCH_CYCLE_SANDBOX") == "1" then
    spawn_opts.inside = {root = rootfs, no_new_privs = true, caps = {}}
    local probe, err = process.spawn(spawn_opts)
    if probe then
        probe:close()
    elseif err.field == "inside.caps" or (err.reason == "unknown_option" and tostring(err.value) == "caps") then
        spawn_opts.inside.caps = nil -- not in this build yet
        io.stderr:write("cycles.lua: no inside.caps in this build: the sandbox row runs without it\n")
    else
        error(tostring(err))
    end
elseif rootfs then
    spawn_opts.namespaces = {"user", "mount", "pid", "uts"}
    spawn_opts.inside = {root = rootfs, mounts = {{type = "proc", target = "/proc"}}, hostname = "bench",
                         init = false}
end
local maps = {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}

for _ = 1, n do
    local c = assert(process.spawn(spawn_opts))
    assert(user.setup_maps(c, maps))
    assert(c:proceed())
    local st = c:wait()
    if not (st and st.exited and st.code == 0) then
        error("cycle failed: " .. tostring(st and (st.code or st.signal)))
    end
    c:close()
end
