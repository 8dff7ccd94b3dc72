-- Smoke test for one Lua build, in plain Lua that runs on 5.1 to 5.4 and
-- LuaJIT (no busted): load the modules, write and read a map on a real
-- child in a new user namespace, and check ids up to 4294967295 survive
-- exactly. Prints TAP. Run by tools/smoke-lane with LUA_CPATH set to the
-- build tree; needs root for the full-range map (skipped otherwise).
-- tools/smoke-lane reports the build as test 1 and sets SMOKE_FIRST=2.
local n, failed = (tonumber(os.getenv("SMOKE_FIRST")) or 1) - 1, 0
local function ok(cond, name, diag)
  n = n + 1
  if cond then
    print("ok " .. n .. " - " .. name)
  else
    failed = failed + 1
    print("not ok " .. n .. " - " .. name)
    if diag ~= nil then io.stderr:write("# ", tostring(diag), "\n") end
  end
end
local function skip(name, why)
  n = n + 1
  print("ok " .. n .. " - " .. name .. " # SKIP " .. why)
end

local function read_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local status = assert(read_file("/proc/self/status"))
local uid = tonumber(status:match("Uid:%s*(%d+)"))
local gid = tonumber(status:match("Gid:%s*(%d+)"))
local version = _VERSION .. (jit and (" / " .. jit.version) or "")
io.stderr:write("# smoke on ", version, " as uid ", uid, "\n")

local loaded, user = pcall(require, "linxuser")
ok(loaded and type(user) == "table", "require 'linxuser' (" .. version .. ")", user)
if not loaded then print("1.." .. n) os.exit(1) end
ok(user.supported() == true, "supported()")
ok(rawget(_G, "linxuser") == nil, "no global set by require")

-- The host's own map is "0 0 4294967295": the largest length there is.
local mypid = tonumber((read_file("/proc/self/stat") or ""):match("^(%d+)"))
local own, oerr = user.read_uid_map(mypid)
ok(type(own) == "table" and own[1] ~= nil, "read_uid_map of our own pid", oerr)
local init_ns = read_file("/proc/self/uid_map"):match("^%s*0%s+0%s+4294967295%s*$")
if init_ns and own then
  ok(#own == 1 and own[1].length == 4294967295 and own[1] == user.map(0, 0, 4294967295),
     "our own map reads 0 0 4294967295 exactly")
end

-- Pure value checks: exact ids at the edges, no 32-bit or float loss.
local m, err = user.map(4294967294, 4294967294, 1)
ok(m and m.inside == 4294967294 and m.outside == 4294967294 and m.length == 1,
   "map() keeps 4294967294 exactly", err)
ok(m and tostring(m) == "4294967294 -> 4294967294", "Map tostring at the top id", m and tostring(m))
local whole = user.map(0, 0, 4294967295)
ok(whole and whole.length == 4294967295 and string.format("%.0f", whole.length) == "4294967295",
   "map(0, 0, 4294967295) length exact")
ok(whole and tostring(whole) == "0..4294967294 -> 0..4294967294", "whole-range tostring",
   whole and tostring(whole))
local _, e1 = user.map(0, 4294967295, 1)
ok(e1 and e1.kind == "bad_map" and e1.reason == "out_of_range", "4294967295 + 1 is out_of_range",
   e1 and tostring(e1))
local _, e2 = user.map(4294967296, 0, 1)
ok(e2 and e2.reason == "out_of_range", "2^32 is out_of_range, not wrapped to 0", e2 and tostring(e2))
local _, e3 = user.map(0, 2 ^ 53, 1)
ok(e3 and e3.reason == "out_of_range", "2^53 is out_of_range", e3 and tostring(e3))
local _, e4 = user.map(1.5, 0, 1)
ok(e4 and e4.reason == "bad_entry", "1.5 is a bad_entry", e4 and tostring(e4))
local f = user.map(1000.0, 1000.0, 1)
ok(f and f.inside == 1000, "integral float 1000.0 accepted")
local _, e5 = user.set_uid_map(0, { { 0, 0, 1 } })
ok(e5 and e5.kind == "bad_target", "pid 0 is a bad_target", e5 and tostring(e5))
ok(e5 and tostring(e5):find("bad target", 1, true) ~= nil, "error __tostring")

