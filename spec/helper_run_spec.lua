-- The helper route's process handling: newuidmap and newgidmap run side
-- by side, under a time limit, and leave nothing behind when a system
-- call on the way fails. Fake helpers are small shell scripts passed as
-- setup_maps' newuidmap/newgidmap options; the real helpers (uidmap
-- package) map the caller's own ids, which they allow in both lanes.
-- Runs that need their own environment (LINX_HELPER_TIMEOUT, PATH, the
-- LD_PRELOAD fault shim spec/hosts/inject.c) run
-- spec/fixtures/run_case.lua's helper_run case under linx-lua.
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
local linx_lua = os.getenv("LINX_LUA") or "build/5.4/linx-lua"

local function real(name)
  local p = S.sh("command -v " .. name .. " 2>/dev/null"):match("%S+")
  return p
end

local dir = S.tmpdir("linx-helper-run")

local function script(name, body) return S.write_script(dir .. "/" .. name, body) end

local function read(path) return S.read_file(path) end

-- The fault shim, built by make; LINX_INJECT arms it from the start.
local shim = S.build .. "/inject.so"

-- Run the child script with env words; its result table.
local function child(env, pid, uh, gh, leak)
  local cmd = ("env %s %s spec/fixtures/run_case.lua helper_run %d %s %s %s 2>&1")
    :format(env or "", linx_lua, pid, uh or "-", gh or "-", leak or "")
  local out = S.sh(cmd)
  local chunk = (loadstring or load)(out, "=child")
  assert(chunk, "child said: " .. out)
  return chunk()
end

local function with_target(fn) S.with_sleeper(fn) end

local function assert_clean(r)
  assert.are.same({}, r.children, "children left: " .. table.concat(r.children, " "))
  assert.are.equal(r.fds_before, r.fds_after, r.fd_listings)
end

local function gone(pid)
  local st = S.read_file("/proc/" .. pid .. "/stat")
  return st == nil or st:match("^%d+ %(sleep%)") == nil
end

teardown(function() os.execute("rm -rf " .. dir) end)

describe("setup_maps runs newuidmap and newgidmap side by side", function()
  -- start/end stamps (ns) of one helper run, from its stamp file
  local function stamps(path)
    local s = assert(read(path), "no stamps in " .. path)
    return { tonumber(s:match("start (%d+)")), tonumber(s:match("end (%d+)")) }
  end

  it("fake helpers: each one's run overlaps the other's", function()
    local u = script("fake-newuidmap", ("echo start $(date +%%s%%N) > %s/u; sleep 0.3; echo end $(date +%%s%%N) >> %s/u")
      :format(dir, dir))
    local g = script("fake-newgidmap", ("echo start $(date +%%s%%N) > %s/g; sleep 0.3; echo end $(date +%%s%%N) >> %s/g")
      :format(dir, dir))
    with_target(function(pid)
      assert.is_true(user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = u, newgidmap = g }))
    end)
    local su, sg = stamps(dir .. "/u"), stamps(dir .. "/g")
    -- one after the other, the second would start after the first ended
    assert.is_true(sg[1] < su[2] and su[1] < sg[2],
      ("uid %d..%d, gid %d..%d"):format(su[1], su[2], sg[1], sg[2]))
  end)

  it("the real helpers, wrapped in stamping scripts, overlap and write both maps", function()
    local nu, ng = real("newuidmap"), real("newgidmap")
    if not (nu and ng) then return pending("no newuidmap/newgidmap (uidmap package)") end
    local function wrap(name, helper, file)
      return script(name, ("echo start $(date +%%s%%N) > %s/%s; %s \"$@\" || exit $?; sleep 0.2; echo end $(date +%%s%%N) >> %s/%s")
        :format(dir, file, helper, dir, file))
    end
    local u, g = wrap("wrap-newuidmap", nu, "ru"), wrap("wrap-newgidmap", ng, "rg")
    with_target(function(pid)
      assert.is_true(user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = u, newgidmap = g }))
      assert.are.same(own.uid, S.triples(user.read_uid_map(pid)))
      assert.are.same(own.gid, S.triples(user.read_gid_map(pid)))
    end)
    local su, sg = stamps(dir .. "/ru"), stamps(dir .. "/rg")
    assert.is_true(sg[1] < su[2] and su[1] < sg[2],
      ("uid %d..%d, gid %d..%d"):format(su[1], su[2], sg[1], sg[2]))
  end)

  it("a failing newuidmap still lets newgidmap finish; the error names newuidmap", function()
    local ng = real("newgidmap")
    if not ng then return pending("no newgidmap (uidmap package)") end
    local u = script("fail-newuidmap", "sleep 0.1; echo 'no, not today' >&2; exit 3")
    with_target(function(pid)
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = u })
      assert.is_nil(ok)
      assert.are.same({ "helper", "set_uid_map", "exit", u, 3 }, { err.kind, err.operation, err.reason, err.helper, err.status })
      assert.are.equal("no, not today", err.stderr)
      assert.are.same({}, user.read_uid_map(pid))
      assert.are.same(own.gid, S.triples(user.read_gid_map(pid)))
    end)
    local g = script("fail-newgidmap", "echo 'gid says no' >&2; exit 4")
    with_target(function(pid)
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newgidmap = g })
      assert.is_nil(ok)
      assert.are.same({ "helper", "set_gid_map", "exit", g, 4 }, { err.kind, err.operation, err.reason, err.helper, err.status })
      assert.matches("set_gid_map failed: helper: exit: " .. g, tostring(err), 1, true)
      assert.are.same(own.uid, S.triples(user.read_uid_map(pid)))
    end)
  end)
