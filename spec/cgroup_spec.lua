-- spawn{cgroup = path_or_fd}: the keeper clones the workload straight
-- into a cgroup v2 directory (clone3 CLONE_INTO_CGROUP), so even the
-- parked child, which has run none of the workload, is already inside.
-- Root creates the cgroup (where cgroup2 is mounted, or on a cgroup2 it
-- mounts in a temporary directory); uid 65534 meets a cgroup it may not
-- write. This machine is a cgroup v1/v2 hybrid: every controller sits
-- on v1, so the pids.max part is pending here.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"

local EACCES, ENOENT, EBADF = 13, 2, 9

local function cgroup2_mount()
  for line in io.lines("/proc/self/mounts") do
    local mnt, fstype = line:match("^%S+ (%S+) (%S+)")
    if fstype == "cgroup2" then return mnt end
  end
end

-- The cgroup v2 path of a process (the "0::" line), or nil.
local function cgroup_of(pid)
  local s = S.read_file("/proc/" .. pid .. "/cgroup") or ""
  return s:match("0::([^\n]*)")
end

local function clean(fn)
  local fds, kids = S.fd_count(), S.child_count()
  fn()
  assert.are.equal(fds, S.fd_count())
  assert.are.equal(kids, S.child_count())
end

describe("spawn{cgroup = ...}", function()
  local mnt, mounted, dir, name
  setup(function()
    mnt = cgroup2_mount()
    if not mnt and S.is_root then
      mnt = S.tmpdir("linx-cgroup2")
      if os.execute("mount -t cgroup2 none " .. mnt .. " 2>/dev/null") then
        mounted = true
      else
        os.execute("rmdir " .. mnt)
        mnt = nil
      end
    end
    if mnt and S.is_root then
      name = "linx-spec-" .. S.self_pid()
      dir = mnt .. "/" .. name
      os.execute("mkdir -p " .. dir)
    end
  end)
  teardown(function()
    if dir then os.execute("rmdir " .. dir .. " 2>/dev/null") end
    if mounted then os.execute("umount " .. mnt .. " && rmdir " .. mnt) end
  end)

  -- Where mnt is the hierarchy's root (the usual case), a directory's
  -- cgroup path is its path below mnt.
  local function expected() return "/" .. name end

  it("the parked child is in the cgroup before running anything; the workload stays there", function()
    if S.root_only("creating a cgroup") then return end
    if not mnt then return pending("no cgroup2 mounted and none could be mounted") end
    local base = cgroup_of("self")
    for _, opts in ipairs {
      { argv = { "cat", "/proc/self/cgroup" }, cgroup = dir, stdout = "pipe" },
      { argv = { "cat", "/proc/self/cgroup" }, cgroup = dir, stdout = "pipe", namespaces = { "user", "pid" } },
    } do
      local c = assert(process.spawn(opts))
      local pid = c:host_pid()
      assert.are.equal(base:gsub("/$", "") .. expected(), cgroup_of(pid))
      assert.matches("%f[%d]" .. pid .. "%f[%D]", S.read_file(dir .. "/cgroup.procs"))
      assert(c:proceed())
      local out = c:read("stdout")
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      if not opts.namespaces then assert.matches("0::" .. expected(), out, 1, true) end
    end
    assert.is_nil(cgroup_of("self"):find(name, 1, true)) -- the host stayed where it was
  end)

  it("takes the directory as a Lua file or an fd number too", function()
    if S.root_only("creating a cgroup") then return end
    if not mnt then return pending("no cgroup2 mounted and none could be mounted") end
    local base = cgroup_of("self"):gsub("/$", "")
    local f = assert(io.open(dir, "r"))
    local n -- the fd number the Lua file holds
    for fd in require("lfs").dir("/proc/self/fd") do
      if tonumber(fd) and S.sh("readlink /proc/self/fd/" .. fd .. " 2>/dev/null"):gsub("%s+$", "") == dir then n = tonumber(fd) end
    end
    for _, v in ipairs { f, assert(n) } do
      local c = assert(process.spawn { argv = { "true" }, cgroup = v })
      assert.are.equal(base .. expected(), cgroup_of(c:host_pid()))
      c:close()
    end
    f:close()
  end)

  it("on the copying path (LINX_PROCESS_NO_CLONE_VM=1) too", function()
    if S.root_only("creating a cgroup") then return end
    if not mnt then return pending("no cgroup2 mounted and none could be mounted") end
    local lua = os.getenv("LINX_LUA")
    if not lua or not S.exists(lua) then return pending("no linx-lua build (LINX_LUA)") end
    local code = ([[local p = require "linx.process"
      local c = assert(p.spawn{argv = {"cat", "/proc/self/cgroup"}, cgroup = %q, stdout = "pipe"})
      local f = io.open("/proc/" .. c:host_pid() .. "/cgroup"); io.write(f:read("*a")); f:close()
      assert(c:proceed()); io.write(c:read("stdout")); c:wait(); c:close()]]):format(dir)
    local out = S.sh(("LINX_PROCESS_NO_CLONE_VM=1 %s -e %q 2>&1"):format(lua, code))
    local _, n = out:gsub("0::[^\n]*" .. expected():gsub("%-", "%%-") .. "\n", "")
    assert.are.equal(2, n, out)
  end)

  it("pids.max = 8 stops a fork bomb inside the cgroup", function()
    if S.root_only("creating a cgroup") then return end
    if not mnt then return pending("no cgroup2 mounted and none could be mounted") end
    local ctl = S.read_file(mnt .. "/cgroup.controllers") or ""
    if not ctl:find("%f[%w]pids%f[%W]") then
      return pending("the cgroup v2 hierarchy at " .. mnt .. " has no pids controller (a v1/v2 hybrid: pids is on v1)")
    end
    os.execute("echo +pids > " .. mnt .. "/cgroup.subtree_control")
    S.write_file(dir .. "/pids.max", "8\n")
    local c = assert(process.spawn { argv = { "sh", "-c", "for i in $(seq 30); do sleep 3 & done; wait" },
      cgroup = dir, stderr = "pipe" })
    assert(c:proceed())
    local err = c:read("stderr")
    c:wait()
    c:close()
    assert.matches("max (%d+)", S.read_file(dir .. "/pids.events"))
    assert.is_true(tonumber(S.read_file(dir .. "/pids.events"):match("max (%d+)")) > 0, err)
  end)

  it("a missing directory is an os error from spawn naming it; nothing left behind", function()
    if not mnt then return pending("no cgroup2 mounted") end
    clean(function()
      local c, err = process.spawn { argv = { "true" }, cgroup = mnt .. "/linx-no-such-cgroup" }
      assert.is_nil(c)
      assert.are.same({ "os", "spawn", ENOENT, mnt .. "/linx-no-such-cgroup" }, { err.kind, err.operation, err.code, err.path })
    end)
  end)

  it("a directory that is no cgroup v2: clone3's os error with a hint", function()
    clean(function()
      local c, err = process.spawn { argv = { "true" }, cgroup = "/tmp" }
      assert.is_nil(c)
      assert.are.same({ "os", "clone3", EBADF, "/tmp" }, { err.kind, err.operation, err.code, err.path })
      assert.matches("cgroup v2", err.hint)
    end)
  end)

  it("a cgroup the caller cannot write: clone3 EACCES with a hint, nothing left behind", function()
    if S.unpriv_only("a cgroup root owns") then return end
    if not mnt then return pending("no cgroup2 mounted") end
    clean(function()
      for _, ns in ipairs { {}, { "user" } } do
        local c, err = process.spawn { argv = { "true" }, cgroup = mnt, namespaces = ns }
        assert.is_nil(c)
        assert.are.same({ "os", "clone3", EACCES, mnt }, { err.kind, err.operation, err.code, err.path })
        assert.matches("delegate", err.hint)
      end
    end)
  end)

  it("bad values are bad_option", function()
    for _, v in ipairs { "relative/dir", -1, true } do
      local c, err = process.spawn { argv = { "true" }, cgroup = v }
      assert.is_nil(c)
      assert.are.same({ "bad_option", "cgroup" }, { err.kind, err.field })
    end
  end)
end)
