-- subids() and rootless_maps(): shadow's /etc/subuid and /etc/subgid,
-- parsed from real files (temp files here; the real ones in
-- spec/helper_spec.lua). Runs the same in both lanes.
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local me = S.sh("id -un"):match("^(%S+)")
local uid, gid = S.uid, S.gid

local temps = {}
local function temp(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  temps[#temps + 1] = path
  return path
end

-- subids/rootless_maps with both files given as text.
local function paths(uidtext, gidtext)
  return { subuid_path = temp(uidtext), subgid_path = temp(gidtext or uidtext) }
end

local function assert_no_subids(err, op, path, field)
  assert.is_table(err)
  assert.are.equal("no_subids", err.kind)
  assert.are.equal(op, err.operation)
  assert.are.equal(path, err.path)
  assert.are.equal(field, err.field)
  assert.is_string(err.message)
  assert.matches("no subordinate " .. field .. " range for user", tostring(err), 1, true)
end

describe("subids", function()
  teardown(function()
    for _, p in ipairs(temps) do os.remove(p) end
  end)

  it("matches lines by user name and by numeric uid, in file order", function()
    local o = paths(table.concat({
      "# subordinate uids",
      "someone:500000:65536",
      me .. ":100000:65536",
      uid .. ":300000:10",
      "someone-else:" .. uid .. ":1",
      me .. ":400000:5",
    }, "\n") .. "\n", me .. ":200000:65536\n")
    local want = { uid = { { 100000, 65536 }, { 300000, 10 }, { 400000, 5 } }, gid = { { 200000, 65536 } } }
    assert.are.same(want, user.subids(me, o))
    assert.are.same(want, user.subids(uid, o))
    assert.are.same(want, user.subids(uid + 0.0, o)) -- an integral float is a uid too
    assert.are.same(want, user.subids(nil, o)) -- nil: the caller, by real uid
  end)

  it("matches a name that has no passwd entry, and a numeric owner string", function()
    local o = paths("linx-no-such-user:5:5\n4000000000:7:7\n")
    assert.are.same({ uid = { { 5, 5 } }, gid = { { 5, 5 } } }, user.subids("linx-no-such-user", o))
    assert.are.same({ uid = { { 7, 7 } }, gid = { { 7, 7 } } }, user.subids("4000000000", o))
    assert.are.same({ uid = { { 7, 7 } }, gid = { { 7, 7 } } }, user.subids(4000000000, o))
  end)

  it("skips comments and every malformed line, as shadow does", function()
    local bad = {
      "#" .. me .. ":1:5",          -- a comment
      me .. ":1:2:3",               -- four fields
      me .. "::5", me .. ":5:", ":5:5", me, me .. ":5", "",
      me .. ":-1:5", me .. ":+1:5", me .. ": 1:5", me .. ":1:5 ", me .. ":1:5\r",
      " " .. me .. ":1:5",          -- the owner is " me"
      me .. ":abc:5", me .. ":1e3:5", me .. ":08:1", me .. ":0x:1", me .. ":0xg:1",
      me .. ":1:0",                 -- empty range
      me .. ":4294967295:1",        -- past the id space
      me .. ":4294967200:100",
      me .. ":99999999999:1",
      me .. ":1:" .. string.rep("0", 1100) .. "1", -- longer than shadow's 1024-byte line
      me .. "\0:1:5", me .. ":1\0:5",
    }
    local good = { me .. ":10:20" }
    local text = table.concat(bad, "\n") .. "\n" .. table.concat(good, "\n") .. "\n"
    assert.are.same({ uid = { { 10, 20 } }, gid = { { 10, 20 } } }, user.subids(me, paths(text)))
    -- every bad line alone: no range at all
    for i, line in ipairs(bad) do
      local r, err = user.subids(me, paths(line .. "\n"))
      assert.is_nil(r, ("line %d (%q) was accepted"):format(i, line))
      assert.are.equal("no_subids", err.kind)
    end
  end)

  it("reads numbers the way shadow's strtoul(base 0) does: hex and octal too", function()
    local o = paths(table.concat({
      me .. ":0x10:0X20", me .. ":010:8", me .. ":0:1", me .. ":4294967294:1",
      me .. ":4294901759:65536",
    }, "\n")) -- and the last line has no newline
    assert.are.same({ { 16, 32 }, { 8, 8 }, { 0, 1 }, { 4294967294, 1 }, { 4294901759, 65536 } },
      user.subids(me, o).uid)
  end)

  it("finds a line at the end of a large file", function()
    local lines = {}
    for i = 1, 20000 do lines[i] = ("user%d:%d:65536"):format(i, 100000 + i * 65536) end
    lines[#lines + 1] = me .. ":1:2"
    local o = paths(table.concat(lines, "\n") .. "\n")
    assert.are.same({ { 1, 2 } }, user.subids(me, o).uid)
  end)

  it("says no_subids, naming the file and the side, when the user has no range", function()
    local o = paths("someone:100000:65536\n", me .. ":1:2\n")
    local r, err = user.subids(me, o)
    assert.is_nil(r)
    assert_no_subids(err, "subids", o.subuid_path, "uid")
    assert.are.equal(me, err.user)
    assert.are.equal(uid, err.uid)
    assert.matches("usermod", err.hint)
    -- a uid range but no gid range
    o = paths(me .. ":1:2\n", "someone:100000:65536\n")
    r, err = user.subids(me, o)
    assert.is_nil(r)
    assert_no_subids(err, "subids", o.subgid_path, "gid")
    -- an unknown numeric user is named by its number
    r, err = user.subids(4000000001, o)
    assert.is_nil(r)
    assert.are.equal(4000000001, err.user)
  end)

  it("reports a missing or unreadable file as an os error", function()
    local r, err, code = user.subids(me, { subuid_path = "/nonexistent/subuid" })
    assert.is_nil(r)
    assert.are.equal("os", err.kind)
    assert.are.equal("subids", err.operation)
    assert.are.equal("ENOENT", err.errno)
    assert.are.equal("/nonexistent/subuid", err.path)
    assert.are.equal(2, code)
    assert.matches("subids failed on /nonexistent/subuid: ENOENT", tostring(err), 1, true)
    local o = paths(me .. ":1:2\n")
    r, err = user.subids(me, { subuid_path = o.subuid_path, subgid_path = "/" })
    assert.is_nil(r)
    assert.are.equal("os", err.kind)
    assert.are.equal("EISDIR", err.errno)
    assert.are.equal("/", err.path)
  end)

  it("uses /etc/subuid and /etc/subgid by default", function()
    local r, err = user.subids("linx-no-such-user-" .. uid)
    assert.is_nil(r)
    if err.kind == "os" then -- a system without the files
      assert.are.equal("/etc/subuid", err.path)
    else
      assert_no_subids(err, "subids", "/etc/subuid", "uid")
    end
  end)

  it("refuses bad users and options with error tables, never raising", function()
    for _, bad in ipairs { true, {}, 1.5, -1, 4294967295, "", "a\0b", 0 / 0, print } do
      local r, err = user.subids(bad)
      assert.is_nil(r)
      assert.are.equal("bad_user", err.kind)
      assert.are.equal("subids", err.operation)
      if bad == bad then assert.are.equal(bad, err.value) else assert.is_true(err.value ~= err.value) end
      assert.matches("bad_user", tostring(err))
    end
    local r, err = user.subids(me, "paths")
    assert.is_nil(r)
    assert.are.same({ "bad_option", "not_a_table", "opts", "paths" }, { err.kind, err.reason, err.field, err.value })
    assert.are.equal("subids failed: bad_option 'opts': not_a_table", tostring(err))
    r, err = user.subids("alice", "x")
    assert.is_nil(r)
    assert.are.same({ "bad_option", "subids", "opts", "x" }, { err.kind, err.operation, err.field, err.value })
    r, err = user.subids(me, { subuid_path = 5 })
    assert.is_nil(r)
    assert.are.same({ "bad_option", "not_a_string", "subuid_path", 5 }, { err.kind, err.reason, err.field, err.value })
    r, err = user.subids(me, setmetatable({}, { __index = function() error("boom") end }))
    assert.is_nil(r)
    assert.are.same({ "bad_option", "unreadable" }, { err.kind, err.reason })
    -- options are read normally: __index defaults work
    local o = paths(me .. ":1:2\n")
    assert.are.same({ { 1, 2 } }, user.subids(me, setmetatable({}, { __index = o })).uid)
  end)
end)

describe("rootless_maps", function()
  teardown(function()
    for _, p in ipairs(temps) do os.remove(p) end
  end)

  it("lays out root inside as the caller, then the ranges from inside id 1", function()
    local o = paths(me .. ":100000:65536\n" .. me .. ":300000:10\n", me .. ":200000:65536\n")
    local m = assert(user.rootless_maps(nil, o))
    assert.are.same({ { 0, uid, 1 }, { 1, 100000, 65536 }, { 65537, 300000, 10 } }, S.triples(m.uid))
    assert.are.same({ { 0, gid, 1 }, { 1, 200000, 65536 } }, S.triples(m.gid))
    -- Maps, which print and compare like the rest of the module
    assert.are.equal("1..65536 -> 100000..165535", tostring(m.uid[2]))
    assert.are.equal(user.map(0, uid, 1), m.uid[1])
    -- by name and by uid: the same
    assert.are.same(S.triples(m.uid), S.triples(user.rootless_maps(me, o).uid))
    assert.are.same(S.triples(m.gid), S.triples(user.rootless_maps(uid, o).gid))
  end)

  it("leaves out a range that holds the user's own id", function()
    local clash = math.max(uid - 2, 0) .. ":5"
    local o = paths(me .. ":" .. clash .. "\n" .. me .. ":100000:10\n", me .. ":200000:10\n")
    local m = assert(user.rootless_maps(me, o))
    assert.are.same({ { 0, uid, 1 }, { 1, 100000, 10 } }, S.triples(m.uid))
    -- and when nothing is left, says so
    o = paths(me .. ":" .. clash .. "\n", me .. ":200000:10\n")
    local r, err = user.rootless_maps(me, o)
    assert.is_nil(r)
    assert.are.same({ "no_subids", "rootless_maps", "uid", "overlap" }, { err.kind, err.operation, err.field, err.reason })
  end)

  it("passes on subids errors, and needs a passwd entry for the own ids", function()
    local o = paths("someone:1:2\n")
    local r, err = user.rootless_maps(me, o)
    assert.is_nil(r)
    assert_no_subids(err, "rootless_maps", o.subuid_path, "uid")
    o = paths("4000000000:100000:10\n")
    r, err = user.rootless_maps(4000000000, o)
    assert.is_nil(r)
    assert.are.same({ "no_user", "rootless_maps", 4000000000 }, { err.kind, err.operation, err.user })
    r, err = user.rootless_maps(me, { subuid_path = "/nonexistent" })
    assert.is_nil(r)
    assert.are.same({ "os", "ENOENT" }, { err.kind, err.errno })
  end)

  it("stops within the kernel's limits: 340 entries, text under 4096 bytes", function()
    local function text_len(list)
      local n = 0
      for _, t in ipairs(S.triples(list)) do n = n + #("%d %d %d\n"):format(t[1], t[2], t[3]) end
      return n
    end
    local lines = {}
    for i = 1, 400 do lines[i] = ("%s:%d:1"):format(me, 2 * i) end -- short numbers: 340 fit
    local o = paths(table.concat(lines, "\n") .. "\n", me .. ":100000:10\n")
    local m = assert(user.rootless_maps(me, o))
    if uid >= 2 and uid <= 2 * 400 then return pending("own uid inside the generated ranges") end
    assert.are.equal(340, #m.uid)
    assert.are.same({ 339, 2 * 339, 1 }, S.triples(m.uid)[340])
    assert.is_true(text_len(m.uid) < 4096)
    for i = 1, 400 do lines[i] = ("%s:%d:1"):format(me, 1000000000 + 2 * i) end -- long ones: fewer
    o = paths(table.concat(lines, "\n") .. "\n", me .. ":100000:10\n")
    m = assert(user.rootless_maps(me, o))
    assert.is_true(#m.uid > 200 and #m.uid < 340, "entries: " .. #m.uid)
    assert.is_true(text_len(m.uid) < 4096)
    local pid = S.sleeper() -- and the kernel takes it, as root; validation passes in both lanes
    local ok, err = user.setup_maps(pid, { uid = m.uid, gid = m.gid, helper = "never" })
    S.kill(pid)
    if S.is_root then assert.is_true(ok, tostring(err)) else assert.are.equal("os", err.kind) end
  end)
end)
