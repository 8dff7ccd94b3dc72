-- N subordinate-range container cycles from one linx-lua script: the
-- "subids" row of the benchmark, the job `unshare --map-root-user
-- --map-auto true` does per container: spawn /bin/true into a new user
-- namespace (parked), map inside 0 to our uid/gid and inside 1.. to our
-- /etc/subuid and /etc/subgid ranges through newuidmap/newgidmap
-- (rootless_maps, setgroups left to newgidmap), proceed, wait.
--   linx-lua subids.lua N
local process = require "linx.process"
local user = require "linxuser"

local n = assert(tonumber(arg[1]), "usage: subids.lua N")

-- Built once and reused, as a script doing this in a loop would.
local maps = assert(user.rootless_maps())
local spawn_opts = {argv = {"/bin/true"}, namespaces = {"user"}}

for _ = 1, n do
    local c = assert(process.spawn(spawn_opts))
    local ok, err = user.setup_maps(c, maps)
    if not ok then error(tostring(err)) end
    assert(c:proceed())
    local st = c:wait()
    if not (st and st.exited and st.code == 0) then
        error("cycle failed: " .. tostring(st and (st.code or st.signal)))
    end
    c:close()
end
