-- Helpers shared by the specs: who we are, and real targets to aim at.
-- Targets are real processes in real user namespaces; nothing is mocked.
local support = {}

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end
support.read_file = read_file

-- Real (not effective) ids from /proc/self/status.
local function status_id(field)
  local s = assert(read_file("/proc/self/status"))
  return tonumber(s:match(field .. ":%s*(%d+)"))
end

support.uid = status_id("Uid")
support.gid = status_id("Gid")
support.is_root = support.uid == 0
support.mode = os.getenv("LINX_MODE") or (support.is_root and "root" or "unpriv")

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("*a")
  p:close()
  return out
end
support.sh = sh

function support.exists(path)
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

-- A fresh directory /tmp/<prefix>.XXXXXX, readable by everyone (so the
-- children of either lane can enter it). Made in process (lfs): mkdir
-- fails on a name that exists, so a name is never shared; chmod only if
-- the umask took more than group/other write.
local SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
function support.tmpdir(prefix)
  local lfs = require "lfs"
  local rnd = assert(io.open("/dev/urandom", "rb"))
  for _ = 1, 100 do
    local name = {}
    for i, b in ipairs { rnd:read(6):byte(1, 6) } do
      local k = b % #SUFFIX + 1
      name[i] = SUFFIX:sub(k, k)
    end
    local d = "/tmp/" .. prefix .. "." .. table.concat(name)
    if lfs.mkdir(d) then
      rnd:close()
      if lfs.attributes(d, "permissions") ~= "rwxr-xr-x" then os.execute("chmod 755 " .. d) end
      return d
    end
  end
  rnd:close()
  error("support.tmpdir: no fresh name under /tmp for " .. prefix)
end

function support.write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- A shell script at path, executable by everyone; returns path.
function support.write_script(path, body)
  support.write_file(path, "#!/bin/sh\n" .. body .. "\n")
  os.execute("chmod 755 " .. path)
  return path
end

-- The lane's build directory (absolute in the lanes: tools/busted-lane).
support.build = os.getenv("LINX_BUILD") or "build/5.4"

-- A program of spec/hosts/, built by `make spec-hosts` (part of `make
-- all`) into <build>/hosts/<name>; a missing one fails the test.
function support.host(name)
  local exe = support.build .. "/hosts/" .. name
  assert(support.exists(exe), exe .. " is missing: run make spec-hosts")
  return exe
end

-- The object file of one unit of src/ ("src/core/idmap.c"), for nm: the
-- lane's build made it (make compiles each unit once, into <build>/obj/
-- and, for the freestanding folder, <build>/child/). A unit the build has
-- no object for (child_init.c is a program of its own) is compiled into
-- dir with compile(src, obj), which returns cc's output and exit status.
function support.object(src, dir, compile)
  local room = src:match("^src/(.*)%.c$")
  local built = room and (room:match("^child/") and support.build .. "/" .. room .. ".o"
                          or support.build .. "/obj/" .. room .. ".o")
  if built and support.exists(built) then return built end
  local obj = dir .. "/" .. src:gsub("[/%.]", "_") .. ".o"
  local out, rc = compile(src, obj)
  assert(rc == 0, "cc " .. src .. ": " .. tostring(out))
  return obj
end

-- spec/hosts/seccomp_errno.c:
-- `<it> NR ERRNO program args...` runs the program with system call NR
-- failing with ERRNO in it and in all its children, raw calls included.
function support.seccomp_host() return support.host("seccomp_errno") end

-- An object whose finalizer runs fn (a table with __gc on 5.2+, a
-- newproxy on 5.1 and LuaJIT, where tables have no __gc).
function support.with_finalizer(fn)
  if rawget(_G, "newproxy") then
    local p = newproxy(true)
    getmetatable(p).__gc = fn
    return p
  end
  return setmetatable({}, { __gc = fn })
end