-- A real child in a new user namespace (util-linux unshare execs sleep
-- in the same process), maps unwritten.
local function sleeper()
  local p = assert(io.popen("unshare --user sleep 600 >/dev/null 2>&1 & echo $!", "r"))
  local pid = tonumber(p:read("*l"))
  p:close()
  for _ = 1, 500 do
    if read_file("/proc/" .. pid .. "/comm") == "sleep\n" then return pid end
    os.execute("sleep 0.01")
  end
  error("sleeper never reached its namespace")
end

local pid = sleeper()
local before = user.read_uid_map(pid)
ok(type(before) == "table" and #before == 0, "unwritten map reads empty")
if uid == 0 then
  local done, serr = user.setup_maps(pid, { uid = { { 0, 0, 4294967295 } },
                                            gid = { { 0, 0, 4294967295 } } })
  ok(done == true, "setup_maps writes the full range to a real child", serr and tostring(serr))
  local back = user.read_uid_map(pid) or {}
  ok(#back == 1 and back[1].inside == 0 and back[1].outside == 0 and back[1].length == 4294967295,
     "read_uid_map round-trips length 4294967295")
  local gback = user.read_gid_map(pid) or {}
  ok(#gback == 1 and gback[1] == user.map(0, 0, 4294967295), "read_gid_map round-trips (Map ==)")
  ok(user.read_setgroups(pid) == "deny", "setgroups reads deny")
  local _, again, code = user.set_uid_map(pid, { { 0, 0, 1 } })
  ok(again and again.kind == "os" and again.errno == "EPERM" and code == 1,
     "second write is EPERM with the errno as third value", again and tostring(again))
else
  skip("setup_maps full range", "needs root")
  local done, serr = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } })
  ok(done == true, "setup_maps of our own ids", serr and tostring(serr))
end
os.execute("kill -9 " .. pid .. " 2>/dev/null")

-- The child by linx.process, when this build has it.
local has_proc, process = pcall(require, "linx.process")
if has_proc then
  local c, serr = process.spawn({ argv = { "id", "-u" }, namespaces = { "user" }, stdout = "pipe" })
  ok(c ~= nil, "linx.process.spawn into a user namespace", serr and tostring(serr))
  if c then
    local set, merr = user.setup_maps(c, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } })
    ok(set == true, "setup_maps on a handle", merr and tostring(merr))
    local maps = user.read_uid_map(c) or {}
    ok(maps[1] and maps[1].outside == uid, "read_uid_map on a handle")
    ok(c:proceed() == true, "proceed")
    local out = c:read("stdout")
    ok(out and out:match("^%d+") == "0", "child is uid 0 inside", out)
    local st = c:wait()
    ok(st and st.exited and st.code == 0, "child exited 0")
    c:close()
  end
else
  skip("linx.process", "not in this build")
end

-- linx-lua of the same build: the modules are built in, the Lua is ours.
local linx_lua = os.getenv("LINX_LUA")
if linx_lua and read_file(linx_lua) then
  local function run(script)
    local p = assert(io.popen("env -u LUA_CPATH -u LUA_INIT " .. linx_lua ..
                              " -e '" .. script .. "' 2>&1; echo \"rc=$?\"", "r"))
    local out = p:read("*a")
    p:close()
    return out
  end
  local out = run('print(_VERSION, require("linxuser").map(0, 0, 4294967295).length, ' ..
                  'type(require("linx.process").spawn))')
  ok(out == _VERSION .. "\t4294967295\tfunction\nrc=0\n", "linx-lua has both modules built in", out)
  -- error(err), not assert(...): Lua 5.1 and 5.2's assert only takes a
  -- string message (5.3+, LuaJIT raise any value).
  out = run('local ok, err = require("linxuser").set_uid_map(0, {{0, 0, 1}}); error(err)')
  ok(out:find("set_uid_map: bad target 0", 1, true) and out:match("rc=1\n$"),
     "linx-lua prints an uncaught error table through __tostring, exit 1", out)
else
  skip("linx-lua", "not in this build")
end

print("1.." .. n)
os.exit(failed == 0 and 0 or 1)
