-- setup_maps plans its route from what the kernel will take before its
-- first write, so a setup that cannot finish never spends the uid map;
-- error hints live in one place (err.hint, which tostring prints once);
-- the mistakes a newcomer makes get hints that name them.
local user = require "linxuser"
local process = require "linx.process"
local S = require("support").bind(function(why) pending(why) end)

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
local helper_installed = S.sh("command -v newuidmap newgidmap"):match("newgidmap") ~= nil

local function nothing_written(pid, setgroups)
  assert.are.same({}, user.read_uid_map(pid))
  assert.are.same({}, user.read_gid_map(pid))
  assert.are.equal(setgroups or "allow", user.read_setgroups(pid))
end

-- One hint, one place: tostring(err) ends with "; hint: " .. err.hint,
-- once, and err.message carries no hint of its own.
local function assert_one_hint(err)
  assert.is_string(err.hint)
  local text = tostring(err)
  local suffix = "; hint: " .. err.hint
  assert.are.equal(suffix, text:sub(-#suffix))
  assert.is_nil(text:sub(1, -#suffix - 1):find("hint:", 1, true))
  if err.message then assert.is_nil(err.message:find("hint:", 1, true)) end
end

local function skip_opts(extra)
  local o = { uid = own.uid, gid = own.gid, setgroups = "skip" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

describe("setup_maps route", function()
  it("unprivileged, setgroups skip, helper auto: the gid map goes to newgidmap", function()
    if S.unpriv_only("the kernel refuses an unprivileged gid map while setgroups is allow") then return end
    if not helper_installed then return pending("newuidmap/newgidmap not installed") end
    S.with_sleeper(function(pid)
      assert.is_true(user.setup_maps(pid, skip_opts()))
      assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
      assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
      -- newgidmap denies setgroups itself for an own-gid-only map
      assert.are.equal("deny", user.read_setgroups(pid))
    end)
  end)

  it("unprivileged, setgroups skip, no helper: refused before any write", function()
    if S.unpriv_only("the kernel refuses an unprivileged gid map while setgroups is allow") then return end
    S.with_sleeper(function(pid)
      -- helper = "never"
      local ok, err = user.setup_maps(pid, skip_opts { helper = "never" })
      assert.is_nil(ok)
      assert.are.same({ "helper", "setup_maps", "set_gid_map", "never" },
        { err.kind, "setup_maps", err.operation, err.reason })
      assert.matches("setgroups", err.message)
      assert.matches("nothing was written", err.message)
      assert_one_hint(err)
      nothing_written(pid)
      -- helper = "auto", none installed (named by a path that does not exist)
      ok, err = user.setup_maps(pid, skip_opts { newgidmap = "/nonexistent/newgidmap" })
      assert.is_nil(ok)
      assert.are.same({ "helper", "set_gid_map", "missing" }, { err.kind, err.operation, err.reason })
      assert_one_hint(err)
      nothing_written(pid)
      -- the same child still takes the whole sequence afterwards
      assert.is_true(user.setup_maps(pid, own))
    end)
  end)

  it("with CAP_SETGID, setgroups skip writes both maps directly and leaves setgroups allow", function()
    if S.root_only("CAP_SETGID") then return end
    S.with_sleeper(function(pid)
      assert.is_true(user.setup_maps(pid, skip_opts { helper = "never" }))
      assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
      assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
      assert.are.equal("allow", user.read_setgroups(pid))
    end)
  end)

  it("setgroups skip on a child whose setgroups is already deny writes directly", function()
    S.with_sleeper(function(pid)
      assert.is_true(user.deny_setgroups(pid))
      assert.is_true(user.setup_maps(pid, skip_opts { helper = "never" }))
      assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
    end)
  end)
end)

describe("hints", function()
  it("a missing helper: err.hint is what tostring prints, once", function()
    S.with_sleeper(function(pid)
      local ok, err = user.setup_maps(pid, { uid = own.uid, gid = own.gid, helper = "always",
                                             newuidmap = "/nonexistent/newuidmap" })
      assert.is_nil(ok)
      assert.are.same({ "helper", "missing" }, { err.kind, err.reason })
      assert.are.equal("/nonexistent/newuidmap was not found", err.message)
      assert_one_hint(err)
      assert.matches("uidmap package", err.hint, 1, true)
      nothing_written(pid)
    end)
  end)

  it("a helper's refusal: err.hint is what tostring prints, once", function()
    if not helper_installed then return pending("newuidmap/newgidmap not installed") end
    S.with_sleeper(function(pid)
      local ok, err = user.setup_maps(pid, { uid = { { 0, 3000000000, 10 } }, gid = own.gid, helper = "always" })
      assert.is_nil(ok)
      assert.are.same({ "helper", "exit" }, { err.kind, err.reason })
      assert_one_hint(err)
    end)
  end)

  it("an os refusal and a generic kind print their hint once too", function()
    S.with_sleeper(function(pid)
      assert.is_true(user.setup_maps(pid, own))
      local ok, err = user.set_uid_map(pid, own.uid)
      assert.is_nil(ok)
      assert.are.equal("os", err.kind)
      assert_one_hint(err)
    end)
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("someone:100000:65536\n")
    f:close()
    local ok, err = user.subids("nobody-here", { subuid_path = path, subgid_path = path })
    os.remove(path)
    assert.is_nil(ok)
    assert.are.equal("no_subids", err.kind)
    assert_one_hint(err) -- the generic branch of tostring adds it
  end)

  it("set_uid_map on a child spawned without \"user\": the hint names namespaces = {\"user\"}", function()
    local c = assert(process.spawn { argv = { "sleep", "30" } })
    local ok, err, code = user.set_uid_map(c, own.uid)
    assert.is_nil(ok)
    assert.are.same({ "os", "EPERM", 1 }, { err.kind, err.errno, code })
    assert.matches('namespaces = {"user"}', err.hint, 1, true)
    assert_one_hint(err)
    ok, err = user.setup_maps(c, own)
    assert.is_nil(ok)
    assert.matches('namespaces = {"user"}', err.hint, 1, true)
    c:close()
    -- a child with its own user namespace gets the write-once hint, not this one
    c = assert(process.spawn { argv = { "sleep", "30" }, namespaces = { "user" } })
    assert.is_true(user.setup_maps(c, own))
    ok, err = user.set_uid_map(c, own.uid)
    assert.is_nil(ok)
    assert.matches("write%-once", err.hint)
    c:close()
  end)

  it("subids with options that are no table: bad_option naming the argument", function()
    local ok, err = user.subids("alice", "x")
    assert.is_nil(ok)
    assert.are.same({ "bad_option", "subids", "not_a_table", "opts", "x" },
      { err.kind, err.operation, err.reason, err.field, err.value })
    assert.matches("'opts'", tostring(err), 1, true)
  end)
end)
