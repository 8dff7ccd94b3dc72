-- Fault injection: every system call the host side of spawn, proceed,
-- wait, read, write, kill, close and setup_maps (procfs and helper
-- routes) makes is made to fail, one at a time, and each time the caller
-- must get `nil, err` naming the call, the host's /proc/self/fd must be
-- as it was, no keeper, workload or helper may be left behind, and the
-- next spawn must work.
--
-- How: spec/hosts/inject.c (built by make into build/<ver>/inject.so) is
-- LD_PRELOADed into linx-lua running spec/fixtures/inject_cycle.lua, which
-- runs an operation once unharmed to list the calls it makes ("count"),
-- then once per call with exactly that call failing, and prints a verdict
-- per injection. The keeper and the workload make raw system calls the
-- shim never sees: only the host's calls are injected. Real kernel, real
-- namespaces; the shim only makes a call fail, it mocks nothing.
--
-- Not part of the busted-root/unpriv lanes (tools/busted-lane leaves it
-- out); lanes inject-root and inject-unpriv run it.
local S = require("support").bind(function(why) pending(why) end)

local build = os.getenv("LINX_BUILD") or "build/5.4"
local shim = build .. "/inject.so"
local linx_lua = os.getenv("LINX_LUA") or (build .. "/linx-lua")
local fixture = "spec/fixtures/inject_cycle.lua"

-- The errno each call fails with: one it can really return.
local errnos = {
  socketpair = "EMFILE", pipe2 = "EMFILE", open = "EMFILE", openat = "EMFILE", fcntl = "EMFILE",
  recvmsg = "EMFILE", pidfd_open = "EMFILE", mmap = "ENOMEM", mprotect = "ENOMEM", poll = "ENOMEM",
  munmap = "EINVAL", sysconf = "EINVAL", pthread_sigmask = "EINVAL", sigprocmask = "EINVAL",
  sigaction = "EINVAL", sigtimedwait = "EINVAL", sigpending = "EFAULT", waitid = "EINVAL",
  waitpid = "EINVAL", close = "EIO", read = "EIO", write = "EIO", fstat = "EIO", send = "ENOBUFS",
  shutdown = "ENOBUFS", kill = "EPERM", pidfd_send_signal = "EPERM", capget = "EPERM",
  stat = "EACCES", access = "EACCES", clone = "EAGAIN", dup2 = "EBADF",
}

-- Calls whose failure the operation rightly survives: it must still
-- leave nothing behind, but may succeed. Each says why.
local survives = {
  close = "Linux releases the fd whatever close() says; there is nothing to undo",
  sysconf = "the page size falls back to 4096",
  shutdown = "a hint to the keeper; closing the socket tells it the same",
  stat = "a PATH search skips what it cannot stat, as execvp does",
  access = "a PATH search skips what it cannot run, as execvp does",
}
local survives_in = {
  ["spawn pthread_sigmask 2"] = "the mask is restored on a second try",
  ["spawn_big pthread_sigmask 2"] = "the mask is restored on a second try",
  ["kill_parked poll"] = "a probe for an exited child: the signal is sent all the same",
  ["kill_running poll"] = "a probe for an exited child: the signal is sent all the same",
  ["close_parked poll"] = "a probe for an exited child: close kills it all the same",
  ["close_running poll"] = "a probe for an exited child: close kills it all the same",
  ["close_parked pidfd_send_signal"] = "close kills the keeper instead, which takes the child along",
  ["close_running pidfd_send_signal"] = "close kills the keeper instead, which takes the child along",
  ["close_parked kill"] = "the SIGKILL to the workload's group is best effort: the workload " ..
    "itself is killed through its pidfd (a parked one has no group yet)",
  ["close_running kill"] = "the SIGKILL to the workload's group is best effort: the workload " ..
    "itself is killed through its pidfd",
  ["close_parked recvmsg"] = "close wants no status: it drops the keeper's report and reaps",
  ["close_running recvmsg"] = "close wants no status: it drops the keeper's report and reaps",
  ["write_epipe pthread_sigmask 2"] = "the write's own EPIPE is reported (SIGPIPE stays blocked)",
  ["write_epipe sigtimedwait"] = "the write's own EPIPE is reported (SIGPIPE stays blocked)",
  ["setup_maps_helper waitpid"] = "a failed reap of the go-between is tried again",
  ["setup_maps_helper munmap"] = "the go-between's stacks, once it is reaped, stay mapped: " ..
    "a leak of a few pages; the maps are written",
  ["setup_maps_helper read"] = "a failed read of the helper's words ends the capture; " ..
    "its result comes from the status pipe",
}