end)

describe("the go-between on a copy of the host (LINX_PROCESS_NO_CLONE_VM=1)", function()
  -- By default the go-between and the helper share the host's memory
  -- (CLONE_VM); this is the copying path valgrind and such tools get.
  it("writes both maps through the real helpers", function()
    if not (real("newuidmap") and real("newgidmap")) then return pending("no newuidmap/newgidmap (uidmap package)") end
    with_target(function(pid)
      local r = child("LINX_PROCESS_NO_CLONE_VM=1", pid, nil, nil)
      assert.is_true(r.ok, r.err and r.err.text)
      assert.are.same(own.uid, r.uid_map)
      assert.are.same(own.gid, r.gid_map)
      assert_clean(r)
    end)
  end)

  it("reports a failing helper's status and words, and a hung one's timeout", function()
    local u = script("copy-fail-newuidmap", "echo 'copied and refused' >&2; exit 6")
    local g = script("copy-hang-newgidmap", "exec sleep 1000")
    with_target(function(pid)
      local r = child("LINX_PROCESS_NO_CLONE_VM=1", pid, u, nil)
      assert.are.same({ "helper", "exit", 6, "copied and refused" }, { r.err.kind, r.err.reason, r.err.status, r.err.stderr })
      assert_clean(r)
      r = child("LINX_PROCESS_NO_CLONE_VM=1 LINX_HELPER_TIMEOUT=0.3", pid, nil, g)
      assert.are.same({ "helper", "set_gid_map", "timeout" }, { r.err.kind, r.err.operation, r.err.reason })
      assert_clean(r)
    end)
  end)
end)

describe("a helper's signals", function()
  -- The host ignores four signals (HUP, USR1, PIPE, RTMIN+3: an ignored
  -- signal survives execve); each fake helper records the masks its
  -- program starts with. The shell keeps what was ignored on entry, so
  -- what grep shows is what the helper was given (a caught signal cannot
  -- outlive execve: grep's SigCgt is grep's own).
  for _, path in ipairs { { "", "sharing memory" }, { "LINX_PROCESS_NO_CLONE_VM=1", "copying" } } do
    it("starts with every signal at its default and none blocked (" .. path[2] .. ")", function()
      local u = script("sig-newuidmap", ("exec grep -E '^Sig(Blk|Ign)' /proc/self/status > %s/sig-u"):format(dir))
      local g = script("sig-newgidmap", ("exec grep -E '^Sig(Blk|Ign)' /proc/self/status > %s/sig-g"):format(dir))
      os.remove(dir .. "/sig-u")
      os.remove(dir .. "/sig-g")
      with_target(function(pid)
        local r = child(path[1] .. " --ignore-signal=HUP,PIPE,USR1,RTMIN+3", pid, u, g)
        assert.is_true(r.ok, r.err and r.err.text)
        assert_clean(r)
      end)
      for _, f in ipairs { "sig-u", "sig-g" } do
        local text = assert(read(dir .. "/" .. f), "no masks from " .. f)
        assert.are.equal("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n", text)
      end
    end)
  end

  it("would show an ignored signal (the check above can fail)", function()
    local u = script("sig-control", ("exec grep -E '^SigIgn' /proc/self/status > %s/sig-c"):format(dir))
    S.sh(("env --ignore-signal=HUP,PIPE,USR1,RTMIN+3 %s"):format(u))
    assert.are_not.equal("SigIgn:\t0000000000000000\n", read(dir .. "/sig-c"))
  end)
end)

