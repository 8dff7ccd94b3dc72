-- spawn{inside = {caps =, rlimits =, landlock =}}: what the workload
-- narrows itself to before execve, read back from inside (its own
-- /proc/self/status, ulimit, file access) on the real kernel; each bad
-- option; each failing step, and a kernel without Landlock (a seccomp
-- filter that fails landlock_create_ruleset). As root and as uid 65534.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local user = require "linxuser"

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
-- the caller's own ids as uid/gid 1000 inside: no id change in the workload
local own1000 = { uid = { { 1000, uid, 1 } }, gid = { { 1000, gid, 1 } } }
local range = { uid = { { 0, 100000, 65536 } }, gid = { { 0, 100000, 65536 } }, setgroups = "skip" }
-- root's own ids as 0 inside, and a range above: the workload starts as
-- uid 0 inside, whose change to 1000 empties the permitted set unless kept
local root_range = { uid = { { 0, 0, 1 }, { 1, 100001, 65535 } }, gid = { { 0, 0, 1 }, { 1, 100001, 65535 } },
                     setgroups = "skip" }
local linx_lua = os.getenv("LINX_LUA") or "build/5.4/linx-lua"
local BUSYBOX = "/bin/busybox"

local NET_BIND_SERVICE, SYS_CHROOT = 10, 18
local KEPT = 2 ^ NET_BIND_SERVICE + 2 ^ SYS_CHROOT
local LAST_CAP = tonumber(S.read_file("/proc/sys/kernel/cap_last_cap"))
local FULL = 2 ^ (LAST_CAP + 1) - 1

local function spawn(opts, maps)
  opts.namespaces = opts.namespaces or { "user" }
  opts.stdout = opts.stdout or "pipe"
  opts.stderr = opts.stderr or "pipe"
  local c = assert(process.spawn(opts))
  if maps ~= false then assert(user.setup_maps(c, maps or own)) end
  return c
end

-- Run it through: stdout, stderr, the exit code, and Handle:landlock().
local function run(opts, maps)
  local c = spawn(opts, maps)
  local ok, err = c:proceed()
  assert(ok, tostring(err))
  local out, errout = c:read("stdout"), c:read("stderr")
  local ll = c:landlock()
  local code = c:wait().code
  c:close()
  return out, errout, code, ll
end

-- proceed() fails: the error table (the workload exits 127).
local function fails(opts, maps)
  local c = spawn(opts, maps)
  local ok, err, code = c:proceed()
  assert.is_nil(ok)
  assert.is_table(err)
  assert.are.same({ "os", code }, { err.kind, err.code })
  assert.are.equal(127, c:wait().code)
  c:close()
  return err
end

-- The five capability sets of `grep ^Cap /proc/self/status` as numbers.
local function capsets(out)
  local t = {}
  for name, hex in out:gmatch("Cap(%a+):%s*(%x+)") do t[name] = tonumber(hex, 16) end
  return t
end
local function sets(inh, prm, eff, bnd, amb)
  return { Inh = inh, Prm = prm, Eff = eff, Bnd = bnd, Amb = amb }
end
local CAT_CAPS = { "grep", "^Cap", "/proc/self/status" }

local function bad_option(opts, field, reason, index)
  local c, err = process.spawn(opts)
  assert.is_nil(c)
  assert.are.same({ "bad_option", "spawn", field, reason }, { err.kind, err.operation, err.field, err.reason })
  if index then assert.are.equal(index, err.index) end
  return err
end

