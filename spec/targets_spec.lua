-- A linxuser verb aimed at a linx.process handle reaches the very process
-- that handle spawned, whatever Lua code runs while the verb reads its
-- arguments: a metamethod or a finalizer that closes the handle (and
-- spawns another child, whose fds take the closed numbers) makes the
-- verb fail with bad_target, never touch the other child.
local S = require "support"
local user = require "linxuser"
local process = require "linx.process"

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }

local function spawn()
  return assert(process.spawn { argv = { "sleep", "30" }, namespaces = { "user" } })
end

-- The untouched state of a fresh child in its own user namespace.
local function assert_untouched(v)
  assert.are.same({}, user.read_uid_map(v))
  assert.are.same({}, user.read_gid_map(v))
  assert.are.equal("allow", user.read_setgroups(v))
end

local function assert_bad_target(ok, err, op)
  assert.is_nil(ok)
  assert.is_table(err)
  assert.are.same({ "bad_target", op }, { err.kind, err.operation })
end

-- Our own pid, and what our fd numbers point at (readlink of each).
local self_pid = tonumber(S.read_file("/proc/self/stat"):match("^(%d+)"))
-- Only what a verb could hold: /proc directories and pidfds.
local function fd_links()
  local out = S.sh("cd /proc/" .. self_pid .. "/fd && for f in *; do printf '%s %s\\n' \"$f\" \"$(readlink \"$f\")\"; done")
  local links = {}
  for n, target in out:gmatch("(%d+) ([^\n]*)") do
    if target:match("^/proc/") or target:match("pidfd") then links[tonumber(n)] = target end
  end
  return links
