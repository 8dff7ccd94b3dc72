-- spawn{..., inside = {...}} and spawn{..., fds = {...}}: the steps the
-- workload takes on itself between proceed() and execve (mounts, root,
-- hostname, groups/gid/uid, no_new_privs), each alone and together, each
-- failure mode, and the extra descriptors. Real namespaces, real mounts,
-- a real busybox root filesystem; as root and as uid 65534.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local user = require "linxuser"

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
local BUSYBOX = "/bin/busybox"

local function sh(cmd) return (S.sh(cmd):gsub("%s+$", "")) end

local function tmpdir() return S.tmpdir("linx-inside") end
local write = S.write_file

-- A busybox root filesystem: /bin/busybox and its applets as symlinks,
-- empty mount points, a marker file.
local function rootfs()
  local r = tmpdir()
  for _, d in ipairs { "bin", "proc", "dev", "tmp", "etc", "mnt" } do
    assert(os.execute("mkdir -p " .. r .. "/" .. d))
  end
  assert(os.execute("cp " .. BUSYBOX .. " " .. r .. "/bin/busybox"))
  S.symlinks("busybox", r .. "/bin",
             { "sh", "ls", "cat", "id", "hostname", "pwd", "touch", "readlink", "grep", "stat", "echo" })
  write(r .. "/marker", "inside the root\n")
  return r
end

local function rm(path) os.execute("rm -rf " .. path) end

-- Spawn with opts (namespaces default user+mount+pid), write maps (maps
-- false: none, no user namespace), proceed. Returns the handle and proceed's results.
local function start(opts, maps)
  opts.namespaces = opts.namespaces or { "user", "mount", "pid" }
  local c = assert(process.spawn(opts))
  if maps ~= false then assert(user.setup_maps(c, maps or own)) end
  return c, c:proceed()
end

-- Run it through; stdout and the exit code.
local function run(opts, maps)
  opts.stdout = opts.stdout or "pipe"
  local c, ok, err = start(opts, maps)
  assert(ok, tostring(err))
  local out = c:read("stdout")
  local code = c:wait().code
  c:close()
  return out, code
end

-- proceed() fails: the error table, and the workload's exit code.
local function fails(opts, maps)
  local c, ok, err, code = start(opts, maps)
  assert.is_nil(ok)
  assert.is_table(err)
  assert.are.equal("os", err.kind)
  assert.are.equal(err.code, code)
  local st = c:wait()
  c:close()
  return err, st
end