describe("inside.caps", function()
  it("keeps exactly the named capabilities for uid 0 inside: none ambient", function()
    local out = run { argv = CAT_CAPS, inside = { caps = { "net_bind_service", "CAP_SYS_CHROOT" } } }
    assert.are.same(sets(KEPT, KEPT, KEPT, KEPT, 0), capsets(out))
  end)

  it("by default uid 0 inside has the full set, over its own namespace", function()
    local out = run { argv = CAT_CAPS }
    assert.are.same(sets(0, FULL, FULL, FULL, 0), capsets(out))
  end)

  it("uid 1000 inside (setresuid in the workload): the kept ones are ambient and survive execve", function()
    if S.root_only("a 65536-id range") then return end
    local out = run({ argv = CAT_CAPS,
                      inside = { gid = 1000, uid = 1000, caps = { "Net_Bind_Service", "cap_sys_chroot" } } }, range)
    assert.are.same(sets(KEPT, KEPT, KEPT, KEPT, KEPT), capsets(out))
    out = run({ argv = CAT_CAPS, inside = { gid = 1000, uid = 1000, caps = { "net_bind_service", "sys_chroot" } } },
              root_range)
    assert.are.same(sets(KEPT, KEPT, KEPT, KEPT, KEPT), capsets(out))
    -- the control: without caps, uid 1000 loses everything at execve
    out = run({ argv = CAT_CAPS, inside = { gid = 1000, uid = 1000 } }, range)
    assert.are.same(sets(0, 0, 0, FULL, 0), capsets(out))
  end)

  it("uid 1000 inside from the maps alone: the kept ones are ambient", function()
    local out = run({ argv = CAT_CAPS, inside = { caps = { "net_bind_service", "sys_chroot" } } }, own1000)
    assert.are.same(sets(KEPT, KEPT, KEPT, KEPT, KEPT), capsets(out))
  end)

  it("{} drops every capability, for uid 0 and for uid 1000 inside", function()
    local out = run { argv = CAT_CAPS, inside = { caps = {} } }
    assert.are.same(sets(0, 0, 0, 0, 0), capsets(out))
    out = run({ argv = CAT_CAPS, inside = { caps = {} } }, own1000)
    assert.are.same(sets(0, 0, 0, 0, 0), capsets(out))
    if S.is_root then -- dropping CAP_SETUID comes after the uid change, which still needs it
      out = run({ argv = CAT_CAPS, inside = { gid = 1000, uid = 1000, caps = {} } }, range)
      assert.are.same(sets(0, 0, 0, 0, 0), capsets(out))
    end
  end)

  it("a dropped capability is refused; a kept one works", function()
    local try = { argv = { "chroot", "/", "true" } }
    try.inside = { caps = { "sys_chroot" } }
    local _, _, code = run(try)
    assert.are.equal(0, code)
    try.inside = { caps = { "net_bind_service" } }
    local _, errout, code2 = run(try)
    assert.are_not.equal(0, code2)
    assert.matches("Operation not permitted", errout)
  end)

  it("rejects unknown names and anything but a list of strings", function()
    bad_option({ argv = { "true" }, inside = { caps = { "chown", "net_bind_servic" } } }, "inside.caps[2]", "unknown", 2)
    bad_option({ argv = { "true" }, inside = { caps = { "CAP_" } } }, "inside.caps[1]", "unknown", 1)
    bad_option({ argv = { "true" }, inside = { caps = { 10 } } }, "inside.caps[1]", "not_a_string", 1)
    bad_option({ argv = { "true" }, inside = { caps = "chown" } }, "inside.caps", "not_a_list")
    bad_option({ argv = { "true" }, inside = { caps = { chown = true } } }, "inside.caps", "not_a_list")
    -- an inside table whose __index raises for caps, rlimits or landlock
    for _, key in ipairs { "caps", "rlimits", "landlock" } do
      local inside = setmetatable({}, { __index = function(_, k) if k == key then error("no " .. k) end end })
      local err = bad_option({ argv = { "true" }, inside = inside }, "inside." .. key, "unreadable")
      assert.matches("no " .. key, err.message) -- what was raised, as every spawn option says it
    end
  end)

  it("without a user namespace, unprivileged: a prctl step error, nothing left behind", function()
    if S.unpriv_only("root holds CAP_SETPCAP") then return end
    local kids, fds = S.child_count(), S.fd_count()
    local err = fails({ argv = { "true" }, namespaces = {}, inside = { caps = {} } }, false)
    assert.are.same({ "prctl", "EPERM" }, { err.operation, err.errno })
    assert.matches("CAP_SETPCAP", err.hint)
    assert.are.equal(kids, S.child_count())
    assert.are.equal(fds, S.fd_count())
  end)
end)

