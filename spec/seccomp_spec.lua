-- inside.seccomp: a policy table, "default" and a precompiled program
-- (bwrap's format), compiled in the host and loaded by the workload as
-- its last step. spec/hosts/syscalls.c tries real system calls and
-- prints each errno; every result is checked against the run without a
-- filter. Root and uid 65534; no namespaces needed (no_new_privs).
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"

local EPERM, ENOENT, EXDEV, EINVAL, ENOSYS, EFAULT, EOPNOTSUPP = 1, 2, 18, 22, 38, 14, 95
local SIGSYS = 31

local dir = S.tmpdir("linx-seccomp-spec")
-- spec/hosts/, built by make (spec-hosts) into the lane's build.
local SYSCALLS = S.host("syscalls")
local EXPORT = S.host("export_bpf")

-- Run spec/hosts/syscalls (names: which calls) with opts; the results
-- {name = errno} and wait()'s status.
local function try(seccomp, names, extra)
  local opts = { argv = { SYSCALLS }, stdout = "pipe", inside = { seccomp = seccomp } }
  for _, n in ipairs(names or {}) do opts.argv[#opts.argv + 1] = n end
  for k, v in pairs(extra or {}) do opts[k] = v end
  local c = assert(process.spawn(opts))
  assert(c:proceed())
  local out = c:read("stdout")
  local st = c:wait()
  c:close()
  local r = {}
  for name, e in out:gmatch("(%S+) (%-?%d+)\n") do r[name] = tonumber(e) end
  return r, st
end

-- What a program needs to start and run `syscalls getpid mkdirat keyctl`
-- (dynamically linked glibc), for the allow-list policies.
local RUNTIME = {
  "execve", "brk", "arch_prctl", "mmap", "mprotect", "munmap", "openat", "read", "pread64", "newfstatat",
  "fstat", "close", "access", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom",
  "write", "getpid",
}

local function needs_hosts()
  if not SYSCALLS then return pending("cannot build spec/hosts/syscalls.c (cc)") end
end

describe("inside.seccomp", function()
  local plain
  setup(function()
    if SYSCALLS then plain = try(nil) end
  end)
  teardown(function() os.execute("rm -rf " .. dir) end)

  it("without a filter every probe gets the kernel's own answer (the baseline)", function()
    if needs_hosts() then return end
    assert.are.same({ 0, ENOENT, EFAULT, EINVAL, EINVAL, 0, 0, 0, 0 },
      { plain.getpid, plain.mkdirat, plain.add_key, plain.bpf, plain.clone3, plain.unshare, plain.clone,
        plain.tiocsti, plain.tiocsti_high })
  end)

  it("deny: the named calls fail with EPERM, the others are untouched", function()
    if needs_hosts() then return end
    local r = try { deny = { "mkdirat", "bpf" } }
    assert.are.same({ 0, EPERM, EPERM, EFAULT }, { r.getpid, r.mkdirat, r.bpf, r.add_key })
  end)

  it("errno = sets the answer, per list or per entry, by name or number", function()
    if needs_hosts() then return end
    local r = try { deny = { "mkdirat", { name = "bpf", errno = EOPNOTSUPP } }, errno = "EXDEV" }
    assert.are.same({ EXDEV, EOPNOTSUPP, 0 }, { r.mkdirat, r.bpf, r.getpid })
  end)

  it("default = \"errno\" with allow: only the allowed calls work", function()
    if needs_hosts() then return end
    local r, st = try({ default = "errno", errno = "EXDEV", allow = RUNTIME }, { "getpid", "mkdirat", "keyctl" })
    assert.are.same({ 0, EXDEV, EXDEV }, { r.getpid, r.mkdirat, r.keyctl })
    assert.are.same({ exited = true, code = 0 }, st)
  end)

  it("default = \"kill\": the first call outside the list kills the process (SIGSYS)", function()
    if needs_hosts() then return end
    local r, st = try({ default = "kill", allow = RUNTIME }, { "getpid", "keyctl", "mkdirat" })
    assert.are.equal(0, r.getpid)
    assert.is_nil(r.keyctl)
    assert.are.same({ signaled = true, signal = SIGSYS }, st)
  end)

  it("an argument filter: ioctl TIOCSTI by name, with the high bits the kernel drops", function()
    if needs_hosts() then return end
    local r = try { deny = { { name = "ioctl", arg = 1, equals = "TIOCSTI" },
      { name = "clone", arg = 0, mask = "CLONE_NEWUSER", equals = "CLONE_NEWUSER" } } }
    assert.are.same({ EPERM, EPERM, EPERM, 0, 0 }, { r.tiocsti, r.tiocsti_high, r.clone, r.unshare, r.getpid })
  end)

  it("\"default\" refuses each call of the documented list, and leaves the rest", function()
    if needs_hosts() then return end
    local r = try("default")
    assert.are.same({
      getpid = 0, mkdirat = ENOENT, keyctl = EPERM, add_key = EPERM, request_key = EPERM, perf_event_open = EPERM,
      bpf = EPERM, userfaultfd = EPERM, fsopen = ENOSYS, clone3 = ENOSYS, unshare = EPERM, clone = EPERM,
      tiocsti = EPERM, tiocsti_high = EPERM, thread = 0,
    }, r)
  end)

  it("\"default\": TIOCSTI on a pty the spec owns, inherited by the workload, is refused (session = \"inherit\")", function()
    if needs_hosts() then return end
    local ptmx = io.open("/dev/ptmx", "r+")
    if not ptmx then return pending("no /dev/ptmx") end
    -- session = "inherit": the filter refuses it even where the session
    -- would not (the probe makes the pty its controlling terminal)
    local free = try(nil, { "tiocsti" }, { fds = { [3] = ptmx }, session = "inherit" })
    local r = try("default", { "tiocsti" }, { fds = { [3] = ptmx }, session = "inherit" })
    ptmx:close()
    assert.are.same({ 0, EPERM }, { free.tiocsti, r.tiocsti })
  end)

  it("a filter implies no_new_privs", function()
    local c = assert(process.spawn { argv = { "grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status" },
      stdout = "pipe", inside = { seccomp = { deny = { "bpf" } } } })
    assert(c:proceed())
    local out = c:read("stdout")
    c:wait()
    c:close()
    assert.matches("NoNewPrivs:%s+1", out)
    assert.matches("Seccomp:%s+2", out)
  end)

  describe("a precompiled program (bwrap's --seccomp format)", function()
    local file
    setup(function()
      if EXPORT then
        file = dir .. "/mkdirat.bpf"
        os.execute(("%s %d mkdirat > %s"):format(EXPORT, EXDEV, file))
      end
    end)

    it("made by libseccomp alone, read from a path, an fd number or a Lua file", function()
      if needs_hosts() then return end
      if not EXPORT then return pending("cannot build spec/hosts/export_bpf.c (cc -lseccomp)") end
      local r1 = try(file)
      local f = assert(io.open(file, "rb"))
      local r2 = try(f)
      f:close()
      local fd = assert(io.open(file, "rb"))
      -- an fd number: /proc/self/fd shows which one the Lua file holds
      local n
      for name in require("lfs").dir("/proc/self/fd") do
        local link = tonumber(name) and S.sh("readlink /proc/self/fd/" .. name .. " 2>/dev/null"):gsub("%s+$", "")
        if link == file then n = tonumber(name) end
      end
      local r3 = try(assert(n))
      fd:close()
      for _, r in ipairs { r1, r2, r3 } do
        assert.are.same({ EXDEV, 0, EINVAL }, { r.mkdirat, r.getpid, r.bpf })
      end
    end)

    it("bwrap loads the program seccomp_program() exports, with the same effect", function()
      if needs_hosts() then return end
      local bwrap = S.sh("command -v bwrap"):gsub("%s+$", "")
      if bwrap == "" then return pending("no bwrap (bubblewrap package)") end
      local path = dir .. "/for-bwrap.bpf"
      S.write_file(path, assert(process.seccomp_program { deny = { "mkdirat" }, errno = EXDEV }))
      local out = S.sh(("%s --ro-bind / / --seccomp 9 %s getpid mkdirat 9<%s 2>&1"):format(bwrap, SYSCALLS, path))
      if out:match("bwrap:") then return pending("bwrap cannot run here: " .. out) end
      assert.are.equal("getpid 0\nmkdirat " .. EXDEV .. "\n", out)
    end)

    it("seccomp_program() exports what spawn loads, as a program bwrap's format takes", function()
      if needs_hosts() then return end
      local prog = assert(process.seccomp_program { deny = { "mkdirat" }, errno = EXDEV })
      assert.are.equal(0, #prog % 8)
      local path = dir .. "/ours.bpf"
      S.write_file(path, prog)
      local r = try(path)
      assert.are.same({ EXDEV, 0 }, { r.mkdirat, r.getpid })
      local def = assert(process.seccomp_program("default"))
      assert.are.equal(def, process.seccomp_program("default")) -- compiled once per state
    end)
  end)

  describe("failures leave nothing behind", function()
    local function clean(fn)
      local fds, kids = S.fd_count(), S.child_count()
      fn()
      assert.are.equal(fds, S.fd_count())
      assert.are.equal(kids, S.child_count())
    end
    local function bad(seccomp, field, reason, index)
      clean(function()
        local c, err = process.spawn { argv = { "true" }, inside = { seccomp = seccomp } }
        assert.is_nil(c)
        assert.are.same({ "bad_option", "spawn", field, reason },
          { err.kind, err.operation, err.field, err.reason })
        if index then assert.are.equal(index, err.index) end
      end)
    end

    it("bad names and values are bad_option naming the entry, before any child", function()
      bad({ deny = { "mkdirat", "bpf", "no_such_call" } }, "inside.seccomp.deny[3]", "unknown_syscall", 3)
      bad({ deny = { "bpf", { name = "nope" } } }, "inside.seccomp.deny[2]", "unknown_syscall", 2)
      bad({ deny = { { arg = 1, equals = 1 } } }, "inside.seccomp.deny[1]", "missing_name", 1)
      bad({ deny = { { name = "ioctl", arg = 1, equals = "TIOCWHAT" } } }, "inside.seccomp.deny[1].equals", "bad_value", 1)
      bad({ deny = { { name = "ioctl", arg = 6, equals = 1 } } }, "inside.seccomp.deny[1].arg", "bad_arg", 1)
      bad({ deny = { { name = "ioctl", arg = 1 } } }, "inside.seccomp.deny[1]", "needs_arg_and_equals", 1)
      bad({ deny = { { name = "ioctl", flavour = 1 } } }, "inside.seccomp.deny[1].flavour", "unknown_option", 1)
      bad({ allow = { { name = "read", errno = 1 } }, default = "errno" }, "inside.seccomp.allow[1].errno", "not_allowed", 1)
      bad({ default = "kill", allow = { "read" }, deny = { "read" } }, "inside.seccomp.deny[1]", "conflict", 1)
      bad({ deny = { "bpf", { name = "bpf", errno = "EACCES" } } }, "inside.seccomp.deny[2]", "conflict", 2)
      bad({ default = "errno", deny = { { name = "exit_group", errno = 5 } } }, "inside.seccomp.deny[1]", "conflict", 1)
      bad({ default = "maybe" }, "inside.seccomp.default", "unknown")
      bad({ errno = "EWHAT" }, "inside.seccomp.errno", "bad_errno")
      bad({ allow = { "read" } }, "inside.seccomp.allow", "needs_default")
      bad({ deny = "bpf" }, "inside.seccomp.deny", "not_a_list")
      bad({ denny = { "bpf" } }, "inside.seccomp.denny", "unknown_option")
      bad("strict", "inside.seccomp", "unknown")
      local odd = dir .. "/odd.bpf"
      S.write_file(odd, "0123456789ab") -- 12 bytes: not whole instructions
      bad(odd, "inside.seccomp", "bad_program")
      S.write_file(odd, "")
      bad(odd, "inside.seccomp", "bad_program")
    end)

    it("a program file that cannot be read is an os error naming it", function()
      clean(function()
        local c, err = process.spawn { argv = { "true" }, inside = { seccomp = dir .. "/missing.bpf" } }
        assert.is_nil(c)
        assert.are.same({ "os", "spawn", ENOENT, dir .. "/missing.bpf" }, { err.kind, err.operation, err.code, err.path })
      end)
    end)

    it("a program the kernel refuses: proceed() fails with operation seccomp, nothing left", function()
      local junk = dir .. "/junk.bpf"
      S.write_file(junk, ("\255"):rep(8)) -- one instruction with no valid opcode
      clean(function()
        local c = assert(process.spawn { argv = { "true" }, inside = { seccomp = junk } })
        local ok, err, code = c:proceed()
        assert.is_nil(ok)
        assert.are.same({ "os", "seccomp", EINVAL, EINVAL }, { err.kind, err.operation, err.code, code })
        assert.is_string(err.hint)
        assert.are.same({ exited = true, code = 127 }, c:wait())
        c:close()
      end)
    end)
  end)
end)