describe("a helper that never exits", function()
  it("is killed and reaped at LINX_HELPER_TIMEOUT: kind helper, reason timeout", function()
    local u = script("hang-newuidmap", ("echo $$ > %s/hang.pid; exec sleep 1000"):format(dir))
    with_target(function(pid)
      local r = child("LINX_HELPER_TIMEOUT=0.5", pid, u, nil)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "set_uid_map", "timeout", u, 0.5 },
                      { r.err.kind, r.err.operation, r.err.reason, r.err.helper, r.err.seconds })
      assert.matches("still ran after 0.5 s", r.err.text, 1, true)
      assert.matches("LINX_HELPER_TIMEOUT", r.err.hint, 1, true)
      assert.is_true(r.elapsed >= 0.4 and r.elapsed < 5, "took " .. r.elapsed .. " s")
      local hung = tonumber(read(dir .. "/hang.pid"))
      assert.is_truthy(hung)
      assert.is_true(gone(hung), "the hung helper " .. hung .. " still runs")
      assert_clean(r)
      -- newgidmap ran beside it, and finished
      assert.are.same(own.gid, r.gid_map)
      assert.are.same({}, r.uid_map)
    end)
  end)

  it("does not wait for a process the helper left holding its output", function()
    local g = script("hang-newgidmap", "sleep 3 & exec sleep 1000")
    with_target(function(pid)
      local r = child("LINX_HELPER_TIMEOUT=1", pid, nil, g)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "set_gid_map", "timeout", 1 }, { r.err.kind, r.err.operation, r.err.reason, r.err.seconds })
      assert.is_true(r.elapsed >= 0.9 and r.elapsed < 2.8, "took " .. r.elapsed .. " s")
      assert_clean(r)
      assert.are.same(own.uid, r.uid_map)
    end)
  end)

  it("a malformed or zero LINX_HELPER_TIMEOUT is the default (10 s), not an instant timeout", function()
    local u = script("quick-newuidmap", "exit 5")
    with_target(function(pid)
      for _, v in ipairs { "soon", "-1", "0", "" } do
        local r = child("LINX_HELPER_TIMEOUT=" .. v, pid, u, u)
        assert.are.same({ "helper", "exit", 5 }, { r.err.kind, r.err.reason, r.err.status }, v)
      end
    end)
  end)
end)

describe("the helper lookup", function()
  it("a helper path that cannot be looked at is not 'missing' (ELOOP: reason exec)", function()
    os.execute(("ln -sf loop %s/loop"):format(dir))
    with_target(function(pid)
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = dir .. "/loop" })
      assert.is_nil(ok)
      assert.are.same({ "helper", "set_uid_map", "exec", "ELOOP" }, { err.kind, err.operation, err.reason, err.errno })
      assert.is_nil(err.hint) -- not the "install uidmap" hint: it is there
      assert.are.same({}, user.read_uid_map(pid))
      assert.are.same({}, user.read_gid_map(pid))
    end)
  end)

  it("the PATH search stops at such an entry, as execvp does, instead of skipping it", function()
    os.execute(("mkdir -p %s/bin && ln -sf newuidmap %s/bin/newuidmap"):format(dir, dir))
    with_target(function(pid)
      local r = child(("PATH=%s/bin:$PATH"):format(dir), pid, "newuidmap", nil)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "exec", "ELOOP", "newuidmap" }, { r.err.kind, r.err.reason, r.err.errno, r.err.helper })
      assert.are.same({}, r.uid_map)
    end)
  end)
end)

