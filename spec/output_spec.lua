-- max_output: what the host holds of a child's piped output is bounded
-- per stream; past it the child is killed and wait()/read() say
-- output_limit. Also: linx.run's options read like spawn's (an __index
-- that raises is bad_option "unreadable"), and a wait with a time limit
-- leaves a piped stdin open. Root and uid 65534, Lua 5.4 and LuaJIT.
local process = require "linx.process"
local run = require "linx.run"
local S = require "support"

local child_count, fd_count = S.child_count, S.fd_count

local function spawn(opts)
  local c, err = process.spawn(opts)
  if not c then error(tostring(err), 2) end
  local ok, perr = c:proceed()
  if not ok then error(tostring(perr), 2) end
  return c
end

-- The lane's interpreter: it finds the modules through LUA_PATH/LUA_CPATH.
local function interp()
  -- the lane's own interpreter command when it has one (ASan: the
  -- sanitizer-built linx-lua, whose runtime must come first)
  if (os.getenv("LINX_INTERP") or "") ~= "" then return os.getenv("LINX_INTERP") end
  local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
  return ver == "jit" and "luajit" or "lua" .. ver
end

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

describe("max_output", function()
  it("ends wait() with output_limit once a stream passes it, and kills the child", function()
    local kids, fds = child_count(), fd_count()
    -- a finite writer (20 MB), so that a broken limit fails here instead of hanging
    local c = spawn{argv = {"head", "-c", "20000000", "/dev/zero"}, stdout = "pipe", max_output = 100000}
    local st, err = c:wait()
    assert.is_nil(st)
    assert.are.equal("output_limit", err.kind)
    assert.are.equal("wait", err.operation)
    assert.are.equal("stdout", err.stream)
    assert.is_true(err.bytes > 100000 and err.bytes <= 100000 + 65536, "bytes " .. tostring(err.bytes))
    assert.are.equal(err.bytes, #err.output)
    assert.are.equal(string.rep("\0", 20), err.output:sub(1, 20))
    assert.are.equal("wait failed: output_limit: stdout passed max_output after " .. err.bytes ..
                     " bytes; the child was killed", tostring(err))
    -- said once: the child was killed (KILL) and is reaped
    st = assert(c:wait())
    assert.is_true(st.signaled)
    assert.are.equal(9, st.signal)
    c:close()
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("counts each stream on its own: a quiet stdout keeps what it had", function()
    local c = spawn{argv = {"sh", "-c", "echo hi; exec head -c 20000000 /dev/zero >&2"}, stdout = "pipe", stderr = "pipe",
                    max_output = 50000}
    local st, err = c:wait()
    assert.is_nil(st)
    assert.are.equal("stderr", err.stream)
    assert.are.equal("hi\n", c:read("stdout"))
    c:close()
  end)

  it("ends a blocking read() with output_limit, and read(stream, 0) too", function()
    local c = spawn{argv = {"head", "-c", "20000000", "/dev/zero"}, stdout = "pipe", max_output = 30000}
    local s, err = c:read("stdout")
    assert.is_nil(s)
    assert.are.equal("output_limit", err.kind)
    assert.are.equal("read", err.operation)
    assert.is_true(#err.output > 30000)
    c:close()
    -- non-blocking: what read(stream, 0) returned earlier is not in output
    c = spawn{argv = {"head", "-c", "20000000", "/dev/zero"}, stdout = "pipe", max_output = 200000}
    local got, total
    total = 0
    repeat
      got, err = c:read("stdout", 0)
      if got then total = total + #got end
    until got == nil
    assert.are.equal("output_limit", err.kind)
    assert.are.equal(err.bytes, total + #err.output)
    assert.is_true(err.bytes > 200000)
    assert.are.equal(9, assert(c:wait()).signal)
    c:close()
  end)

  it("lets output up to the limit through untouched", function()
    local res = assert(run.run{argv = {"head", "-c", "5000", "/dev/zero"}, max_output = 5000})
    assert.are.equal(0, res.code)
    assert.are.equal(5000, #res.stdout)
    res = assert(run.run{argv = {"true"}, max_output = 0})
    assert.are.equal("", res.stdout)
    res = assert(run.run{argv = {"head", "-c", "70000", "/dev/zero"}, max_output = math.huge})
    assert.are.equal(70000, #res.stdout)
  end)

  it("is refused when it is not a number >= 0", function()
    for _, v in ipairs({-1, "10", 0 / 0, {}}) do
      local c, err = process.spawn{argv = {"true"}, max_output = v}
      assert.is_nil(c)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal("max_output", err.field)
    end
    local c, err = process.spawn(setmetatable({argv = {"true"}}, {__index = function(_, k)
      if k == "max_output" then error("no limit for you") end
    end}))
    assert.is_nil(c)
    assert.are.equal("unreadable", err.reason)
    assert.are.equal("max_output", err.field)
    -- a raised table stays in value; the message is text all the same
    local raised = {}
    c, err = process.spawn(setmetatable({argv = {"true"}}, {__index = function(_, k)
      if k == "max_output" then error(raised) end
    end}))
    assert.is_nil(c)
    assert.are.equal(raised, err.value)
    assert.are.equal("string", type(err.message))
  end)

  it("bounds linx.run: yes ends with output_limit, nothing left behind", function()
    local kids, fds = child_count(), fd_count()
    local res, err = run.run{argv = {"yes"}, max_output = 1e6, timeout = 10}
    assert.is_nil(res)
    assert.are.equal("output_limit", err.kind)
    assert.are.equal("stdout", err.stream)
    assert.is_true(#err.output > 1e6 and #err.output <= 1e6 + 65536)
    -- with a deadline (wait with a time limit) and input as well
    res, err = run.run{argv = {"sh", "-c", "cat; yes"}, input = "x", max_output = 1e5, timeout = 60}
    assert.is_nil(res)
    assert.are.equal("output_limit", err.kind)
    assert.are.equal("xy\ny\n", err.output:sub(1, 5))
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("bounds linx.luv too, with everything read in err.output", function()
    -- In a host of its own: luv opened a second time in one Lua state
    -- (busted reloads modules for each spec file, and luv_spec has it)
    -- crashes in uv_poll_init.
    local script = [[
      local ok, uv = pcall(require, "luv")
      if not ok then print("no luv") return end
      local got
      assert(require("linx.luv").run({argv = {"head", "-c", "20000000", "/dev/zero"}, max_output = 300000,
                                      timeout = 60}, function(res, err) got = {res, err} end))
      uv.run()
      local err = got[2]
      print(tostring(got[1]), err.kind, err.bytes, #err.output)
    ]]
    local out = S.sh(interp() .. " -e " .. sh_quote(script) .. " 2>&1")
    if out == "no luv\n" then
      pending("lua-luv is not installed for this Lua")
      return
    end
    local res, kind, bytes, n = out:match("^(%S+)%s+(%S+)%s+(%d+)%s+(%d+)\n$")
    assert.are.equal("nil", res, out)
    assert.are.equal("output_limit", kind)
    assert.are.equal(bytes, n)
    assert.is_true(tonumber(bytes) > 300000)
  end)

  it("keeps the host's memory within about twice the limit (VmHWM of a fresh host)", function()
    if (os.getenv("LINX_SANITIZER") or "") ~= "" then
      -- ASan's redzones and quarantine (freed blocks kept for a while)
      -- make the peak the sanitizer's, not the library's
      pending("memory peaks under a sanitizer measure the sanitizer")
      return
    end
    -- A fresh host process, so that its peak (VmHWM) before the run is
    -- its start, not whatever an earlier spec left as the peak.
    local script = [[
      local run = require "linx.run"
      local function kb(f)
        local h = io.open("/proc/self/status"); local s = h:read("*a"); h:close()
        return tonumber(s:match(f .. ":%s*(%d+)"))
      end
      collectgarbage(); collectgarbage()
      local before = kb("VmHWM")
      local res, err = run.run{argv = {"yes"}, max_output = 1e6, timeout = 10}
      print(err and err.kind, err and #err.output, before, kb("VmHWM"))
    ]]
    local out = S.sh(interp() .. " -e " .. sh_quote(script) .. " 2>&1")
    local kind, n, before, after = out:match("^(%S+)%s+(%d+)%s+(%d+)%s+(%d+)")
    assert.are.equal("output_limit", kind, out)
    assert.is_true(tonumber(n) > 1e6)
    local grew = (tonumber(after) - tonumber(before)) * 1024
    -- the pending buffer and the error's string: 2x, plus allocator slack
    assert.is_true(grew < 2.5e6, "the host grew by " .. grew .. " bytes")
  end)
end)

describe("linx.run's options read as spawn reads them", function()
  local function raising(name)
    return setmetatable({argv = {"true"}}, {__index = function(_, k)
      if k == name then error("cannot read " .. k) end
    end})
  end

  it("an __index that raises is bad_option unreadable, as spawn says", function()
    local kids = child_count()
    for _, name in ipairs({"timeout", "input", "maps", "namespaces", "stdout", "max_output"}) do
      local _, serr = process.spawn(raising(name))
      local ok, res, err = pcall(run.run, raising(name))
      assert.is_true(ok, "run raised: " .. tostring(res))
      assert.is_nil(res)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal("unreadable", err.reason)
      assert.are.equal(name, err.field)
      assert.is_truthy(err.message:find("cannot read " .. name, 1, true))
      if name ~= "timeout" and name ~= "input" and name ~= "maps" then
        assert.are.equal("unreadable", serr.reason)
        assert.are.equal(name, serr.field)
      end
      ok, res, err = pcall(run.prepare, raising(name))
      assert.is_true(ok)
      assert.is_nil(res)
      assert.are.equal("unreadable", err.reason)
    end
    assert.are.equal(kids, child_count())
  end)

  it("run passes on the names the linked linx.process lists", function()
    assert.is_table(process.options.spawn)
    local names = {}
    for _, k in ipairs(run.option_names) do names[k] = true end
    for _, k in ipairs(process.options.spawn) do assert.is_true(names[k], k) end
    assert.is_true(names.max_output and names.timeout and names.input and names.maps)
  end)
end)

describe("wait with a time limit", function()
  it("wait(0) leaves a piped stdin open; wait() closes it", function()
    local c = spawn{argv = {"cat"}, stdin = "pipe", stdout = "pipe"}
    local st, err = c:wait(0)
    assert.is_nil(st)
    assert.are.equal("timeout", err.kind)
    assert.is_nil((c:wait(0.05)))
    err = select(2, c:wait(0.05))
    assert.are.equal("timeout", err.kind)
    assert.is_true(c:write("still open\n")) -- bad_state stdin_closed if wait(0) had closed it
    assert.are.equal("running", c:state())
    st = assert(c:wait()) -- closes stdin: cat sees end of file and ends
    assert.are.equal(0, st.code)
    assert.are.equal("still open\n", c:read("stdout"))
    c:close()
  end)
end)
