-- inside.mounts and inside.root as a mount plan (issues 22 and 25): targets
-- resolved inside the root as the container sees them, nosuid/nodev by
-- default, each entry type alone and with a root, the "dev" mount's host
-- devices and ptys, and every malformed entry refused by spawn. Real
-- namespaces and mounts, a busybox rootfs; as root and as uid 65534.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local user = require "linxuser"

local own = { uid = { { 0, S.uid, 1 } }, gid = { { 0, S.gid, 1 } } }
local NS = { "user", "mount", "pid", "ipc" }

local function tmpdir() return S.tmpdir("linx-mounts") end
local function rm(path) os.execute("rm -rf " .. path) end

-- A busybox rootfs: every applet linked, mount points, a marker.
local APPLETS -- busybox --list, read once
local function rootfs()
  local r = tmpdir()
  assert(os.execute("chmod 755 " .. r))
  for _, d in ipairs { "bin", "proc", "dev", "tmp", "opt" } do assert(os.execute("mkdir -p " .. r .. "/" .. d)) end
  assert(os.execute("cp /bin/busybox " .. r .. "/bin/busybox"))
  APPLETS = APPLETS or S.sh("/bin/busybox --list")
  local names = {}
  for a in APPLETS:gmatch("%S+") do names[#names + 1] = a end
  S.symlinks("busybox", r .. "/bin", names)
  S.write_file(r .. "/marker", "inside the root\n")
  return r
end

-- A static build of spec/hosts/<name>.c into dir (nil when cc cannot).
local function build(name, dir)
  local exe = dir .. "/" .. name
  local out = S.sh(("cc -std=c11 -O1 -static -o %s spec/hosts/%s.c 2>&1 && echo built"):format(exe, name))
  return out:match("built") and exe or nil
end

local function start(opts, maps)
  opts.namespaces = opts.namespaces or NS
  local c = assert(process.spawn(opts))
  assert(user.setup_maps(c, maps or own))
  return c, c:proceed()
end

-- Run sh -c script to its end: stdout, exit code.
local function run(script, inside, maps, extra)
  local opts = { argv = { "sh", "-c", script }, stdout = "pipe", inside = inside }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local c, ok, err = start(opts, maps)
  assert(ok, tostring(err))
  local out = c:read("stdout")
  local code = c:wait().code
  c:close()
  return out, code
end

local function fails(inside)
  local c, ok, err = start { argv = { "true" }, inside = inside }
  assert.is_nil(ok)
  assert.are.equal("os", err.kind)
  c:wait()
  c:close()
  return err
end

local function spawn_err(inside)
  local c, err = process.spawn { argv = { "true" }, namespaces = NS, inside = inside }
  assert.is_nil(c)
  return err
end

-- The per-mount options of the mount at path, read inside (proc needed).
local MNTOPTS = "awk '$5 == \"%s\" { o = $6 } END { print o }' /proc/self/mountinfo"

describe("mount plan", function()
  local root, scratch
  setup(function()
    root = rootfs()
    scratch = tmpdir()
  end)
  teardown(function()
    rm(root)
    rm(scratch)
  end)

  describe("targets resolved inside the root", function()
    it("a bind onto a symlink to /opt lands on the root's /opt, read-only", function()
      local r = rootfs()
      assert(os.execute("ln -s /opt " .. r .. "/mnt"))
      local src = tmpdir()
      S.write_file(src .. "/seen", "from the source\n")
      local out, code = run("cat /opt/seen; touch /opt/new 2>/dev/null && echo writable || echo readonly; ls /mnt/",
                            { root = r, mounts = { { type = "bind", source = src, target = "/mnt", readonly = true } } })
      assert.are.equal(0, code)
      assert.are.equal("from the source\nreadonly\nseen\n", out)
      rm(r)
      rm(src)
    end)

    it("a link that climbs with .. stays in the root", function()
      local r = rootfs()
      assert(os.execute("mkdir -p " .. r .. "/opt/in && ln -s ../../../../../../opt/in " .. r .. "/tmp/up"))
      local out, code = run("stat -f -c %T /opt/in",
                            { root = r, mounts = { { type = "tmpfs", target = "/tmp/up" } } })
      assert.are.equal(0, code)
      assert.are.equal("tmpfs\n", out)
      rm(r)
    end)

    it("a tmpfs on / covers the root: later targets and the pivot go into it (bwrap's --tmpfs /)", function()
      local c = assert(process.spawn { argv = { "/bin/sh", "-c", "echo /*; test -e /marker || echo covered" },
                                       stdout = "pipe", namespaces = NS,
                                       inside = { root = root,
                                                  mounts = { { type = "tmpfs", target = "/" },
                                                             { type = "dir", target = "/bin" },
                                                             { type = "file", target = "/bin/sh", data = "" },
                                                             { type = "bind", source = "/bin/busybox", target = "/bin/sh",
                                                               readonly = true } } } })
      assert(user.setup_maps(c, own))
      local ok, err = c:proceed()
      assert(ok, tostring(err))
      assert.are.equal("/bin\ncovered\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
      assert.is_string(S.read_file(root .. "/bin/sh")) -- the rootfs below is untouched
    end)

    it("cwd is entered after the pivot: a link in the rootfs leads inside the root", function()
      local r = rootfs()
      assert(os.execute("ln -s /opt " .. r .. "/mnt"))
      S.write_file(r .. "/opt/cwd-mark", "root's opt\n")
      local out, code = run("cat cwd-mark", { root = r }, nil, { cwd = "/mnt" })
      assert.are.equal(0, code)
      assert.are.equal("root's opt\n", out)
      rm(r)
    end)

    for _, target in ipairs { "/../../../etc", "/a/../b", "/a/./b", "/a//b", "/a/", "/." } do
      it("refuses a target not in normal form: " .. target, function()
        local err = spawn_err { mounts = { { type = "tmpfs", target = "/t" }, { type = "tmpfs", target = target } } }
        assert.are.same({ "bad_option", "inside.mounts[2].target", "not_normal" }, { err.kind, err.field, err.reason })
      end)
    end

    it("refuses a root with .. (string and table form)", function()
      local err = spawn_err { root = "/tmp/../etc" }
      assert.are.same({ "bad_option", "inside.root", "not_normal" }, { err.kind, err.field, err.reason })
      err = spawn_err { root = { path = "/tmp/./x" } }
      assert.are.same({ "bad_option", "inside.root.path", "not_normal" }, { err.kind, err.field, err.reason })
    end)
  end)

  describe("root and bind flags", function()
    local proc = { type = "proc", target = "/proc" }

    it("the root is nosuid,nodev by default; suid and dev lift them; readonly", function()
      local out = run(MNTOPTS:format("/"), { root = root, mounts = { proc } })
      assert.truthy(out:match("nosuid") and out:match("nodev"), out)
      assert.truthy(out:match("^rw"), out)
      out = run(MNTOPTS:format("/"), { root = { path = root, suid = true, dev = true }, mounts = { proc } })
      assert.falsy(out:match("nosuid") or out:match("nodev"), out)
      out = run(MNTOPTS:format("/") .. "; (touch /x || echo refused) 2>&1",
                { root = { path = root, readonly = true }, mounts = { proc } })
      assert.truthy(out:match("^ro,") and out:match("refused"), out)
    end)

    it("a bind is nosuid,nodev unless dev/suid = true", function()
      local src = tmpdir()
      local mk = { type = "dir", target = "/tmp/b" }
      local out = run(MNTOPTS:format("/tmp/b"),
                      { root = root, mounts = { proc, { type = "tmpfs", target = "/tmp" }, mk,
                                                { type = "bind", source = src, target = "/tmp/b" } } })
      assert.truthy(out:match("nosuid") and out:match("nodev"), out)
      out = run(MNTOPTS:format("/tmp/b"),
                { root = root, mounts = { proc, { type = "tmpfs", target = "/tmp" }, mk,
                                          { type = "bind", source = src, target = "/tmp/b", dev = true, suid = true } } })
      assert.falsy(out:match("nosuid") or out:match("nodev"), out)
      rm(src)
    end)

    it("a setuid-root file in the rootfs does not raise euid, unless suid = true", function()
      if S.root_only("a range of ids and a root-owned setuid file") then return end
      local r = rootfs()
      local exe = build("euid", r .. "/bin")
      if not exe then return pending("cannot build a static spec/hosts/euid.c") end
      assert(os.execute("chown 0:0 " .. exe .. " && chmod 4755 " .. exe))
      local range = { { 0, 0, 1 }, { 1, 100000, 65536 } }
      local maps = { uid = range, gid = range, setgroups = "skip" }
      local out, code = run("/bin/euid", { root = r, uid = 1000, gid = 1000 }, maps)
      assert.are.equal(0, code)
      assert.are.equal("1000\n", out)
      out = run("/bin/euid", { root = { path = r, suid = true }, uid = 1000, gid = 1000 }, maps)
      assert.are.equal("0\n", out)
      rm(r)
    end)
  end)

  -- Each type alone (targets on a host scratch tmpfs) and with a root
  -- (targets in the root's /tmp); base is where the entries go.
  for _, with_root in ipairs { false, true } do
    describe(with_root and "each type with a root" or "each type alone", function()
      local base
      local function plan(entries)
        local m = { { type = "tmpfs", target = base } }
        if with_root then table.insert(m, 1, { type = "proc", target = "/proc" }) end
        for _, e in ipairs(entries) do m[#m + 1] = e end
        return { root = with_root and root or nil, mounts = m }
      end
      before_each(function()
        if with_root then
          base = "/tmp"
        else
          base = scratch .. "/base"
          os.execute("mkdir -p " .. base)
        end
      end)

      it("dir: with its parents, its mode whatever the umask", function()
        local out, code = run(("umask 077; stat -c %%a %s/a/b %s/a"):format(base, base),
                              plan { { type = "dir", target = base .. "/a/b", mode = "0751" } })
        assert.are.equal(0, code)
        assert.are.equal("751\n755\n", out)
      end)

      it("symlink: the link's text as given", function()
        local out = run("readlink " .. base .. "/l",
                        plan { { type = "symlink", source = "/marker-text", target = base .. "/l" } })
        assert.are.equal("/marker-text\n", out)
      end)

      it("file: data with a NUL, and its mode", function()
        local f = base .. "/f"
        local out = run(("wc -c < %s; stat -c %%a %s; tail -c 4 %s"):format(f, f, f),
                        plan { { type = "file", target = f, data = "one\0two\n", mode = 384 } })
        assert.are.equal("8\n600\ntwo\n", out:gsub(" ", ""))
      end)

      it("file: from a host path, a Lua file and an fd number, read by spawn", function()
        local src = scratch .. "/file-src"
        S.write_file(src, "from the host\n")
        local fh = assert(io.open(src))
        local fd_src = scratch .. "/fd-src"
        S.write_file(fd_src, "through an fd\n")
        local fd = assert(io.open(fd_src))
        local num = tonumber(S.sh("ls -l /proc/" .. S.self_pid() .. "/fd"):match("(%d+) %-> " .. fd_src:gsub("%p", "%%%0")))
        assert.is_number(num)
        local out = run(("cat %s/p %s/h %s/n; stat -c %%a %s/p"):format(base, base, base, base),
                        plan { { type = "file", target = base .. "/p", source = src },
                               { type = "file", target = base .. "/h", source = fh },
                               { type = "file", target = base .. "/n", source = num } })
        fh:close()
        fd:close()
        assert.are.equal("from the host\nfrom the host\nthrough an fd\n644\n", out)
      end)

      it("remount: read-only on a mount made earlier", function()
        local out = run(("touch %s/x 2>/dev/null && echo rw || echo ro"):format(base),
                        plan { { type = "remount", target = base, readonly = true } })
        assert.are.equal("ro\n", out)
      end)

      it("mqueue and devpts", function()
        local script = ("grep -c ' %s/mq .* - mqueue ' /proc/self/mountinfo; ls %s/pts"):format(base, base)
        local out = run(script, plan { { type = "dir", target = base .. "/mq" }, { type = "mqueue", target = base .. "/mq" },
                                       { type = "dir", target = base .. "/pts" },
                                       { type = "devpts", target = base .. "/pts" } })
        assert.are.equal("1\nptmx\n", out)
      end)

      it("tmpfs size and mode", function()
        local t = base .. "/sized"
        local out = run(("stat -c %%a %s; grep ' %s ' /proc/self/mountinfo | grep -c size=1024k"):format(t, t),
                        plan { { type = "dir", target = t },
                               { type = "tmpfs", target = t, size = "1m", mode = "0700" } })
        assert.are.equal("700\n1\n", out)
      end)

      it("overlay: lower[1] on top, writes reach upper", function()
        local d = tmpdir()
        for _, sub in ipairs { "l1", "l2", "up", "work" } do os.execute("mkdir -p " .. d .. "/" .. sub) end
        S.write_file(d .. "/l1/a", "A1\n")
        S.write_file(d .. "/l2/a", "A2\n")
        S.write_file(d .. "/l2/b", "B2\n")
        local ov = base .. "/ov"
        local out, code = run(("cat %s/a %s/b; echo new > %s/c"):format(ov, ov, ov),
                              plan { { type = "dir", target = ov },
                                     { type = "overlay", target = ov, lower = { d .. "/l1", d .. "/l2" },
                                       upper = d .. "/up", work = d .. "/work" } })
        assert.are.equal(0, code)
        assert.are.equal("A1\nB2\n", out)
        assert.are.equal("new\n", S.read_file(d .. "/up/c"))
        assert.is_nil(S.read_file(d .. "/l1/c"))
        rm(d)
      end)

      it("bind try: a missing source skips the entry; without try it fails", function()
        local out, code = run("echo ran", plan { { type = "bind", source = scratch .. "/no-such", target = base, try = true } })
        assert.are.same({ "ran\n", 0 }, { out, code })
        local err = fails(plan { { type = "bind", source = scratch .. "/no-such", target = base } })
        assert.are.same({ "mount", "ENOENT", scratch .. "/no-such" }, { err.operation, err.errno, err.path })
      end)

      it("a failing dir/file/symlink step names its operation, step and path", function()
        local err = fails(plan { { type = "file", target = base .. "/no/f", data = "x" } })
        assert.are.same({ "open", "ENOENT", with_root and 3 or 2, base .. "/no/f" },
                        { err.operation, err.errno, err.step, err.path })
        err = fails(plan { { type = "symlink", source = "x", target = base .. "/s" },
                           { type = "symlink", source = "y", target = base .. "/s" } })
        assert.are.same({ "symlink", "EEXIST" }, { err.operation, err.errno })
        err = fails(plan { { type = "remount", target = base, readonly = true },
                           { type = "dir", target = base .. "/d" } })
        assert.are.same({ "mkdir", "EROFS" }, { err.operation, err.errno })
      end)
    end)
  end

  describe("dev", function()
    it("at /dev without a root binds the host's devices, not empty files", function()
      local out, code = run("stat -c %t:%T /dev/null /dev/zero; head -c 3 /dev/zero | od -An -tx1",
                            { mounts = { { type = "dev", target = "/dev" } } })
      assert.are.equal(0, code)
      assert.are.equal("1:3\n1:5\n 00 00 00\n", out)
    end)

    it("has pts, ptmx and shm: a pty opens inside (posix_openpt, grantpt), alone and with a root", function()
      local exe = build("pty", scratch)
      if not exe then return pending("cannot build a static spec/hosts/pty.c") end
      local out, code = run(exe .. "; stat -c %a /dev/shm; readlink /dev/ptmx",
                            { mounts = { { type = "dev", target = "/dev" } } })
      assert.are.equal(0, code)
      assert.are.equal("/dev/pts/0\n1777\npts/ptmx\n", out)
      assert(os.execute("cp " .. exe .. " " .. root .. "/bin/pty"))
      out, code = run("/bin/pty && echo x > /dev/shm/y && cat /dev/shm/y",
                      { root = root, mounts = { { type = "dev", target = "/dev" } } })
      assert.are.equal(0, code)
      assert.are.equal("/dev/pts/0\nx\n", out)
    end)
  end)

  describe("a malformed plan", function()
    local ok2 = { { type = "tmpfs", target = "/a" }, { type = "tmpfs", target = "/b" } }
    local function third(e) return { ok2[1], ok2[2], e } end
    local cases = {
      { "a relative lower", third { type = "overlay", target = "/o", lower = { "/l", "l2" } },
        "inside.mounts[3].lower[2]", "not_absolute" },
      { "a lower not a string", third { type = "overlay", target = "/o", lower = { "/l", 5 } },
        "inside.mounts[3].lower[2]", "not_a_string" },
      { "a lower with a colon", third { type = "overlay", target = "/o", lower = { "/l:x" } },
        "inside.mounts[3].lower[1]", "bad_path" },
      { "overlay without lower", third { type = "overlay", target = "/o" }, "inside.mounts[3].lower", "missing" },
      { "overlay lower empty", third { type = "overlay", target = "/o", lower = {} }, "inside.mounts[3].lower", "empty" },
      { "overlay upper without work", third { type = "overlay", target = "/o", lower = { "/l" }, upper = "/u" },
        "inside.mounts[3].work", "missing" },
      { "dir with a source", third { type = "dir", target = "/d", source = "/x" }, "inside.mounts[3].source", "not_allowed" },
      { "dir mode not octal", third { type = "dir", target = "/d", mode = "999" }, "inside.mounts[3].mode", "bad_value" },
      { "dir mode too big", third { type = "dir", target = "/d", mode = 4096 * 2 }, "inside.mounts[3].mode", "bad_value" },
      { "dir at /", third { type = "dir", target = "/" }, "inside.mounts[3].target", "bad_path" },
      { "file without data", third { type = "file", target = "/f" }, "inside.mounts[3].data", "missing" },
      { "file data not a string", third { type = "file", target = "/f", data = 5 }, "inside.mounts[3].data", "not_a_string" },
      { "file with data and source", third { type = "file", target = "/f", data = "x", source = "/etc/hostname" },
        "inside.mounts[3].data", "not_allowed" },
      { "file source missing", third { type = "file", target = "/f", source = "/no/such/file" },
        "inside.mounts[3].source", "unreadable" },
      { "file source not a file", third { type = "file", target = "/f", source = {} }, "inside.mounts[3].source", "not_a_file" },
      { "symlink without source", third { type = "symlink", target = "/s" }, "inside.mounts[3].source", "missing" },
      { "remount of no earlier mount", third { type = "remount", target = "/c", readonly = true },
        "inside.mounts[3].target", "not_mounted_earlier" },
      { "remount without readonly", third { type = "remount", target = "/a" }, "inside.mounts[3].readonly", "missing" },
      { "tmpfs size not a size", third { type = "tmpfs", target = "/t", size = "lots" }, "inside.mounts[3].size", "bad_value" },
      { "size on a bind", third { type = "bind", source = "/x", target = "/t", size = 1 }, "inside.mounts[3].size", "not_allowed" },
      { "try not a boolean", third { type = "bind", source = "/x", target = "/t", try = "yes" },
        "inside.mounts[3].try", "not_a_boolean" },
      { "dev on a tmpfs", third { type = "tmpfs", target = "/t", dev = true }, "inside.mounts[3].dev", "not_allowed" },
      { "root.suid not a boolean", { root = { path = "/tmp", suid = "yes" } }, "inside.root.suid", "not_a_boolean" },
      { "root without path", { root = { readonly = true } }, "inside.root.path", "missing" },
      { "root with an unknown key", { root = { path = "/tmp", nodev = true } }, "inside.root.nodev", "unknown_option" },
    }
    for _, case in ipairs(cases) do
      it("is bad_option from spawn, naming the field: " .. case[1], function()
        local inside = case[2]
        if inside.type == nil and inside.root == nil then inside = { mounts = inside } end
        local before = S.child_count()
        local err = spawn_err(inside)
        assert.are.same({ "bad_option", "spawn", case[3], case[4] }, { err.kind, err.operation, err.field, err.reason })
        assert.are.equal(before, S.child_count())
      end)
    end
  end)
end)

