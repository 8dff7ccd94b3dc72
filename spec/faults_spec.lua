-- Faults around a parked child: what the user sees, and that nothing is
-- left behind (no zombie, no parked child, no fd in the host). Real
-- processes, real namespaces, real procfs.
local process = require "linx.process"
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)
local lfs = require "lfs" -- busted's own dependency: list /proc without forking

local uid, gid = S.uid, S.gid
local linx_lua = os.getenv("LINX_LUA") or "build/5.4/linx-lua"
local my_pid = tonumber(S.read_file("/proc/self/stat"):match("^(%d+)"))

local function maps() return { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } } end

-- "pid (comm) S ppid ... starttime": state, ppid and start time, or nil.
local function parse_stat(s)
  if not s then return nil end
  local rest = s:match("^.*%)%s+(.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  return { state = f[1], ppid = tonumber(f[2]), start = f[20] }
end
local function stat(pid) return parse_stat(S.read_file("/proc/" .. pid .. "/stat")) end

-- Our own children (any state), from /proc.
local function children()
  local out = {}
  for name in lfs.dir("/proc") do
    local pid = tonumber(name)
    if pid then
      local st = stat(pid)
      if st and st.ppid == my_pid then out[#out + 1] = pid .. ":" .. st.state end
    end
  end
  table.sort(out)
  return out
end

local fd_count = S.fd_count

local function rss_kib()
  return tonumber(S.read_file("/proc/self/status"):match("VmRSS:%s*(%d+)"))
end

local function full_gc() collectgarbage("collect"); collectgarbage("collect") end

-- The process that had `start` as its start time no longer runs: gone,
-- or a zombie whose parent is no longer us (another process's to reap).
local function dead(pid, start)
  local st = stat(pid)
  if not st or st.start ~= start then return true end
  return st.state == "Z" and st.ppid ~= my_pid
end

-- Bounded wait for the kernel to finish something asynchronous.
local function eventually(pred) return S.wait_until(pred, 500) end

local function tmpdir()
  local d = S.sh("mktemp -d /tmp/linx-faults.XXXXXX"):gsub("%s+$", "")
  os.execute("chmod 755 " .. d)
  return d
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function assert_gone_error(ok, err, code, op)
  assert.is_nil(ok)
  assert.is_table(err, op)
  assert.are.equal("os", err.kind, op .. ": " .. tostring(err))
  assert.is_true(err.errno == "ESRCH" or err.errno == "ENOENT", op .. ": " .. tostring(err))
  assert.are.equal(err.code, code)
  assert.are.equal(op, err.operation)
end

describe("faults", function()
  local fds_before, children_before
  before_each(function()
    full_gc()
    fds_before, children_before = fd_count(), children()
  end)
  after_each(function()
    full_gc()
    assert.are.same(children_before, children(), "a child of ours was left behind")
    assert.are.equal(fds_before, fd_count(), "an fd was left open in the host")
  end)

  it("a parked child SIGKILLed before map setup: verbs return os errors, proceed and wait report it", function()
    local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
    local pid = c:host_pid()
    os.execute("kill -9 " .. pid)
    -- dead: a zombie until reaped (or gone, if a helper process reaps it)
    assert.is_true(eventually(function()
      local st = stat(pid)
      return st == nil or st.state == "Z"
    end))

    local ok, err, code = user.deny_setgroups(c)
    assert_gone_error(ok, err, code, "deny_setgroups")
    ok, err, code = user.set_uid_map(c, { { 0, uid, 1 } })
    assert_gone_error(ok, err, code, "set_uid_map")
    ok, err, code = user.set_gid_map(c, { { 0, gid, 1 } })
    assert_gone_error(ok, err, code, "set_gid_map")
    ok, err, code = user.read_uid_map(c)
    assert_gone_error(ok, err, code, "read_uid_map")
    ok, err, code = user.read_setgroups(c)
    assert_gone_error(ok, err, code, "read_setgroups")
    ok, err, code = user.setup_maps(c, maps())
    assert_gone_error(ok, err, code, "deny_setgroups")
    assert.matches("exited", tostring(err))
    -- the same through the plain pid
    ok, err, code = user.set_uid_map(pid, { { 0, uid, 1 } })
    assert_gone_error(ok, err, code, "set_uid_map")

    ok, err = c:proceed()
    assert.is_nil(ok)
    assert.are.equal("proceed", err.operation)
    assert.is_string(tostring(err))
    local st = assert(c:wait())
    assert.is_true(st.signaled)
    assert.are.equal(9, st.signal)
    assert.are.same(st, c:wait()) -- waiting again gives the same answer
    assert.is_nil(stat(pid), "the handle reaped its child")
    assert.is_true(c:close())
  end)

  it("a parked child sent a signal that does not end it: wait() says parked instead of blocking", function()
    -- In a subprocess under timeout(1): a regression would hang wait()
    -- for good, which must fail this test, not stall the suite.
    local script = [[
      local p = require "linx.process"
      local c = assert(p.spawn { argv = { "true" }, namespaces = { "user" } })
      for _, sig in ipairs { 0, "WINCH", "CHLD", "URG", "CONT", "STOP", "TSTP" } do
        assert(c:kill(sig))
        local ok, err = c:wait()
        io.write(tostring(sig), "=", ok and "returned" or err.kind .. ":" .. tostring(err.reason), " ")
      end
      assert(c:kill("KILL"))
      io.write("KILL=", c:wait().signal, "\n")
    ]]
    local dir = tmpdir()
    write(dir .. "/signals.lua", script)
    local out = S.sh(("timeout 20 %s %s/signals.lua 2>&1; echo status=$?"):format(linx_lua, dir))
    os.execute("rm -rf " .. dir)
    assert.are.equal("0=bad_state:parked WINCH=bad_state:parked CHLD=bad_state:parked " ..
      "URG=bad_state:parked CONT=bad_state:parked STOP=bad_state:parked TSTP=bad_state:parked KILL=9\nstatus=0\n", out)
  end)

  it("a parked child that is init of its own pid namespace: a signal it ignores does not make wait() block", function()
    -- The kernel drops every signal but KILL and STOP sent from outside to
    -- a pid namespace's init that has no handler, and the parked child has
    -- none: TERM leaves it parked. Under timeout(1), like the test above.
    local dir = tmpdir()
    write(dir .. "/pidns.lua", [[
      local p = require "linx.process"
      local c = assert(p.spawn { argv = { "true" }, namespaces = { "user", "pid" } })
      assert(c:kill("TERM"))
      local st, err = c:wait()
      local said = st and ("status:" .. tostring(st.signal or st.code)) or (err.kind .. ":" .. tostring(err.reason))
      io.write("TERM=", said, " ")
      assert(c:kill("KILL"))
      st = c:wait()
      io.write("KILL=", tostring(st and st.signal), "\n")
    ]])
    local out = S.sh(("timeout 20 %s %s/pidns.lua 2>&1; echo status=$?"):format(linx_lua, dir))
    os.execute("rm -rf " .. dir)
    -- either answer is honest; blocking for good (status=124) is not
    assert.is_truthy(out:match("^TERM=bad_state:parked KILL=9\nstatus=0\n$")
      or out:match("^TERM=status:%d+ KILL=%S+\nstatus=0\n$"), out)
  end)

  it("a write that fills a parked child's stdin pipe fails instead of blocking the host", function()
    -- The parked child reads nothing before proceed(); under timeout(1),
    -- so a regression fails here instead of hanging the suite.
    local dir = tmpdir()
    write(dir .. "/fill.lua", [[
      local p = require "linx.process"
      local c = assert(p.spawn { argv = { "wc", "-c" }, stdin = "pipe", stdout = "pipe" })
      local ok, err = c:write(string.rep("x", 1024 * 1024))
      io.write("big=", ok and "ok" or (err.kind .. ":" .. tostring(err.errno)), " ")
      assert(c:proceed())
      io.write("small=", tostring(c:write("y")), " ")
      local n = tonumber(c:read("stdout"))
      io.write("read=", n > 0 and n <= 1024 * 1024 + 1 and "some" or tostring(n), " ")
      io.write("exit=", c:wait().code, "\n")
      c:close()
    ]])
    local out = S.sh(("timeout 20 %s %s/fill.lua 2>&1; echo status=$?"):format(linx_lua, dir))
    os.execute("rm -rf " .. dir)
    assert.are.equal("big=os:EAGAIN small=true read=some exit=0\nstatus=0\n", out)
  end)

  it("spawn reads its options protected: a raising __index is an error table", function()
    local opts = setmetatable({ argv = { "true" } }, { __index = function() error("no defaults here") end })
    local ok, c, err = pcall(process.spawn, opts)
    assert.is_true(ok, "spawn raised: " .. tostring(c))
    assert.is_nil(c)
    assert.are.equal("bad_option", err.kind)
    assert.are.equal("unreadable", err.reason)
    assert.matches("no defaults here", err.message)
    -- an __index of defaults still works
    c = assert(process.spawn(setmetatable({ argv = { "true" } }, { __index = { stdout = "null" } })))
    assert.is_true(c:close())
  end)

  it("a script raising while a child is parked: the handle's collection kills and reaps it", function()
    local pid, start
    local ok, err = pcall(function()
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user" } })
      pid = c:host_pid()
      start = stat(pid).start
      error("script failed with a parked child")
    end)
    assert.is_false(ok)
    assert.matches("script failed", err)
    full_gc()
    local st = stat(pid)
    assert.is_true(st == nil or st.start ~= start, "the parked child outlived its handle")
  end)

  it("linx-lua exiting on an uncaught error while a child is parked leaves no child", function()
    local dir = tmpdir()
    write(dir .. "/raise.lua", [[
      local process = require "linx.process"
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user" } })
      local f = io.open("/proc/" .. c:host_pid() .. "/stat")
      io.stdout:write(c:host_pid(), "\n", f:read("*l"), "\n")
      io.stdout:flush()
      f:close()
      error("boom with a parked child")
    ]])
    local p = io.popen(linx_lua .. " " .. dir .. "/raise.lua 2>" .. dir .. "/err; echo status=$?")
    local out = p:read("*a")
    p:close()
    local pid, line = out:match("^(%d+)\n([^\n]*)")
    local start = line and parse_stat(line).start
    local status = out:match("status=(%d+)")
    local stderr = S.read_file(dir .. "/err")
    os.execute("rm -rf " .. dir)
    assert.is_truthy(pid, out)
    assert.are.equal("1", status)
    assert.matches("boom with a parked child", stderr)
    -- linx-lua closes its state on the way out: the handle reaped the child
    local st = stat(pid)
    assert.is_true(st == nil or st.start ~= start, "the parked child survived its host")
  end)

  it("SIGKILL of the host while a child is parked: the child dies too", function()
    local dir = tmpdir()
    write(dir .. "/park.lua", [[
      local process = require "linx.process"
      local c = assert(process.spawn { argv = { "sleep", "600" }, namespaces = { "user" } })
      io.stdout:write(c:host_pid(), "\n")
      io.stdout:flush()
      io.read() -- blocks for good: stdin is a fifo nobody writes to
    ]])
    -- the host runs in the background; its pid and its child's come back
    os.execute("mkfifo " .. dir .. "/hold")
    local host = tonumber(S.sh(("%s %s/park.lua <>%s/hold >%s/out 2>&1 & echo $!"):format(linx_lua, dir, dir, dir)))
    assert.is_truthy(host)
    -- whatever fails below, the host (blocked for good) must not outlive
    -- the spec; its parked child dies with it
    finally(function()
      os.execute("kill -9 " .. host .. " 2>/dev/null")
      os.execute("rm -rf " .. dir)
    end)
    local child = eventually(function() return tonumber((S.read_file(dir .. "/out") or ""):match("^(%d+)\n")) end)
    assert.is_truthy(child, "the host never reported its child")
    local cst = stat(child)
    -- the host's child, or the child of a helper process of the host's
    local function descends(pid, depth)
      local st = stat(pid)
      if not st or depth > 3 then return false end
      return st.ppid == host or descends(st.ppid, depth + 1)
    end
    assert.is_true(descends(child, 0))
    -- parked: asleep on its control socket (it reports in just before it
    -- sleeps, so on a busy machine it may still be running for a moment)
    assert.is_truthy(eventually(function() local st = stat(child) return st and st.state == "S" end),
      "the parked child never went to sleep: " .. tostring(stat(child) and stat(child).state))
    assert.are_not.equal("sleep\n", S.read_file("/proc/" .. child .. "/comm")) -- never exec'd
    os.execute("kill -9 " .. host)
    assert.is_true(eventually(function() return dead(child, cst.start) end),
      "the parked child outlived its SIGKILLed host")
  end)

  local function cycle(i)
    local c = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
    if i % 10 == 0 then -- the whole flow now and then
      assert(user.setup_maps(c, maps()))
      assert(c:proceed())
      assert.are.equal(0, c:wait().code)
    end
    assert.is_true(c:close())
  end

  it("1,000 spawn/close cycles keep the host's fd count flat", function()
    for i = 1, 100 do cycle(i) end
    full_gc()
    local fds = fd_count()
    for i = 1, 1000 do cycle(i) end
    full_gc()
    assert.are.equal(fds, fd_count())
  end)

  it("1,000 spawn/close cycles keep the host's RSS flat", function()
    if os.getenv("LINX_SANITIZER") then
      -- ASan keeps freed memory in quarantine, so RSS grows by design;
      -- LeakSanitizer checks the same thing there, more precisely.
      pending("RSS is not measurable under AddressSanitizer (its leak check runs instead)")
      return
    end
    for i = 1, 100 do cycle(i) end -- warm up: allocator and Lua heap settle
    full_gc()
    local rss = rss_kib()
    for i = 1, 1000 do cycle(i) end
    full_gc()
    -- a leak of one small allocation per cycle is valgrind's to find; this
    -- catches a handle or buffer (kilobytes) per cycle
    local grown = rss_kib() - rss
    assert.is_true(grown < 1024, ("RSS grew by %d KiB over 1000 cycles"):format(grown))
  end)

  it("pid reuse: a reaped handle never writes to the newcomer that got its pid", function()
    -- A fresh pid namespace of our own (as root: the caller's; as uid
    -- 65534: inside a user namespace we own) where nothing else forks,
    -- so ns_last_pid hands the dead child's pid to the next clone.
    local dir = tmpdir()
    write(dir .. "/reuse.lua", [[
      local process, user = require "linx.process", require "linxuser"
      local function set_last(pid)
        local f = assert(io.open("/proc/sys/kernel/ns_last_pid", "w"))
        f:write(tostring(pid)) f:close()
      end
      local old = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
      local pid = old:host_pid()
      assert(old:kill("KILL"))
      assert(old:wait().signaled)                   -- reaped: the pid is free
      -- the next clone gets ns_last_pid + 1; a spawn may clone a helper
      -- process first, so step back until the child itself lands on pid
      local new
      for back = 1, 4 do
        set_last(pid - back)
        new = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
        if new:host_pid() == pid then break end
        new:close()
      end
      print("collision", new:host_pid() == pid)
      local ok, err = user.set_uid_map(old, { { 0, 0, 1 } })
      print("old_write", ok, err and err.errno)
      ok, err = user.setup_maps(old, { uid = { { 0, 0, 1 } }, gid = { { 0, 0, 1 } } })
      print("old_setup", ok, err and err.errno)
      print("old_read", user.read_uid_map(old) == nil)
      print("newcomer_untouched", #user.read_uid_map(new), #user.read_gid_map(new), user.read_setgroups(new))
      -- the newcomer is writable: the refusal above was the handle's doing
      print("newcomer_write", user.set_uid_map(new, { { 0, 0, 1 } }))
      new:close() old:close()
    ]])
    local wrap = S.is_root and "unshare --pid --fork --mount-proc"
        or "unshare --user --map-root-user --pid --fork --mount-proc"
    local out = S.sh(("%s %s %s/reuse.lua 2>&1"):format(wrap, linx_lua, dir))
    os.execute("rm -rf " .. dir)
    assert.matches("collision\ttrue", out, 1, true)
    assert.matches("old_write\tnil\tESRCH", out, 1, true)
    assert.matches("old_setup\tnil\tESRCH", out, 1, true)
    assert.matches("old_read\ttrue", out, 1, true)
    -- (under --map-root-user setgroups is already "deny", inherited)
    assert.matches("newcomer_untouched\t0\t0\t" .. (S.is_root and "allow" or "deny"), out, 1, true)
    assert.matches("newcomer_write\ttrue", out, 1, true)
  end)

  it("concurrent map writes from two processes: one wins whole, the other gets EPERM", function()
    local dir = tmpdir()
    -- Root writes two different 340-line maps, so a torn write would show;
    -- an unprivileged writer may map only its own id, one line each.
    write(dir .. "/writer.lua", ([[
      local user = require "linxuser"
      local target, tag, barrier = tonumber(arg[1]), tonumber(arg[2]), arg[3]
      local list = {}
      if %s then
        for i = 1, 340 do list[i] = { i - 1, tag * 1000 + i, 1 } end
      else
        list[1] = { tag, %d, 1 }
      end
      io.open(barrier .. ".ready" .. tag, "w"):close()
      -- spin (bounded) until the go file appears, so both write together
      for _ = 1, 1e8 do
        local f = io.open(barrier)
        if f then f:close() break end
      end
      local ok, err = user.set_uid_map(target, list)
      print(ok and "won" or err.errno or tostring(err))
    ]]):format(tostring(S.is_root), uid))
    local rounds = 10
    for round = 1, rounds do
      S.with_sleeper(function(pid)
        local barrier = dir .. "/go" .. round
        local w = {}
        for tag = 1, 2 do
          w[tag] = io.popen(("%s %s/writer.lua %d %d %s 2>&1"):format(linx_lua, dir, pid, tag, barrier))
        end
        assert.is_true(eventually(function()
          return S.exists(barrier .. ".ready1") and S.exists(barrier .. ".ready2")
        end))
        write(barrier, "") -- both writers go
        local said = {}
        for tag = 1, 2 do
          said[tag] = w[tag]:read("*a"):gsub("%s+$", "")
          w[tag]:close()
        end
        local winner = said[1] == "won" and 1 or said[2] == "won" and 2 or nil
        assert.is_truthy(winner, "round " .. round .. ": nobody won: " .. said[1] .. " / " .. said[2])
        assert.are.equal("EPERM", said[3 - winner], "round " .. round .. ": the loser said " .. said[3 - winner])
        local back = S.triples(user.read_uid_map(pid))
        if S.is_root then
          assert.are.equal(340, #back)
          for i, t in ipairs(back) do
            assert.are.same({ i - 1, winner * 1000 + i, 1 }, t)
          end
        else
          assert.are.same({ { winner, uid, 1 } }, back)
        end
      end)
    end
    os.execute("rm -rf " .. dir)
  end)
end)
