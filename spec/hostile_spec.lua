-- A hostile caller who has read only README.md and SECURITY.md: every
-- promise they make, pushed at its edges (bad types, huge and odd
-- numbers, metamethods that raise, yield, close the handle or collect
-- garbage, handles after close, children that misbehave). Real kernel,
-- real namespaces; runs as root and as uid 65534, on 5.4 and LuaJIT.

local S = require("support").bind(function(why) pending(why) end)
local user = require "linxuser"
local process = require "linx.process"

local uid, gid = S.uid, S.gid
local own = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
local unpack = table.unpack or unpack
local maxint = math.maxinteger -- nil on 5.1, 5.2 and LuaJIT
local minint = math.mininteger

local function nargs(...) return select("#", ...) end

local function spawn(opts)
  opts = opts or {}
  opts.argv = opts.argv or { "sleep", "30" }
  return assert(process.spawn(opts))
end

local function userns_child()
  return spawn { namespaces = { "user" } }
end

-- A fresh child in its own user namespace that nothing touched.
local function assert_untouched(c)
  assert.are.same({}, user.read_uid_map(c))
  assert.are.same({}, user.read_gid_map(c))
  assert.are.equal("allow", user.read_setgroups(c))
end

local function assert_err(kind, op, ok, err, ...)
  assert.is_nil(ok)
  assert.is_table(err, "expected nil, err")
  assert.are.equal(kind, err.kind, tostring(err))
  if op then assert.are.equal(op, err.operation, tostring(err)) end
  local line = tostring(err)
  assert.is_string(line)
  assert.is_nil(line:find("[%c]"), "tostring(err) is not one clean line: " .. line)
  return err, ...
end

local self_pid = tonumber(S.read_file("/proc/self/stat"):match("^(%d+)"))

-- Our fds (number -> what it points at), for "nothing left behind".
local function fd_table()
  local out = S.sh("cd /proc/" .. self_pid .. "/fd && for f in *; do printf '%s %s\\n' \"$f\" \"$(readlink \"$f\")\"; done")
  local fds = {}
  for n, target in out:gmatch("(%d+) ([^\n]*)") do fds[tonumber(n)] = target end
  return fds
end
-- Drop the fds of the popen pipe itself, which differ call to call.
local function stable_fds()
  local fds = fd_table()
  for n, t in pairs(fds) do if t == "" or t:match("^pipe:") then fds[n] = nil end end
  return fds
end