local function children()
  local out = {}
  for tid in require("lfs").dir("/proc/self/task") do
    out[#out + 1] = tonumber(tid) and S.read_file("/proc/self/task/" .. tid .. "/children") or ""
  end
  return table.concat(out)
end

describe("inside steps", function()
  local root, scratch
  setup(function()
    root = rootfs()
    scratch = tmpdir()
  end)
  teardown(function()
    rm(root)
    rm(scratch)
  end)

  describe("a malformed inside table", function()
    local cases = {
      { "not a table", { inside = "yes" }, "inside", "not_a_table" },
      { "unknown key", { inside = { mount = {} } }, "inside.mount", "unknown_option" },
      { "mounts not a list", { inside = { mounts = "proc" } }, "inside.mounts", "not_a_list" },
      { "an entry not a table", { inside = { mounts = { { type = "proc", target = "/proc" }, "tmpfs" } } },
        "inside.mounts[2]", "not_a_table" },
      { "type missing", { inside = { mounts = { { type = "proc", target = "/proc" }, { target = "/tmp" } } } },
        "inside.mounts[2].type", "missing" },
      { "type unknown", { inside = { mounts = { { type = "proc", target = "/proc" }, { type = "nfs", target = "/x" } } } },
        "inside.mounts[2].type", "unknown" },
      { "unknown key in an entry", { inside = { mounts = { { type = "tmpfs", target = "/t", flags = "ro" } } } },
        "inside.mounts[1].flags", "unknown_option" },
      { "target missing", { inside = { mounts = { { type = "proc" } } } }, "inside.mounts[1].target", "missing" },
      { "target relative", { inside = { mounts = { { type = "proc", target = "proc" } } } },
        "inside.mounts[1].target", "not_absolute" },
      { "target with NUL", { inside = { mounts = { { type = "proc", target = "/pr\0oc" } } } },
        "inside.mounts[1].target", "bad_path" },
      { "bind without source", { inside = { mounts = { { type = "bind", target = "/mnt" } } } },
        "inside.mounts[1].source", "missing" },
      { "source on proc", { inside = { mounts = { { type = "proc", source = "/x", target = "/proc" } } } },
        "inside.mounts[1].source", "not_allowed" },
      { "readonly not a boolean", { inside = { mounts = { { type = "tmpfs", target = "/t", readonly = 1 } } } },
        "inside.mounts[1].readonly", "not_a_boolean" },
      { "options on a bind", { inside = { mounts = { { type = "bind", source = "/a", target = "/b", options = "x" } } } },
        "inside.mounts[1].options", "not_allowed" },
      { "root relative", { inside = { root = "rootfs" } }, "inside.root", "not_absolute" },
      { "root not a string", { inside = { root = true } }, "inside.root", "not_a_string" },
      { "root without a mount namespace", { namespaces = { "user" }, inside = { root = "/" } },
        "inside.root", "needs_mount_namespace" },
      { "mounts without a mount namespace",
        { namespaces = { "user", "pid" }, inside = { mounts = { { type = "proc", target = "/proc" } } } },
        "inside.mounts", "needs_mount_namespace" },
      { "hostname without uts", { inside = { hostname = "ctr" } }, "inside.hostname", "needs_uts_namespace" },
      { "hostname too long", { namespaces = { "user", "uts" }, inside = { hostname = ("h"):rep(65) } },
        "inside.hostname", "bad_value" },
      { "hostname empty", { namespaces = { "user", "uts" }, inside = { hostname = "" } }, "inside.hostname", "bad_value" },
      { "groups not a list", { inside = { groups = 5 } }, "inside.groups", "not_a_list" },
      { "a group not an id", { inside = { groups = { 1, -2 } } }, "inside.groups", "bad_id" },
      { "uid a fraction", { inside = { uid = 1.5 } }, "inside.uid", "bad_id" },
      { "uid -1 as 4294967295", { inside = { uid = 4294967295 } }, "inside.uid", "bad_id" },
      { "gid a string", { inside = { gid = "0" } }, "inside.gid", "bad_id" },
      { "no_new_privs not a boolean", { inside = { no_new_privs = "yes" } }, "inside.no_new_privs", "not_a_boolean" },
      { "fds not a table", { fds = 3 }, "fds", "not_a_table" },
      { "fds at a stdio number", { fds = { [2] = 0 } }, "fds", "bad_number" },
      { "fds with a string key", { fds = { x = 0 } }, "fds", "bad_number" },
      { "an fd not a file", { fds = { [3] = "stdout" } }, "fds[3]", "not_a_file" },
      { "an fd not open", { fds = { [3] = 1000000 } }, "fds[3]", "not_open" },
    }
    for _, case in ipairs(cases) do
      it("is bad_option before any child exists: " .. case[1], function()
        local opts = case[2]
        opts.argv = { "true" }
        opts.namespaces = opts.namespaces or { "user", "mount", "pid" }
        local before = children()
        local c, err = process.spawn(opts)
        assert.is_nil(c)
        assert.are.equal("bad_option", err.kind)
        assert.are.equal("spawn", err.operation)
        assert.are.equal(case[3], err.field)
        assert.are.equal(case[4], err.reason)
        assert.are.equal(before, children())
      end)
    end

    it("names a closed Lua file", function()
      local f = assert(io.open("/dev/null"))
      f:close()
      local c, err = process.spawn { argv = { "true" }, fds = { [3] = f } }
      assert.is_nil(c)
      assert.are.same({ "bad_option", "fds[3]", "closed", 3 }, { err.kind, err.field, err.reason, err.index })
    end)
  end)

  describe("each step alone", function()
    it("mounts proc for the new pid namespace", function()
      local out, code = run { argv = { "cat", "/proc/self/stat" },
                              inside = { mounts = { { type = "proc", target = "/proc" } } } }
      assert.are.equal(0, code)
      assert.are.equal("2 (cat)", out:match("^%d+ %(%S+%)")) -- pid 1 is the init ("pid" has one)
      -- the host's /proc is untouched: the tree was made private first
      assert.are.equal(tostring(S.read_file("/proc/self/stat")):match("^%d+"), tostring(sh("echo $PPID")))
    end)

    it("mounts a tmpfs, with options, read-only on request", function()
      local dir = scratch .. "/tmpfs"
      assert(os.execute("mkdir -p " .. dir))
      write(dir .. "/host-file", "host\n")
      local out, code = run { argv = { "sh", "-c", "ls -A " .. dir .. "; stat -c %a " .. dir .. "; touch " .. dir .. "/new && echo wrote" },
                              inside = { mounts = { { type = "tmpfs", target = dir, options = "mode=0711" } } } }
      assert.are.equal(0, code)
      assert.are.equal("711\nwrote\n", out) -- empty: the host's file is hidden
      assert.is_nil(S.read_file(dir .. "/new")) -- and nothing reached the host
      out = run { argv = { "sh", "-c", "touch " .. dir .. "/new 2>/dev/null && echo wrote || echo refused" },
                  inside = { mounts = { { type = "tmpfs", target = dir, readonly = true } } } }
      assert.are.equal("refused\n", out)
    end)

    it("binds a directory, recursively, read-only on request", function()
      local src, dst = scratch .. "/bind-src", scratch .. "/bind-dst"
      assert(os.execute("mkdir -p " .. src .. "/sub " .. dst))
      write(src .. "/file", "from the source\n")
      local out, code = run { argv = { "cat", dst .. "/file" },
                              inside = { mounts = { { type = "bind", source = src, target = dst } } } }
      assert.are.same({ "from the source\n", 0 }, { out, code })
      -- a tmpfs mounted on src/sub first is carried along (MS_REC) and made
      -- read-only with the rest
      local script = "touch " .. dst .. "/x 2>/dev/null && echo top-rw || echo top-ro; " ..
                     "stat -f -c %T " .. dst .. "/sub; touch " .. dst .. "/sub/x 2>/dev/null && echo sub-rw || echo sub-ro"
      out, code = run { argv = { "sh", "-c", script },
                        inside = { mounts = { { type = "tmpfs", target = src .. "/sub" },
                                              { type = "bind", source = src, target = dst, readonly = true } } } }
      assert.are.same({ "top-ro\ntmpfs\nsub-ro\n", 0 }, { out, code })
      assert.is_nil(S.read_file(src .. "/x"))
    end)

    it("builds a minimal /dev", function()
      local dir = scratch .. "/dev"
      assert(os.execute("mkdir -p " .. dir))
      local script = "ls " .. dir .. "; echo gone >" .. dir .. "/null; head -c 3 " .. dir .. "/zero | od -An -tx1"
      local out, code = run { argv = { "sh", "-c", script },
                              inside = { mounts = { { type = "dev", target = dir } } } }
      assert.are.equal(0, code)
      assert.are.equal("fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n 00 00 00\n",
                       out)
    end)

    it("pivots into a root and enters cwd inside it", function()
      local out, code = run { argv = { "sh", "-c", "cat /marker; pwd; ls /usr 2>&1 >/dev/null || echo no-usr" },
                              cwd = "/bin", inside = { root = root } }
      assert.are.equal(0, code)
      assert.are.equal("inside the root\n/bin\nls: /usr: No such file or directory\nno-usr\n", out)
    end)

    it("never propagates a mount to the host, even from a shared mount (root, no user namespace)", function()
      if S.root_only("making a host mount shared") then return end
      local shared = scratch .. "/shared"
      assert(os.execute("mkdir -p " .. shared .. " && mount --bind " .. shared .. " " .. shared ..
                        " && mount --make-shared " .. shared .. " && mkdir -p " .. shared .. "/sub"))
      local ok, out = pcall(run, { argv = { "sh", "-c", "stat -f -c %T " .. shared .. "/sub; hostname" },
                                   namespaces = { "mount", "pid", "uts" },
                                   inside = { mounts = { { type = "tmpfs", target = shared .. "/sub" } },
                                              hostname = "no-user-ns" } }, false)
      local host_view = sh("stat -f -c %T " .. shared .. "/sub")
      os.execute("umount -l " .. shared)
      assert(ok, out)
      assert.are.equal("tmpfs\nno-user-ns\n", out)
      assert.are_not.equal("tmpfs", host_view)
    end)

    it("sets the hostname of its own uts namespace", function()
      local host = sh("hostname")
      local out = run { argv = { "hostname" }, namespaces = { "user", "uts" }, inside = { hostname = "ctr-1" } }
      assert.are.equal("ctr-1\n", out)
      assert.are.equal(host, sh("hostname"))
    end)

    it("sets no_new_privs", function()
      local out = run { argv = { "grep", "NoNewPrivs", "/proc/self/status" }, inside = { no_new_privs = true } }
      assert.are.equal("1", out:match("NoNewPrivs:%s*(%d)"))
      out = run { argv = { "grep", "NoNewPrivs", "/proc/self/status" }, inside = { no_new_privs = false } }
      assert.are.equal("0", out:match("NoNewPrivs:%s*(%d)"))
    end)

    it("sets uid and gid 0 when only the own id is mapped", function()
      local out = run { argv = { "id" }, inside = { uid = 0, gid = 0 } }
      assert.are.equal("uid=0(root) gid=0(root)", out:match("^(uid=%S+ gid=%S+)"))
    end)

    it("sets groups, gid and uid from a range (root)", function()
      if S.root_only("a 65536-id range") then return end
      local range = { uid = { { 0, 100000, 65536 } }, gid = { { 0, 100000, 65536 } }, setgroups = "skip" }
      local out, code = run({ argv = { "sh", "-c", "id -u; id -g; id -G; grep -E 'CapEff|NoNewPrivs' /proc/self/status" },
                              inside = { groups = { 10, 20 }, gid = 1000, uid = 1000, no_new_privs = true } }, range)
      assert.are.equal(0, code)
      local u, g, groups = out:match("^(%d+)\n(%d+)\n([%d ]+)\n")
      assert.are.same({ "1000", "1000", "1000 10 20" }, { u, g, groups })
      assert.are.equal("0000000000000000", out:match("CapEff:%s*(%x+)"))
    end)
  end)

  describe("together", function()
    it("runs a busybox container: root, proc, dev, tmpfs, hostname, ids, cwd", function()
      local script = "hostname; id -u; cat /proc/1/comm; ls /dev | grep -c .; stat -f -c %T /tmp; pwd; cat /marker"
      local out, code = run { argv = { "/bin/sh", "-c", script }, cwd = "/tmp",
                              namespaces = { "user", "mount", "pid", "uts", "ipc" },
                              inside = { root = root, hostname = "box",
                                         mounts = { { type = "proc", target = "/proc" },
                                                    { type = "dev", target = "/dev" },
                                                    { type = "tmpfs", target = "/tmp" } },
                                         uid = 0, gid = 0, no_new_privs = true } }
      assert.are.equal(0, code)
      assert.are.equal("box\n0\nlinx-init\n13\ntmpfs\n/tmp\ninside the root\n", out)
    end)
  end)

  describe("a failing step", function()
    it("reports a missing mount target with its step and path", function()
      local err, st = fails { argv = { "true" },
                              inside = { mounts = { { type = "tmpfs", target = scratch },
                                                    { type = "tmpfs", target = scratch .. "/missing" } } } }
      assert.are.same({ "mount", "ENOENT", 2, scratch .. "/missing" }, { err.operation, err.errno, err.step, err.path })
      assert.is_string(err.hint)
      assert.are.equal(127, st.code)
      assert.truthy(tostring(err):find("^mount failed on " .. scratch:gsub("%p", "%%%0") .. "/missing: ENOENT"))
    end)

    it("looks mount targets up inside the root, and names them as the container sees them", function()
      local err = fails { argv = { "true" },
                          inside = { root = root .. "/", mounts = { { type = "proc", target = "/nope" } } } }
      assert.are.same({ "mount", "ENOENT", 1, "/nope" }, { err.operation, err.errno, err.step, err.path })
    end)

    it("names a bind's missing source", function()
      local err = fails { argv = { "true" },
                          inside = { mounts = { { type = "bind", source = scratch .. "/no-such", target = scratch } } } }
      assert.are.same({ "mount", "ENOENT", 1, scratch .. "/no-such" }, { err.operation, err.errno, err.step, err.path })
    end)

    it("reports a missing root as pivot_root", function()
      local err, st = fails { argv = { "true" }, inside = { root = scratch .. "/no-root" } }
      assert.are.same({ "pivot_root", "ENOENT", scratch .. "/no-root" }, { err.operation, err.errno, err.path })
      assert.is_nil(err.step)
      assert.are.equal(127, st.code)
    end)

    it("reports a uid that is not mapped", function()
      local err = fails { argv = { "true" }, inside = { uid = 4242 } }
      assert.are.same({ "setresuid", "EINVAL" }, { err.operation, err.errno })
      assert.truthy(err.hint:find("not mapped", 1, true))
      err = fails { argv = { "true" }, inside = { gid = 4242 } }
      assert.are.same({ "setresgid", "EINVAL" }, { err.operation, err.errno })
    end)

    it("reports setgroups denied by setup_maps", function()
      local err = fails { argv = { "true" }, inside = { groups = {} } }
      assert.are.same({ "setgroups", "EPERM" }, { err.operation, err.errno })
    end)

    it("reports chdir into a cwd missing in the new root", function()
      local err = fails { argv = { "true" }, cwd = "/usr", inside = { root = root } }
      assert.are.same({ "chdir", "ENOENT", "/usr" }, { err.operation, err.errno, err.path })
    end)

    it("reports exec of a program missing in the new root", function()
      local err = fails { argv = { "/usr/bin/env" }, inside = { root = root } }
      assert.are.same({ "exec", "ENOENT", "/usr/bin/env" }, { err.operation, err.errno, err.path })
    end)

    it("stops there: no later step and no exec run", function()
      local marker = scratch .. "/ran"
      assert(os.execute("mkdir -p " .. scratch .. "/tmpfs2"))
      -- the second mount fails; the third (a missing bind source), the
      -- unmapped uid and the exec would each fail or leave a mark
      local err, st = fails { argv = { "touch", marker },
                              inside = { mounts = { { type = "tmpfs", target = scratch .. "/tmpfs2" },
                                                    { type = "proc", target = scratch .. "/missing" },
                                                    { type = "bind", source = "/no-such", target = scratch } },
                                         uid = 4242 } }
      assert.are.same({ "mount", 2 }, { err.operation, err.step })
      assert.are.equal(127, st.code)
      assert.is_nil(S.read_file(marker))
      -- the first mount failing: nothing after it either
      err = fails { argv = { "touch", marker }, inside = { root = scratch .. "/no-root", uid = 4242 } }
      assert.are.equal("pivot_root", err.operation)
      assert.is_nil(S.read_file(marker))
    end)
  end)
end)

describe("fds", function()
  local dir
  setup(function() dir = tmpdir() end)
  teardown(function() rm(dir) end)

  -- The host's fd number of an open file, from /proc/self/fd.
  local function fd_number(path)
    for fd in sh("ls /proc/" .. sh("echo $PPID") .. "/fd"):gmatch("%d+") do
      local link = sh("readlink /proc/" .. sh("echo $PPID") .. "/fd/" .. fd)
      if link == path then return tonumber(fd) end
    end
  end

  it("passes Lua files at the numbers asked for, and nothing else above 2", function()
    local a = assert(io.open(dir .. "/a", "w"))
    local b = assert(io.open(dir .. "/b", "w"))
    a:write("lua said first\n")
    local out, code = run { argv = { "sh", "-c", "echo to-three >&3; echo to-nine >&9; ls /proc/self/fd" },
                            fds = { [3] = a, [9] = b } }
    a:close()
    b:close()
    assert.are.equal(0, code)
    assert.are.equal("lua said first\nto-three\n", S.read_file(dir .. "/a"))
    assert.are.equal("to-nine\n", S.read_file(dir .. "/b"))
    local fds = {}
    for fd in out:gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
    table.sort(fds)
    -- 0, 1, 2, ours at 3 and 9, and the directory ls reads (4)
    assert.are.same({ 0, 1, 2, 3, 4, 9 }, fds)
  end)

  it("swaps two descriptors whose sources are each other's targets", function()
    local fa = assert(io.open(dir .. "/swap-a", "w"))
    local fb = assert(io.open(dir .. "/swap-b", "w"))
    local na, nb = fd_number(dir .. "/swap-a"), fd_number(dir .. "/swap-b")
    assert.is_number(na)
    assert.is_number(nb)
    -- the workload's fd na is the host's nb and the other way round
    -- bash: dash takes only one-digit fd numbers in >&N
    local _, code = run { argv = { "bash", "-c", "echo went-to-b >&" .. na .. "; echo went-to-a >&" .. nb },
                          fds = { [na] = nb, [nb] = na } }
    fa:close()
    fb:close()
    assert.are.equal(0, code)
    assert.are.equal("went-to-a\n", S.read_file(dir .. "/swap-a"))
    assert.are.equal("went-to-b\n", S.read_file(dir .. "/swap-b"))
  end)

  it("passes a host stdio descriptor the workload's stdio replaces", function()
    local want = sh("readlink /proc/" .. sh("echo $PPID") .. "/fd/0")
    local out = run { argv = { "readlink", "/proc/self/fd/3" }, stdin = "null", fds = { [3] = 0 } }
    assert.are.equal(want .. "\n", out)
  end)

  it("survives the inside steps (root and a new uid)", function()
    local f = assert(io.open(dir .. "/through", "w"))
    local r = rootfs()
    local _, code = run { argv = { "sh", "-c", "echo from-the-root >&5" }, fds = { [5] = f },
                          inside = { root = r, uid = 0 } }
    f:close()
    rm(r)
    assert.are.equal(0, code)
    assert.are.equal("from-the-root\n", S.read_file(dir .. "/through"))
  end)
end)
