-- A host whose Lua state lives in a worker thread: the children it spawns
-- live as long as the host process, not as long as the thread
-- (PR_SET_PDEATHSIG would tie them to the thread). spec/hosts/thread_host.c
-- is that host, built by make (spec-hosts) against the same Lua as the lane.
local S = require("support").bind(function(why) pending(why) end)

local function state_of(pid)
  local s = S.read_file("/proc/" .. pid .. "/stat")
  return s and s:match("%) (%S)")
end

describe("a host that spawns from a thread", function()
  local dir, host

  before_each(function()
    dir = S.sh("mktemp -d /tmp/linx-thread.XXXXXX"):gsub("\n$", "")
    assert(dir ~= "", "mktemp failed")
  end)

  after_each(function()
    if host then S.kill(host) end
    host = nil
    os.execute("rm -rf " .. dir)
  end)

  it("keeps the child after the thread ends, and takes it along when the process dies", function()
    local exe = S.host("thread_host")
    local build = S.build
    host = tonumber(S.sh(("LUA_CPATH='%s/?.so' %s > %s/out 2>&1 & echo $!"):format(build, exe, dir)))
    assert.is_number(host)
    local lines = S.wait_until(function()
      local s = S.read_file(dir .. "/out") or ""
      return s:match("^%d+\nthread ended\n") and s
    end)
    assert.is_truthy(lines, S.read_file(dir .. "/out"))
    local child = tonumber(lines:match("^(%d+)"))
    -- the spawning thread is gone; the process and its child are not
    S.sleep(2)
    assert.are.equal("1", S.sh("ls /proc/" .. host .. "/task | wc -l"):match("%d+"))
    local st = state_of(child)
    assert.is_truthy(st and st ~= "Z", "the child died with the thread that spawned it")
    assert.are.equal("sleep\n", S.read_file("/proc/" .. child .. "/comm"))
    -- the host process dies: the child follows within a second
    S.kill(host)
    local gone = S.wait_until(function()
      local s = state_of(child)
      return s == nil or s == "Z"
    end, 100)
    assert.is_truthy(gone, "the child outlived its host by more than a second")
    host = nil
  end)
end)
