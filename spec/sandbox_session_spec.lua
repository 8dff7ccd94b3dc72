-- spawn{session = "new"|"inherit"} and the workload's process group:
-- the terminal a host owns stays out of the workload's reach by default
-- (no TIOCSTI injection, the CVE-2017-5226 class), and without a pid
-- namespace close() and a linx.run timeout end everything the workload
-- started, while kill() reaches the workload alone.
-- Real ptys (spec/hosts/ptyhost.c), a real TIOCSTI (spec/hosts/tiocsti.c).
local S = require("support").bind(function(why) pending(why) end)
local process = require "linx.process"
local run = require "linx.run"

-- The pty hosts (spec/hosts/), built by make (spec-hosts) into the
-- lane's build; dir holds each run's script.
local dir, hosts
local function build_hosts()
  if hosts then return hosts end
  dir = S.tmpdir("linx-session")
  hosts = { ptyhost = S.host("ptyhost"), tiocsti = S.host("tiocsti") }
  return hosts
end

teardown(function()
  if dir then os.execute("rm -rf " .. dir) end
end)

-- Run a linx-lua script under a host that owns a real terminal: the
-- script runs tiocsti in a workload spawned with opts (a Lua table
-- constructor's text), stdio inherited (the terminal). Returns what the
-- workload said and what waits in the terminal's input afterwards.
local function under_pty(opts_text)
  local h = build_hosts()
  local script = dir .. "/host.lua"
  S.write_file(script, ([[
local run = require "linx.run"
local opts = %s
opts.argv = {%q, "echo PWNED\n"}
opts.stdin, opts.stdout, opts.stderr = "inherit", "inherit", "inherit"
local res, err = run.run(opts)
print("RESULT", res and res.code, err)
]]):format(opts_text, h.tiocsti))
  local linx_lua = os.getenv("LINX_LUA") or "build/5.4/linx-lua"
  local out = S.sh(("%s %s %s 2>&1"):format(h.ptyhost, linx_lua, script))
  local output = out:match("^OUTPUT:(.-)\nSTATUS:") or out
  local input = out:match("\nINPUT:(.*)\n$")
  assert.matches("RESULT\t0\tnil", output, 1, true)
  return output, input
end

describe("session", function()
  it("is new by default: no controlling terminal, TIOCSTI injects nothing (user namespace)", function()
    local output, input = under_pty([[{namespaces = {"user"}}]])
    assert.matches("/dev/tty open 6\n", output, 1, true) -- ENXIO: no controlling terminal
    assert.matches("fd0 1\r?\n", output)                 -- EPERM on the inherited terminal
    assert.is_nil(output:match(" ok "), output)
    assert.are.equal("", input)
  end)

  it("is new under a pid namespace's init too", function()
    local output, input = under_pty([[{namespaces = {"user", "mount", "pid"}}]])
    assert.matches("/dev/tty open 6\n", output, 1, true)
    assert.is_nil(output:match(" ok "), output)
    assert.are.equal("", input)
  end)

  it("without any namespace: unprivileged, nothing injected; root keeps CAP_SYS_ADMIN, which TIOCSTI honours", function()
    local output, input = under_pty([[{}]])
    assert.matches("/dev/tty open 6\n", output, 1, true) -- the session is new either way
    if S.is_root then
      -- the kernel lets CAP_SYS_ADMIN (in the initial user namespace)
      -- push into any terminal it has a descriptor of: SECURITY.md says
      -- so; stdin = "null" or a user namespace closes it
      assert.matches("echo PWNED", input, 1, true)
    else
      assert.are.equal("", input)
    end
  end)

  it("inherit keeps the caller's terminal: the injection the README warns of works", function()
    local output, input = under_pty([[{namespaces = {"user"}, session = "inherit"}]])
    assert.matches("/dev/tty ok", output, 1, true)
    assert.matches("echo PWNED\n", input, 1, true)
  end)

  it("makes the workload the leader of its own session and group, or leaves it in ours", function()
    local res = assert(run.run { argv = { "sh", "-c", "cat /proc/self/stat; echo $$" } })
    local stat, pid = res.stdout:match("^([^\n]*)\n(%d+)\n$")
    -- fields after comm: state ppid pgrp session
    local pgrp, sid = stat:match("%) %a %d+ (%d+) (%d+)")
    assert.are.same({ pid, pid }, { pgrp, sid })
    res = assert(run.run { argv = { "sh", "-c", "cat /proc/self/stat; echo $$" }, session = "inherit" })
    stat, pid = res.stdout:match("^([^\n]*)\n(%d+)\n$")
    sid = stat:match("%) %a %d+ %d+ (%d+)")
    assert.are_not.equal(pid, sid)
    assert.are.equal(S.sh("cat /proc/self/stat"):match("%) %a %d+ %d+ (%d+)"), sid) -- the shell's: ours
  end)

  it("under an init, both the init and the workload lead sessions of their own", function()
    local script = "cut -d' ' -f1,5,6 /proc/self/stat /proc/1/stat"
    local res = assert(run.run { argv = { "sh", "-c", script }, namespaces = { "user", "mount", "pid" },
                                 inside = { mounts = { { type = "proc", target = "/proc" } } } })
    -- pid pgrp session: cut, in the group and session of the workload (sh,
    -- pid 2), then the init
    assert.matches("^%d+ 2 2\n1 1 1\n$", res.stdout)
    res = assert(run.run { argv = { "sh", "-c", script }, namespaces = { "user", "mount", "pid" }, session = "inherit",
                           inside = { mounts = { { type = "proc", target = "/proc" } } } })
    assert.matches("^%d+ 0 0\n1 0 0\n$", res.stdout) -- the caller's group and session, outside the namespace
  end)

  it("refuses anything but \"new\" and \"inherit\"", function()
    for _, v in ipairs({ "old", 1, true, {} }) do
      local c, err = process.spawn { argv = { "true" }, session = v }
      assert.is_nil(c)
      assert.are.same({ "bad_option", "spawn", "session", "unknown" }, { err.kind, err.operation, err.field, err.reason })
    end
    assert.is_truthy(process.spawn { argv = { "true" }, session = "inherit" }):close()
    local c, err = process.spawn(setmetatable({ argv = { "true" } }, { __index = function(_, k)
      if k == "session" then error("no session") end
    end }))
    assert.is_nil(c)
    assert.are.same({ "bad_option", "session", "unreadable" }, { err.kind, err.field, err.reason })
    assert.matches("no session", err.message)
  end)
end)

-- Every process whose command line is exactly argv (space-joined).
local function running(cmdline)
  local found = {}
  for pid in S.sh("ls /proc"):gmatch("%d+") do
    local c = S.read_file("/proc/" .. pid .. "/cmdline")
    local st = S.read_file("/proc/" .. pid .. "/stat")
    if c and c:gsub("%z", " "):gsub(" $", "") == cmdline and st and not st:match("%) Z ") then
      found[#found + 1] = tonumber(pid)
    end
  end
  return found
end

local function kill_all(pids)
  for _, pid in ipairs(pids) do S.kill(pid) end
end

-- Sleeps of this host's own duration: lanes run side by side and scan
-- the same /proc.
local function mine(base) return ("%d.%d"):format(base, S.self_pid()) end

describe("the workload's process group (no pid namespace)", function()
  it("ends with a linx.run timeout: nothing is left behind", function()
    local cmd = "sleep " .. mine(30)
    local res, err = run.run { argv = { "sh", "-c", cmd .. " & " .. cmd .. " & wait" }, timeout = 0.5 }
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.is_true(S.wait_until(function() return #running(cmd) == 0 end, 100),
                   "left behind: " .. table.concat(running(cmd), " "))
  end)

  it("is not ours to end under session = \"inherit\": the background sleeps outlive the timeout", function()
    local cmd = "sleep " .. mine(31)
    local res = run.run { argv = { "sh", "-c", cmd .. " & " .. cmd .. " & wait" }, timeout = 0.3,
                          session = "inherit" }
    assert.is_nil(res)
    local left = S.wait_until(function() local l = running(cmd); return #l == 2 and l end, 100)
    kill_all(running(cmd)) -- ours: started by this test
    assert.is_truthy(left)
  end)

  it("kill() reaches the workload alone; close() ends what it started", function()
    local c = assert(process.spawn { argv = { "sh", "-c", "sleep 30.3456 & echo $!; wait" }, stdout = "pipe" })
    assert(c:proceed())
    local bg
    assert.is_true(S.wait_until(function()
      bg = tonumber(c:read("stdout", 0) or "")
      return bg ~= nil
    end))
    assert.is_true(c:kill("TERM"))
    -- the shell has ended (the keeper holds it unreaped), its sleep runs on
    local pid = c:host_pid()
    assert.is_truthy(S.wait_until(function() return (S.read_file("/proc/" .. pid .. "/stat") or ""):match("%) Z ") end))
    assert.matches("%) [SR] ", S.read_file("/proc/" .. bg .. "/stat"))
    assert.is_true(c:close())
    local gone = S.wait_until(function()
      local st = S.read_file("/proc/" .. bg .. "/stat")
      return st == nil or st:match("%) Z ") ~= nil
    end, 100)
    if not gone then S.kill(bg) end
    assert.is_true(gone, "the background sleep outlived close(): " .. bg)
  end)

  it("ends with a handle the garbage collector takes", function()
    local c = assert(process.spawn { argv = { "sh", "-c", "sleep 30.4567 & echo $!; wait" }, stdout = "pipe" })
    assert(c:proceed())
    local bg
    assert.is_true(S.wait_until(function()
      bg = tonumber(c:read("stdout", 0) or "")
      return bg ~= nil
    end))
    c = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    local gone = S.wait_until(function()
      local st = S.read_file("/proc/" .. bg .. "/stat")
      return st == nil or st:match("%) Z ") ~= nil
    end, 100)
    if not gone then S.kill(bg) end
    assert.is_true(gone, "the background sleep outlived the handle")
  end)
end)