describe("the helper lookup, unprivileged", function()
  it("a PATH directory it may not search is no 'not executable' helper: not found", function()
    if S.is_root then
      pending("root searches every directory (runs in the unprivileged lane)")
      return
    end
    local locked = dir .. "/locked"
    os.execute(("mkdir -p %s && chmod 000 %s"):format(locked, locked))
    with_target(function(pid)
      local r = child(("PATH=%s:/usr/bin:/bin"):format(locked), pid, "newuidmap-linx-none", nil)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "missing", "ENOENT" }, { r.err.kind, r.err.reason, r.err.errno })
      assert.matches("newuidmap%-linx%-none was not found in PATH", r.err.message)
    end)
    os.execute("chmod 755 " .. locked)
  end)
end)

describe("close_range refused, as before Linux 5.9 (a seccomp filter)", function()
  -- The go-between and the helper make raw system calls: a filter, not
  -- an LD_PRELOAD shim, is what makes their close_range fail.
  it("no fd of the host leaks into the helper", function()
    local host = S.seccomp_host()
    local u = script("fds-newuidmap", "for f in /proc/$$/fd/*; do readlink $f; done >&2; exit 1")
    for _, e in ipairs { 38, 22 } do -- ENOSYS (before 5.9), EINVAL
      with_target(function(pid)
        local leak = dir .. "/leak-marker-" .. e
        local r = child(("%s 436 %d"):format(host, e), pid, u, nil, leak)
        assert.is_table(r.err, r.crash)
        -- the control: a plain shell child does see the host's fd
        assert.matches(leak, r.control, 1, true)
        assert.are.same({ "helper", "set_uid_map", "exit" }, { r.err.kind, r.err.operation, r.err.reason })
        assert.matches("/dev/null", r.err.stderr, 1, true) -- the listing ran
        assert.is_nil(r.err.stderr:find(leak, 1, true), "helper saw " .. r.err.stderr)
        assert_clean(r)
      end)
    end
  end)
end)

describe("system calls of the helper route that fail", function()
  -- Under the ASan-built linx-lua the shim comes before libasan in the
  -- load order, which ASan refuses unless told that it is meant.
  local preload = os.getenv("LINX_SANITIZER") and "ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 LD_PRELOAD="
    or "LD_PRELOAD="
  local function need()
    assert(S.exists(shim), shim .. " is missing: run make spec-hosts")
    if not (real("newuidmap") and real("newgidmap")) then pending("no newuidmap/newgidmap") return false end
    return true
  end

  it("pthread_sigmask failing: nil, err naming it; nothing started, nothing written", function()
    if not need() then return end
    with_target(function(pid)
      local r = child((preload .. "%s LINX_INJECT=fail:pthread_sigmask:1:EINVAL"):format(shim), pid, nil, nil)
      assert.matches("fired=1", r.injected, 1, true)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "set_uid_map", "spawn", "pthread_sigmask", "EINVAL" },
                      { r.err.kind, r.err.operation, r.err.reason, r.err.syscall, r.err.errno })
      assert.matches("pthread_sigmask", r.err.text, 1, true)
      assert_clean(r)
      assert.are.same({}, r.uid_map)
      assert.are.same({}, r.gid_map)
    end)
  end)

  it("a status-pipe read error is that error (not ECHILD), and the helper is still waited for", function()
    if not need() then return end
    with_target(function(pid)
      local r = child((preload .. "%s LINX_INJECT=fail:read_status:1:EIO"):format(shim), pid, nil, nil)
      assert.matches("fired=1", r.injected, 1, true)
      assert.is_table(r.err, r.crash)
      assert.are.same({ "helper", "set_uid_map", "spawn", "read", "EIO" },
                      { r.err.kind, r.err.operation, r.err.reason, r.err.syscall, r.err.errno })
      assert_clean(r) -- no zombie go-between
      -- both helpers ran to their end
      assert.are.same(own.uid, r.uid_map)
      assert.are.same(own.gid, r.gid_map)
    end)
  end)

  it("a waitpid that fails once is retried: no zombie, the maps written", function()
    if not need() then return end
    with_target(function(pid)
      local r = child((preload .. "%s LINX_INJECT=fail:waitpid_wclone:1:EINVAL"):format(shim), pid, nil, nil)
      assert.matches("fired=1", r.injected, 1, true)
      assert.is_true(r.ok, r.err and r.err.text)
      assert_clean(r)
      assert.are.same(own.uid, r.uid_map)
      assert.are.same(own.gid, r.gid_map)
    end)
  end)
end)
