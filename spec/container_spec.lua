-- examples/container.lua, for real: a busybox root filesystem, proc, /dev,
-- a hostname, root inside; as root, a file made inside by uid 1000 lands
-- on the host as to_host predicts. As uid 65534 (no subordinate range)
-- the example says it maps root only.
local S = require("support").bind(function(why) pending(why) end)

local LINX_LUA = os.getenv("LINX_LUA")

local function run_example()
  local out = S.sh(("%q examples/container.lua 2>&1; echo \"exit=$?\""):format(LINX_LUA))
  local body, rc = out:match("^(.*)exit=(%d+)\n$")
  return body, tonumber(rc)
end

describe("examples/container.lua", function()
  local out, rc
  setup(function() out, rc = run_example() end)

  it("runs to the end through linx-lua", function()
    assert.are.equal(0, rc, out)
  end)

  it("runs busybox under its own hostname, root inside, pid 1 in its own proc", function()
    assert.matches("^hostname: box\n", out)
    assert.matches("\nid:       uid=0 gid=0\n", out, 1, true)
    -- ps reads the container's own /proc: pid 1 is the init, ps its only child
    assert.matches("\nps:\nPID%s+USER%s+COMMAND\n%s+1 0%s+linx%-init\n%s+2 0%s+ps\n%a", out)
  end)

  it("makes a file as uid 1000 that the host sees where to_host says (root)", function()
    if S.root_only("a subordinate range (root maps 1.. to 100000..)") then return end
    local user = require "linxuser"
    local want = user.to_host({ { 0, 0, 1 }, { 1, 100000, 65536 } }, 1000)
    assert.are.equal(100999, want)
    assert.matches(("uid 1000 inside made a file owned by uid %d on the host; to_host predicted %d\n")
      :format(want, want), out, 1, true)
  end)

  it("says it maps root only without a range (uid 65534)", function()
    if S.unpriv_only("no subordinate range") then return end
    assert.matches("no subordinate range: only root inside is mapped", out, 1, true)
  end)

  it("removes its root filesystem", function()
    local dir = out:match("removed:  (%S+)\n")
    assert.is_string(dir)
    assert.matches("^/tmp/linx%-container%.", dir)
    assert.is_false(S.exists(dir))
  end)
end)

-- As a real unprivileged user with /etc/subuid and /etc/subgid ranges
-- (root creates a throw-away one with spec/subid_user.lua): the ids go
-- through newuidmap/newgidmap, and uid 1000 inside is ustart + 999.
describe("examples/container.lua as a user with a subordinate range", function()
  local have, SubidUser = pcall(require, "subid_user")
  local fx, dir
  lazy_setup(function()
    if not (S.is_root and have) then return end
    fx = SubidUser.up("ctr")
    dir = S.tmpdir("linx-container-spec")
    assert(os.execute(("cp %q examples/container.lua %s/ && chmod -R a+rX %s"):format(LINX_LUA, dir, dir)))
  end)
  lazy_teardown(function()
    if dir then os.execute("rm -rf " .. dir) end
    if fx then SubidUser.down(fx) end
  end)

  it("makes a file as uid 1000 that lands on ustart + 999, as to_host predicts", function()
    if S.root_only("creating a throw-away user with subordinate ranges") then return end
    if not have then
      pending("needs spec/subid_user.lua (the shared throw-away-user fixture)")
      return
    end
    local out = S.sh(("cd / && setpriv --reuid=%d --regid=%d --clear-groups env HOME=/ %s/linx-lua %s/container.lua 2>&1; echo exit=$?")
      :format(fx.uid, fx.gid, dir, dir))
    assert.matches("exit=0\n$", out)
    assert.matches("^hostname: box\nid:       uid=0 gid=0\n", out)
    local want = require("linxuser").to_host({ { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } }, 1000)
    assert.are.equal(fx.ustart + 999, want)
    assert.matches(("uid 1000 inside made a file owned by uid %d on the host; to_host predicted %d\n")
      :format(want, want), out, 1, true)
    assert.is_false(S.exists(out:match("removed:  (%S+)\n")))
  end)
end)
