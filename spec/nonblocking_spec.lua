-- The handle methods an event loop needs, none of which blocks: state(),
-- wait(timeout), fileno(which), read(stream, 0), write(data, timeout),
-- shutdown("stdin"). Real children; descriptors watched with a real
-- libuv loop (luv). Runs as root and as uid 65534.
local process = require "linx.process"
local user = require "linxuser"
local uv = require "luv"
local S = require("support")

local function now() return uv.hrtime() / 1e9 end

local function spawn(opts)
  local c = assert(process.spawn(opts))
  for _, ns in ipairs(opts.namespaces or {}) do
    if ns == "user" then
      local ok, err = user.setup_maps(c, {uid = {{0, S.uid, 1}}, gid = {{0, S.gid, 1}}})
      if not ok then error(err) end
    end
  end
  return c
end

local function started(opts)
  local c = spawn(opts)
  local ok, err = c:proceed()
  if not ok then error(err) end
  return c
end

-- Is fd readable (or writable) within ms, as a libuv loop sees it?
local function watch(fd, events, ms)
  local poll, timer = uv.new_poll(fd), uv.new_timer()
  local seen = false
  poll:start(events, function() seen = true poll:stop() timer:stop() end)
  timer:start(ms, 0, function() poll:stop() end)
  uv.run()
  poll:close() timer:close()
  uv.run()
  return seen
end

local function fd_target(fd)
  local me = S.read_file("/proc/self/stat"):match("^(%d+)")
  local p = io.popen("readlink /proc/" .. me .. "/fd/" .. fd .. " 2>/dev/null")
  local t = p:read("*l")
  p:close()
  return t
end

describe("state()", function()
  it("goes parked, running, exited without blocking, and closed", function()
    local c = spawn{argv = {"sh", "-c", "read x; exit 3"}, stdin = "pipe", namespaces = {"user"}}
    assert.are.equal("parked", c:state())
    assert(c:proceed())
    assert.are.equal("running", c:state())
    local t0 = now()
    for _ = 1, 100 do assert.are.equal("running", c:state()) end
    assert.is_true(now() - t0 < 0.5)
    assert(c:write("go\n"))
    assert.is_truthy(S.wait_until(function() return c:state() == "exited" end))
    -- exited, not yet collected: the pid is still pinned
    assert.is_number(c:host_pid())
    assert.are.equal(3, c:wait().code)
    assert.are.equal("exited", c:state())
    c:close()
    assert.are.equal("closed", c:state())
  end)

  it("says exited for a parked child that was killed", function()
    local c = spawn{argv = {"true"}}
    assert(c:kill("KILL"))
    assert.is_truthy(S.wait_until(function() return c:state() == "exited" end))
    assert.are.equal(9, c:wait().signal)
    c:close()
  end)
end)