describe("inside.rlimits", function()
  it("ulimit -n inside equals nofile; {soft, hard} sets both", function()
    local out = run { argv = { "sh", "-c", "ulimit -Sn; ulimit -Hn" }, inside = { rlimits = { nofile = 64 } } }
    assert.are.equal("64\n64\n", out)
    out = run { argv = { "sh", "-c", "ulimit -Sn; ulimit -Hn" }, inside = { rlimits = { NOFILE = { 32, 64 } } } }
    assert.are.equal("32\n64\n", out)
  end)

  it("takes \"unlimited\" and math.huge, and the RLIMIT_ prefix", function()
    local cur = S.sh("ulimit -Hf"):gsub("%s+$", "")
    if cur ~= "unlimited" then return pending("the host's hard fsize limit is " .. cur) end
    local out = run { argv = { "sh", "-c", "ulimit -Sf; ulimit -Sc; ulimit -Hc" },
                      inside = { rlimits = { fsize = math.huge, RLIMIT_CORE = { 0, "unlimited" } } } }
    assert.are.equal("unlimited\n0\nunlimited\n", out)
  end)

  -- RLIMIT_NPROC counts the processes of the workload's uid in its user
  -- namespace, the workload included; the kernel never applies it to a
  -- uid that is root on the host (a root caller mapping 0 to 0).
  local loop = "for i in 1 2 3 4 5 6 7 8 9 10; do (echo $i; exec sleep 1) & done; wait"
  local function started(out) local n = 0 for _ in out:gmatch("%d+") do n = n + 1 end return n end

  it("nproc stops a fork loop: n - 1 children start", function()
    -- a uid that is not root on the host: as root, uid 1000 of a range
    local maps = S.is_root and range or own
    local function inside(n)
      local t = { rlimits = { nproc = n } }
      if S.is_root then t.uid, t.gid = 1000, 1000 end
      return t
    end
    local out, errout, code = run({ argv = { "sh", "-c", loop }, inside = inside(4) }, maps)
    assert.are.equal(3, started(out))
    assert.matches("fork", errout)
    assert.are_not.equal(0, code)
    out = run({ argv = { "sh", "-c", loop }, inside = inside(20) }, maps)
    assert.are.equal(10, started(out))
  end)

  it("nproc is not enforced for host root (0 mapped to 0)", function()
    if S.root_only("the host's root uid") then return end
    local out, _, code = run({ argv = { "sh", "-c", loop }, inside = { rlimits = { nproc = 4 } } }, own)
    assert.are.same({ 10, 0 }, { started(out), code })
  end)

  it("rejects unknown names and bad values, naming the entry", function()
    local function bad(rl, field, reason)
      local err = bad_option({ argv = { "true" }, inside = { rlimits = rl } }, field, reason)
      return err
    end
    bad({ nofiles = 1 }, "inside.rlimits.nofiles", "unknown")
    bad({ [1] = 5 }, "inside.rlimits", "unknown")
    bad({ nofile = -1 }, "inside.rlimits.nofile", "bad_value")
    bad({ nofile = 1.5 }, "inside.rlimits.nofile", "bad_value")
    bad({ nofile = "lots" }, "inside.rlimits.nofile", "bad_value")
    bad({ nofile = { 1, 2, 3 } }, "inside.rlimits.nofile", "bad_value")
    bad({ nofile = { soft = 1, hard = 2 } }, "inside.rlimits.nofile", "bad_value")
    bad({ nofile = { 64, 32 } }, "inside.rlimits.nofile", "soft_above_hard")
    bad({ nofile = 8, NOFILE = 9 }, "inside.rlimits.nofile", "duplicate")
    bad_option({ argv = { "true" }, inside = { rlimits = 5 } }, "inside.rlimits", "not_a_table")
  end)

  it("a limit the kernel refuses is a prlimit step error naming it", function()
    local err = fails { argv = { "true" }, inside = { rlimits = { nofile = 2 ^ 40 } } }
    assert.are.same({ "prlimit", "EPERM" }, { err.operation, err.errno })
    assert.matches("inside.rlimits.nofile", err.hint, 1, true)
  end)
end)