end
local function fds_at(links, path)
  local list = {}
  for n, target in pairs(links) do if target == path then list[#list + 1] = n end end
  table.sort(list)
  return list
end

local with_finalizer = S.with_finalizer

local helper_installed = S.sh("command -v newuidmap newgidmap"):match("newgidmap") ~= nil

-- Every option setup_maps reads; a metamethod may run on each.
local OPTION_KEYS = { "uid", "gid", "setgroups", "helper", "newuidmap", "newgidmap" }

describe("targets", function()
  local c, v
  after_each(function()
    if c then c:close() end
    if v then v:close() end
    c, v = nil, nil
  end)

  it("the issue's reproducer: an __index that closes the handle and spawns another gives bad_target", function()
    c = spawn()
    local c_pid = c:host_pid()
    local before = fds_at(fd_links(), "/proc/" .. c_pid)
    local opts = setmetatable({}, { __index = function(_, k)
      if k == "uid" then
        c:close()
        v = spawn()
        return own.uid
      end
      if k == "gid" then return own.gid end
    end })
    local ok, err = user.setup_maps(c, opts)
    assert_bad_target(ok, err, "setup_maps")
    assert.is_not_nil(v)
    -- the hazard is real: the new child's /proc fd took a number the closed handle held
    local after = fds_at(fd_links(), "/proc/" .. v:host_pid())
    assert.is_true(#before > 0 and #after > 0)
    local reused = false
    for _, a in ipairs(after) do for _, b in ipairs(before) do reused = reused or a == b end end
    assert.is_true(reused, "v's fds did not land on c's numbers: the reproducer lost its teeth")
    assert_untouched(v)
  end)

  for _, key in ipairs(OPTION_KEYS) do
    for _, helper in ipairs { "auto", "never", "always" } do
      it(("setup_maps, helper %s: closing the handle while option %s is read is bad_target"):format(helper, key), function()
        if helper == "always" and not helper_installed then
          pending("newuidmap/newgidmap not installed")
          return
        end
        c = spawn()
        local base = { uid = own.uid, gid = own.gid, helper = helper }
        local opts = setmetatable({}, { __index = function(_, k)
          if k == key and not v then
            c:close()
            v = spawn()
          end
          return base[k]
        end })
        local ok, err = user.setup_maps(c, opts)
        assert_bad_target(ok, err, "setup_maps")
        assert_untouched(v)
      end)
    end
  end

  for _, key in ipairs(OPTION_KEYS) do
    it(("setup_maps: a finalizer run while option %s is read closes the handle: bad_target"):format(key), function()
      c = spawn()
      local ran = false
      local opts = setmetatable({}, { __index = function(_, k)
        if k == key then
          with_finalizer(function() -- garbage at once
            ran = true
            c:close()
            v = spawn()
          end)
          collectgarbage("collect")
          collectgarbage("collect")
        end
        return own[k]
      end })
      local ok, err = user.setup_maps(c, opts)
      assert.is_true(ran, "the finalizer did not run")
      assert_bad_target(ok, err, "setup_maps")
      assert_untouched(v)
    end)
  end

  -- Lua code can also run in a verb through a finalizer, at any
  -- allocation. On Lua 5.4 that is made certain: in generational mode,
  -- "stop" then "restart" leaves the collector's debt at 0, so the verb's
  -- first allocation runs a minor collection, which calls the pending
  -- finalizer there and then. Every verb allocates what it needs before
  -- it resolves the handle: the finalizer's close is seen, bad_target.
  local VERBS = {
    set_uid_map = function(t) return user.set_uid_map(t, own.uid) end,
    set_gid_map = function(t) return user.set_gid_map(t, own.gid) end,
    deny_setgroups = function(t) return user.deny_setgroups(t) end,
    read_uid_map = function(t) return user.read_uid_map(t) end,
    read_gid_map = function(t) return user.read_gid_map(t) end,
    read_setgroups = function(t) return user.read_setgroups(t) end,
    setup_maps = function(t) return user.setup_maps(t, own) end,
    ["setup_maps (skip)"] = function(t)
      return user.setup_maps(t, { uid = own.uid, gid = own.gid, setgroups = "skip" })
    end,
  }
  for name, call in pairs(VERBS) do
    it(name .. ": a finalizer that closes the handle mid-call gives bad_target, never another child", function()
      if _VERSION ~= "Lua 5.4" then
        pending("needs Lua 5.4's generational collector to place the finalizer")
        return
      end
      local old = collectgarbage("generational")
      local ok, err, mid
      local in_call = false
      c = spawn()
      local mine = c
      with_finalizer(function() -- garbage at once
        mine:close()
        v = spawn()
        mid = in_call
      end)
      collectgarbage("stop")
      collectgarbage("restart")
      in_call = true
      ok, err = call(c)
      in_call = false
      collectgarbage(old)
      assert.is_true(mid, "the finalizer did not run inside the call")
      assert_bad_target(ok, err, (name:gsub(" .*", "")))
      assert_untouched(v)
    end)
  end

  it("a closed handle is bad_target for every verb, and no verb leaves an fd behind", function()
    local before = fd_links()
    c = spawn()
    assert.is_true(user.setup_maps(c, own))
    assert.are.equal(1, #user.read_uid_map(c))
    assert.are.equal(1, #user.read_gid_map(c))
    assert.are.equal("deny", user.read_setgroups(c))
    local ok, err = user.set_uid_map(c, own.uid)
    assert.is_nil(ok)
    assert.are.equal("os", err.kind)
    c:close()
    for name, call in pairs(VERBS) do
      local ok2, err2 = call(c)
      assert_bad_target(ok2, err2, (name:gsub(" .*", "")))
    end
    c = nil
    collectgarbage("collect")
    assert.are.same(before, fd_links())
  end)

  it("a handle keeps reaching its own child after its fds were duplicated by a verb", function()
    c = spawn()
    v = spawn()
    for _ = 1, 3 do assert.are.same({}, user.read_uid_map(c)) end
    assert.is_true(user.setup_maps(c, own))
    assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(c)))
    assert_untouched(v)
  end)
end)
