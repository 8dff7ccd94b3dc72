-- setup_maps through shadow's setuid helpers (newuidmap/newgidmap).
--
-- In-process parts run in both lanes on real targets. The full-range
-- part needs a user with a real /etc/subuid and /etc/subgid range: as
-- root, the spec creates a throw-away user (useradd), gives it a range,
-- and runs spec/fixtures/subid_child.lua under linx-lua AS THAT USER
-- (setpriv), so the unprivileged path is the real one; then it removes
-- the user and restores both files byte for byte. In the unprivileged
-- lane that part is pending (only root can make the user).
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local uid, gid = S.uid, S.gid

local function nothing_written(pid, setgroups)
  assert.are.same({}, user.read_uid_map(pid))
  assert.are.same({}, user.read_gid_map(pid))
  if setgroups then assert.are.equal(setgroups, user.read_setgroups(pid)) end
end

local function assert_helper(err, operation, reason)
  assert.is_table(err)
  assert.are.equal("helper", err.kind)
  assert.are.equal(operation, err.operation)
  assert.are.equal(reason, err.reason)
  assert.is_string(err.helper)
  assert.is_string(err.message)
  -- err.text: tostring(err) taken in the child, for errors that crossed over as data
  assert.matches(operation .. " failed: helper", err.text or tostring(err), 1, true)
end

local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }

-- A range nobody running this spec owns: none in the real files covers it.
local foreign = 3000000000