-- op = what the fixture does (spec/fixtures/inject_cycle.lua); after =
-- what a second call must still return after the injected failure.
local ops = {
  { "spawn", "spawn{...} with a pipe and /dev/null (the spare block reused)" },
  { "spawn_big", "spawn{...} with a block too big for the spare (mmap, guard pages)" },
  { "proceed", "proceed() into a successful exec" },
  { "proceed_exec_fails", "proceed() into a failing exec" },
  { "wait", "wait() for a running child with piped output", "code0" },
  { "wait_killed_parked", "wait() for a parked child that was killed", "signal9" },
  { "read", "read('stdout') of a running child" },
  { "write", "write() of 200 kB through cat" },
  { "write_epipe", "write() to a child that closed its stdin" },
  { "kill_parked", "kill() of a parked child" },
  { "kill_running", "kill() of a running child" },
  { "close_parked", "close() of a parked child" },
  { "close_running", "close() of a running child" },
  { "setup_maps_procfs", "setup_maps through procfs (helper = 'never')" },
  { "setup_maps_helper", "setup_maps through newuidmap/newgidmap (helper = 'always')" },
}

local function tag() return ("linx%d%d"):format(os.time(), math.random(1, 1e9)) end

local function run_fixture(op, args, seconds)
  local cmd = ("LINX_INJECT_TAG=%s LD_PRELOAD=%s timeout %d %s %s %s %s 2>&1"):format(tag(), shim, seconds,
    linx_lua, fixture, op, table.concat(args, " "))
  return S.sh(cmd)
end

