-- The mount plan's cost per entry (issue 25): CYCLES containers, each with
-- BINDS read-only binds of one source onto BINDS directories of a tmpfs
-- (dir entries first), timed per container; run it with 10 and with 1000
-- to see whether the per-bind cost stays flat (O(N): no entry re-reads
-- /proc/self/mountinfo).
--   linx-lua bench/mounts.lua BINDS CYCLES
-- prints: binds, µs per container, µs per bind (the plan's share over a
-- plan of the tmpfs alone). Not part of bench/run yet. Measured on the
-- shared 2-core machine (root, kernel 6.18): 10 binds 208 µs per bind,
-- 1000 binds 99 µs per bind (113 ms per container); bwrap with the same
-- 1000 --dir + --ro-bind took 3.56 s per container (0.03x).
local process = require "linx.process"
local user = require "linxuser"

local binds = assert(tonumber(arg[1]), "usage: mounts.lua BINDS CYCLES")
local cycles = tonumber(arg[2]) or 20
local status = assert(io.open("/proc/self/status")):read("*a")
local uid, gid = tonumber(status:match("Uid:%s*(%d+)")), tonumber(status:match("Gid:%s*(%d+)"))
local maps = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }

local function plan(n)
  local m = { { type = "tmpfs", target = "/mnt" } }
  for i = 1, n do m[#m + 1] = { type = "dir", target = "/mnt/" .. i } end
  for i = 1, n do m[#m + 1] = { type = "bind", source = "/usr", target = "/mnt/" .. i, readonly = true } end
  return m
end

local function run(n)
  local opts = { argv = { "/bin/true" }, namespaces = { "user", "mount" }, inside = { mounts = plan(n) } }
  local wall0 = io.popen("date +%s%N"):read("*l")
  for _ = 1, cycles do
    local c = assert(process.spawn(opts))
    assert(user.setup_maps(c, maps))
    assert(c:proceed())
    assert(c:wait().code == 0)
    c:close()
  end
  local wall1 = io.popen("date +%s%N"):read("*l")
  return (tonumber(wall1) - tonumber(wall0)) / 1e3 / cycles
end

local base = run(0)
local t = run(binds)
print(("%d binds: %.0f us per container, %.1f us per bind (empty plan %.0f us)"):format(binds, t, (t - base) / binds,
                                                                                         base))
