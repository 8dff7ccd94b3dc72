-- The pool rows of the benchmark (bench/run's "pool" section, issue 26):
-- one process runs N cycles of bench/exit0.c (an exec that costs next to
-- nothing), either fresh (spawn, setup_maps, proceed, wait, close: the
-- path without a pool) or from a pool (pool:spawn, wait, close).
--
-- The script writes the line "go" to stdout right before the timed part
-- and "end" right after it, and bench/run stamps each line as it arrives
-- (bash's EPOCHREALTIME), as for the C floor row (`baseline pooled`): one
-- clock for every row. The pool
-- is as big as the batch and filled before "go": the set-up (`fill`) is
-- never inside the timed part, and the script fails if a take would find
-- the pool empty (a fresh spawn inside the timed part).
--
--   linx-lua pool.lua MODE ROUTE N PROGRAM [ROOTFS]
--
-- MODE: "fresh" or "pool". ROUTE (the options are the same for both modes):
--   own     namespaces user, mount, pid; inside = {init = false}; the
--           caller's own uid and gid as 0 (bench/cycles.lua's exit0 row)
--   init    the same with inside = {init = true}: linx-init as pid 1
--   inside  namespaces user, mount, pid, uts; root = ROOTFS, proc at /proc,
--           a hostname, init = false (bench/cycles.lua's inside-steps
--           row); PROGRAM is then a path inside ROOTFS
--   subids  namespace user; user.rootless_maps() (newuidmap/newgidmap, as
--           bench/subids.lua): run it as a user with /etc/subuid and
--           /etc/subgid ranges
local process = require "linx.process"
local user = require "linxuser"

local mode, route, n, program, rootfs = arg[1], arg[2], tonumber(arg[3]), arg[4], arg[5]
assert((mode == "fresh" or mode == "pool") and route and n and program,
       "usage: pool.lua fresh|pool own|init|inside|subids N PROGRAM [ROOTFS]")

local function own_maps()
    local f = assert(io.open("/proc/self/status"))
    local status = f:read("a")
    f:close()
    local uid = tonumber(status:match("\nUid:%s*(%d+)"))
    local gid = tonumber(status:match("\nGid:%s*(%d+)"))
    return {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}
end

local maps, namespaces, inside
if route == "own" then
    maps, namespaces, inside = own_maps(), {"user", "mount", "pid"}, {init = false}
elseif route == "init" then
    maps, namespaces, inside = own_maps(), {"user", "mount", "pid"}, {init = true}
elseif route == "inside" then
    assert(rootfs, "the inside route needs ROOTFS")
    maps, namespaces = own_maps(), {"user", "mount", "pid", "uts"}
    inside = {root = rootfs, mounts = {{type = "proc", target = "/proc"}}, hostname = "bench", init = false}
elseif route == "subids" then
    maps, namespaces = assert(user.rootless_maps()), {"user"}
else
    error("unknown route " .. route)
end

local function check(st, err)
    if not (st and st.exited and st.code == 0) then
        error("cycle failed: " .. tostring(st and (st.code or st.signal) or err))
    end
end

local function mark(word)
    io.stdout:write(word, "\n")
    io.stdout:flush()
end

if mode == "pool" then
    local pool = assert(process.pool{namespaces = namespaces, inside = inside, maps = maps, size = n})
    local ready, err = pool:fill()
    if ready ~= n then error("pool:fill readied " .. tostring(ready) .. " of " .. n .. ": " .. tostring(err)) end
    local req = {argv = {program}}
    mark("go")
    for _ = 1, n do
        if pool:size() == 0 then error("the pool ran dry: a take would spawn fresh inside the timed part") end
        local c = assert(pool:spawn(req))
        check(c:wait())
        c:close()
    end
    mark("end")
    pool:close()
else
    local spawn_opts = {argv = {program}, namespaces = namespaces, inside = inside}
    mark("go")
    for _ = 1, n do
        local c = assert(process.spawn(spawn_opts))
        local ok, err = user.setup_maps(c, maps)
        if not ok then error(tostring(err)) end
        assert(c:proceed())
        check(c:wait())
        c:close()
    end
    mark("end")
end