describe("setup_maps helper option", function()
  it("is validated with the other options, before any write", function()
    S.with_sleeper(function(pid)
      for _, bad in ipairs { "sometimes", 5, true, {} } do
        local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = bad })
        assert.is_nil(ok)
        assert.are.same({ "bad_setup", "setup_maps", "invalid", "helper" }, { err.kind, err.operation, err.reason, err.field })
        assert.are.equal(bad, err.value)
      end
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, newuidmap = 5 })
      assert.is_nil(ok)
      assert.are.same({ "bad_setup", "not_a_string", "newuidmap" }, { err.kind, err.reason, err.field })
      ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, newgidmap = {} })
      assert.is_nil(ok)
      assert.are.same({ "bad_setup", "not_a_string", "newgidmap" }, { err.kind, err.reason, err.field })
      -- maps are checked first, exactly as without the option
      ok, err = user.setup_maps(pid, { uid = {}, gid = own.gid, helper = "always" })
      assert.is_nil(ok)
      assert.are.same({ "bad_map", "empty", "uid" }, { err.kind, err.reason, err.field })
      nothing_written(pid, "allow")
    end)
  end)

  it("always: runs the helpers, which map the caller's own ids (newgidmap denies setgroups itself)", function()
    S.with_sleeper(function(pid)
      assert.is_true(user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", setgroups = "skip" }))
      assert.are.same(own.uid, S.triples(user.read_uid_map(pid)))
      assert.are.same(own.gid, S.triples(user.read_gid_map(pid)))
      -- we skipped setgroups; newgidmap wrote deny, as it does for a map
      -- without subordinate gids
      assert.are.equal("deny", user.read_setgroups(pid))
    end)
  end)

  it("always: a range the caller does not own is the helper's refusal, with its stderr", function()
    local sub = user.subids()
    if sub then
      for _, r in ipairs(sub.uid) do
        if r[1] <= foreign and foreign < r[1] + r[2] then return pending("this user owns " .. foreign) end
      end
    end
    S.with_sleeper(function(pid)
      local maps = { { 0, uid, 1 }, { 1, foreign, 10 } }
      local ok, err = user.setup_maps(pid, { uid = maps, gid = own.gid, helper = "always", setgroups = "skip" })
      assert.is_nil(ok)
      assert_helper(err, "set_uid_map", "exit")
      assert.matches("newuidmap$", err.helper)
      assert.are.equal(1, err.status)
      assert.matches("range %[1%-11%) %-> %[3000000000%-3000000010%) not allowed", err.stderr)
      assert.matches("not allowed", tostring(err), 1, true)
      assert.matches("subids", err.hint, 1, true)
      assert.are.same({ err.helper, tostring(pid), "0", tostring(uid), "1", "1", "3000000000", "10" }, err.argv)
      -- newgidmap ran beside it and did its part (write-once: it stays)
      assert.are.same({}, user.read_uid_map(pid))
      assert.are.same(own.gid, S.triples(user.read_gid_map(pid)))
    end)
  end)

  it("a missing helper is named before anything is written", function()
    S.with_sleeper(function(pid)
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always",
                                             newgidmap = "/nonexistent/newgidmap" })
      assert.is_nil(ok)
      assert_helper(err, "set_gid_map", "missing")
      assert.are.equal("/nonexistent/newgidmap", err.helper)
      assert.are.equal("ENOENT", err.errno)
      assert.matches("uidmap package", err.hint, 1, true)
      -- not even setgroups: the uid map would have been fine, but the
      -- helpers are found before the first write
      nothing_written(pid, "allow")
      -- not executable is missing too
      ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = "/etc/passwd" })
      assert.is_nil(ok)
      assert_helper(err, "set_uid_map", "missing")
      assert.are.equal("EACCES", err.errno)
      -- options read normally: defaults from __index
      local opts = setmetatable({ uid = own.uid, gid = own.gid },
                                { __index = { helper = "always", newuidmap = "/nonexistent/newuidmap" } })
      ok, err = user.setup_maps(pid, opts)
      assert.is_nil(ok)
      assert_helper(err, "set_uid_map", "missing")
      nothing_written(pid, "allow")
    end)
  end)

  it("auto: the caller's own one-line maps go straight to procfs, no helper needed", function()
    S.with_sleeper(function(pid)
      assert.is_true(user.setup_maps(pid, { uid = own.uid, gid = own.gid,
                                            newuidmap = "/nonexistent/a", newgidmap = "/nonexistent/b" }))
      assert.are.same(own.uid, S.triples(user.read_uid_map(pid)))
    end)
  end)

  it("auto: root writes ranges itself", function()
    if S.root_only("auto with CAP_SETUID") then return end
    S.with_sleeper(function(pid)
      local maps = { { 0, 100000, 65536 } }
      assert.is_true(user.setup_maps(pid, { uid = maps, gid = maps, newuidmap = "/nonexistent/a",
                                            newgidmap = "/nonexistent/b" }))
      assert.are.same(maps, S.triples(user.read_uid_map(pid)))
    end)
  end)

  it("auto: an unprivileged range goes to the helper; never: to procfs and EPERM", function()
    if S.unpriv_only("auto without CAP_SETUID") then return end
    S.with_sleeper(function(pid)
      local maps = { { 0, uid, 1 }, { 1, foreign, 10 } }
      local ok, err = user.setup_maps(pid, { uid = maps, gid = own.gid })
      assert.is_nil(ok)
      assert_helper(err, "set_uid_map", "exit")
      assert.matches("not allowed", err.stderr)
      ok, err = user.setup_maps(pid, { uid = maps, gid = own.gid, newuidmap = "/nonexistent/x" })
      assert.is_nil(ok)
      assert_helper(err, "set_uid_map", "missing")
      local code
      ok, err, code = user.setup_maps(pid, { uid = maps, gid = own.gid, helper = "never" })
      assert.is_nil(ok)
      assert.are.same({ "os", "EPERM", "set_uid_map" }, { err.kind, err.errno, err.operation })
      assert.are.equal(1, code)
      assert.are.same({}, user.read_uid_map(pid))
    end)
  end)

  it("a target that is gone reads as on the procfs path", function()
    local pid = S.sleeper()
    assert.is_true(S.kill_and_wait(pid))
    local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always", setgroups = "skip" })
    assert.is_nil(ok)
    assert.are.same({ "os", "set_uid_map", "ENOENT" }, { err.kind, err.operation, err.errno })
    assert.matches("exited", err.hint)
  end)

  it("works on linx.process handles", function()
    local process = require "linx.process"
    local c = assert(process.spawn { argv = { "id", "-u" }, namespaces = { "user" }, stdout = "pipe" })
    assert.is_true(user.setup_maps(c, { uid = own.uid, gid = own.gid, helper = "always" }))
    assert(c:proceed())
    assert.are.equal("0\n", c:read("stdout"))
    assert.are.equal(0, c:wait().code)
  end)