describe("inside.landlock", function()
  local dir, kernel_abi
  setup(function()
    dir = S.tmpdir("linx-policy")
    for _, d in ipairs { "ro", "rw", "out" } do os.execute(("mkdir %s/%s && chmod 777 %s/%s"):format(dir, d, dir, d)) end
    -- f: the first spec writes it; g: no spec does
    for _, d in ipairs { "ro", "rw", "out" } do
      S.write_file(dir .. "/" .. d .. "/f", d .. "\n")
      S.write_file(dir .. "/" .. d .. "/g", d .. "\n")
    end
    os.execute(("chmod 666 %s/*/f; cp /bin/true %s/ro/true"):format(dir, dir))
    kernel_abi = tonumber(S.sh(S.host("landlock_abi")))
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  -- A shell that tries each access and says how it went: "NAME ok", or
  -- "NAME denied" and the error it printed ("Permission denied" is the
  -- shell's and cat's word for EACCES).
  local function try(list)
    local lines = {}
    for _, t in ipairs(list) do
      lines[#lines + 1] = ("if e=$( (%s) 2>&1); then echo '%s ok'; else echo \"%s denied $e\"; fi"):format(t[2], t[1], t[1])
    end
    return table.concat(lines, "\n")
  end
  local function verdicts(out)
    local t = {}
    for name, rest in out:gmatch("(%a+ %a+) ([^\n]*)") do
      t[#t + 1] = name .. " " .. (rest == "ok" and "ok" or rest:match("^denied .*Permission denied$") and "EACCES" or rest)
    end
    return t
  end

  it("reads and writes outside the lists fail with EACCES, inside succeed", function()
    if not kernel_abi or kernel_abi == 0 then return pending("this kernel has no Landlock") end
    local script = try {
      { "read ro", "cat " .. dir .. "/ro/f >/dev/null" },
      { "read rw", "cat " .. dir .. "/rw/f >/dev/null" },
      { "read out", "cat " .. dir .. "/out/f >/dev/null" },
      { "write rw", "echo x >" .. dir .. "/rw/f" },
      { "create rw", "echo x >" .. dir .. "/rw/new" },
      { "write ro", "echo x >" .. dir .. "/ro/f" },
      { "create ro", "echo x >" .. dir .. "/ro/new" },
      { "write out", "echo x >" .. dir .. "/out/f" },
      { "exec ro", dir .. "/ro/true" },
    }
    local out, errout, code, abi = run { argv = { "sh", "-c", script .. "\ncat " .. dir .. "/out/f" },
                                        inside = { landlock = { read = { dir .. "/ro" }, write = { dir .. "/rw", "/dev/null" },
                                                                exec = { "/usr", "/bin" } } } }
    assert.are.same({ "read ro ok", "read rw ok", "read out EACCES", "write rw ok", "create rw ok",
                      "write ro EACCES", "create ro EACCES", "write out EACCES", "exec ro EACCES" }, verdicts(out))
    assert.matches("Permission denied", errout) -- the last cat
    assert.are_not.equal(0, code)
    assert.are.equal(kernel_abi, abi)
    -- the control: without landlock every one of them is allowed
    out = run { argv = { "sh", "-c", script } }
    assert.are.same({ "read ro ok", "read rw ok", "read out ok", "write rw ok", "create rw ok",
                      "write ro ok", "create ro ok", "write out ok", "exec ro ok" }, verdicts(out))
  end)

  it("a file can be a rule; landlock implies no_new_privs", function()
    if not kernel_abi or kernel_abi == 0 then return pending("this kernel has no Landlock") end
    local out, _, code = run { argv = { "sh", "-c", "cat " .. dir .. "/ro/g; grep NoNewPrivs /proc/self/status; cat " .. dir .. "/rw/g" },
                               inside = { landlock = { read = { dir .. "/ro/g", "/proc" }, exec = { "/usr", "/bin" } } } }
    assert.matches("^ro\nNoNewPrivs:%s+1\n$", out)
    assert.are_not.equal(0, code)
  end)

  it("paths are those inside the new root", function()
    if not kernel_abi or kernel_abi == 0 then return pending("this kernel has no Landlock") end
    if not S.exists(BUSYBOX) then return pending("no " .. BUSYBOX) end
    local root = S.tmpdir("linx-policy-root")
    os.execute(("mkdir -p %s/bin %s/data && cp %s %s/bin/busybox && ln -s busybox %s/bin/sh && ln -s busybox %s/bin/cat")
      :format(root, root, BUSYBOX, root, root, root))
    S.write_file(root .. "/data/marker", "inside\n")
    S.write_file(root .. "/other", "other\n")
    local out = run { argv = { "sh", "-c", "cat /data/marker; cat /other || echo denied" },
                      namespaces = { "user", "mount" },
                      inside = { root = root, landlock = { read = { "/data" }, exec = { "/bin" } } } }
    os.execute("rm -rf " .. root)
    assert.are.equal("inside\ndenied\n", out)
  end)

  it("reports the kernel's ABI; 0 when not asked; nothing before proceed()", function()
    if not kernel_abi then return pending("cannot build spec/hosts/landlock_abi.c (cc)") end
    local c = spawn { argv = { "true" }, inside = { landlock = { exec = { "/usr" } } } }
    local n, err = c:landlock()
    assert.is_nil(n)
    assert.are.same({ "bad_state", "landlock", "parked" }, { err.kind, err.operation, err.reason })
    assert.is_true(c:proceed())
    assert.are.equal(kernel_abi, c:landlock())
    assert.are.same({ exited = true, code = 0 }, c:wait())
    c:close()
    local _, _, _, abi = run { argv = { "true" } }
    assert.are.equal(0, abi)
  end)

  it("a missing path is a landlock step error naming it", function()
    if not kernel_abi or kernel_abi == 0 then return pending("this kernel has no Landlock") end
    local err = fails { argv = { "true" }, inside = { landlock = { read = { "/usr", dir .. "/nothing" } } } }
    assert.are.same({ "landlock", "ENOENT", dir .. "/nothing" }, { err.operation, err.errno, err.path })
  end)

  it("rejects bad lists, paths and keys", function()
    local function bad(ll, field, reason) return bad_option({ argv = { "true" }, inside = { landlock = ll } }, field, reason) end
    bad({ read = "/usr" }, "inside.landlock.read", "not_a_list")
    bad({ write = { "usr" } }, "inside.landlock.write", "not_absolute")
    bad({ exec = { 1 } }, "inside.landlock.exec", "not_a_string")
    bad({ exec = { "/a\0b" } }, "inside.landlock.exec", "bad_path")
    bad({ required = "yes" }, "inside.landlock.required", "not_a_boolean")
    bad({ reads = {} }, "inside.landlock.reads", "unknown_option")
    bad(true, "inside.landlock", "not_a_table")
  end)

  describe("on a kernel without Landlock (landlock_create_ruleset failing by seccomp)", function()
    local function child(errno, required)
      local host = S.seccomp_host()
      if not host then return nil end
      local out = S.sh(("%s 444 %d %s spec/fixtures/run_case.lua landlock %s %s/out/g 2>&1")
        :format(host, errno, linx_lua, tostring(required), dir))
      local chunk = (loadstring or load)(out, "=child")
      assert(chunk, "child said: " .. out)
      return chunk()
    end

    it("required = true: a landlock step error, nothing left behind", function()
      for _, e in ipairs { { 38, "ENOSYS" }, { 95, "EOPNOTSUPP" } } do
        local r = child(e[1], true)
        if not r then return pending("cannot build spec/hosts/seccomp_errno.c (cc)") end
        assert.is_table(r.err)
        assert.are.same({ "os", "landlock", e[2] }, { r.err.kind, r.err.operation, r.err.errno })
        assert.matches("no Landlock", r.err.hint)
        assert.are.same({ exited = true, code = 127 }, r.status)
        assert.are.equal("", r.out)
        assert.are.same({}, r.children)
        assert.are.equal(r.fds_before, r.fds_after)
      end
    end)

    it("without required: runs unenforced and reports 0", function()
      local r = child(38, false)
      if not r then return pending("cannot build spec/hosts/seccomp_errno.c (cc)") end
      assert.is_true(r.ok)
      assert.are.same({ 0, "out\n" }, { r.landlock, r.out }) -- a path no rule names was read
      assert.are.same({}, r.children)
      assert.are.equal(r.fds_before, r.fds_after)
    end)
  end)
end)