-- Our children other than the shell that lists them.
local function children()
  local out = S.sh("ps -o pid=,comm= --ppid " .. self_pid)
  local list = {}
  for pid, comm in out:gmatch("(%d+)%s+([^\n]*)") do
    if comm ~= "ps" and comm ~= "sh" then list[#list + 1] = pid .. " " .. comm end
  end
  table.sort(list)
  return list
end

local function alive(pid)
  local stat = S.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

local with_finalizer = S.with_finalizer

------------------------------------------------------------------------
describe("targets", function()
  local verbs = {
    { "deny_setgroups", function(t) return user.deny_setgroups(t) end },
    { "read_setgroups", function(t) return user.read_setgroups(t) end },
    { "set_uid_map", function(t) return user.set_uid_map(t, own.uid) end },
    { "set_gid_map", function(t) return user.set_gid_map(t, own.gid) end },
    { "read_uid_map", function(t) return user.read_uid_map(t) end },
    { "read_gid_map", function(t) return user.read_gid_map(t) end },
    { "setup_maps", function(t) return user.setup_maps(t, own) end },
  }
  local bad = { 0, -1, 1.5, 0 / 0, 1 / 0, -1 / 0, -0.0, 2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 63, 2 ^ 64,
    "1", " 1", "0x1", true, false, {}, print, coroutine.create(function() end) }
  if maxint then bad[#bad + 1] = maxint; bad[#bad + 1] = minint end

  it("anything but a positive integer pid or a live handle is bad_target naming the value", function()
    for _, v in ipairs(bad) do
      for _, verb in ipairs(verbs) do
        local err = assert_err("bad_target", verb[1], verb[2](v))
        if v == v then assert.are.equal(v, err.value) end -- NaN is never equal to itself
      end
    end
    -- no target at all
    assert_err("bad_target", "read_uid_map", user.read_uid_map())
    assert_err("bad_target", "setup_maps", user.setup_maps())
  end)

  it("a pid that fits pid_t but names nothing is the kernel's ENOENT, with errno third", function()
    local ok, err, code = user.read_uid_map(2 ^ 31 - 1)
    assert_err("os", "read_uid_map", ok, err)
    assert.are.same({ "ENOENT", 2, 2 }, { err.errno, err.code, code })
    assert.are.equal("/proc/2147483647/uid_map", err.path)
  end)

  it("an integral float pid is that pid", function()
    assert.are.same(user.read_uid_map(1), user.read_uid_map(1.0))
    assert.is_string(user.read_setgroups(1.0))
  end)

  it("a closed handle is bad_target for every verb, and the value is the handle", function()
    local c = userns_child()
    c:close()
    for _, verb in ipairs(verbs) do
      local err = assert_err("bad_target", verb[1], verb[2](c))
      assert.are.equal(c, err.value)
    end
  end)

  it("a waited-for or killed handle never reaches another process: ESRCH, named", function()
    local c = spawn { argv = { "true" }, namespaces = { "user" } }
    assert(c:proceed())
    assert.is_true(c:wait().exited)
    for _, verb in ipairs(verbs) do
      local ok, err, code = verb[2](c)
      assert.is_nil(ok)
      assert.is_table(err)
      assert.is_true(err.kind == "os" or err.kind == "bad_target", tostring(err))
      if err.kind == "os" then
        assert.are.equal("ESRCH", err.errno)
        assert.are.equal(3, code)
      end
    end
    c:close()
  end)

  it("other userdata (a file, a Map's metatable target) is bad_target", function()
    local f = io.tmpfile()
    assert_err("bad_target", "read_uid_map", user.read_uid_map(f))
    f:close()
  end)
end)

------------------------------------------------------------------------
describe("map()", function()
  it("takes the whole id space and nothing past it", function()
    assert.are.equal("0..4294967294 -> 0..4294967294", tostring(user.map(0, 0, 4294967295)))
    assert.are.equal("4294967294 -> 4294967294", tostring(user.map(4294967294, 4294967294, 1)))
    local cases = {
      { { 4294967295, 0, 1 }, "out_of_range" }, { { 0, 4294967295, 1 }, "out_of_range" },
      { { 1, 0, 4294967295 }, "out_of_range" }, { { 0, 0, 2 ^ 53 }, "out_of_range" },
      { { 0, 0, 2 ^ 53 + 2 }, "out_of_range" }, { { 0, 0, 2 ^ 63 }, "out_of_range" },
      { { 0, 0, 1e308 }, "out_of_range" }, { { 2 ^ 32, 0, 1 }, "out_of_range" },
      { { 2 ^ 31, 2 ^ 31, 2 ^ 31 }, "out_of_range" },
      { { -1, 0, 1 }, "negative" }, { { 0, -1, 1 }, "negative" }, { { 0, 0, -1 }, "negative" },
      { { -2 ^ 63, 0, 1 }, "negative" },
      { { 0, 0, 0 }, "zero_length" },
      { { 0, 0, 1.5 }, "bad_entry" }, { { 0 / 0, 0, 1 }, "bad_entry" }, { { 1 / 0, 0, 1 }, "bad_entry" },
      { { "0", 0, 1 }, "bad_entry" }, { { 0, 0, true }, "bad_entry" }, { { 0, 0 }, "bad_entry" },
      { {}, "bad_entry" },
    }
    if maxint then
      cases[#cases + 1] = { { maxint, 0, 1 }, "out_of_range" }
      cases[#cases + 1] = { { 0, 0, maxint }, "out_of_range" }
      cases[#cases + 1] = { { minint, 0, 1 }, "negative" }
      cases[#cases + 1] = { { 1, maxint, maxint }, "out_of_range" }
    end
    for _, c in ipairs(cases) do
      local ok, err = user.map(unpack(c[1], 1, 3))
      assert_err("bad_map", "map", ok, err)
      assert.are.equal(c[2], err.reason, tostring(err))
      assert.are.equal(1, err.index)
      assert.are.equal(2, nargs(user.map(unpack(c[1], 1, 3)))) -- no errno: not the kernel
    end
  end)

  it("accepts integral floats and -0 as the integers they are", function()
    assert.are.equal(user.map(0, 1000, 1), user.map(-0.0, 1000.0, 1.0))
    assert.are.equal("0 -> 1000", tostring(user.map(0.0, 1000.0, 1.0)))
  end)

  it("Maps compare by value, never raise, and print whatever is put in them", function()
    local a, b = user.map(0, 100000, 65536), user.map(0, 100000, 65536)
    assert.is_true(a == b)
    assert.is_false(a == user.map(0, 100000, 65535))
    local mt = getmetatable(a)
    assert.are.equal("linxuser.Map", mt.__name)
    assert.is_false(mt.__eq(1, 2))
    assert.is_string(mt.__tostring())
    -- a Map the caller filled with anything: tostring stays a string
    local junk = { { "x", 1, 1 }, { 1, 1, 0 }, { -5, -5, -5 }, { 2 ^ 62, 2 ^ 62, 2 ^ 62 },
      { 2 ^ 70, 0, 2 }, { 0 / 0, 0, 2 } }
    if maxint then
      junk[#junk + 1] = { maxint, maxint, maxint }
      junk[#junk + 1] = { minint, minint, 2 }
      junk[#junk + 1] = { 0, 0, minint }
    end
    for _, f in ipairs(junk) do
      local m = user.map(0, 0, 2)
      m.inside, m.outside, m.length = f[1], f[2], f[3]
      local ok, s = pcall(tostring, m)
      assert.is_true(ok, s)
      assert.is_string(s)
    end
  end)
end)

------------------------------------------------------------------------
describe("map lists", function()
  local function refused(maps, reason, index, other)
    local ok, err = user.set_uid_map(1, maps)
    assert_err("bad_map", "set_uid_map", ok, err)
    assert.are.equal(reason, err.reason, tostring(err))
    assert.are.equal(index, err.index)
    assert.are.equal(other, err.other)
    return err
  end

  it("names every mistake the kernel would answer with a bare EINVAL", function()
    refused({}, "empty")
    refused({ inside = 0, outside = 0, length = 1 }, "not_a_list") -- a lone entry
    refused("0 0 1", "not_a_list")
    refused({ { 0, 0, 1 }, "x" }, "bad_entry", 2)
    refused({ { 0, 0, 1, 1 } }, "bad_entry", 1) -- a fourth number is no entry
    refused({ { 0, 0, 1 }, nil, { 5, 5, 1 } }, "bad_entry", 2)
    refused({ { 0, 0, 0 } }, "zero_length", 1)
    refused({ { 0, -1, 1 } }, "negative", 1)
    refused({ { 0, 4294967295, 1 } }, "out_of_range", 1)
    refused({ { 0, 1000, 10 }, { 5, 2000, 1 } }, "overlap", 2, 1)
    refused({ { 0, 1000, 10 }, { 10, 1009, 1 } }, "overlap", 2, 1)
    refused({ { 10, 0, 1 }, { 20, 1, 1 }, { 0, 0, 11 } }, "overlap", 3, 1)
    local many = {}
    for i = 1, 341 do many[i] = { i * 2, i * 2, 1 } end
    refused(many, "too_many")
    local long = {}
    for i = 1, 200 do long[i] = { 4000000000 + i * 2, 4000000000 + i * 2, 1 } end
    refused(long, "too_long")
  end)

  it("text of 4095 bytes passes validation and 4096 does not", function()
    -- 170 lines "1000000002 1000000002 1\n" of 24 bytes (4080), then one
    -- line of 15 ("0 1000000000 1\n") or 16 ("10 1000000000 1\n") bytes
    local function list(last_inside)
      local l = {}
      for i = 1, 170 do l[i] = { 1000000000 + i * 2, 1000000000 + i * 2, 1 } end
      l[171] = { last_inside, 1000000000, 1 }
      return l
    end
    local ok, err = user.set_uid_map(2 ^ 31 - 1, list(0)) -- luacheck: ignore
    assert.are.equal("os", err.kind, tostring(err)) -- validated, then the kernel: ENOENT
    ok, err = user.set_uid_map(2 ^ 31 - 1, list(10))
    assert.is_nil(ok)
    assert.are.equal("too_long", err.reason, tostring(err))
  end)

  it("reads lists and entries raw: no metamethod is ever called", function()
    local calls = 0
    local spy = { __index = function() calls = calls + 1 return 1 end,
      __len = function() calls = calls + 1 return 1 end,
      __newindex = function() calls = calls + 1 end }
    refused(setmetatable({}, spy), "empty")
    refused({ setmetatable({}, spy) }, "bad_entry", 1)
    local entry = setmetatable({ 0, 0, 1 }, spy)
    local ok, err = user.set_uid_map(2 ^ 31 - 1, setmetatable({ entry }, spy)) -- luacheck: ignore
    assert.are.equal("os", err.kind, tostring(err))
    assert.are.equal(0, calls)
  end)

  it("takes what a read returns, Maps and named fields, unchanged", function()
    local read = assert(user.read_uid_map(1))
    local ok, err = user.set_uid_map(2 ^ 31 - 1, read)
    assert.is_nil(ok)
    assert.are.equal("os", err.kind, tostring(err))
    ok, err = user.set_uid_map(2 ^ 31 - 1, { user.map(0, 1, 1), { inside = 5, outside = 5, length = 1 }, { 9, 9, 1 } }) -- luacheck: ignore
    assert.are.equal("os", err.kind, tostring(err))
  end)

  it("the root lane writes 340 entries, reads them back sorted, and 5 in written order", function()
    if S.root_only("340 entries") then return end
    local c = userns_child()
    local l = {}
    for i = 340, 1, -1 do l[#l + 1] = { i * 2, 10000 + i * 2, 1 } end -- 12 bytes a line at most
    assert(user.set_uid_map(c, l))
    local back = assert(user.read_uid_map(c))
    assert.are.equal(340, #back)
    for i = 1, 340 do
      assert.are.same({ i * 2, 10000 + i * 2, 1 }, { back[i].inside, back[i].outside, back[i].length })
    end
    local five = { { 40, 40, 1 }, { 30, 30, 1 }, { 20, 20, 1 }, { 10, 10, 1 }, { 0, 0, 1 } }
    assert(user.set_gid_map(c, five))
    assert.are.same(five, S.triples(assert(user.read_gid_map(c))))
    c:close()
  end)
end)

------------------------------------------------------------------------
describe("setup_maps", function()
  it("option mistakes are named, before anything is written", function()
    local c = userns_child()
    local cases = {
      { "x", "bad_setup", "not_a_table" },
      { {}, "bad_setup", "missing", "uid" },
      { { uid = own.uid }, "bad_setup", "missing", "gid" },
      { { gid = own.gid }, "bad_setup", "missing", "uid" },
      { { uid = own.uid, gid = { { 0, gid, 0 } } }, "bad_map", "zero_length", "gid" },
      { { uid = "x", gid = own.gid }, "bad_map", "not_a_list", "uid" },
      { { uid = own.uid, gid = own.gid, setgroups = "allow" }, "bad_setgroups" },
      { { uid = own.uid, gid = own.gid, setgroups = true }, "bad_setgroups" },
      { { uid = own.uid, gid = own.gid, setgroups = "DENY" }, "bad_setgroups" },
      { { uid = own.uid, gid = own.gid, helper = "sometimes" }, "bad_setup", nil, "helper" },
      { { uid = own.uid, gid = own.gid, helper = 1 }, "bad_setup", nil, "helper" },
      { { uid = own.uid, gid = own.gid, newuidmap = 42 }, "bad_setup", nil, "newuidmap" },
      { { uid = own.uid, gid = own.gid, newgidmap = {} }, "bad_setup", nil, "newgidmap" },
    }
    for _, k in ipairs(cases) do
      local ok, err = user.setup_maps(c, k[1])
      assert_err(k[2], "setup_maps", ok, err)
      if k[3] then assert.are.equal(k[3], err.reason, tostring(err)) end
      if k[4] then assert.are.equal(k[4], err.field, tostring(err)) end
    end
    assert_untouched(c)
    c:close()
  end)

  it("options that are no table name the argument", function()
    for _, v in ipairs({ "x", 42, true }) do
      local ok, err = user.setup_maps(1, v)
      assert_err("bad_setup", "setup_maps", ok, err)
      assert.are.equal("not_a_table", err.reason)
      assert.are.equal("opts", err.field)
      assert.is_nil(tostring(err):find("'?'", 1, true), tostring(err))
    end
    assert.are.equal("opts", select(2, user.setup_maps(1)).field)
  end)

  it("a helper name that holds a NUL is refused, not cut short", function()
    local c = userns_child()
    for _, name in ipairs({ "/bin/true\0newuidmap", "newuidmap\0" }) do
      for _, field in ipairs({ "newuidmap", "newgidmap" }) do
        local opts = { uid = own.uid, gid = own.gid, helper = "always" }
        opts[field] = name
        local ok, err = user.setup_maps(c, opts)
        assert_err("bad_setup", "setup_maps", ok, err)
        assert.are.same({ field, "contains_nul" }, { err.field, err.reason })
      end
    end
    -- an empty name is a helper that cannot be found
    local ok, err = user.setup_maps(c, { uid = own.uid, gid = own.gid, helper = "always", newuidmap = "" })
    assert_err("helper", "set_uid_map", ok, err)
    assert.are.equal("missing", err.reason)
    assert_untouched(c)
    c:close()
  end)

  it("an __index of defaults works; one that raises is bad_setup unreadable", function()
    local c = userns_child()
    local ok, err = user.setup_maps(c, setmetatable({}, { __index = function(_, k)
      if k == "gid" then error({ "not a string" }) end
      return own[k]
    end }))
    assert_err("bad_setup", "setup_maps", ok, err)
    assert.are.same({ "unreadable", "gid" }, { err.reason, err.field })
    -- a raised object whose own __tostring raises
    ok, err = user.setup_maps(c, setmetatable({}, { __index = function()
      error(setmetatable({}, { __tostring = function() error("again") end }))
    end }))
    assert_err("bad_setup", "setup_maps", ok, err)
    -- a raised string full of terminal escapes
    ok, err = user.setup_maps(c, setmetatable({}, { __index = function()
      error(("\27[2J\n"):rep(10000), 0)
    end }))
    assert_err("bad_setup", "setup_maps", ok, err)
    assert.is_true(#tostring(err) < 2000)
    assert_untouched(c)
    assert(user.setup_maps(c, setmetatable({}, { __index = own })))
    assert.are.equal(tostring(user.map(0, uid, 1)), tostring(user.read_uid_map(c)[1]))
    c:close()
  end)

  it("an option read that yields fails cleanly inside a coroutine", function()
    local c = userns_child()
    local co = coroutine.create(function()
      return user.setup_maps(c, setmetatable({}, { __index = function(_, k)
        coroutine.yield("yielded")
        return own[k]
      end }))
    end)
    local resumed, ok, err = coroutine.resume(co)
    assert.is_true(resumed, tostring(ok))
    -- either the verb ran to its end (a Lua that yields across it) or it failed cleanly
    if ok ~= "yielded" then
      assert_err("bad_setup", "setup_maps", ok, err)
      assert.are.equal("unreadable", err.reason)
      assert_untouched(c)
    end
    c:close()
  end)

  it("an option read that closes the handle, spawns and collects: bad_target, nobody touched", function()
    local c = userns_child()
    local others = {}
    local ok, err = user.setup_maps(c, setmetatable({}, { __index = function(_, k)
      if k == "newgidmap" then
        c:close()
        for i = 1, 3 do others[i] = userns_child() end
        collectgarbage()
        collectgarbage()
      end
      return own[k]
    end }))
    assert_err("bad_target", "setup_maps", ok, err)
    for _, v in ipairs(others) do assert_untouched(v); v:close() end
  end)

  it("a finalizer that closes the handle during the verb's allocations: bad_target or done, never a stranger", function()
    for _ = 1, 20 do
      local c = userns_child()
      local v
      local _ = with_finalizer(function()
        if c then c:close(); v = process.spawn { argv = { "sleep", "30" }, namespaces = { "user" } } end
      end)
      _ = nil
      local ok, err = user.setup_maps(c, own)
      if not ok then assert_err("bad_target", "setup_maps", ok, err) end
      c:close()
      collectgarbage()
      if v then assert_untouched(v); v:close() end
    end
  end)

  it("unprivileged, a gid map the kernel cannot take is refused before the first write", function()
    if S.unpriv_only("setgroups skip") then return end
    local c = userns_child()
    local ok, err = user.setup_maps(c, { uid = own.uid, gid = own.gid, setgroups = "skip", helper = "never" })
    assert_err("helper", nil, ok, err)
    assert.are.equal("never", err.reason)
    ok, err = user.setup_maps(c, { uid = own.uid, gid = own.gid, setgroups = "skip",
      newgidmap = "/nonexistent/newgidmap" })
    assert_err("helper", nil, ok, err)
    assert.are.equal("missing", err.reason)
    assert_untouched(c)
    c:close()
  end)

  it("helper errors print their hint once, and message holds none", function()
    local c = userns_child()
    local ok, err = user.setup_maps(c, { uid = own.uid, gid = own.gid, helper = "always",
      newuidmap = "/nonexistent/newuidmap" })
    assert_err("helper", "set_uid_map", ok, err)
    assert.are.equal("missing", err.reason)
    assert.are.equal("/nonexistent/newuidmap", err.helper)
    assert.is_string(err.hint)
    assert.is_nil(tostring(err.message):find("hint:", 1, true))
    local s = tostring(err)
    local _, n = s:gsub("; hint: ", "")
    assert.are.equal(1, n, s)
    assert.is_truthy(s:find("; hint: " .. err.hint, 1, true))
    assert_untouched(c)
    c:close()
  end)

  it("the rootless flow, and running it twice fails at the first step", function()
    local c = userns_child()
    assert(user.setup_maps(c, own))
    assert.are.equal("0 -> " .. uid, tostring(user.read_uid_map(c)[1]))
    assert.are.equal("0 -> " .. gid, tostring(user.read_gid_map(c)[1]))
    assert.are.equal("deny", user.read_setgroups(c))
    local ok, err, code = user.setup_maps(c, own)
    assert_err("os", "deny_setgroups", ok, err)
    assert.are.same({ "EPERM", 1 }, { err.errno, code })
    c:close()
  end)
end)

------------------------------------------------------------------------
describe("README troubleshooting messages", function()
  local readme = assert(S.read_file("README.md"))
  local function message(hint_words)
    for line in readme:gmatch("[^\n]+") do
      if line:match("^[%w_]+ failed on /proc/") and line:find(hint_words, 1, true) then return line end
    end
    error("no README message with " .. hint_words)
  end
  -- the README's line with its pid replaced by the real one
  local function same(line, err, pid)
    local want = line:gsub("/proc/%d+/", "/proc/" .. pid .. "/")
    assert.are.equal(want, tostring(err))
  end

  it("write-once, both steps", function()
    local c = userns_child()
    assert(user.setup_maps(c, own))
    local pid = c:host_pid()
    same(message("maps are write-once"), select(2, user.set_uid_map(c, own.uid)), pid)
    same(message("setgroups cannot change"), select(2, user.deny_setgroups(c)), pid)
    c:close()
  end)

  it("no user namespace of its own", function()
    local c = spawn {}
    same(message("likely mistake"), select(2, user.set_uid_map(c, own.uid)), c:host_pid())
    c:close()
  end)

  it("unprivileged: gid_map before setgroups, ranges, someone else's process", function()
    if S.unpriv_only("unprivileged messages") then return end
    local c = userns_child()
    assert(user.set_uid_map(c, own.uid))
    same(message("must deny setgroups first"), select(2, user.set_gid_map(c, own.gid)), c:host_pid())
    c:close()
    c = userns_child()
    for _, maps in ipairs({ { { 0, 100000, 65536 } }, { { 0, uid, 1 }, { 1, 100000, 10 } }, { { 0, 0, 1 } } }) do
      same(message("may map only its own id"), select(2, user.set_uid_map(c, maps)), c:host_pid())
    end
    c:close()
    same(message("belong to another user"), select(2, user.set_uid_map(1, own.uid)), 1)
  end)
end)

------------------------------------------------------------------------
describe("subids and friends", function()
  local path
  before_each(function()
    path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("# comment\n\nalice:100000:65536\nalice:0x30000:010\nbroken line\n", "1234:200000:5\n",
      "carol:x:5\ncarol:5\n")
    f:close()
  end)
  after_each(function() os.remove(path) end)
  local function opts() return { subuid_path = path, subgid_path = path } end

  it("reads decimal, hex and octal; matches a uid; skips the rest", function()
    local ids = assert(user.subids("alice", opts()))
    assert.are.same({ { 100000, 65536 }, { 0x30000, 8 } }, ids.uid)
    assert.are.same(ids.uid, ids.gid)
    assert.are.same({ { 200000, 5 } }, assert(user.subids(1234, opts())).uid)
    assert.are.same({ { 200000, 5 } }, assert(user.subids("1234", opts())).uid)
    local ok, err = user.subids("carol", opts())
    assert_err("no_subids", "subids", ok, err)
    assert.are.same({ "carol", path, "uid" }, { err.user, err.path, err.field })
  end)

  it("option mistakes are bad_option naming the field; bad users are bad_user", function()
    for _, v in ipairs({ "x", 1, true }) do
      local ok, err = user.subids("alice", v)
      assert_err("bad_option", "subids", ok, err)
      assert.are.equal("opts", err.field)
    end
    local ok, err = user.subids("alice", { subuid_path = 1 })
    assert_err("bad_option", "subids", ok, err)
    assert.are.equal("subuid_path", err.field)
    ok, err = user.rootless_maps("alice", { subgid_path = {} })
    assert_err("bad_option", "rootless_maps", ok, err)
    assert.are.equal("subgid_path", err.field)
    ok, err = user.subids("alice", setmetatable({}, { __index = function() error("no") end }))
    assert_err("bad_option", "subids", ok, err)
    for _, u in ipairs({ true, {}, "", "al\0ice", -1, 1.5, 2 ^ 32, 0 / 0 }) do
      assert_err("bad_user", "subids", user.subids(u, opts()))
      assert_err("bad_user", "rootless_maps", user.rootless_maps(u, opts()))
    end
  end)

  it("a path option that holds a NUL is refused, not cut short", function()
    for _, field in ipairs({ "subuid_path", "subgid_path" }) do
      local o = opts()
      o[field] = path .. "\0.ignored"
      local ok, err = user.subids("alice", o)
      assert_err("bad_option", "subids", ok, err)
      assert.are.same({ field, "contains_nul" }, { err.field, err.reason })
      o[field] = ""
      ok, err = user.subids("alice", o)
      assert_err("os", "subids", ok, err)
      assert.are.equal("ENOENT", err.errno)
    end
  end)

  it("a missing file is os ENOENT with the path", function()
    local ok, err = user.subids("alice", { subuid_path = path .. ".none", subgid_path = path })
    assert_err("os", "subids", ok, err)
    assert.are.same({ "ENOENT", path .. ".none" }, { err.errno, err.path })
  end)

  it("rootless_maps puts the own id at inside 0 and the ranges from 1", function()
    local f = assert(io.open(path, "a"))
    f:write(uid .. ":300000:10\n")
    if gid ~= uid then f:write(gid .. ":300000:10\n") end
    f:close()
    local m = assert(user.rootless_maps(uid, opts()))
    assert.are.equal("0 -> " .. uid, tostring(m.uid[1]))
    assert.are.equal("1..10 -> 300000..300009", tostring(m.uid[2]))
    local ok, err = user.rootless_maps(4000000000, opts())
    assert.is_nil(ok)
    assert.is_true(err.kind == "no_user" or err.kind == "no_subids", tostring(err))
  end)

  it("to_host, to_inside and compose at the edges", function()
    local whole = { { 0, 0, 4294967295 } }
    assert.are.equal(4294967294, user.to_host(whole, 4294967294))
    assert.is_nil((user.to_host(whole, 4294967295)))
    assert.are.equal(1, nargs(user.to_host(whole, 4294967295)))
    for _, id in ipairs({ -1, 2 ^ 32, 1.5, "5", 0 / 0, true }) do
      assert_err("bad_id", "to_host", user.to_host(whole, id))
      assert_err("bad_id", "to_inside", user.to_inside(whole, id))
    end
    assert_err("bad_map", "to_host", user.to_host({}, 1))
    local _, err = user.compose({ { 0, 0, 1 } }, { { 0, 0, 0 } })
    assert.are.same({ "bad_map", "inner" }, { err.kind, err.field })
    _, err = user.compose("x", { { 0, 0, 1 } })
    assert.are.same({ "bad_map", "outer" }, { err.kind, err.field })
    assert.are.same({}, assert(user.compose({ { 0, 1000, 1 } }, { { 0, 5, 1 } })))
  end)
end)

------------------------------------------------------------------------
describe("spawn options", function()
  local function refused(opts, field, reason, index)
    local ok, err = process.spawn(opts)
    assert_err("bad_option", "spawn", ok, err)
    assert.are.equal(field, err.field, tostring(err))
    if reason then assert.are.equal(reason, err.reason, tostring(err)) end
    if index then assert.are.equal(index, err.index, tostring(err)) end
    return err
  end

  it("refuses every malformed option before a child exists", function()
    local before = children()
    assert_err("bad_option", "spawn", process.spawn())
    assert_err("bad_option", "spawn", process.spawn("true"))
    refused({}, "argv", "missing")
    refused({ argv = {} }, "argv", "empty")
    refused({ argv = "true" }, "argv")
    refused({ argv = { "true", 1 } }, "argv", "not_a_string", 2)
    refused({ argv = { "tr\0ue" } }, "argv", "contains_nul", 1)
    refused({ argv = { "true" }, namespaces = "user" }, "namespaces")
    refused({ argv = { "true" }, namespaces = { "user", "users" } }, "namespaces", "unknown", 2)
    refused({ argv = { "true" }, namespaces = { 1 } }, "namespaces", "unknown", 1)
    for _, env in ipairs({ { [1] = "x" }, { [true] = "x" }, { [""] = "x" }, { ["A=B"] = "x" },
      { ["A\0B"] = "x" } }) do
      refused({ argv = { "true" }, env = env }, "env", "bad_name")
    end
    for _, env in ipairs({ { A = {} }, { A = true }, { A = "a\0b" } }) do
      refused({ argv = { "true" }, env = env }, "env", "bad_value")
    end
    refused({ argv = { "true" }, env = "A=B" }, "env")
    for _, s in ipairs({ "stdin", "stdout", "stderr" }) do
      for _, v in ipairs({ "PIPE", "file", 1, true }) do
        refused({ argv = { "true" }, [s] = v }, s)
      end
    end
    refused({ argv = { "true" }, cwd = "" }, "cwd")
    refused({ argv = { "true" }, cwd = "/tmp\0/x" }, "cwd")
    refused({ argv = { "true" }, cwd = 1 }, "cwd")
    refused({ argv = { "true" }, namespace = { "user" } }, "namespace", "unknown_option")
    refused({ argv = { "true" }, [1] = "x" }, "opts", "unknown_option")
    refused(setmetatable({}, { __index = function() error("raised") end }), "argv", "unreadable")
    assert.are.same(before, children())
  end)

  it("namespaces given as a map instead of a list are refused, not ignored", function()
    local ok, err = process.spawn { argv = { "true" }, namespaces = { user = true } }
    if ok then ok:close() end
    assert_err("bad_option", "spawn", ok, err)
    assert.are.equal("namespaces", err.field)
  end)

  it("an unknown option name in the message is escaped and cut short", function()
    local ok, err = process.spawn { argv = { "true" }, [("k"):rep(60)] = 1 }
    assert_err("bad_option", "spawn", ok, err)
    assert.is_nil(tostring(err):find(("k"):rep(41), 1, true), tostring(err))
  end)

  it("an option read that rewrites argv cannot make the child run other words", function()
    for round = 1, 5 do
      local argv = { "echo", "word-" .. ("k"):rep(100) .. round }
      local want = "word-" .. ("k"):rep(100) .. round .. "\n"
      local keep = {} -- luacheck: ignore
      local c = spawn(setmetatable({}, { __index = function(_, k)
        if k == "argv" then return argv end
        if k == "stdout" then return "pipe" end
        if k == "env" then
          argv[2] = nil
          collectgarbage()
          collectgarbage()
          for i = 1, 64 do keep[i] = ("Q"):rep(#want - 4) .. ("%03d"):format(i) end
        end
      end }))
      assert(c:proceed())
      assert.are.equal(want, c:read())
      c:wait()
      c:close()
    end
  end)

  it("env values may be numbers; an empty env is an empty environment", function()
    local c = spawn { argv = { "sh", "-c", 'echo "$A|$B"' }, env = { A = 1.5, B = 42 }, stdout = "pipe" }
    assert(c:proceed())
    local out = c:read()
    assert.is_truthy(out == "1.5|42\n", out)
    c:close()
    c = spawn { argv = { "/usr/bin/env" }, env = {}, stdout = "pipe" }
    assert(c:proceed())
    assert.are.equal("", c:read())
    assert.are.equal(0, c:wait().code)
    c:close()
  end)

  it("all seven namespaces, a repeated one, and none", function()
    for _, ns in ipairs({ { "user", "mount", "pid", "uts", "ipc", "net", "cgroup" }, { "user", "user" }, {} }) do
      local c = spawn { argv = { "true" }, namespaces = ns }
      assert(c:proceed())
      assert.are.equal(0, c:wait().code)
      c:close()
    end
  end)

  it("exec and chdir failures come back from proceed, named; the child is gone", function()
    local c = spawn { argv = { "/nonexistent-linx/program" } }
    local ok, err, code = c:proceed()
    assert_err("os", "exec", ok, err)
    assert.are.same({ "ENOENT", 2 }, { err.errno, code })
    c:close()
    c = spawn { argv = { "true" }, cwd = "/nonexistent-linx" }
    ok, err = c:proceed()
    assert_err("os", nil, ok, err)
    assert.are.equal("ENOENT", err.errno)
    c:close()
    local big = { "true" }
    for i = 2, 150000 do big[i] = "xxxxxxxxxxxxxxxxxxxx" end
    c = spawn { argv = big }
    ok, err = c:proceed()
    assert_err("os", "exec", ok, err)
    assert.are.equal("E2BIG", err.errno)
    c:close()
  end)
end)

------------------------------------------------------------------------
describe("handle methods", function()
  local function status(w) return w.exited and ("exit " .. w.code) or ("signal " .. tostring(w.signal)) end

  it("after close: close again is true, the rest say bad_state, the child is gone", function()
    local c = spawn {}
    local pid = c:host_pid()
    assert(c:proceed())
    assert.is_true(c:close())
    assert.is_true(c:close())
    assert.is_false(alive(pid))
    assert_err("bad_state", "host_pid", c:host_pid())
    assert_err("bad_state", "proceed", c:proceed())
    assert_err("bad_state", "kill", c:kill())
    assert.is_string(tostring(c))
    local w, err = c:wait()
    if w then assert.is_true(w.signaled or w.exited) else assert_err("bad_state", "wait", w, err) end
  end)

  it("wait twice gives the same status; kill and host_pid after wait fail", function()
    local c = spawn { argv = { "sh", "-c", "exit 7" } }
    assert(c:proceed())
    assert.are.equal("exit 7", status(c:wait()))
    assert.are.equal("exit 7", status(c:wait()))
    local ok, err, code = c:kill()
    assert_err("os", "kill", ok, err)
    assert.are.same({ "ESRCH", 3 }, { err.errno, code })
    assert_err("bad_state", "host_pid", c:host_pid())
    c:close()
  end)

  it("kill: TERM by default, names in any case with or without SIG, twice is ESRCH", function()
    local c = spawn {}
    assert(c:proceed())
    assert.is_true(c:kill())
    assert.are.equal("signal 15", status(c:wait()))
    c:close()
    for _, name in ipairs({ "kill", "SIGKILL", "sigkill", 9 }) do
      c = spawn {}
      assert(c:proceed())
      assert.is_true(c:kill(name))
      assert.are.equal("signal 9", status(c:wait()))
      c:close()
    end
    c = spawn {}
    assert(c:proceed())
    assert.is_true(c:kill(0))
    for _, bad in ipairs({ -1, 65, 1.5, 0 / 0, 2 ^ 63, "", "0", "9", "SIG", "NOPE", {}, true }) do
      assert_err("bad_option", "kill", c:kill(bad))
    end
    assert.is_true(c:kill("KILL"))
    S.wait_until(function() return not alive(c:host_pid()) end)
    local ok, err = c:kill("KILL") -- the workload is gone (unreaped or not)
    if not ok then assert_err("os", "kill", ok, err) end
    assert.are.equal("signal 9", status(c:wait()))
    c:close()
  end)

  it("a parked child: read and wait say bad_state; a pid-namespace init ignores TERM", function()
    local c = spawn { namespaces = { "user", "pid" }, stdout = "pipe" }
    assert_err("bad_state", "read", c:read("stdout"))
    assert_err("bad_state", "wait", c:wait())
    assert.is_true(c:kill("TERM"))
    assert_err("bad_state", "wait", c:wait())
    assert.is_true(alive(c:host_pid()))
    assert.is_true(c:kill("KILL"))
    assert.are.equal("signal 9", status(c:wait()))
    c:close()
  end)

  it("proceed twice is bad_state", function()
    local c = spawn { argv = { "true" } }
    assert.is_true(c:proceed())
    assert_err("bad_state", "proceed", c:proceed())
    c:close()
  end)

  it("read: bad streams are bad_option; a stream closed early reads what was written", function()
    local c = spawn { argv = { "sh", "-c", "printf out; exec >&-; sleep 0.2; printf err >&2; exit 3" },
      stdout = "pipe", stderr = "pipe" }
    for _, s in ipairs({ "stdin", "STDOUT", 1, true, {} }) do
      assert_err("bad_option", "read", c:read(s))
    end
    assert(c:proceed())
    assert.are.equal("out", c:read("stdout"))
    assert.are.equal("err", c:read("stderr"))
    assert.are.equal("exit 3", status(c:wait()))
    assert.are.equal("", c:read("stdout"))
    c:close()
    c = spawn { argv = { "true" } }
    assert_err("bad_option", "read", c:read("stdout")) -- not piped
    c:close()
  end)

  it("a child that floods stderr while we read stdout does not deadlock", function()
    local c = spawn { argv = { "sh", "-c", "head -c 2000000 /dev/zero >&2; echo done" },
      stdout = "pipe", stderr = "pipe" }
    assert(c:proceed())
    assert.are.equal("done\n", c:read("stdout"))
    assert.are.equal(2000000, #c:read("stderr"))
    assert.are.equal("exit 0", status(c:wait()))
    c:close()
  end)

  it("write: any amount through cat; 0 never blocks; EPIPE never kills the host", function()
    local c = spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" }
    assert_err("bad_option", "write", c:write(42))
    assert_err("bad_option", "write", c:write("x", -1))
    assert_err("bad_option", "write", c:write("x", 0 / 0))
    assert_err("bad_option", "write", c:write("x", "0"))
    local n = c:write(("p"):rep(200000), 0) -- parked: what the pipe takes now
    assert.is_number(n)
    assert.is_true(n > 0 and n < 200000)
    local ok, err = c:write(("p"):rep(200000))
    assert_err("os", "write", ok, err)
    assert.are.equal("EAGAIN", err.errno)
    assert.are.equal(0, err.written)
    assert(c:proceed())
    assert.is_true(c:write(("x"):rep(1000000)))
    assert.are.equal(n + 1000000, #c:read("stdout"))
    assert.are.equal("exit 0", status(c:wait()))
    assert_err("bad_state", "write", c:write("late"))
    c:close()
    c = spawn { argv = { "sh", "-c", "exec <&-; sleep 0.3" }, stdin = "pipe" }
    assert(c:proceed())
    S.sleep(0.1)
    ok, err = c:write(("y"):rep(300000))
    assert_err("os", "write", ok, err)
    assert.are.equal("EPIPE", err.errno)
    assert.is_number(err.written)
    assert.are.equal("exit 0", status(c:wait()))
    c:close()
  end)

  it("a method called with a stranger as self raises (it is a method, not a verb)", function()
    local c = spawn {}
    assert.is_false(pcall(c.close))
    assert.is_false(pcall(c.wait, 1))
    assert.is_false(pcall(c.kill, {}))
    c:close()
  end)

  it("__gc, and on 5.4 __close, kill and reap the child", function()
    local pid
    do
      local d = spawn {}
      pid = d:host_pid()
      assert(d:proceed())
    end
    collectgarbage()
    collectgarbage()
    assert.is_false(alive(pid))
    if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
      local f = assert(load([[
        local process, out = ...
        do
          local c <close> = assert(process.spawn{argv = {"sleep", "30"}})
          out.pid = c:host_pid()
        end
      ]]))
      local out = {}
      f(process, out)
      assert.is_false(alive(out.pid))
    end
  end)

  it("handles live across coroutines; a dropped coroutine's handle is collected", function()
    local co = coroutine.wrap(function()
      local c = spawn { namespaces = { "user" } }
      coroutine.yield(c)
      assert(user.setup_maps(c, own))
      coroutine.yield(true)
    end)
    local c = co()
    assert.are.same({}, user.read_uid_map(c))
    assert.is_true(co())
    assert.are.equal("0 -> " .. uid, tostring(user.read_uid_map(c)[1]))
    c:close()
    local pid
    local dead = coroutine.create(function()
      local d = spawn {}
      pid = d:host_pid()
      coroutine.yield()
    end)
    coroutine.resume(dead)
    dead = nil -- luacheck: ignore
    collectgarbage()
    collectgarbage()
    assert.is_false(alive(pid))
  end)

  it("nothing is left behind: fds and children as before a hostile round", function()
    collectgarbage()
    collectgarbage()
    local fds, kids = stable_fds(), children()
    for _ = 1, 3 do
      local c = spawn { argv = { "cat" }, namespaces = { "user", "pid" }, stdin = "pipe", stdout = "pipe", stderr = "pipe" }
      user.setup_maps(c, { uid = own.uid, gid = { { 0, gid, 0 } } })
      user.setup_maps(c, own)
      c:write("abc", 0)
      c:kill("TERM")
      c:close()
      c = spawn { argv = { "no-such-program-linx" }, stdout = "pipe" }
      c:proceed()
      c:wait()
      c:close()
      process.spawn { argv = { "true" }, cwd = "" }
      process.spawn(setmetatable({}, { __index = function() error("x") end }))
      c = spawn { argv = { "sleep", "30" } }
      c:proceed()
      c = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
    end
    assert.are.same(fds, stable_fds())
    assert.are.same(kids, children())
  end)
end)

------------------------------------------------------------------------
describe("helper failures", function()
  local dir
  local function fake(name, body) return S.write_script(dir .. "/" .. name, body) end
  before_each(function() dir = S.tmpdir("linx-hostile") end)
  after_each(function() os.execute("rm -rf " .. dir) end)

  local function run(helper, field)
    local c = userns_child()
    local opts = { uid = own.uid, gid = own.gid, helper = "always", setgroups = "skip" }
    opts[field or "newuidmap"] = helper
    opts[field == "newgidmap" and "newuidmap" or "newgidmap"] = fake("ok", "exit 0")
    local ok, err, code = user.setup_maps(c, opts)
    return c, ok, err, code
  end

  it("exit: status, stderr, argv and the README's line", function()
    local words = "newuidmap: uid range [1-65537) -> [100000-165536) not allowed"
    local path = fake("newuidmap", "echo '" .. words .. "' >&2; exit 1")
    local c, ok, err = run(path)
    assert_err("helper", "set_uid_map", ok, err)
    assert.are.same({ "exit", 1, words, path }, { err.reason, err.status, err.stderr, err.helper })
    assert.are.same({ path, tostring(c:host_pid()), "0", tostring(uid), "1" }, err.argv)
    local readme = assert(S.read_file("README.md"))
    local line = readme:match("\n(set_uid_map failed: helper: exit: [^\n]*)")
    assert.are.equal(line:gsub("/usr/bin/newuidmap", path), tostring(err))
    c:close()
  end)

  it("missing: the README's line", function()
    local c, ok, err = run("newuidmap-linx-none")
    assert_err("helper", "set_uid_map", ok, err)
    local readme = assert(S.read_file("README.md"))
    local line = readme:match("\n(set_uid_map failed: helper: missing: [^\n]*)")
    assert.are.equal((line:gsub("newuidmap was", "newuidmap-linx-none was")), tostring(err))
    assert_untouched(c)
    c:close()
  end)

  it("a helper killed by a signal, one that floods, one that talks in many lines", function()
    local c, ok, err = run(fake("sig", "kill -9 $$"))
    assert_err("helper", "set_uid_map", ok, err)
    assert.are.equal("signal", err.reason)
    assert.is_true(err.status == 9 or err.signal == 9, tostring(err))
    c:close()
    c, ok, err = run(fake("flood", "head -c 5000000 /dev/zero | tr '\\0' 'x' >&2; exit 3"))
    assert_err("helper", "set_uid_map", ok, err)
    assert.are.same({ "exit", 3 }, { err.reason, err.status })
    assert.is_true(#tostring(err) < 8192)
    c:close()
    c, ok, err = run(fake("lines", "printf 'one\\ntwo\\n\\033[31mthree\\n' >&2; exit 2"), "newgidmap")
    assert_err("helper", "set_gid_map", ok, err)
    assert.is_truthy(tostring(err):find("one; two", 1, true), tostring(err))
    c:close()
  end)

  it("a helper that exits while its own child keeps stderr open does not hang setup_maps", function()
    local t0 = os.time()
    local c, ok, err = run(fake("bg", "sleep 4 & exit 1"))
    assert_err("helper", "set_uid_map", ok, err)
    assert.is_true(os.time() - t0 < 3)
    c:close()
  end)
end)

------------------------------------------------------------------------
describe("odds and ends the README promises", function()
  it("supported() is true here, a boolean", function()
    assert.are.equal(true, user.supported())
  end)

  it("os errors carry path, errno, code, message; bad_state carries state, reason, message", function()
    local ok, err, code = user.read_uid_map(999999999)
    assert_err("os", "read_uid_map", ok, err)
    assert.are.same({ "string", "string", "number", "string" },
      { type(err.path), type(err.errno), type(err.code), type(err.message) })
    assert.are.equal(code, err.code)
    local c = spawn { stdout = "pipe" }
    ok, err = c:read()
    assert_err("bad_state", "read", ok, err)
    assert.are.same({ "string", "string", "string" }, { type(err.state), type(err.reason), type(err.message) })
    assert.are.equal("parked", err.state)
    c:close()
  end)

  it("read and wait close a piped stdin first, so cat ends", function()
    local c = spawn { argv = { "cat" }, stdin = "pipe", stdout = "pipe" }
    assert(c:proceed())
    assert(c:write("abc"))
    assert.are.equal("abc", c:read())
    assert.are.equal(0, c:wait().code)
    c:close()
    c = spawn { argv = { "cat" }, stdin = "pipe" }
    assert(c:proceed())
    assert.are.equal(0, c:wait().code)
    c:close()
  end)

  local LINX_LUA = os.getenv("LINX_LUA")
  local function lx(env, code)
    return S.sh(env .. " " .. LINX_LUA .. " -e '" .. code .. "' 2>&1; echo \"rc=$?\"")
  end

  it("LINX_PROCESS_NO_CLONE_VM=1 spawns all the same", function()
    if not (LINX_LUA and S.exists(LINX_LUA)) then return S.pending("no linx-lua in this build") end
    local out = lx("LINX_PROCESS_NO_CLONE_VM=1", [[
      local p = require "linx.process"
      local c = assert(p.spawn{argv = {"echo", "copied"}, namespaces = {"user"}, stdout = "pipe"})
      assert(c:proceed()); io.write(c:read()); assert(c:wait().code == 0); c:close()]])
    assert.are.equal("copied\nrc=0\n", out)
  end)

  it("a host that dies takes its running and parked children along", function()
    if not (LINX_LUA and S.exists(LINX_LUA)) then return S.pending("no linx-lua in this build") end
    local out = lx("", [[
      local p = require "linx.process"
      local a = assert(p.spawn{argv = {"sleep", "30"}}); assert(a:proceed())
      local b = assert(p.spawn{argv = {"sleep", "30"}, namespaces = {"user", "pid"}})
      print(a:host_pid(), b:host_pid()); io.stdout:flush()
      os.execute("kill -9 $PPID")]])
    local a, b = out:match("(%d+)%s+(%d+)")
    assert.is_truthy(a, out)
    assert.is_truthy(S.wait_until(function() return not alive(a) and not alive(b) end, 200))
  end)

  it("assert(verb(...)) raises the error table on 5.3/5.4, the errno number on LuaJIT", function()
    if not (LINX_LUA and S.exists(LINX_LUA)) then return S.pending("no linx-lua in this build") end
    local out = lx("", [[local u = require "linxuser"
      local ok, e = pcall(function() return assert(u.read_uid_map(999999999)) end)
      print(ok, type(e), type(e) == "table" and e.errno or e)]])
    local ver = os.getenv("LINX_LUA_VERSION")
    if ver == "jit" then
      assert.are.equal("false\tnumber\t2\nrc=0\n", out)
    elseif ver == "5.4" or ver == "5.3" then
      assert.are.equal("false\ttable\tENOENT\nrc=0\n", out)
    end
  end)

  it("an uncaught error table prints through __tostring, exit status 1", function()
    if not (LINX_LUA and S.exists(LINX_LUA)) then return S.pending("no linx-lua in this build") end
    local out = lx("", [[local u = require "linxuser"; local _, e = u.map(0, 0, 0); error(e)]])
    assert.is_truthy(out:find("map: bad map: zero_length at entry 1", 1, true), out)
    assert.is_truthy(out:find("rc=1\n", 1, true), out)
  end)
end)

------------------------------------------------------------------------
describe("README promises, second pass", function()
  it("inside.mounts and inside.groups are lists: a map or a hole is refused, not ignored", function()
    local cases = {
      { field = "inside.mounts", opts = { namespaces = { "mount" },
                                          inside = { mounts = { proc = { type = "proc", target = "/proc" } } } } },
      { field = "inside.mounts", opts = { namespaces = { "mount" },
                                          inside = { mounts = { [1] = { type = "tmpfs", target = "/tmp" },
                                                                [3] = { type = "tmpfs", target = "/mnt" } } } } },
      { field = "inside.groups", opts = { inside = { groups = { wheel = 10 } } } },
      { field = "inside.groups", opts = { inside = { groups = { [1] = 0, [3] = 1 } } } },
      { field = "inside.groups", opts = { inside = { groups = { 0, 1, n = 2 } } } },
    }
    for _, case in ipairs(cases) do
      case.opts.argv = { "true" }
      local err = assert_err("bad_option", "spawn", process.spawn(case.opts))
      assert.are.equal(case.field, err.field, tostring(err))
      assert.are.equal("not_a_list", err.reason, tostring(err))
    end
    -- an empty list is still a list
    local c = spawn { argv = { "true" }, inside = { groups = {} } }
    c:close()
  end)
end)

describe("README promises, second pass: inside.root", function()
  it("root = \"/\" pivots into a copy of the host's tree, as any other directory", function()
    for _, root in ipairs { "/", "//" } do
      local c = spawn { argv = { "sh", "-c", "test -d /proc/self && echo ok" }, stdout = "pipe",
                        namespaces = { "user", "mount" }, inside = { root = root } }
      assert(user.setup_maps(c, own))
      local ok, err = c:proceed()
      assert.is_true(ok, tostring(err))
      assert.are.equal("ok\n", c:read("stdout"))
      assert.are.equal(0, c:wait().code)
      c:close()
    end
  end)
end)
