-- linx.process against the real kernel: real clones, real namespaces,
-- real procfs. Runs as root and as uid 65534 (lane busted-unpriv).
local process = require "linx.process"
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local uid, gid = S.uid, S.gid
local ALL_NS = { "user", "mount", "pid", "uts", "ipc", "net", "cgroup" }

local function self_pid()
  return tonumber(S.read_file("/proc/self/stat"):match("^(%d+)"))
end

local function proc_state(pid)
  local st = S.read_file("/proc/" .. pid .. "/stat")
  return st and st:match("^%d+ %b() (%S)")
end

local function ppid_of(pid)
  local status = S.read_file("/proc/" .. pid .. "/status")
  return status and tonumber(status:match("PPid:%s*(%d+)"))
end

-- Field n (1-based, as in proc(5)) of /proc/<pid>/stat.
local function stat_field(pid, n)
  local stat = S.read_file("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  local fields = {}
  for f in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = f end
  return fields[n - 2]
end

-- Our direct children, as a set of pids (every thread's list).
local function my_children()
  local kids = {}
  local me = self_pid()
  for tid in require("lfs").dir("/proc/" .. me .. "/task") do
    local list = tonumber(tid) and S.read_file("/proc/" .. me .. "/task/" .. tid .. "/children") or ""
    for pid in list:gmatch("%d+") do kids[tonumber(pid)] = true end
  end
  return kids
end

local function readlink(path)
  local out = S.sh("readlink " .. path .. " 2>/dev/null")
  return out ~= "" and (out:gsub("\n$", "")) or nil
end

-- What a process's fds are, sorted: "socket", "pidfd", "pipe", or the path.
local function fd_kinds(pid)
  local kinds = {}
  for line in S.sh("ls -l /proc/" .. pid .. "/fd"):gmatch("[^\n]+") do
    local target = line:match("%-> (.*)$")
    if target then
      kinds[#kinds + 1] = target:match("^socket:") and "socket" or target:match("pidfd") and "pidfd"
        or target:match("^pipe:") and "pipe" or target
    end
  end
  table.sort(kinds)
  return table.concat(kinds, " ")
end

local function tmpdir()
  local d = S.sh("mktemp -d /tmp/linx-spec.XXXXXX"):gsub("\n$", "")
  assert(d ~= "", "mktemp failed")
  return d
end

local function rootless_maps()
  return { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
end

-- Spawn, map root inside to our own ids, proceed; return the handle.
local function spawn_mapped(opts)
  opts.namespaces = opts.namespaces or { "user", "mount", "pid" }
  local c = assert(process.spawn(opts))
  assert(user.setup_maps(c, rootless_maps()))
  assert(c:proceed())
  return c
end

-- Run argv as root inside a rootless user namespace; stdout, status.
local function run_mapped(argv, extra)
  local opts = { argv = argv, stdout = "pipe" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local c = spawn_mapped(opts)
  local out = c:read("stdout")
  local st = c:wait()
  c:close()
  return out, st
end

local function assert_bad_option(ok, err, field, reason)
  assert.is_nil(ok)
  assert.is_table(err)
  assert.are.equal("bad_option", err.kind)
  assert.are.equal(field, err.field)
  if reason then assert.are.equal(reason, err.reason) end
  assert.is_string(tostring(err))
end

describe("linx.process", function()
  it("returns its table and sets no globals", function()
    assert.is_function(process.spawn)
    assert.is_nil(rawget(_G, "process"))
    assert.is_nil(rawget(_G, "linx"))
  end)

  describe("the rootless flow", function()
    it("makes the child uid 0 and gid 0 inside (id through a pipe)", function()
      local out, st = run_mapped({ "sh", "-c", "id -u; id -g" })
      assert.are.equal("0\n0\n", out)
      assert.are.same({ exited = true, code = 0 }, st)
    end)

    it("leaves the child nobody inside when no map is written", function()
      local c = assert(process.spawn { argv = { "id", "-u" }, namespaces = { "user" }, stdout = "pipe" })
      assert(c:proceed())
      assert.are.equal("65534\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("reads the maps back as written, through the handle", function()
      local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
      assert.are.same({}, user.read_uid_map(c))
      assert.are.same({}, user.read_gid_map(c))
      assert.is_true(user.setup_maps(c, rootless_maps()))
      assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(c)))
      assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(c)))
      assert.are.equal("deny", user.read_setgroups(c))
      -- the same files by pid agree
      assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(c:host_pid())))
      assert.is_true(c:proceed())
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("shows the map in /proc/self/uid_map and gid_map inside", function()
      local out = run_mapped({ "cat", "/proc/self/uid_map", "/proc/self/gid_map" })
      local rows = {}
      for a, b, n in out:gmatch("(%d+)%s+(%d+)%s+(%d+)") do
        rows[#rows + 1] = { tonumber(a), tonumber(b), tonumber(n) }
      end
      assert.are.same({ { 0, uid, 1 }, { 0, gid, 1 } }, rows)
    end)

    it("writes a multi-range map as root", function()
      if S.root_only("multi-range map through a handle") then return end
      local c = assert(process.spawn { argv = { "sh", "-c", "id -u; cat /proc/self/uid_map" },
                                       namespaces = { "user", "pid" }, stdout = "pipe" })
      -- the child keeps the host's kuid 0, so 0 maps to 0; the rest is a range
      local maps = { { 0, 0, 1 }, { 1, 100001, 999 }, { 1000, 1000, 1 }, { 1001, 101001, 64535 } }
      assert.is_true(user.setup_maps(c, { uid = maps, gid = maps, setgroups = "skip" }))
      assert.are.same(maps, S.triples(user.read_uid_map(c)))
      assert.are.equal("allow", user.read_setgroups(c))
      assert.is_true(c:proceed())
      local out = c:read("stdout")
      assert.are.equal(0, c:wait().code)
      c:close()
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal("0", lines[1])
      assert.are.equal(5, #lines)
      assert.matches("^%s*1001%s+101001%s+64535$", lines[5])
    end)

    it("refuses a map the unprivileged host may not write (EPERM)", function()
      if S.unpriv_only("EPERM for a foreign uid") then return end
      local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
      local ok, err = user.set_uid_map(c, { { 0, 0, 1 } })
      assert.is_nil(ok)
      assert.are.equal("EPERM", err.errno)
      c:close()
    end)
  end)

  describe("the checkpoint", function()
    it("has run none of the workload while parked", function()
      local dir = tmpdir()
      local marker = dir .. "/ran"
      local c = assert(process.spawn { argv = { "sh", "-c", "echo ran > " .. marker },
                                       namespaces = { "user" } })
      -- the parked child is still our own program, not sh
      local exe = readlink("/proc/" .. c:host_pid() .. "/exe")
      assert.is_string(exe)
      assert.are.equal(readlink("/proc/" .. self_pid() .. "/exe"), exe)
      assert.is_false(S.exists(marker))
      assert(user.setup_maps(c, rootless_maps()))
      assert.is_false(S.exists(marker))
      assert.is_true(c:proceed())
      assert.are.equal(0, c:wait().code)
      assert.is_true(S.exists(marker))
      c:close()
      os.execute("rm -rf " .. dir)
    end)

    it("is watched by a keeper of ours that no waitpid(-1) reaper can see", function()
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user", "pid" } })
      local pid = c:host_pid()
      assert.is_true(pid > 1)
      -- the workload's parent is the keeper, and the keeper is ours
      local keeper = ppid_of(pid)
      assert.are_not.equal(self_pid(), keeper)
      assert.are.equal(self_pid(), ppid_of(keeper))
      -- the keeper has no exit signal: waitpid(-1) without __WALL skips it
      assert.are.equal("0", stat_field(keeper, 38))
      assert.is_truthy(proc_state(pid) ~= "Z")
      assert.matches("^linx%.process%.handle %(pid " .. pid .. ", parked%)$", tostring(c))
      -- of the two, only the keeper is our child
      local kids = my_children()
      assert.is_true(kids[keeper])
      assert.is_nil(kids[pid])
      -- once started, the keeper holds nothing but its socket to us and
      -- pidfds of the host (whose death it watches) and of the workload
      -- (and, with the init a "pid" namespace has, the read end of the
      -- pipe the init reports the workload's end on)
      assert.is_true(S.wait_until(function() return fd_kinds(keeper) == "pidfd pidfd pipe socket" end))
      assert(c:proceed())
      -- execve gave the workload SIGCHLD as exit signal: why it is not ours
      assert.are.equal("17", stat_field(pid, 38))
      assert.are.equal(keeper, ppid_of(pid))
      assert.is_true(c:kill("KILL"))
      assert.are.same({ signaled = true, signal = 9 }, c:wait())
      -- wait() reaped the keeper too
      assert.is_nil(proc_state(keeper))
      c:close()
    end)

    it("clones into every namespace asked for, and only those", function()
      local c = assert(process.spawn { argv = { "true" }, namespaces = ALL_NS })
      local p = c:host_pid()
      for _, ns in ipairs({ "user", "mnt", "pid_for_children", "uts", "ipc", "net", "cgroup" }) do
        local mine, theirs = readlink("/proc/self/ns/" .. ns), readlink("/proc/" .. p .. "/ns/" .. ns)
        assert.is_string(theirs)
        assert.are_not.equal(mine, theirs, ns)
      end
      c:close()
      local d = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
      p = d:host_pid()
      assert.are_not.equal(readlink("/proc/self/ns/user"), readlink("/proc/" .. p .. "/ns/user"))
      for _, ns in ipairs({ "mnt", "uts", "ipc", "net", "cgroup", "pid" }) do
        assert.are.equal(readlink("/proc/self/ns/" .. ns), readlink("/proc/" .. p .. "/ns/" .. ns), ns)
      end
      d:close()
    end)

    it("gives a pid namespace where the child is pid 1 (init = false), or pid 2 under the init", function()
      local out = run_mapped({ "sh", "-c", "echo $$" }, { namespaces = { "user", "pid" }, inside = { init = false } })
      assert.are.equal("1\n", out)
      out = run_mapped({ "sh", "-c", "echo $$ $PPID" }, { namespaces = { "user", "pid" } })
      assert.are.equal("2 1\n", out)
    end)

    it("without a pid namespace the child sees its host pid", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "echo $$" }, stdout = "pipe" })
      assert(c:proceed())
      assert.are.equal(c:host_pid() .. "\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("proceeds only once", function()
      local c = assert(process.spawn { argv = { "true" } })
      assert.is_true(c:proceed())
      local ok, err = c:proceed()
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
      assert.are.equal("proceed", err.operation)
      assert.are.equal(0, c:wait().code)
      c:close()
    end)
  end)

  describe("exec", function()
    it("reports a missing binary from proceed as operation exec, ENOENT", function()
      local c = assert(process.spawn { argv = { "/nonexistent/linx-no-such-binary" }, namespaces = { "user" } })
      local ok, err, code = c:proceed()
      assert.is_nil(ok)
      assert.are.equal("os", err.kind)
      assert.are.equal("exec", err.operation)
      assert.are.equal("ENOENT", err.errno)
      assert.are.equal(2, err.code)
      assert.are.equal(2, code)
      assert.are.equal("/nonexistent/linx-no-such-binary", err.path)
      assert.matches("^exec failed on /nonexistent/linx%-no%-such%-binary: ENOENT", tostring(err))
      -- the child gave up with 127 and is reaped like any other
      assert.are.same({ exited = true, code = 127 }, c:wait())
      c:close()
    end)

    it("searches argv[1] in PATH and names it when it is not there", function()
      local c = assert(process.spawn { argv = { "linx-no-such-command" } })
      local ok, err = c:proceed()
      assert.is_nil(ok)
      assert.are.equal("exec", err.operation)
      assert.are.equal("linx-no-such-command", err.path)
      -- ENOENT, or EACCES when some PATH directory is unreadable to us
      assert.is_truthy(err.errno == "ENOENT" or err.errno == "EACCES")
      assert.are.equal(127, c:wait().code)
      c:close()
    end)

    it("reports a bad cwd from proceed as operation chdir", function()
      local c = assert(process.spawn { argv = { "true" }, cwd = "/nonexistent-linx-dir" })
      local ok, err = c:proceed()
      assert.is_nil(ok)
      assert.are.equal("chdir", err.operation)
      assert.are.equal("ENOENT", err.errno)
      assert.are.equal("/nonexistent-linx-dir", err.path)
      assert.are.equal(127, c:wait().code)
      c:close()
    end)

    it("runs in cwd with exactly the env given", function()
      local c = assert(process.spawn { argv = { "sh", "-c", 'pwd; echo "$FOO|$N|${HOME-unset}"' },
                                       cwd = "/tmp", env = { FOO = "bar baz", N = 5 }, stdout = "pipe" })
      assert(c:proceed())
      assert.are.equal("/tmp\nbar baz|5|unset\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("inherits the host environment when env is not given", function()
      local c = assert(process.spawn { argv = { "sh", "-c", 'echo "$HOME"' }, stdout = "pipe" })
      assert(c:proceed())
      assert.are.equal((os.getenv("HOME") or "") .. "\n", c:read("stdout"))
      c:close()
    end)

    it("returns the exit code and the killing signal", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "exit 42" } })
      assert(c:proceed())
      local st = c:wait()
      assert.are.same({ exited = true, code = 42 }, st)
      -- repeatable after the child is reaped
      assert.are.same(st, c:wait())
      assert.matches("exited 42", tostring(c))
      c:close()
      assert.are.same(st, c:wait())

      local d = assert(process.spawn { argv = { "sh", "-c", "kill -USR1 $$; sleep 5" } })
      assert(d:proceed())
      assert.are.same({ signaled = true, signal = 10 }, d:wait())
      d:close()
    end)
  end)

  describe("stdio", function()
    it("keeps stdout and stderr apart", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "echo out; echo err >&2" },
                                       stdout = "pipe", stderr = "pipe" })
      assert(c:proceed())
      assert.are.equal("err\n", c:read("stderr"))
      assert.are.equal("out\n", c:read("stdout"))
      assert.are.equal("", c:read("stdout")) -- at EOF
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("does not deadlock on output larger than a pipe, read or waited", function()
      local script = "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2"
      local c = assert(process.spawn { argv = { "sh", "-c", script }, stdout = "pipe", stderr = "pipe" })
      assert(c:proceed())
      assert.are.equal(200000, #c:read("stderr"))
      assert.are.equal(300000, #c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
      local d = assert(process.spawn { argv = { "sh", "-c", script }, stdout = "pipe", stderr = "pipe" })
      assert(d:proceed())
      assert.are.equal(0, d:wait().code)
      assert.are.equal(300000, #d:read("stdout"))
      assert.are.equal(200000, #d:read("stderr"))
      d:close()
    end)

    it("feeds a stdin pipe and ends it before reading", function()
      local c = assert(process.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
      assert(c:proceed())
      assert.is_true(c:write("hello "))
      assert.is_true(c:write("world"))
      assert.are.equal("hello world", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      local ok, err = c:write("late")
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
      c:close()
    end)

    it("writes any amount through a filter whose output fills its pipe", function()
      -- cat's stdout pipe fills long before 1 MB has gone in: write must
      -- drain it meanwhile, and read returns all of it afterwards
      local c = assert(process.spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" })
      assert(c:proceed())
      local data = string.rep("0123456789abcdef", 65536) -- 1 MiB
      assert.is_true(c:write(data))
      assert.is_true(c:write("end"))
      local out = c:read("stdout")
      assert.are.equal(#data + 3, #out)
      assert.is_true(out == data .. "end")
      assert.are.equal(0, c:wait().code)
      c:close()
    end)

    it("writes without blocking when asked: what the pipe takes, as a count", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "read x; cat >/dev/null" },
                                       stdin = "pipe", stdout = "pipe" })
      assert(c:proceed())
      -- nobody reads more than a line yet: the pipe takes its capacity, then 0
      local total = 0
      for _ = 1, 64 do
        local n = assert(c:write(string.rep("x", 65536) .. "\n", 0))
        assert.is_number(n)
        total = total + n
        if n == 0 then break end
      end
      assert.is_true(total > 0 and total < 64 * 65537)
      local n = assert(c:write("more", 0))
      assert.is_true(n >= 0 and n <= 4)
      local ok, err = c:write("x", -1)
      assert.is_nil(ok)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal("timeout", err.field)
      c:kill("KILL")
      c:wait()
      c:close()
    end)

    it("survives a child that closed its stdin (no SIGPIPE in the host)", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "exec 0<&-; echo closed" },
                                       stdin = "pipe", stdout = "pipe" })
      assert(c:proceed())
      assert.are.equal("closed\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
      local d = assert(process.spawn { argv = { "true" }, stdin = "pipe" })
      assert(d:proceed())
      assert.are.equal(0, d:wait().code)
      -- wait() closed our end already: a state error, not a signal
      local ok, err = d:write("x")
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
      d:close()
    end)

    it("connects null streams to /dev/null", function()
      local c = assert(process.spawn { argv = { "sh", "-c", "cat; readlink /proc/self/fd/0 >&2" },
                                       stdin = "null", stdout = "null", stderr = "pipe" })
      assert(c:proceed())
      assert.are.equal("/dev/null\n", c:read("stderr"))
      assert.are.equal(0, c:wait().code)
      local ok, err = c:read("stdout")
      assert_bad_option(ok, err, "stream", "not_piped")
      c:close()
    end)

    it("refuses to read a parked child or an unknown stream", function()
      local c = assert(process.spawn { argv = { "echo", "x" }, stdout = "pipe" })
      local ok, err = c:read("stdout")
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
      assert.are.equal("parked", err.reason)
      ok, err = c:read("stdjunk")
      assert_bad_option(ok, err, "stream", "unknown")
      assert(c:proceed())
      assert.are.equal("x\n", c:read())
      c:close()
    end)
  end)

  describe("hygiene", function()
    it("gives no pid once the handle is waited for or closed (it is no longer pinned)", function()
      local c = assert(process.spawn { argv = { "true" } })
      assert.is_number(c:host_pid())
      assert(c:proceed())
      assert.are.equal(0, c:wait().code)
      local pid, err = c:host_pid()
      assert.is_nil(pid)
      assert.are.equal("bad_state", err.kind)
      assert.are.equal("reaped", err.reason)
      c:close()
      pid, err = c:host_pid()
      assert.is_nil(pid)
      assert.are.equal("bad_state", err.kind)
      assert.are.equal("closed", err.reason)
      local d = assert(process.spawn { argv = { "sleep", "10" } })
      d:close()
      assert.is_nil((d:host_pid()))
    end)

    it("gives the child only its stdio with close_range refused (before Linux 5.9)", function()
      -- The keeper and the workload close what they must not keep with raw
      -- close_range calls; a seccomp filter makes those fail, as an older
      -- kernel would, and the fd-by-fd fallback must close the same.
      local host, linx_lua = S.seccomp_host(), os.getenv("LINX_LUA")
      if not (host and linx_lua and S.exists(linx_lua)) then return pending("needs linx-lua and cc") end
      local out = S.sh(("%s 436 38 %s -e '%s' 2>&1"):format(host, linx_lua, [[
        local leaky = assert(io.open("/proc/self/status"))
        local p = require "linx.process"
        local c = assert(p.spawn { argv = { "ls", "/proc/self/fd" }, stdout = "pipe" })
        assert(c:proceed())
        io.write(c:read("stdout"))
        print("code", c:wait().code)
        c:close()
        leaky:close()]]))
      local fds = {}
      for line in out:gmatch("[^\n]+") do
        if line:match("^%d+$") then fds[#fds + 1] = tonumber(line) end
      end
      table.sort(fds)
      assert.matches("code\t0", out)
      assert.are.same({ 0, 1, 2, 3 }, fds, out)
    end)

    -- A linx-lua host started under `prefix` with four signals ignored
    -- (HUP, USR1, PIPE, RTMIN+3) spawns cat of its own status; the masks
    -- of the host, of the parked child and of cat, and cat's exit code.
    local function ignoring_host(prefix)
      local linx_lua = os.getenv("LINX_LUA")
      if not (linx_lua and S.exists(linx_lua)) then return nil end
      return S.sh(("%s env --ignore-signal=HUP,PIPE,USR1,RTMIN+3 %s -e '%s' 2>&1"):format(prefix, linx_lua, [[
        local function masks(text) return text:match("\nSigIgn:\t(%x+)") .. " " .. text:match("\nSigCgt:\t(%x+)") end
        local function status(pid) local f = assert(io.open("/proc/" .. pid .. "/status")) local t = f:read("*a") f:close() return t end
        print("host", masks(status("self")), #status("self"))
        local p = require "linx.process"
        local c = assert(p.spawn { argv = { "cat", "/proc/self/status" }, stdout = "pipe" })
        local parked
        for _ = 1, 2000 do
          parked = masks(status(c:host_pid()))
          if parked == "0000000000000000 0000000000000000" then break end
        end
        print("parked", parked)
        assert(c:proceed())
        print("exec", masks(c:read("stdout")))
        print("code", c:wait().code)
        c:close()]]))
    end

    local function assert_defaults(out)
      -- HUP = 1, USR1 = 10, PIPE = 13, RTMIN+3 = 37: bits 0, 9, 12, 36
      -- (the low 40 bits: exact in a double on every Lua)
      local low40 = tonumber(assert(out:match("host\t%x%x%x%x%x%x(%x+) "), out), 16)
      for _, bit in ipairs { 0, 9, 12, 36 } do
        assert.are.equal(1, math.floor(low40 / 2 ^ bit) % 2, "host ignores signal " .. (bit + 1))
      end
      assert.matches("parked\t0000000000000000 0000000000000000\n", out)
      assert.matches("exec\t0000000000000000 0000000000000000\n", out)
      assert.matches("code\t0", out)
    end

    it("starts the child with every signal at its default, those its host ignores too", function()
      -- An ignored signal stays ignored across execve; the workload sets
      -- back to default what its own status lists as ignored or caught.
      -- Parked, the child has done it before the release; cat shows that
      -- it held through execve.
      local out = ignoring_host("")
      if not out then return pending("needs linx-lua") end
      assert_defaults(out)
    end)

    it("resets every signal when its status is too long to read whole", function()
      -- 1500 supplementary groups put SigIgn and SigCgt past the 4 KiB the
      -- workload reads of its status: it must not take a cut-off text for
      -- "nothing to reset", and resets all of them instead.
      if S.root_only("a host with 1500 supplementary groups") then return end
      local groups = {}
      for g = 1, 1500 do groups[g] = tostring(100000 + g) end
      local out = ignoring_host("setpriv --groups=" .. table.concat(groups, ","))
      if not out then return pending("needs linx-lua") end
      local size = tonumber(out:match("host\t%x+ %x+\t(%d+)\n"))
      assert.is_true(size ~= nil and size > 8192, out)
      assert_defaults(out)
    end)

    it("gives the child only its stdio (ls /proc/self/fd)", function()
      -- io.open does not set O_CLOEXEC: a leak would show here
      local leaky = assert(io.open("/proc/self/status", "r"))
      local c = spawn_mapped { argv = { "ls", "/proc/self/fd" }, stdout = "pipe" }
      local out = c:read("stdout")
      assert.are.equal(0, c:wait().code)
      c:close()
      leaky:close()
      local fds = {}
      for fd in out:gmatch("%d+") do fds[#fds + 1] = tonumber(fd) end
      table.sort(fds)
      -- 0, 1, 2 and the directory ls is reading
      assert.are.same({ 0, 1, 2, 3 }, fds)
    end)

    it("leaves no fd behind in the host", function()
      -- Counted in-process (lfs, busted's own dependency): a shell listing
      -- /proc/<pid>/fd through io.popen raced with the popen's own fds
      -- under load. Settle the collector first, so an earlier spec's file
      -- closing meanwhile cannot count as ours.
      local lfs = require "lfs"
      local function listing()
        collectgarbage(); collectgarbage()
        local fds = {}
        for name in lfs.dir("/proc/self/fd") do
          local fd = tonumber(name)
          -- the directory being listed is an fd too: leave it out
          local target = fd and lfs.symlinkattributes("/proc/self/fd/" .. name, "target")
          if target and not target:match("^/proc/%d+/fd$") then fds[fd] = target end
        end
        return fds
      end
      local function show(fds)
        local out = {}
        for fd, target in pairs(fds) do out[#out + 1] = fd .. " -> " .. target end
        table.sort(out)
        return table.concat(out, "\n")
      end
      local before = listing()
      for _ = 1, 3 do
        local c = assert(process.spawn { argv = { "sh", "-c", "echo x; echo y >&2" }, namespaces = { "user" },
                                         stdin = "pipe", stdout = "pipe", stderr = "pipe" })
        assert(c:proceed())
        c:read("stdout")
        c:wait()
        c:close()
      end
      local d = assert(process.spawn { argv = { "true" }, stdout = "pipe", stderr = "null" })
      d:close()
      local e = assert(process.spawn { argv = { "/nonexistent/x" }, stdout = "pipe" })
      e:proceed()
      e:close()
      local after = listing()
      -- every fd open now was open before: a leak shows as a new number (fewer is an earlier spec's file collected)
      for fd in pairs(after) do
        assert.is_truthy(before[fd], "fd " .. fd .. " left open\nbefore:\n" .. show(before)
          .. "\nafter:\n" .. show(after))
      end
    end)

    it("kills a parked child with kill(), then reaps it with wait()", function()
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user", "pid" } })
      local pid = c:host_pid()
      assert.is_true(c:kill("KILL"))
      assert.are.same({ signaled = true, signal = 9 }, c:wait())
      assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
      local ok, err, code = c:kill()
      assert.is_nil(ok)
      assert.are.equal("ESRCH", err.errno)
      assert.are.equal(3, code)
      c:close()
    end)

    it("sends SIGTERM by default and takes names or numbers", function()
      local c = assert(process.spawn { argv = { "sleep", "600" } })
      assert.is_true(c:kill())
      assert.are.same({ signaled = true, signal = 15 }, c:wait())
      c:close()
      for _, sig in ipairs({ "SIGUSR2", "usr2", 12 }) do
        local d = assert(process.spawn { argv = { "sleep", "600" } })
        assert(d:proceed())
        assert.is_true(d:kill(sig))
        assert.are.same({ signaled = true, signal = 12 }, d:wait())
        d:close()
      end
      local e = assert(process.spawn { argv = { "true" } })
      assert_bad_option(e:kill("NOPE"), select(2, e:kill("NOPE")), "signal", "unknown")
      assert_bad_option(e:kill(1.5), select(2, e:kill(1.5)), "signal", "unknown")
      assert_bad_option(e:kill(99999), select(2, e:kill(99999)), "signal", "unknown")
      e:close()
    end)

    it("refuses to wait for a parked child it would wait on forever", function()
      local c = assert(process.spawn { argv = { "true" } })
      local ok, err = c:wait()
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
      assert.are.equal("parked", err.reason)
      -- still there, still parked, nothing reaped
      assert.is_truthy(proc_state(c:host_pid()) ~= "Z")
      assert.matches("parked%)$", tostring(c))
      c:close()
    end)

    it("reaps a parked child on close(): no zombie", function()
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user", "mount", "pid" } })
      local pid = c:host_pid()
      local keeper = ppid_of(pid)
      assert.is_true(S.exists("/proc/" .. pid .. "/stat"))
      assert.is_true(c:close())
      assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
      assert.is_false(S.exists("/proc/" .. keeper .. "/stat"))
      assert.is_true(c:close()) -- idempotent
      assert.are.same({ signaled = true, signal = 9 }, c:wait())
      assert.matches("killed by signal 9", tostring(c))
      local ok, err = user.read_uid_map(c)
      assert.is_nil(ok)
      assert.are.equal("bad_target", err.kind)
      ok, err = c:proceed()
      assert.is_nil(ok)
      assert.are.equal("bad_state", err.kind)
    end)

    it("kills and reaps a running child on close()", function()
      local c = assert(process.spawn { argv = { "sleep", "600" } })
      assert(c:proceed())
      local pid = c:host_pid()
      c:close()
      assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
    end)

    it("reaps a parked child when the handle is collected", function()
      local pid
      do
        local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user" } })
        pid = c:host_pid()
      end
      assert.is_true(S.exists("/proc/" .. pid .. "/stat"))
      collectgarbage()
      collectgarbage()
      assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
    end)

    it("reaps on scope exit with <close> (Lua 5.4)", function()
      if _VERSION ~= "Lua 5.4" then
        return pending("to-be-closed variables need Lua 5.4")
      end
      local chunk = assert(load([[
        local process = ...
        local pid
        do
          local c <close> = assert(process.spawn { argv = { "sleep", "600" } })
          pid = c:host_pid()
        end
        return pid
      ]]))
      local pid = chunk(process)
      assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
    end)

    it("after wait(), targets nothing: the handle never reaches a reused pid", function()
      local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
      assert(c:proceed())
      c:wait()
      local ok, err = user.read_uid_map(c)
      assert.is_nil(ok)
      assert.are.equal("os", err.kind)
      ok, err = user.set_uid_map(c, { { 0, uid, 1 } })
      assert.is_nil(ok)
      assert.are.equal("os", err.kind)
      c:close()
    end)

    -- The system call a process sleeps in (first field of
    -- /proc/<pid>/syscall), and the number of ppoll(2) here: the keeper
    -- polls the workload's pidfd, the host's pidfd and its socket, and
    -- once it has reported the end, the last two.
    local ppoll_nr = ({ x86_64 = "271", aarch64 = "73" })[S.sh("uname -m"):gsub("%s+$", "")]
    local function in_syscall(pid)
      local s = S.read_file("/proc/" .. pid .. "/syscall")
      return s and s:match("^(%S+)")
    end

    for _, ending in ipairs({ "wait", "close" }) do
      it("keeps an exited child's pid its own until " .. ending .. "(): a zombie, gone to every verb", function()
        if not ppoll_nr then return pending("ppoll(2)'s number on this architecture") end
        local c = assert(process.spawn { argv = { "sh", "-c", "exit 7" }, namespaces = { "user" } })
        local pid = c:host_pid()
        local keeper = ppid_of(pid)
        assert(c:proceed())
        -- the keeper has seen the end and reported it, and waits for us...
        assert.is_true(S.wait_until(function()
          return in_syscall(keeper) == ppoll_nr and proc_state(pid) == "Z"
        end))
        -- ...with the workload still its unreaped child: the pid is taken
        assert.are.equal("Z", proc_state(pid))
        assert.are.equal(keeper, ppid_of(pid))
        -- and every verb calls it gone rather than succeed on a zombie
        local ok, err, code = user.set_uid_map(c, { { 0, uid, 1 } })
        assert.is_nil(ok)
        assert.are.equal("ESRCH", err.errno)
        assert.are.equal(3, code)
        ok, err = user.read_uid_map(c)
        assert.is_nil(ok)
        assert.are.equal("ESRCH", err.errno)
        ok, err = user.read_uid_map(pid)
        assert.is_nil(ok)
        assert.are.equal("ESRCH", err.errno)
        ok, err = c:kill("KILL")
        assert.is_nil(ok)
        assert.are.equal("ESRCH", err.errno)
        -- the exit status is the workload's own, and then nothing is left
        if ending == "wait" then
          assert.are.same({ exited = true, code = 7 }, c:wait())
        else
          assert.is_true(c:close())
        end
        assert.is_nil(proc_state(pid))
        assert.is_nil(proc_state(keeper))
        local kids = my_children()
        assert.is_nil(kids[keeper])
        assert.is_nil(kids[pid])
        c:close()
      end)
    end

    local function linx_lua_host(body)
      -- A separate host that spawns, prints the child's pid and dies
      -- without closing the handle.
      local f = assert(io.popen(os.getenv("LINX_LUA") .. " -e '" .. body .. "'", "r"))
      local pid = tonumber(f:read("*l"))
      f:close()
      return pid
    end

    it("takes a parked child with it when the host dies", function()
      local pid = linx_lua_host([[
        local c = assert(require("linx.process").spawn{argv={"sleep","600"}, namespaces={"user"}})
        print(c:host_pid()) io.stdout:flush() os.exit(0)]])
      assert.is_number(pid)
      -- the orphan dies at once; init reaps it
      assert.is_true(S.wait_until(function()
        local st = proc_state(pid)
        return st == nil or st == "Z"
      end))
    end)

    it("lets the keeper sleep while the workload runs, wait() or not", function()
      -- The keeper asks whether the host has unpinned only once the
      -- workload has ended: a wait() that starts meanwhile wakes nobody.
      -- The host is a linx-lua of its own, driven through its stdio.
      local linx_lua = os.getenv("LINX_LUA")
      if not (linx_lua and S.exists(linx_lua)) then return pending("needs linx-lua") end
      local host = assert(process.spawn { argv = { linx_lua, "-e", [[
        local c = assert(require("linx.process").spawn { argv = { "sleep", "1" } })
        assert(c:proceed())
        io.write("ready\n") io.flush()
        io.read("*l")
        io.write("code ", c:wait().code, "\n") io.flush()]] }, stdin = "pipe", stdout = "pipe" })
      assert(host:proceed())
      local out = ""
      for _ = 1, 500 do
        out = out .. (host:read("stdout", 0) or "")
        if out:find("ready\n", 1, true) then break end
        S.sleep(0.01)
      end
      assert.are.equal("ready\n", out)
      local keeper = tonumber(S.read_file("/proc/" .. host:host_pid() .. "/task/" .. host:host_pid() .. "/children"))
      assert.is_number(keeper)
      local function switches()
        return tonumber(S.read_file("/proc/" .. keeper .. "/status"):match("\nvoluntary_ctxt_switches:%s*(%d+)"))
      end
      local before = switches()
      assert(host:write("go\n"))
      S.sleep(0.3) -- the host is in wait() by now
      assert.are.equal(before, switches())
      assert.matches("^code 0\n$", host:read("stdout"))
      assert.are.equal(0, host:wait().code)
      host:close()
    end)

    it("takes a running child with it when the host dies", function()
      local pid = linx_lua_host([[
        local c = assert(require("linx.process").spawn{argv={"sleep","600"}})
        assert(c:proceed())
        print(c:host_pid()) io.stdout:flush() os.exit(0)]])
      assert.is_number(pid)
      assert.is_true(S.wait_until(function()
        local st = proc_state(pid)
        return st == nil or st == "Z"
      end))
    end)
  end)

  describe("bad options", function()
    it("returns nil, err and never raises", function()
      local cases = {
        { nil, "opts", "not_a_table" },
        { {}, "argv", "missing" },
        { { argv = "ls" }, "argv", "not_a_list" },
        { { argv = {} }, "argv", "empty" },
        { { argv = { "ls", 5 } }, "argv", "not_a_string" },
        { { argv = { "l\0s" } }, "argv", "contains_nul" },
        { { argv = { "ls" }, namespaces = { "usr" } }, "namespaces", "unknown" },
        { { argv = { "ls" }, namespaces = "user" }, "namespaces", "not_a_list" },
        { { argv = { "ls" }, stdout = "file" }, "stdout", "unknown" },
        { { argv = { "ls" }, stdin = true }, "stdin", "unknown" },
        { { argv = { "ls" }, env = "PATH=/bin" }, "env", "not_a_table" },
        { { argv = { "ls" }, env = { ["A=B"] = "x" } }, "env", "bad_name" },
        { { argv = { "ls" }, env = { A = {} } }, "env", "bad_value" },
        { { argv = { "ls" }, cwd = 5 }, "cwd", "not_a_string" },
        { { argv = { "ls" }, namespace = { "user" } }, "namespace", "unknown_option" },
      }
      for i, case in ipairs(cases) do
        local ok, res, err = pcall(process.spawn, case[1])
        assert.is_true(ok, "case " .. i .. " raised")
        assert_bad_option(res, err, case[2], case[3])
        assert.are.equal("spawn", err.operation)
      end
    end)

    it("reads options through __index, argv raw", function()
      local defaults = { stdout = "pipe" }
      local opts = setmetatable({ argv = { "echo", "hi" } }, { __index = defaults })
      local c = assert(process.spawn(opts))
      assert(c:proceed())
      assert.are.equal("hi\n", c:read("stdout"))
      c:close()
      local argv = setmetatable({}, { __index = function() error("raw access expected") end,
                                      __len = function() error("raw length expected") end })
      local ok, res, err = pcall(process.spawn, { argv = argv })
      assert.is_true(ok)
      assert_bad_option(res, err, "argv", "empty")
      -- an __index that raises is a bad option, not an error thrown at us
      local hostile = setmetatable({ argv = { "true" } }, { __index = function() error("no defaults here") end })
      ok, res, err = pcall(process.spawn, hostile)
      assert.is_true(ok)
      assert_bad_option(res, err, "namespaces", "unreadable")
      assert.matches("no defaults here", err.value)
    end)

    it("needs the user namespace for the others when unprivileged", function()
      if S.unpriv_only("EPERM for a pid namespace without a user namespace") then return end
      local ok, err, code = process.spawn { argv = { "true" }, namespaces = { "pid" } }
      assert.is_nil(ok)
      assert.are.equal("os", err.kind)
      assert.are.equal("spawn", err.operation)
      assert.are.equal("EPERM", err.errno)
      assert.are.equal(1, code)
      assert.is_string(err.hint)
    end)
  end)
end)
