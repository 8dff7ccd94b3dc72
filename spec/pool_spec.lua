-- process.pool: children made ready before the request (README "Pools").
-- Real namespaces and real processes: the parked children are read from
-- the host's /proc, the hand-over is the real one.
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local user = require "linxuser"
local lfs = require "lfs"

local maps = { uid = { { 0, S.uid, 1 } }, gid = { { 0, S.gid, 1 } } }
-- Both park modes: pid 1 is the park image turned init ("pid"), or the
-- park image execs the workload itself.
local MODES = {
  { name = "with an init", ns = { "user", "mount", "pid" } },
  { name = "without an init", ns = { "user", "mount" } },
}

-- Every process below the host (keepers, parked children, workloads),
-- after a collection unless keep_garbage.
local function descendants(keep_garbage)
  if not keep_garbage then
    collectgarbage()
    collectgarbage()
  end
  local out, todo = {}, { S.self_pid() }
  while #todo > 0 do
    local p = table.remove(todo)
    for tid in lfs.dir("/proc/" .. p .. "/task") do
      local list = tonumber(tid) and S.read_file("/proc/" .. p .. "/task/" .. tid .. "/children") or ""
      for c in list:gmatch("%d+") do
        out[#out + 1] = tonumber(c)
        todo[#todo + 1] = tonumber(c)
      end
    end
  end
  table.sort(out)
  return out
end

local function comm(pid)
  return ((S.read_file("/proc/" .. pid .. "/comm") or ""):gsub("\n$", ""))
end

-- The parked pool children: linx-init images among our descendants.
local function parked()
  local out = {}
  for _, p in ipairs(descendants()) do
    if comm(p) == "linx-init" then out[#out + 1] = p end
  end
  return out
end

-- What a workload gave: {stdout, stderr, code, signal}, fresh or pooled.
local function result(c, input)
  if input then assert(c:write(input)) end
  local out, err = c:read("stdout"), c:read("stderr")
  local st = assert(c:wait())
  c:close()
  return { out = out, err = err, code = st.code, signal = st.signal }
end

local function fresh(ns, req)
  local o = { namespaces = ns }
  for k, v in pairs(req) do o[k] = v end
  local c = assert(process.spawn(o))
  assert(user.setup_maps(c, maps))
  assert(c:proceed())
  return c
end

describe("process.pool", function()
  for _, mode in ipairs(MODES) do
    describe(mode.name, function()
      local pool
      before_each(function()
        pool = assert(process.pool { namespaces = mode.ns, size = 2 })
        assert.are.equal(2, assert(pool:fill()))
      end)
      after_each(function()
        pool:close()
      end)

      it("gives the same output, exit code and signal as a fresh spawn", function()
        local cases = {
          { argv = { "sh", "-c", "echo out; echo err >&2; exit 3" }, stdout = "pipe", stderr = "pipe" },
          { argv = { "sh", "-c", "id -u; cat; kill -TERM $$" }, stdin = "pipe", stdout = "pipe", stderr = "pipe", input = "in\n" },
          { argv = { "sh", "-c", "id -g; cat /proc/self/uid_map; ls /nonexistent-linx" }, stdout = "pipe", stderr = "pipe" },
        }
        for _, case in ipairs(cases) do
          local input = case.input
          case.input = nil
          local want = result(fresh(mode.ns, case), input)
          local got = result(assert(pool:spawn(case)), input)
          assert.are.same(want, got)
        end
      end)

      it("hands argv, the environment, cwd and fds to the workload exactly", function()
        local dir = S.tmpdir("linx-pool")
        local file = assert(io.open(dir .. "/data", "w"))
        file:write("five")
        file:close()
        local f5 = assert(io.open(dir .. "/data", "r"))
        local argv = { "sh", "-c", 'printf "%s|" "$@"; echo; env | sort; pwd; cat <&5; echo; ls /proc/self/fd', "zero",
                       "", "two words", "é\tx", string.rep("a", 5000) }
        local env = { A = "1", B = "with space", EMPTY = "", PATH = "/usr/bin:/bin" }
        local c = assert(pool:spawn { argv = argv, env = env, cwd = dir, stdout = "pipe", fds = { [5] = f5 } })
        local out = c:read("stdout")
        assert.are.same({ exited = true, code = 0 }, c:wait())
        c:close()
        f5:close()
        local want = "|two words|é\tx|" .. string.rep("a", 5000) .. "|" -- $0 is "zero", $1 the empty one
        local lines = {}
        for l in out:gmatch("[^\n]*") do lines[#lines + 1] = l end
        assert.are.equal(want, lines[1])
        -- env | sort: exactly the table given (PWD, SHLVL and _ are the shell's own)
        local seen = {}
        for name, value in out:gmatch("\n([%w_]+)=([^\n]*)") do seen[name] = value end
        seen.PWD, seen.SHLVL, seen._ = nil, nil, nil
        assert.are.same(env, seen)
        assert.is_truthy(out:find("\n" .. dir .. "\nfive\n", 1, true), out)
        -- 0, 1, 2, 5 and the directory ls itself reads
        local fds = {}
        for n in out:match("five\n(.*)$"):gmatch("%d+") do fds[#fds + 1] = tonumber(n) end
        table.sort(fds)
        assert.are.same({ 0, 1, 2, 3, 5 }, fds)
        os.execute("rm -rf " .. dir)
      end)

      it("hands over a request too big for one message (argv and env past 64 KiB)", function()
        local big = string.rep("x", 100 * 1024)
        local c = assert(pool:spawn { argv = { "sh", "-c", 'printf "%s %s" "${#1}" "${#BIG}"', "sh", big },
                                      env = { BIG = big, PATH = "/usr/bin:/bin" }, stdout = "pipe" })
        assert.are.equal("102400 102400", c:read("stdout"))
        assert.are.same({ exited = true, code = 0 }, c:wait())
        c:close()
      end)

      it("inherits the host's environment and stdio when the request says nothing", function()
        local c = assert(pool:spawn { argv = { "sh", "-c", 'echo "$LINX_POOL_SPEC_MARK"' }, stdout = "pipe" })
        local out = c:read("stdout")
        c:close()
        assert.are.equal((os.getenv("LINX_POOL_SPEC_MARK") or "") .. "\n", out)
        local d = S.tmpdir("linx-pool")
        local path = d .. "/out"
        local cmd = ("LINX_POOL_SPEC_MARK=marked %s -e '%s' > %s"):format(os.getenv("LINX_LUA") or (S.build .. "/linx-lua"),
          [[local p = require("linx.process").pool{namespaces = {"user"}, size = 1}
            local c = assert(p:spawn{argv = {"sh", "-c", "echo $LINX_POOL_SPEC_MARK"}}); c:wait()]], path)
        assert.is_truthy(os.execute(cmd))
        assert.are.equal("marked\n", S.read_file(path))
        os.execute("rm -rf " .. d)
      end)

      it("returns an ordinary running handle: state, kill, wait, fileno", function()
        local c = assert(pool:spawn { argv = { "sleep", "60" } })
        assert.are.equal("running", c:state())
        assert.is_number(c:fileno("status"))
        assert.is_nil((c:wait(0)))
        assert(c:kill("TERM"))
        assert.are.same({ signaled = true, signal = 15 }, c:wait())
        local again, err = c:proceed()
        assert.is_nil(again)
        assert.are.equal("bad_state", err.kind)
        c:close()
      end)

      it("reports a failed chdir or exec with the step, and the child is gone", function()
        local before = #descendants()
        local c, err = pool:spawn { argv = { "true" }, cwd = "/nonexistent-linx" }
        assert.is_nil(c)
        assert.are.same({ "os", "chdir", "/nonexistent-linx" }, { err.kind, err.operation, err.path })
        c, err = pool:spawn { argv = { "/nonexistent-linx/prog" } }
        assert.is_nil(c)
        assert.are.same({ "os", "exec", "ENOENT" }, { err.kind, err.operation, err.errno })
        -- both parked children (a keeper and a child each) were used up, none is left behind
        assert.are.equal(before - 4, #descendants())
      end)

      it("spawns fresh, with the same options, when it is empty", function()
        local empty = assert(process.pool { namespaces = mode.ns, size = 1 })
        assert.are.equal(0, empty:size())
        local c = assert(empty:spawn { argv = { "sh", "-c", "id -u; readlink /proc/self/ns/mnt" }, stdout = "pipe" })
        local out = c:read("stdout")
        c:close()
        assert.are.equal("0", out:match("^(%d+)\n"))
        assert.are_not.equal(lfs.symlinkattributes("/proc/self/ns/mnt", "target"), out:match("\n(.-)\n$"))
        assert.are.equal(0, empty:size())
        empty:close()
      end)

      it("skips a parked child that was killed meanwhile", function()
        local kids = parked()
        assert.are.equal(2, #kids)
        -- dead: its keeper keeps it a zombie (unreaped) until the handle is closed
        for _, k in ipairs(kids) do
          S.kill(k)
          assert.is_truthy(S.wait_until(function()
            return ((S.read_file("/proc/" .. k .. "/stat") or "x Z"):match("^%d+ %(.-%) (%a)")) == "Z"
          end))
        end
        local c = assert(pool:spawn { argv = { "sh", "-c", "echo ok" }, stdout = "pipe" })
        assert.are.equal("ok\n", c:read("stdout"))
        c:close()
        assert.are.equal(0, pool:size())
      end)

      it("holds nothing of the host while parked: only its own socket and pipe, its own memory", function()
        local kcmp = S.host("kcmp")
        local me = S.self_pid()
        local mine = {}
        for name in lfs.dir("/proc/self/fd") do
          local t = tonumber(name) and lfs.symlinkattributes("/proc/self/fd/" .. name, "target")
          if t then mine[t] = true end
        end
        local kids = parked()
        assert.are.equal(2, #kids)
        for _, p in ipairs(kids) do
          local fds = {}
          for name in lfs.dir("/proc/" .. p .. "/fd") do
            local t = tonumber(name) and lfs.symlinkattributes("/proc/" .. p .. "/fd/" .. name, "target")
            if t then fds[#fds + 1] = t end
          end
          table.sort(fds)
          -- the ctl socket, and the status pipe to its keeper
          assert.are.equal(2, #fds, table.concat(fds, " "))
          assert.is_truthy(fds[1]:match("^pipe:") and fds[2]:match("^socket:"), table.concat(fds, " "))
          for _, t in ipairs(fds) do assert.is_nil(mine[t], t .. " is one of the host's") end
          -- its own image: no mm shared with the host, no mapping of the host's files
          local vm = S.sh(("%s %d %d"):format(kcmp, me, p)):gsub("\n$", "")
          assert.is_truthy(vm == "1" or vm == "2", vm)
          local maps_text = assert(S.read_file("/proc/" .. p .. "/maps"))
          assert.is_falsy(maps_text:find("%.so"), maps_text)
          assert.is_truthy(maps_text:find("memfd:linx%-init"), maps_text)
        end
      end)
    end)
  end

  it("loads the seccomp filter after the hand-over, and it binds the workload", function()
    -- recvmsg denied: the hand-over still comes through; mkdir denied: the workload feels it
    local pool = assert(process.pool { namespaces = { "user" }, size = 1,
                                       inside = { seccomp = { default = "allow", deny = { "recvmsg", "mkdir" } } } })
    assert(pool:fill())
    local dir = S.tmpdir("linx-pool")
    local c = assert(pool:spawn { argv = { "sh", "-c", "mkdir " .. dir .. "/x; echo $?" }, stdout = "pipe", stderr = "null" })
    assert.are.equal("1\n", c:read("stdout"))
    c:close()
    assert.is_falsy(S.exists(dir .. "/x"))
    os.execute("rm -rf " .. dir)
    pool:close()
  end)

  for _, mode in ipairs(MODES) do
    it("fails with a clear error, not a hang, when its seccomp or Landlock forbids the exec (" .. mode.name .. ")", function()
      local p1 = assert(process.pool { namespaces = mode.ns, size = 1,
                                       inside = { seccomp = { default = "allow", deny = { "execve", "execveat" } } } })
      assert(p1:fill())
      local c, err = p1:spawn { argv = { "/bin/true" } }
      assert.is_nil(c)
      assert.are.same({ "os", "exec", "EPERM" }, { err.kind, err.operation, err.errno })
      p1:close()
      local p2 = assert(process.pool { namespaces = mode.ns, size = 1,
                                       inside = { landlock = { read = { "/" }, exec = { "/bin/busybox" }, required = true } } })
      local ok, lerr = p2:fill()
      if not ok and lerr.operation == "landlock" then
        p2:close()
        return pending("this kernel has no Landlock")
      end
      assert(ok, tostring(lerr))
      c, err = p2:spawn { argv = { "/bin/true" } }
      assert.is_nil(c)
      assert.are.same({ "os", "exec", "EACCES" }, { err.kind, err.operation, err.errno })
      c = assert(p2:spawn { argv = { "/bin/busybox", "true" } })
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      p2:close()
    end)
  end

  it("says bad_option for what the pool prepared, and for a request in the pool's options", function()
    local pool = assert(process.pool { namespaces = { "user" }, size = 1 })
    for _, k in ipairs { "namespaces", "inside", "maps", "cgroup", "session", "size" } do
      local c, err = pool:spawn { argv = { "true" }, [k] = k == "size" and 1 or {} }
      assert.is_nil(c)
      assert.are.same({ "bad_option", k, "fixed_by_pool" }, { err.kind, err.field, err.reason })
    end
    local c, err = pool:spawn { argv = { "true" }, nmespaces = {} }
    assert.is_nil(c)
    assert.are.same({ "bad_option", "nmespaces", "unknown_option" }, { err.kind, err.field, err.reason })
    for _, k in ipairs { "argv", "env", "cwd", "stdin", "stdout", "stderr", "fds", "max_output" } do
      local p, perr = process.pool { namespaces = { "user" }, [k] = {} }
      assert.is_nil(p)
      assert.are.same({ "bad_option", k, "per_request" }, { perr.kind, perr.field, perr.reason })
    end
    local p, perr = process.pool { size = 0 }
    assert.is_nil(p)
    assert.are.same({ "bad_option", "size", "out_of_range" }, { perr.kind, perr.field, perr.reason })
    p, perr = process.pool { namespaces = { "usr" } }
    assert.is_nil(p)
    assert.are.equal("bad_option", perr.kind)
    -- no child was spawned for any of them
    assert.are.equal(0, pool:size())
    pool:close()
  end)

  describe("fill with a timeout", function()
    -- Maps whose reads stop the child being filled: setup_maps reads them
    -- after the spawn and before the release, so the child gets its
    -- release stopped and cannot get ready until continued. Each fill's
    -- child is stopped once; stopped[] lists them, newest last.
    local function stopping_maps(stopped)
      local seen = {}
      for _, p in ipairs(descendants()) do seen[p] = true end
      local me = S.self_pid()
      return setmetatable({}, { __index = function(_, k)
        for _, p in ipairs(descendants()) do
          local status = not seen[p] and S.read_file("/proc/" .. p .. "/status")
          seen[p] = true
          -- the workload is the keeper's child; the keeper is ours
          if status and not status:match("\nPPid:%s*" .. me .. "\n") then
            os.execute("kill -STOP " .. p)
            -- a fill that waited for it anyway would hang: continued later, it fails the spec instead
            os.execute("(sleep 5; kill -CONT " .. p .. ") >/dev/null 2>&1 &")
            stopped[#stopped + 1] = p
          end
        end
        return maps[k]
      end })
    end
    local function continue(pid) os.execute("kill -CONT " .. pid) end
    local function count(pool) return { pool:fill(0, 0) } end

    it("starts the children and returns without waiting for them; size and fill collect them", function()
      local stopped = {}
      local pool = assert(process.pool { namespaces = { "user", "mount" }, size = 2, maps = stopping_maps(stopped) })
      assert.are.same({ 0, 2 }, { pool:fill(nil, 0) }) -- both started, neither ready: they are stopped
      assert.are.equal(2, #stopped)
      assert.are.equal(0, pool:size())
      assert.are.same({ 0, 2 }, { pool:fill(nil, 0.05) }) -- waited 50 ms for them, in vain; started no more
      assert.are.equal("linx.process.pool (0 of 2 ready, 2 starting)", tostring(pool))
      continue(stopped[1])
      assert.is_true(S.wait_until(function() return pool:size() == 1 end))
      assert.are.same({ 1, 1 }, count(pool))
      continue(stopped[2])
      assert.are.same({ 2, 0 }, { pool:fill(nil, 5) }) -- waits for it now
      local c = assert(pool:spawn { argv = { "echo", "ready" }, stdout = "pipe" })
      assert.are.same({ out = "ready\n", err = nil, code = 0, signal = nil }, result(c))
      pool:close()
    end)

    it("hands a request to a child still starting rather than spawning a fresh one", function()
      local stopped = {}
      local pool = assert(process.pool { namespaces = { "user", "mount" }, size = 1, maps = stopping_maps(stopped) })
      assert.are.same({ 0, 1 }, { pool:fill(1, 0) })
      local kids = #descendants()
      continue(stopped[1])
      local c = assert(pool:spawn { argv = { "true" } })
      assert.are.equal(stopped[1], c:host_pid()) -- the started child, waited for
      assert.are.equal(kids, #descendants()) -- and no fresh one
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      assert.are.same({ 0, 0 }, count(pool))
      pool:close()
    end)

    it("reports a starting child that failed at the next fill, once, and leaves nothing of it", function()
      local before = descendants()
      local stopped = {}
      local pool = assert(process.pool { namespaces = { "user", "mount" }, size = 1, maps = stopping_maps(stopped),
                                         inside = { mounts = { { type = "bind", source = "/nonexistent/linx", target = "/mnt" } } } })
      assert.are.same({ 0, 1 }, { pool:fill(1, 0) })
      continue(stopped[1])
      local err
      assert.is_true(S.wait_until(function()
        local n, e = pool:fill(0, 0)
        err = e
        return n == nil
      end))
      assert.are.same({ "os", "mount", "ENOENT" }, { err.kind, err.operation, err.errno })
      assert.are.same({ 0, 0 }, count(pool)) -- said once; the child is gone
      pool:close()
      assert.are.same(before, descendants())
    end)

    it("kills and reaps children still starting at close", function()
      local before = descendants()
      local stopped = {}
      local pool = assert(process.pool { namespaces = { "user", "pid" }, size = 3, maps = stopping_maps(stopped) })
      assert.are.same({ 0, 3 }, { pool:fill(nil, 0) })
      assert.are.equal(#before + 6, #descendants())
      assert(pool:close())
      assert.are.same(before, descendants(true)) -- by close itself, not by a collection
    end)

    it("says bad_option for a timeout that is not a number of seconds", function()
      local pool = assert(process.pool { namespaces = { "user" }, size = 1 })
      for _, case in ipairs { { -1, "negative" }, { 0 / 0, "negative" }, { "0", "not_a_number" } } do
        local n, err = pool:fill(1, case[1])
        assert.is_nil(n)
        assert.are.same({ "bad_option", "fill", "timeout", case[2] }, { err.kind, err.operation, err.field, err.reason })
      end
      assert.are.same({ 0, 0 }, count(pool)) -- nothing was started
      pool:close()
    end)

    it("keeps descriptor and process counts flat over 200 take and fill(1, 0) cycles", function()
      local pool = assert(process.pool { namespaces = { "user", "pid" }, size = 2 })
      local function cycle()
        local c = assert(pool:spawn { argv = { "true" } })
        assert.are.same({ exited = true, code = 0 }, c:wait())
        c:close()
        assert(pool:fill(1, 0))
      end
      cycle()
      assert(pool:fill(nil, 5))
      local fds, kids = S.fd_count(), #descendants()
      for _ = 1, 200 do cycle() end
      assert(pool:fill(nil, 5))
      assert.are.equal(fds, S.fd_count())
      assert.are.equal(kids, #descendants())
      pool:close()
    end)
  end)

  it("says bad_setup, not a raise, when the maps cannot reach linxuser (no global require)", function()
    local before = descendants()
    local pool = assert(process.pool { namespaces = { "user" }, size = 1 })
    local saved = _G.require
    _G.require = nil
    local ok, n, err = pcall(pool.fill, pool)
    _G.require = saved
    assert.is_true(ok, tostring(n))
    assert.is_nil(n)
    assert.are.same({ "bad_setup", "fill", "maps" }, { err.kind, err.operation, err.field })
    assert.are.same(before, descendants()) -- the child spawned for it is gone
    assert.are.equal(1, assert(pool:fill())) -- and with require back, it fills
    pool:close()
  end)

  it("fails a fill cleanly near the host's descriptor limit", function()
    local lua = os.getenv("LINX_LUA") or (S.build .. "/linx-lua")
    local script = [[
      local process = require "linx.process"
      local pool = assert(process.pool{namespaces = {"user"}, size = 64})
      local held = {}
      while true do
        local f = io.open("/dev/null")
        if not f then break end
        held[#held + 1] = f
      end
      for _ = 1, 3 do table.remove(held):close() end
      local n, err = pool:fill()
      io.write(tostring(n), " ", err and err.kind or "-", " ", tostring(err and err.errno), " ", pool:size(), "\n")
      for _, f in ipairs(held) do f:close() end
      local c = assert(pool:spawn{argv = {"true"}})
      io.write(c:wait().code, "\n")
      pool:close()
      local left = io.open("/proc/self/task/" .. io.open("/proc/self/stat"):read("*n") .. "/children"):read("*a")
      io.write("left:", left, "\n")
    ]]
    local out = S.sh(("prlimit --nofile=40:40 %s -e '%s' 2>&1"):format(lua, script))
    assert.is_truthy(out:match("^nil os EMFILE %d+\n0\nleft:\n$"), out)
  end)

  it("leaves no process after close, nor after collection", function()
    local before = descendants()
    local pool = assert(process.pool { namespaces = { "user", "pid" }, size = 3 })
    assert.are.equal(3, assert(pool:fill()))
    assert.are.equal(#before + 6, #descendants()) -- a keeper and a parked child each
    assert(pool:close())
    assert.are.same(before, descendants())
    local c, err = pool:spawn { argv = { "true" } }
    assert.is_nil(c)
    assert.are.equal("bad_state", err.kind)
    assert.are.equal("linx.process.pool (closed)", tostring(pool))
    pool = assert(process.pool { namespaces = { "user" }, size = 2 })
    assert(pool:fill())
    assert.are.equal(#before + 4, #descendants())
    pool = nil -- luacheck: ignore
    assert.are.same(before, descendants())
  end)

  -- 1,000 cycles; 200 under a sanitizer, where each costs several times as much
  local CYCLES = os.getenv("LINX_SANITIZER") and 200 or 1000
  it("keeps descriptor and process counts flat over 1,000 take and fill cycles", function()
    local pool = assert(process.pool { namespaces = { "user", "pid" }, size = 2 })
    local function cycle()
      local c = assert(pool:spawn { argv = { "true" }, stdout = "pipe" })
      assert.are.equal("", c:read("stdout"))
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
      assert(pool:fill())
    end
    cycle()
    local fds, kids = S.fd_count(), #descendants()
    for _ = 1, CYCLES do cycle() end
    assert.are.equal(fds, S.fd_count())
    assert.are.equal(kids, #descendants())
    pool:close()
  end)

  it("costs the host five descriptors per parked child, 16 as 16 times one", function()
    local base = S.fd_count()
    local pool = assert(process.pool { namespaces = { "user" }, size = 16 })
    assert(pool:fill(1))
    local one = S.fd_count() - base
    assert(pool:fill())
    assert.are.equal(5, one) -- ctl, keeper socket, pidfd, /proc dir, keeper's pidfd
    assert.are.equal(16 * one, S.fd_count() - base)
    pool:close()
    assert.are.equal(base, S.fd_count())
  end)

  it("survives a request whose metamethods close the pool", function()
    local before = descendants()
    local pool = assert(process.pool { namespaces = { "user" }, size = 1 })
    assert(pool:fill())
    local req = setmetatable({ argv = { "true" } }, { __index = function(_, k)
      if k == "cwd" then pool:close() end
    end })
    local c, err = pool:spawn(req)
    if c then
      assert.are.same({ exited = true, code = 0 }, c:wait())
      c:close()
    else
      assert.are.equal("bad_state", err.kind)
    end
    pool:close()
    assert.are.same(before, descendants())
  end)

  it("dies with the host: no parked child outlives it", function()
    local lua = os.getenv("LINX_LUA") or (S.build .. "/linx-lua")
    local d = S.tmpdir("linx-pool")
    local script = [[
      local p = require("linx.process").pool{namespaces = {"user", "pid"}, size = 2}
      assert(p:fill())
      local f = io.open(arg[1], "w"); f:write("ready\n"); f:close()
      while true do os.execute("sleep 1") end
    ]]
    S.write_file(d .. "/host.lua", script)
    local hpid = tonumber(S.sh(("%s %s/host.lua %s/ready >/dev/null 2>&1 & echo $!"):format(lua, d, d)))
    assert.is_truthy(S.wait_until(function() return S.read_file(d .. "/ready") == "ready\n" end, 1000))
    -- the host's own parked children (not ours: they sit below hpid)
    local theirs = {}
    for name in lfs.dir("/proc") do
      local p = tonumber(name)
      if p and comm(p) == "linx-init" then
        local ppid = tonumber(((S.read_file("/proc/" .. p .. "/stat") or ""):match("^%d+ %(.-%) %a (%d+)")))
        local gp = ppid and tonumber(((S.read_file("/proc/" .. ppid .. "/stat") or ""):match("^%d+ %(.-%) %a (%d+)")))
        if gp == hpid then theirs[#theirs + 1] = p end
      end
    end
    assert.are.equal(2, #theirs)
    S.kill(hpid)
    for _, p in ipairs(theirs) do
      assert.is_truthy(S.wait_until(function() return not S.exists("/proc/" .. p .. "/comm") end), "pid " .. p .. " outlived its host")
    end
    os.execute("rm -rf " .. d)
  end)

  it("runs without a user namespace for root", function()
    if S.root_only("a pool without a user namespace") then return end
    local pool = assert(process.pool { namespaces = { "mount", "uts" }, inside = { hostname = "pooled" }, size = 1 })
    assert(pool:fill())
    local c = assert(pool:spawn { argv = { "hostname" }, stdout = "pipe" })
    assert.are.equal("pooled\n", c:read("stdout"))
    c:close()
    pool:close()
  end)
end)

describe("process.pool on the subordinate-range route, as a throw-away user", function()
  it("maps the whole range and hands over as the user", function()
    if S.root_only("creating a throw-away user with /etc/subuid and /etc/subgid entries") then return end
    local SubidUser = require "subid_user"
    local fx = SubidUser.up()
    local ok, err = pcall(function()
      local dir = S.sh("mktemp -d /tmp/linx-pool-subid.XXXXXX"):match("%S+")
      local lua = os.getenv("LINX_LUA") or (S.build .. "/linx-lua")
      os.execute(("cp '%s' %s/linx-lua && chmod -R a+rX %s && chmod a+rx %s"):format(lua, dir, dir, dir))
      S.write_file(dir .. "/pool.lua", [[
        local process, user = require "linx.process", require "linxuser"
        local pool = assert(process.pool{namespaces = {"user", "mount", "pid"}, maps = assert(user.rootless_maps()), size = 2})
        assert(pool:fill())
        for i = 1, 3 do
          local c = assert(pool:spawn{argv = {"sh", "-c", "id -u; cat /proc/self/uid_map"}, stdout = "pipe"})
          io.write(c:read("stdout"), c:wait().code, "\n")
        end
      ]])
      os.execute("chmod a+r " .. dir .. "/pool.lua")
      local out = S.sh(("cd / && setpriv --reuid=%d --regid=%d --clear-groups env HOME=/ %s/linx-lua %s/pool.lua 2>&1")
        :format(fx.uid, fx.gid, dir, dir))
      os.execute("rm -rf " .. dir)
      local want = ("0\n%%s+0%%s+%d%%s+1\n%%s+1%%s+%d%%s+65536\n0\n"):format(fx.uid, fx.ustart)
      local n = 0
      for _ in out:gmatch(want) do n = n + 1 end
      assert.are.equal(3, n, out)
    end)
    SubidUser.down(fx)
    if not ok then error(err, 0) end
  end)
end)