describe("wait(timeout)", function()
  it("wait(0) never blocks and leaves the child as it was", function()
    local c = started{argv = {"cat"}, stdin = "pipe", stdout = "pipe"}
    local t0 = now()
    local res, err = c:wait(0)
    assert.is_true(now() - t0 < 0.1)
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("wait", err.operation)
    assert.are.equal(0, err.seconds)
    assert.is_truthy(tostring(err):find("timeout", 1, true))
    -- untouched: running, pid pinned, stdin still open
    assert.are.equal("running", c:state())
    assert.is_number(c:host_pid())
    assert(c:write("still here\n"))
    assert(c:shutdown("stdin"))
    assert.are.equal("still here\n", c:read("stdout"))
    assert.are.equal(0, c:wait(5).code)
    c:close()
  end)

  it("runs out after about the time asked, then the child can still be waited for", function()
    local c = started{argv = {"sleep", "0.6"}}
    local t0 = now()
    local res, err = c:wait(0.2)
    local took = now() - t0
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal(0.2, err.seconds)
    assert.is_true(took >= 0.19 and took < 0.55, "took " .. took)
    local st = c:wait(10)
    assert.is_true(st.exited)
    assert.are.equal(0, st.code)
    assert.are.same(st, c:wait(0)) -- collected: the same status again
    c:close()
  end)

  it("returns as soon as the child ends, with its status", function()
    local c = started{argv = {"sh", "-c", "kill -USR1 $$"}}
    local t0 = now()
    local st = assert(c:wait(30))
    assert.is_true(now() - t0 < 5)
    assert.is_true(st.signaled)
    assert.are.equal(10, st.signal)
    c:close()
  end)

  it("drains piped output while it waits, so a chatty child can end", function()
    local c = started{argv = {"sh", "-c", "head -c 300000 /dev/zero; echo done >&2"},
                      stdout = "pipe", stderr = "pipe"}
    local st = assert(c:wait(30))
    assert.are.equal(0, st.code)
    assert.are.equal(300000, #c:read("stdout"))
    assert.are.equal("done\n", c:read("stderr"))
    c:close()
  end)

  it("refuses a bad time limit, and a parked child as wait() does", function()
    local c = spawn{argv = {"true"}}
    for _, bad in ipairs({-1, "1", 0 / 0, {}}) do
      local res, err = c:wait(bad)
      assert.is_nil(res)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal("timeout", err.field)
    end
    local res, err = c:wait(0)
    assert.is_nil(res)
    assert.are.equal("bad_state", err.kind)
    assert.are.equal("parked", err.reason)
    c:close()
  end)
end)

describe("fileno()", function()
  it("status: a socket that becomes readable when the child ends", function()
    local c = started{argv = {"sleep", "0.3"}}
    local fd = assert(c:fileno("status"))
    assert.are.equal(fd, c:fileno())
    assert.is_truthy(fd_target(fd):match("^socket:"))
    assert.is_false(watch(fd, "r", 50))
    local t0 = now()
    assert.is_true(watch(fd, "r", 5000))
    assert.is_true(now() - t0 < 3)
    assert.are.equal(0, assert(c:wait(0)).code)
    local none, err = c:fileno("status")
    assert.is_nil(none)
    assert.are.equal("bad_state", err.kind)
    c:close()
  end)

  it("stdout/stderr readable when output arrives, stdin writable until full", function()
    local c = started{argv = {"sh", "-c", "read x; echo out; echo err >&2; read y"},
                      stdin = "pipe", stdout = "pipe", stderr = "pipe"}
    local out, errfd, inp = c:fileno("stdout"), c:fileno("stderr"), c:fileno("stdin")
    for _, fd in ipairs({out, errfd, inp}) do assert.is_truthy(fd_target(fd):match("^pipe:")) end
    assert.is_true(watch(inp, "w", 1000))
    assert.is_false(watch(out, "r", 50))
    assert(c:write("x\n"))
    assert.is_true(watch(out, "r", 5000))
    assert.is_true(watch(errfd, "r", 5000))
    c:kill("KILL")
    c:wait()
    c:close()
  end)

  it("refuses what it cannot name", function()
    local c = started{argv = {"true"}, stdout = "pipe"}
    local r, err = c:fileno("stdin")
    assert.is_nil(r)
    assert.are.equal("bad_option", err.kind)
    assert.are.equal("not_piped", err.reason)
    r, err = c:fileno("bogus")
    assert.is_nil(r)
    assert.are.equal("unknown", err.reason)
    c:wait()
    c:read("stdout")
    r, err = c:fileno("stdout")
    assert.is_nil(r)
    assert.are.equal("eof", err.reason)
    c:close()
    r, err = c:fileno("status")
    assert.is_nil(r)
    assert.are.equal("closed", err.reason)
  end)
end)

describe("read(stream, 0)", function()
  it("gives \"\" before output, what arrived, then nil at end of file", function()
    local c = started{argv = {"sh", "-c", "read x; printf one; read y; printf two"},
                      stdin = "pipe", stdout = "pipe"}
    local t0 = now()
    assert.are.equal("", c:read("stdout", 0))
    assert.is_true(now() - t0 < 0.1)
    assert(c:write("\n"))
    local got = ""
    assert.is_truthy(S.wait_until(function()
      got = got .. assert(c:read("stdout", 0))
      return got == "one"
    end))
    assert.are.equal("running", c:state()) -- stdin was left open: it still reads
    assert(c:write("\n"))
    local rest = ""
    assert.is_truthy(S.wait_until(function()
      local s = c:read("stdout", 0)
      if s == nil then return true end
      rest = rest .. s
    end))
    assert.are.equal("two", rest)
    assert.is_nil(c:read("stdout", 0))
    assert.are.equal(0, c:wait().code)
    c:close()
  end)

  it("returns what wait() drained, and refuses a non-zero timeout", function()
    local c = started{argv = {"echo", "hello"}, stdout = "pipe"}
    assert.are.equal(0, c:wait().code)
    local s = c:read("stdout", 0)
    if s ~= nil and s ~= "hello\n" then s = s .. (c:read("stdout", 0) or "") end
    assert.are.equal("hello\n", s)
    assert.is_nil(c:read("stdout", 0))
    local r, err = c:read("stdout", 1)
    assert.is_nil(r)
    assert.are.equal("bad_option", err.kind)
    c:close()
  end)
end)

describe("write without blocking", function()
  it("write(data, 0) stops at a full pipe; write(data, t) stops at the time limit", function()
    local c = started{argv = {"sleep", "30"}, stdin = "pipe"} -- reads nothing
    local big = string.rep("y", 1024 * 1024)
    local t0 = now()
    local n = assert(c:write(big, 0))
    assert.is_true(now() - t0 < 0.5)
    assert.is_true(n > 0 and n < #big, "wrote " .. n)
    assert.are.equal(0, c:write(big, 0)) -- full: nothing more goes in, and no block
    t0 = now()
    assert.are.equal(0, c:write(big, 0.2))
    local took = now() - t0
    assert.is_true(took >= 0.19 and took < 1.5, "took " .. took)
    assert.are.equal("running", c:state()) -- left as it was
    assert(c:kill("KILL"))
    assert.are.equal(9, c:wait(10).signal)
    c:close()
  end)

  it("shutdown(\"stdin\") ends a filter's input and is idempotent", function()
    local c = started{argv = {"cat"}, stdin = "pipe", stdout = "pipe"}
    assert(c:write("abc", 0))
    assert.is_true(c:shutdown("stdin"))
    assert.is_true(c:shutdown("stdin"))
    local r, err = c:write("more")
    assert.is_nil(r)
    assert.are.equal("stdin_closed", err.reason)
    assert.are.equal(0, c:wait(10).code)
    assert.are.equal("abc", c:read("stdout"))
    r, err = c:shutdown("stdout")
    assert.is_nil(r)
    assert.are.equal("bad_option", err.kind)
    c:close()
  end)
end)