end)

---------------------------------------------------------------------------
-- A throw-away user with a real subordinate range (root creates it).

local SubidUser = require "subid_user"

local Fixture = {}

function Fixture.up()
  local fx = SubidUser.up()
  -- linx-lua and the child script where the user can read them
  fx.dir = S.sh("mktemp -d /tmp/linx-subid.XXXXXX"):match("%S+")
  local lua = os.getenv("LINX_LUA")
  assert(lua and S.exists(lua), "no linx-lua in this build (LINX_LUA)")
  os.execute(("cp '%s' %s/linx-lua && cp spec/fixtures/subid_child.lua examples/full-range.lua %s/ && chmod -R a+rX %s && chmod a+rx %s")
    :format(lua, fx.dir, fx.dir, fx.dir, fx.dir))
  return fx
end

function Fixture.down(fx)
  if not fx then return end
  if fx.dir then os.execute("rm -rf " .. fx.dir) end
  SubidUser.down(fx)
end

-- Run one scenario of the child script as the user; its result table.
function Fixture.run(fx, scenario, arg, env)
  local cmd = ("cd / && setpriv --reuid=%d --regid=%d --clear-groups env %s %s/linx-lua %s/subid_child.lua %s %s 2>&1")
    :format(fx.uid, fx.gid, env or "HOME=/", fx.dir, fx.dir, scenario, arg or "")
  local out = S.sh(cmd)
  local chunk = (loadstring or load)(out, "=child")
  assert(chunk, "child said: " .. out)
  local r = chunk()
  assert(type(r) == "table" and not r.crash, "child " .. scenario .. ": " .. tostring(r and r.crash or out))
  return r
end

