-- Two comparisons of issues 24 and 25, run by bench/run's "sandbox"
-- section (never by make check):
--   linx-lua sandbox.lua run N     N sandbox.run{argv = {"/bin/true"}, ro = ...}
--   linx-lua sandbox.lua filter F  writes the compiled "default" seccomp
--                                  program to F (for bwrap --seccomp)
--   linx-lua sandbox.lua dev N     N plain cycles with a "dev" mount at /dev
--   linx-lua sandbox.lua plain N   N plain cycles (inside = {init = false})
-- bench/run times each whole run (EPOCHREALTIME) and divides by N: Lua
-- has no wall clock finer than a second.
local process = require "linx.process"
local user = require "linxuser"

local mode, arg2 = arg[1], arg[2]
local function times(n, body)
  for _ = 1, n do body() end
end

if mode == "filter" then
  local prog = assert(process.seccomp_program("default"))
  local f = assert(io.open(assert(arg2, "usage: sandbox.lua filter FILE"), "wb"))
  f:write(prog)
  f:close()
  return
end

local n = assert(tonumber(arg2), "usage: sandbox.lua run|dev|plain N")
if mode == "run" then
  local sandbox = require "linx.sandbox"
  local ro = {}
  for _, p in ipairs({"/usr", "/bin", "/lib", "/lib64", "/sbin"}) do
    local f = io.open(p)
    if f then f:close(); ro[#ro + 1] = p end
  end
  local opts = {argv = {"/bin/true"}, ro = ro}
  times(n, function()
    local res = assert(sandbox.run(opts))
    assert(res.code == 0, "true failed in the sandbox")
  end)
  return
end

local status = assert(io.open("/proc/self/status")):read("a")
local uid = tonumber(status:match("\nUid:%s*(%d+)"))
local gid = tonumber(status:match("\nGid:%s*(%d+)"))
local maps = {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}
local opts = {argv = {"/bin/true"}, namespaces = {"user", "mount", "pid"}, inside = {init = false}}
if mode == "dev" then
  opts.inside.mounts = {{type = "dev", target = "/dev"}}
else
  assert(mode == "plain", "usage: sandbox.lua run|dev|plain N")
end
times(n, function()
  local c = assert(process.spawn(opts))
  assert(user.setup_maps(c, maps))
  assert(c:proceed())
  assert(c:wait().code == 0)
  c:close()
end)
