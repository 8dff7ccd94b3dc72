-- inside.init: with a "pid" namespace the workload runs under linx-init,
-- a pid 1 of its own image (src/child/child_init.c, run from a sealed memfd):
-- it forwards the host's signals, reaps orphans, reports the workload's
-- own end, and holds nothing of the host's memory. Real namespaces; the
-- namespace's processes are read from the host's /proc.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local user = require "linxuser"
local run = require "linx.run"

local maps = { uid = { { 0, S.uid, 1 } }, gid = { { 0, S.gid, 1 } } }
local PID_NS = { "user", "mount", "pid" }

local function spawn(opts)
  opts.namespaces = opts.namespaces or PID_NS
  local c = assert(process.spawn(opts))
  assert(user.setup_maps(c, maps))
  return c
end

local function readlink(path)
  return require("lfs").symlinkattributes(path, "target")
end

-- Every process in the pid namespace of host pid p: {pid =, state =, comm =}.
local function ns_procs(p)
  local ns = assert(readlink("/proc/" .. p .. "/ns/pid"))
  local list = {}
  for name in require("lfs").dir("/proc") do
    local pid = tonumber(name)
    if pid and readlink("/proc/" .. pid .. "/ns/pid") == ns then
      local st = S.read_file("/proc/" .. pid .. "/stat")
      if st then
        local comm, state = st:match("^%d+ %((.*)%) (%a)")
        list[#list + 1] = { pid = pid, state = state, comm = comm }
      end
    end
  end
  table.sort(list, function(a, b) return a.pid < b.pid end)
  return list
end

local function states(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p.comm .. ":" .. p.state end
  return table.concat(out, " ")
end

-- spec/hosts/<name>.c, built by make (spec-hosts) into the lane's build.
local host = S.host

local dir
teardown(function()
  if dir then os.execute("rm -rf " .. dir) end
end)

describe("inside.init", function()
  it("is pid 1, the workload its child, and host_pid() names the init", function()
    local c = spawn { argv = { "sh", "-c", "echo $$ $PPID; cat /proc/1/comm" }, stdout = "pipe",
                      inside = { mounts = { { type = "proc", target = "/proc" } } } }
    assert(c:proceed())
    assert.are.equal("2 1\nlinx-init\n", c:read("stdout"))
    assert.are.equal("linx-init\n", S.read_file("/proc/" .. c:host_pid() .. "/comm"))
    assert.are.same({ exited = true, code = 0 }, c:wait())
    c:close()
  end)

  it("shows the workload, from its first instruction, neither the host's PATH nor the init's fds", function()
    local path = assert(os.getenv("PATH"))
    for _ = 1, 20 do -- a static busybox reads at once: what it sees must already be cleared
      local c = spawn { argv = { "/bin/busybox", "cat", "/proc/1/cmdline", "/proc/1/comm" }, stdout = "pipe",
                        inside = { mounts = { { type = "proc", target = "/proc" } } } }
      assert(c:proceed())
      local out = c:read("stdout")
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      assert.is_nil(out:find(path, 1, true), out)
      assert.are.equal("linx-init", out:match("^([^%z]*)%z"))
      assert.are.equal("linx-init\n", out:match("([^%z]*)$"))
    end
  end)

  it("forwards kill(\"TERM\") to the workload, and wait() reports the workload's signal", function()
    local c = spawn { argv = { "sleep", "30" } }
    assert(c:proceed())
    assert.is_truthy(S.wait_until(function() return #ns_procs(c:host_pid()) == 2 end))
    assert.is_true(c:kill("TERM"))
    assert.are.same({ signaled = true, signal = 15 }, c:wait(10))
    c:close()
  end)

  it("forwards every catchable signal", function()
    local script = [[
      for s in HUP INT QUIT USR1 USR2 WINCH CONT ALRM URG; do trap "echo $s" $s; done
      echo ready
      while :; do sleep 0.05; done]]
    local c = spawn { argv = { "sh", "-c", script }, stdout = "pipe" }
    assert(c:proceed())
    local seen = ""
    local function got(s)
      return S.wait_until(function()
        seen = seen .. (c:read("stdout", 0) or "")
        return seen:find(s .. "\n", 1, true) ~= nil
      end)
    end
    assert.is_true(got("ready"))
    for _, s in ipairs({ "HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "CONT", "ALRM", "URG" }) do
      assert.is_true(c:kill(s))
      assert.is_true(got(s), s .. " did not reach the workload: " .. seen)
    end
    assert.is_true(c:kill("KILL")) -- the init itself: the whole namespace goes
    assert.are.same({ signaled = true, signal = 9 }, c:wait(10))
    c:close()
  end)

  it("reaps orphans: no zombie in the namespace, read from the host", function()
    local c = spawn { argv = { "sh", "-c", "(sleep 0.2 &); exec sleep 30" } }
    assert(c:proceed())
    local p = c:host_pid()
    -- the orphan sleep came and went; only the init and the workload stay
    local list = S.wait_until(function()
      local l = ns_procs(p)
      return #l == 2 and l[2].comm == "sleep" and l
    end)
    assert.is_truthy(list, states(ns_procs(p)))
    S.sleep(0.5)
    assert.are.equal("linx-init:S sleep:S", states(ns_procs(p)))
    c:close()
  end)

  it("init = false behaves as before: the workload is pid 1, ignores TERM, leaves the zombie", function()
    local c = spawn { argv = { "sh", "-c", "(sleep 0.2 &); exec sleep 30" }, inside = { init = false } }
    assert(c:proceed())
    local p = c:host_pid()
    assert.is_truthy(S.wait_until(function() return states(ns_procs(p)) == "sleep:S sleep:Z" end),
                     states(ns_procs(p)))
    assert.is_true(c:kill("TERM"))
    local st, err = c:wait(0.3)
    assert.is_nil(st)
    assert.are.equal("timeout", err.kind)
    c:close()
  end)

  it("passes exit codes and signals through wait() and linx.run unchanged, init or not", function()
    for _, init in ipairs({ true, false }) do
      local res = assert(run.run { argv = { "sh", "-c", "exit 42" }, namespaces = PID_NS, inside = { init = init } })
      assert.are.same({ true, 42 }, { res.exited, res.code })
      res = assert(run.run { argv = { "sh", "-c", "kill -USR1 $$" }, namespaces = PID_NS, inside = { init = init } })
      if init then
        assert.are.same({ true, 10 }, { res.signaled, res.signal })
      else -- pid 1 cannot be killed by its own signal: it ends with sh's "exit"
        assert.is_true(res.exited)
      end
      res = assert(run.run { argv = { "sh", "-c", "kill -KILL $$" }, namespaces = PID_NS, inside = { init = init } })
      if init then
        assert.are.same({ true, 9 }, { res.signaled, res.signal })
      else -- not even SIGKILL, from inside its own namespace
        assert.is_true(res.exited)
      end
    end
  end)

  it("reports a failed exec from proceed(), as without it", function()
    local got = {}
    for _, init in ipairs({ true, false }) do
      local c = spawn { argv = { "no-such-program-linx" }, inside = { init = init } }
      local ok, err, errno = c:proceed()
      assert.is_nil(ok)
      assert.are.same({ "os", "exec" }, { err.kind, err.operation })
      -- ENOENT, or EACCES where a PATH directory is closed to us (the unprivileged lane)
      assert.is_truthy(errno == 2 or errno == 13, tostring(err))
      got[init] = { err.errno, errno, err.path, err.hint }
      assert.are.same({ exited = true, code = 127 }, c:wait())
      c:close()
    end
    assert.are.same(got[false], got[true])
    local c, ok, err
    c = spawn { argv = { "/no/such/program" } }
    ok, err = c:proceed()
    assert.is_nil(ok)
    assert.are.equal("exec", err.operation)
    c:close()
  end)

  it("runs a #!-less script through /bin/sh, and keeps env and fds as the workload would", function()
    dir = dir or S.tmpdir("linx-init")
    S.write_file(dir .. "/plain", "echo plain $FOO\n")
    os.execute("chmod 755 " .. dir .. "/plain")
    local w = assert(io.open(dir .. "/extra", "w"))
    local res = assert(run.run { argv = { dir .. "/plain" }, namespaces = PID_NS, env = { FOO = "bar" } })
    assert.are.equal("plain bar\n", res.stdout)
    res = assert(run.run { argv = { "sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '" },
                           namespaces = { "user", "mount", "pid" }, fds = { [5] = w },
                           inside = { mounts = { { type = "proc", target = "/proc" } } } })
    w:close()
    -- 0, 1, 2, the extra fd, and ls's own directory: nothing of the init's
    assert.are.equal("0 1 2 3 5 ", res.stdout)
  end)

  it("refuses a bad value, and an init without a pid namespace", function()
    local c, err = process.spawn { argv = { "true" }, namespaces = PID_NS, inside = { init = "yes" } }
    assert.is_nil(c)
    assert.are.same({ "bad_option", "inside.init", "not_a_boolean" }, { err.kind, err.field, err.reason })
    c, err = process.spawn { argv = { "true" }, namespaces = { "user" }, inside = { init = true } }
    assert.is_nil(c)
    assert.are.same({ "bad_option", "inside.init", "needs_pid_namespace" }, { err.kind, err.field, err.reason })
    assert(process.spawn { argv = { "true" }, namespaces = { "user" }, inside = { init = false } }):close()
    local inside = setmetatable({}, { __index = function(_, k) if k == "init" then error("no init") end end })
    c, err = process.spawn { argv = { "true" }, namespaces = PID_NS, inside = inside }
    assert.is_nil(c)
    assert.are.same({ "bad_option", "inside.init", "unreadable" }, { err.kind, err.field, err.reason })
    assert.matches("no init", err.message)
  end)
end)

describe("the memory invariant", function()
  local function hex(s)
    return (s:gsub(".", function(ch) return ("%02x"):format(ch:byte()) end))
  end

  it("the scanner finds a marker in the host's Lua heap when it can see the host", function()
    local marker = "linx-marker-" .. tostring(os.time()) .. "-" .. tostring(math.random(1e9))
    local out = S.sh(("%s %s %d 2>&1"):format(host("memscan"), hex(marker), S.self_pid()))
    assert.matches("FOUND " .. S.self_pid(), out, 1, true)
  end)

  it("no process in the container holds the host's memory: root inside finds no marker", function()
    local marker = table.concat({ "linx", "marker", tostring(os.time()), tostring(math.random(1e9)) }, "-")
    for _, init in ipairs({ true, false }) do
      local c = spawn { argv = { host("memscan"), hex(marker) }, stdout = "pipe",
                        inside = { init = init, mounts = { { type = "proc", target = "/proc" } } } }
      assert(c:proceed())
      local out = c:read("stdout")
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      assert.is_nil(out:match("FOUND"), out)
      assert.is_nil(out:match("unreadable"), out)
      if init then
        assert.are.equal("read 1\n", out) -- the init's memory was read whole: no marker in it
      else
        assert.are.equal("", out) -- the scanner is pid 1 and alone: there is nothing else to read
      end
    end
    assert.is_truthy(marker) -- still referenced: in the heap all along
  end)

  -- SECURITY.md: without a "pid" namespace the workload sees the host's
  -- processes in /proc, but a process in a user namespace of its own may
  -- not read the memory of one outside it (commoncap wants the same user
  -- namespace, or CAP_SYS_PTRACE over the target's), even when its ids
  -- map to the host's uid: the host, keeper included, stays unreadable.
  it("without a pid namespace, root inside its user namespace cannot read the host's memory", function()
    local marker = table.concat({ "linx", "hostmark", tostring(os.time()), tostring(math.random(1e9)) }, "-")
    local me = S.self_pid()
    local c = spawn { argv = { host("memscan"), hex(marker), tostring(me) },
                      stdout = "pipe", namespaces = { "user", "mount" } }
    assert(c:proceed())
    local out = c:read("stdout")
    c:wait()
    c:close()
    assert.is_nil(out:match("FOUND"), out)
    local errno = out:match("^unreadable " .. me .. " (%d+)\n$")
    assert.is_truthy(errno == "1" or errno == "13", out) -- EPERM or EACCES, by the kernel's rule
    assert.is_truthy(marker)
  end)

  it("no process in the namespace shares the host's mm (kcmp KCMP_VM from the host)", function()
    local kcmp = host("kcmp")
    local me = S.self_pid()
    local function cmp(a, b) return (S.sh(("%s %d %d"):format(kcmp, a, b)):gsub("\n$", "")) end
    assert.are.equal("0", cmp(me, me))
    local c = spawn { argv = { "sh", "-c", "sleep 30 & wait" } }
    local p = c:host_pid()
    -- parked, the workload may still share our memory (CLONE_VM): nothing
    -- of it has run yet, and kcmp tells sharing apart
    local parked = cmp(me, p)
    local vm = not os.getenv("LINX_SANITIZER") and (os.getenv("LINX_PROCESS_NO_CLONE_VM") or "") == ""
    assert.are.equal(vm and "0" or "1", vm and parked or (parked == "2" and "1" or parked))
    assert(c:proceed())
    local list = S.wait_until(function() local l = ns_procs(p); return #l == 3 and l end)
    assert.is_truthy(list, states(ns_procs(p)))
    for _, q in ipairs(list) do
      local r = cmp(me, q.pid)
      assert.is_truthy(r == "1" or r == "2", q.comm .. " " .. q.pid .. ": " .. r)
    end
    c:close()
  end)
end)