describe("a user with a real subordinate range, unprivileged", function()
  local fx
  lazy_setup(function()
    if S.is_root then fx = Fixture.up() end
  end)
  lazy_teardown(function()
    Fixture.down(fx)
  end)

  local function need()
    if S.root_only("creating a throw-away user with /etc/subuid and /etc/subgid entries") then return false end
    return true
  end

  it("sees its ranges in the real files, by name and by uid", function()
    if not need() then return end
    local r = Fixture.run(fx, "ids", fx.name)
    local want = { uid = { { fx.ustart, 65536 } }, gid = { { fx.gstart, 65536 } } }
    assert.are.same({ fx.uid, fx.gid }, r.me)
    assert.are.same(want, r.subids)
    assert.are.same(want, r.by_name)
    assert.are.same(want, r.by_uid)
    assert.are.same({ uid = { { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } },
                      gid = { { 0, fx.gid, 1 }, { 1, fx.gstart, 65536 } }, setgroups = "skip" }, r.rootless)
  end)

  it("gives a child the full 65,536-id range through the helpers", function()
    if not need() then return end
    local r = Fixture.run(fx, "full")
    assert.is_true(r.ok, r.err and r.err.text)
    assert.are.same({ { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } }, r.uid_map)
    assert.are.same({ { 0, fx.gid, 1 }, { 1, fx.gstart, 65536 } }, r.gid_map)
    assert.are.equal("deny", r.setgroups) -- setup_maps' default, written before the helpers ran
    assert.are.equal(0, r.code)
    -- root inside; setpriv --reuid 1000 works; setgroups is denied
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.same({ "0", "0", "1000" }, { lines[1], lines[2], lines[3] })
    assert.matches("setgroups", lines[4])
    local function nums(l) return { tonumber(l:match("^%s*(%d+)")), tonumber(l:match("^%s*%d+%s+(%d+)")),
                                   tonumber(l:match("(%d+)%s*$")) } end
    -- /proc/self/uid_map inside shows the same map (outside ids are the host's)
    assert.are.same({ { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } }, { nums(lines[5]), nums(lines[6]) })
    assert.are.same({ { 0, fx.gid, 1 }, { 1, fx.gstart, 65536 } }, { nums(lines[7]), nums(lines[8]) })
    assert.are.equal("deny", lines[9])
    -- and the library's translation says where inside 1000 lands
    assert.are.equal(fx.ustart + 999, user.to_host(r.uid_map, 1000))
    assert.are.equal(1000, user.to_inside(r.uid_map, fx.ustart + 999))
  end)

  it("with setgroups skipped, newgidmap leaves setgroups allowed for a subgid range", function()
    if not need() then return end
    local r = Fixture.run(fx, "full", "skip")
    assert.is_true(r.ok, r.err and r.err.text)
    assert.are.equal("allow", r.setgroups)
    assert.are.equal(0, r.code)
    -- setpriv --clear-groups (a setgroups call) works, at the top of the range
    assert.matches("^0\n0\n1000\n65535\n", r.stdout)
    assert.matches("allow", r.stdout)
  end)

  it("setup_maps(c, rootless_maps(name)): setgroups stays allowed, as under podman", function()
    if not need() then return end
    local r = Fixture.run(fx, "rootless", fx.name)
    assert.is_true(r.ok, r.err and r.err.text)
    assert.are.equal("skip", r.maps_setgroups)
    assert.are.same({ { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } }, r.uid_map)
    assert.are.same({ { 0, fx.gid, 1 }, { 1, fx.gstart, 65536 } }, r.gid_map)
    assert.are.equal("allow", r.setgroups)
    assert.are.equal(0, r.code, r.stdout .. (r.stderr or ""))
    -- inside: setgroups reads allow, and dropping the groups (setgroups(2)) works
    assert.are.equal("allow\ncleared\n1000\n", r.stdout)
  end)

  it("accepts any layout of its own ranges, split and out of order", function()
    if not need() then return end
    local r = Fixture.run(fx, "maps", "partial")
    assert.is_true(r.ok, r.err and r.err.text)
    assert.are.same({ { 0, fx.uid, 1 }, { 1, fx.ustart + 100, 10 }, { 11, fx.ustart, 100 } }, r.uid_map)
  end)

  it("a uid range it does not own: the helper's error, nothing mapped", function()
    if not need() then return end
    local r = Fixture.run(fx, "maps", "uid_not_owned")
    assert.is_nil(r.ok)
    assert_helper(r.err, "set_uid_map", "exit")
    assert.are.equal(1, r.err.status)
    assert.matches("not allowed", r.err.stderr)
    assert.matches("newuidmap", r.err.text)
    assert.are.same({}, r.uid_map)
    -- newgidmap ran beside it (the two run side by side) and wrote its map
    assert.are.same({ { 0, fx.gid, 1 }, { 1, fx.gstart, 65536 } }, r.gid_map)
    assert.are.equal("deny", r.setgroups) -- the step before it stays done (write-once)
  end)

  it("a gid range it does not own: fails at set_gid_map after the uid map", function()
    if not need() then return end
    local r = Fixture.run(fx, "maps", "gid_not_owned")
    assert.is_nil(r.ok)
    assert_helper(r.err, "set_gid_map", "exit")
    assert.matches("newgidmap", r.err.helper)
    assert.matches("gid range .* not allowed", r.err.stderr)
    assert.are.same({ { 0, fx.uid, 1 }, { 1, fx.ustart, 65536 } }, r.uid_map)
    assert.are.same({}, r.gid_map)
  end)

  it("a missing helper: named, and nothing written", function()
    if not need() then return end
    for _, which in ipairs { "missing", "missing_gid" } do
      local r = Fixture.run(fx, "maps", which)
      assert.is_nil(r.ok)
      assert_helper(r.err, which == "missing" and "set_uid_map" or "set_gid_map", "missing")
      assert.are.equal("ENOENT", r.err.errno)
      assert.are.same({}, r.uid_map)
      assert.are.same({}, r.gid_map)
      assert.are.equal("allow", r.setgroups)
    end
    -- and when PATH has none
    local r = Fixture.run(fx, "no_path", nil, "HOME=/ PATH=/nonexistent")
    assert_helper(r.err, "set_uid_map", "missing")
    assert.are.equal("newuidmap", r.err.helper)
    assert.matches("newuidmap was not found in PATH", r.err.text, 1, true)
    assert.are.same({}, r.uid_map)
  end)

  it("helper = never: the kernel's EPERM, as without subordinate ids", function()
    if not need() then return end
    local r = Fixture.run(fx, "maps", "never")
    assert.is_nil(r.ok)
    assert.are.same({ "os", "EPERM", "set_uid_map" }, { r.err.kind, r.err.errno, r.err.operation })
    assert.are.equal(1, r.code3)
    assert.are.same({}, r.uid_map)
  end)

  it("a bad map is refused before the helpers run", function()
    if not need() then return end
    local r = Fixture.run(fx, "maps", "bad_gid_map")
    assert.are.same({ "bad_map", "overlap", "gid" }, { r.err.kind, r.err.reason, r.err.field })
    assert.are.same({}, r.uid_map)
    assert.are.equal("allow", r.setgroups)
  end)

  it("runs examples/full-range.lua: root inside, 1000 and 65535 mapped, setgroups allowed", function()
    if not need() then return end
    local out = S.sh(("cd / && setpriv --reuid=%d --regid=%d --clear-groups env HOME=/ %s/linx-lua %s/full-range.lua"
      .. " 2>&1; echo \"exit=$?\""):format(fx.uid, fx.gid, fx.dir, fx.dir))
    assert.matches(("uid map 1: 0 -> %d\n"):format(fx.uid), out, 1, true)
    assert.matches(("uid map 2: 1..65536 -> %d..%d\n"):format(fx.ustart, fx.ustart + 65535), out, 1, true)
    assert.matches(("gid map 2: 1..65536 -> %d..%d\n"):format(fx.gstart, fx.gstart + 65535), out, 1, true)
    assert.matches("setgroups:     allow\n", out, 1, true)
    assert.matches("inside:        uid 0, gid 0\n", out, 1, true)
    assert.matches("as 1000:       uid 1000, gid 1000\n", out, 1, true)
    assert.matches("as 65535:      uid 65535, gid 65535\n", out, 1, true)
    assert.matches("exit:          code 0\n", out, 1, true)
    assert.matches(("inside uid 1000 is host uid %d; host uid %d is inside uid 1\n"):format(fx.ustart + 999, fx.ustart), out, 1, true)
    assert.matches("exit=0\n$", out)
  end)

  it("others have no entry: no_subids, from the same files", function()
    if not need() then return end
    local has_root = (fx.snaps[1].data or ""):match("\nroot:") or (fx.snaps[1].data or ""):match("^root:")
    if has_root then return pending("this machine gives root a subordinate range") end
    local r, err = user.subids("root")
    assert.is_nil(r)
    assert.are.same({ "no_subids", "root", "/etc/subuid", "uid" }, { err.kind, err.user, err.path, err.field })
    r, err = user.rootless_maps("root")
    assert.is_nil(r)
    assert.are.equal("no_subids", err.kind)
  end)
end)