-- Sleep without a process: lua-system (busted's own dependency) when it
-- loads, else sleep(1). A poll loop that forks sh and sleep every 10 ms
-- costs more CPU than most of what it waits for.
local system_ok, system = pcall(require, "system")
function support.sleep(seconds)
  if system_ok and system.sleep then
    system.sleep(seconds)
  else
    os.execute("sleep " .. seconds)
  end
end

-- Wait (bounded) until pred() is true; returns its last value.
function support.wait_until(pred, tries)
  for _ = 1, tries or 500 do
    local v = pred()
    if v then return v end
    support.sleep(0.01)
  end
  return pred()
end

-- Symbolic links dir/NAME -> target for each name of names, made in
-- process (lfs, busted's own dependency) rather than one ln per link;
-- names that already exist are left alone. A busybox rootfs links a few
-- hundred applets this way.
function support.symlinks(target, dir, names)
  local lfs = require "lfs"
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    if not lfs.symlinkattributes(path, "mode") then
      assert(lfs.link(target, path, true))
    end
  end
end

-- A process in a fresh user namespace (via util-linux unshare, which
-- execs sleep in the same process) whose maps are still unwritten.
-- Returns its host pid; call support.kill(pid) when done. Its parent is a
-- subshell that waits for it, so that once killed it is reaped at once
-- (an orphan waits for pid 1, which on some machines reaps only every
-- second or two); the subshell lets go of popen's pipe first.
function support.sleeper()
  local pid = tonumber(sh("(unshare --user sleep 600 >/dev/null 2>&1 & echo $!; exec >/dev/null 2>&1; wait) &"))
  assert(pid, "could not start a sleeper")
  -- comm becomes "sleep" only after exec, i.e. after unshare(2) ran.
  local ok = support.wait_until(function()
    local comm = read_file("/proc/" .. pid .. "/comm")
    return comm == "sleep\n"
  end)
  assert(ok, "sleeper " .. pid .. " never reached its namespace")
  return pid
end

function support.kill(pid)
  os.execute("kill -9 " .. math.floor(pid) .. " 2>/dev/null")
end

-- Kill and wait until /proc/<pid> is gone (the orphan is reaped by init).
function support.kill_and_wait(pid)
  support.kill(pid)
  return support.wait_until(function() return not support.exists("/proc/" .. pid .. "/comm") end)
end

-- Call fn(pid) with a fresh sleeper, always killing it afterwards.
function support.with_sleeper(fn)
  local pid = support.sleeper()
  local ok, err = pcall(fn, pid)
  support.kill(pid)
  if not ok then error(err, 0) end
end

-- Plain {inside, outside, length} triples of a map list, for comparing.
function support.triples(maps)
  local out = {}
  for i, m in ipairs(maps) do
    out[i] = { m.inside or m[1], m.outside or m[2], m.length or m[3] }
  end
  return out
end

-- busted's pending() lives in each spec file's environment, so a spec
-- hands over a closure that looks it up when called:
--   local S = require("support").bind(function(why) pending(why) end)
function support.bind(pending_fn)
  support.pending = pending_fn
  return support
end

-- Mark a test that needs root; in the unprivileged lane it is pending.
function support.root_only(name)
  if support.is_root then return false end
  support.pending(name .. " (needs root; runs in the root lane)")
  return true
end

function support.unpriv_only(name)
  if not support.is_root then return false end
  support.pending(name .. " (needs an unprivileged uid; runs in the unprivileged lane)")
  return true
end

-- What a run may leave behind, counted from /proc: our pid, our direct
-- children (every thread's list: keepers are), our open fds.
function support.self_pid()
  return tonumber(read_file("/proc/self/stat"):match("^(%d+)"))
end

-- Both counts collect garbage first: a handle an earlier spec dropped
-- would otherwise be closed by its finalizer between a count and the
-- next, and the counts would differ for no fault of the code under test.
local function settle()
  collectgarbage()
  collectgarbage()
end

function support.child_count()
  settle()
  local n, me = 0, support.self_pid()
  for tid in require("lfs").dir("/proc/" .. me .. "/task") do
    local list = tonumber(tid) and read_file("/proc/" .. me .. "/task/" .. tid .. "/children") or ""
    for _ in list:gmatch("%d+") do n = n + 1 end
  end
  return n
end

-- Listed in-process (lfs, busted's own dependency): a shell listing
-- through io.popen may see popen's pipe end before we close our copy.
-- Not counted: the init image (inside.init), one sealed memfd a Lua state
-- keeps open from its first spawn with an init on, not one per spawn.
function support.fd_count()
  settle()
  local lfs = require("lfs")
  local n = 0
  for name in lfs.dir("/proc/self/fd") do
    if tonumber(name) then
      local target = lfs.symlinkattributes("/proc/self/fd/" .. name, "target") or ""
      if not target:find("^/memfd:linx%-init") then n = n + 1 end
    end
  end
  return n - 1 -- the directory being listed
end

return support
