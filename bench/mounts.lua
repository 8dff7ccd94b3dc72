-- The mount plan's cost per entry (issue 25): containers whose plan is a
-- tmpfs plus BINDS read-only binds (each onto a "dir" entry of the tmpfs),
-- against containers with the tmpfs alone, in ROUNDS interleaved rounds of
-- 5 of each; medians. Run with 10 and with 1000 binds: when no entry
-- re-reads /proc/self/mountinfo (O(N)), the per-bind cost stays flat.
--   linx-lua bench/mounts.lua BINDS ROUNDS
-- prints one line: BINDS µs-per-container µs-per-bind µs-per-empty-plan
-- (bench/run's "mounts" section reads it). On the shared 2-core machine
-- (root, kernel 6.18): 10 binds ~200 µs per bind, 1000 binds ~100 µs per
-- bind (113 ms per container); bwrap with the same 1000 --dir + --ro-bind
-- took 3.56 s per container.
local process = require "linx.process"
local user = require "linxuser"

local binds = assert(tonumber(arg[1]), "usage: mounts.lua BINDS ROUNDS")
local rounds = tonumber(arg[2]) or 5
local BATCH = 5
local status = assert(io.open("/proc/self/status")):read("*a")
local uid, gid = tonumber(status:match("Uid:%s*(%d+)")), tonumber(status:match("Gid:%s*(%d+)"))
local maps = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }

local function plan(n)
  local m = { { type = "tmpfs", target = "/mnt" } }
  for i = 1, n do m[#m + 1] = { type = "dir", target = "/mnt/" .. i } end
  for i = 1, n do m[#m + 1] = { type = "bind", source = "/usr", target = "/mnt/" .. i, readonly = true } end
  return m
end

local function now_us()
  local p = io.popen("date +%s%6N")
  local t = tonumber(p:read("*l"))
  p:close()
  return t
end

-- µs per container over one batch.
local function batch(opts)
  local t0 = now_us()
  for _ = 1, BATCH do
    local c = assert(process.spawn(opts))
    assert(user.setup_maps(c, maps))
    assert(c:proceed())
    assert(c:wait().code == 0)
    c:close()
  end
  return (now_us() - t0) / BATCH
end

local function median(t)
  table.sort(t)
  local n = #t
  return n % 2 == 1 and t[(n + 1) / 2] or (t[n / 2] + t[n / 2 + 1]) / 2
end

local empty = { argv = { "/bin/true" }, namespaces = { "user", "mount" }, inside = { mounts = plan(0) } }
local full = { argv = { "/bin/true" }, namespaces = { "user", "mount" }, inside = { mounts = plan(binds) } }
local e, f = {}, {}
for _ = 1, rounds do
  e[#e + 1] = batch(empty)
  f[#f + 1] = batch(full)
end
local me, mf = median(e), median(f)
print(("%d %.1f %.2f %.1f"):format(binds, mf, (mf - me) / binds, me))