-- All verdicts of op's injections; a fixture that hangs or dies on one
-- is started again after it, and that one gets no verdict.
local function verdicts_for(op, list)
  local got, todo = {}, list
  while #todo > 0 do
    local out = run_fixture(op, todo, 90)
    local started
    for line in out:gmatch("[^\n]+") do
      local s = line:match("^start (%S+)")
      if s then started = s end
      local spec, rest = line:match("^verdict (%S+) (.*)$")
      if spec then
        local v = { raw = line }
        for k, val in rest:gmatch("(%w+)=(%S*)") do v[k] = v[k] or val end
        got[spec] = v
        started = nil
      end
    end
    local rest = {}
    local after_crash = false
    for _, s in ipairs(todo) do
      if s == started then
        got[s] = { crashed = out:sub(-2000) }
        after_crash = true
      elseif after_crash and not got[s] then
        rest[#rest + 1] = s
      end
    end
    if not after_crash then
      for _, s in ipairs(todo) do
        if not got[s] then got[s] = { crashed = out:sub(-2000) } end
      end
    end
    todo = rest
  end
  return got
end

local have_shim = S.exists(shim)
local have_helpers = S.sh("command -v newuidmap; command -v newgidmap"):find("newgidmap") ~= nil

describe("fault injection", function()
  it("has its shim built (make builds " .. shim .. ")", function()
    assert.is_true(have_shim, shim .. " is missing: run make")
  end)
  if not have_shim then return end

  for _, o in ipairs(ops) do
    local op, what, after = o[1], o[2], o[3]
    describe(op .. ": " .. what, function()
      local helper_route = op == "setup_maps_helper"
      local out = run_fixture(op, { "count" }, 30)
      local counts = out:match("count ([^\n]*)")
      it("runs clean without injection", function()
        assert.is_truthy(counts, out)
        assert.matches("fds=same left=none", out, 1, true)
        if after then assert.matches("after=" .. after, out, 1, true) end
      end)
      if not counts or (helper_route and not have_helpers) then return end

      local list, meta = {}, {}
      for fn, n in counts:gmatch("(%S+)=(%d+)") do
        for i = 1, tonumber(n) do
          local spec = ("%s:%d:%s"):format(fn, i, errnos[fn] or "EIO")
          list[#list + 1] = spec
          meta[#meta + 1] = { spec = spec, fn = fn, n = i, errno = errnos[fn] or "EIO" }
        end
      end
      local verdicts
      for _, m in ipairs(meta) do
        it(("%s #%d fails with %s"):format(m.fn, m.n, m.errno), function()
          verdicts = verdicts or verdicts_for(op, list)
          local v = verdicts[m.spec]
          assert.is_nil(v.crashed, "the fixture hung or died on " .. m.spec .. ":\n" .. tostring(v.crashed))
          if v.fired == "0" then
            -- a call repeated in a loop whose length depends on timing
            assert.is_true(m.n > 1, "call #1 of " .. m.fn .. " was never made: " .. v.raw)
            return
          end
          assert.are.equal("1", v.fired, v.raw)
          assert.are.equal("same", v.fds, "the host's fds changed: " .. v.raw)
          assert.are.equal("none", v.left, "processes left behind: " .. v.raw)
          assert.are.equal("ok", v.next, "the next spawn failed: " .. v.raw)
          if after then assert.are.equal(after, v.after, "a second call lost the child's status: " .. v.raw) end
          local why = survives[m.fn] or survives_in[op .. " " .. m.fn] or survives_in[op .. " " .. m.fn .. " " .. m.n]
          if v.result == "ok" or why then
            assert.is_truthy(why, "the operation succeeded although " .. m.fn .. " failed: " .. v.raw)
            return
          end
          local kind, operation, syscall, errno = v.result:match("^([^/]+)/([^/]+)/([^/]+)/([^/]+)$")
          assert.is_truthy(kind, "not nil, err: " .. v.raw)
          -- the helper route reports a helper it could not start as kind
          -- helper (reason spawn), with the same errno and syscall fields
          -- (the route's own procfs checks stay kind os)
          if not (op == "setup_maps_helper" and kind == "helper") then
            assert.are.equal("os", kind, v.raw)
          end
          assert.are.equal(m.errno, errno, v.raw)
          if syscall == "nil" then syscall = operation end
          assert.are.equal(m.fn, syscall, "the error does not name the call: " .. v.raw)
        end)
      end
    end)
  end
end)

describe("err.syscall", function()
  it("is named by tostring when the error has no path", function()
    if not have_shim then pending("needs " .. shim) return end
    local dir = S.tmpdir("linx-inject")
    local f = assert(io.open(dir .. "/t.lua", "w"))
    f:write([[
      local p = require "linx.process"
      local ctl = assert(io.open("/linx-inject/fail:socketpair:1:EMFILE")) ctl:close()
      local c, err, code = p.spawn { argv = { "true" } }
      ctl = assert(io.open("/linx-inject/stop")) ctl:close()
      print(c, err.kind, err.operation, err.syscall, err.errno, code)
      print(tostring(err))
    ]])
    f:close()
    os.execute("chmod -R a+rX " .. dir)
    local out = S.sh(("LD_PRELOAD=%s %s %s/t.lua 2>&1"):format(shim, linx_lua, dir))
    os.execute("rm -rf " .. dir)
    assert.matches("^nil\tos\tspawn\tsocketpair\tEMFILE\t24\n", out)
    assert.matches("\nspawn failed: socketpair: EMFILE %(errno 24%): ", out)
  end)
end)
