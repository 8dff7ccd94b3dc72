-- linx-lua, the interpreter with linxuser and linx.process built in:
-- behaves like lua (arg, -e, -l, -v, -, exit status, REPL on a terminal).
local S = require("support").bind(function(why) pending(why) end)

local LINX_LUA = os.getenv("LINX_LUA")

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- A fresh empty file in /tmp (mkstemp, as mktemp(1) makes it).
local function tmpname()
  local p = os.tmpname()
  assert(p ~= "" and S.exists(p))
  return p
end

-- Run a shell command line; return stdout, stderr, exit status.
local function run(cmdline, input)
  local out, err, inp = tmpname(), tmpname(), tmpname()
  local f = assert(io.open(inp, "w"))
  f:write(input or "")
  f:close()
  local rc = S.sh("(" .. cmdline .. ") <" .. inp .. " >" .. out .. " 2>" .. err .. "; echo $?")
  local o, e = S.read_file(out), S.read_file(err)
  os.remove(out); os.remove(err); os.remove(inp)
  return o, e, tonumber(rc)
end

-- linx-lua with arguments (each quoted).
local function lx(args, input, env)
  local parts = { env or "", q(LINX_LUA) }
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  return run(table.concat(parts, " "), input)
end

local function script(body)
  local p = tmpname()
  local f = assert(io.open(p, "w"))
  f:write(body)
  f:close()
  return p
end

describe("linx-lua", function()
  it("is built", function()
    assert.is_string(LINX_LUA)
    assert.is_true(S.exists(LINX_LUA))
  end)

  it("-v prints its version and the Lua it embeds", function()
    local out, _, rc = lx({ "-v" })
    assert.are.equal(0, rc)
    assert.matches("^linx%-lua %d+%.%d+%.%d+ %(.*%) with linxuser and linx%.process built in\n$", out)
  end)

  it("-e runs statements in order", function()
    local out, _, rc = lx({ "-e", "x = 6", "-e", "print(x * 7)" })
    assert.are.equal(0, rc)
    assert.are.equal("42\n", out)
  end)

  it("has linxuser and linx.process built in, with no .so on the path", function()
    local out, err, rc = lx({ "-e", [[
      local u, p = require "linxuser", require "linx.process"
      print(package.preload["linxuser"] ~= nil, package.preload["linx.process"] ~= nil)
      print(type(u.setup_maps), type(p.spawn), u.supported())]] }, nil,
      "LUA_CPATH=/nonexistent/?.so LUA_CPATH_5_4=/nonexistent/?.so")
    assert.are.equal(0, rc, err)
    assert.are.equal("true\ttrue\nfunction\tfunction\ttrue\n", out)
  end)

  it("-l requires into a global, -l g=mod into g", function()
    local out, _, rc = lx({ "-l", "linxuser", "-l", "p=linx.process", "-e",
                            "print(type(linxuser.map), type(p.spawn))" })
    assert.are.equal(0, rc)
    assert.are.equal("function\tfunction\n", out)
  end)

  it("sets arg and passes the script's arguments as ...", function()
    local path = script("print(arg[0], arg[1], arg[2], #arg, arg[-1] == nil, ...)\n")
    local out, _, rc = lx({ "-e", "", path, "one", "two" })
    os.remove(path)
    assert.are.equal(0, rc)
    assert.are.equal(path .. "\tone\ttwo\t2\tfalse\tone\ttwo\n", out)
    -- arg[-1] and lower hold the interpreter and its options
    path = script("print(arg[-1], arg[-2], arg[-3])\n")
    out = lx({ "-e", "", path })
    os.remove(path)
    assert.are.equal("\t-e\t" .. LINX_LUA .. "\n", out)
  end)

  it("runs stdin with -, and stdin when it is not a terminal", function()
    local out, _, rc = lx({ "-", "a", "b" }, "print('stdin', ...)\n")
    assert.are.equal(0, rc)
    assert.are.equal("stdin\ta\tb\n", out)
    out, _, rc = lx({}, "print(#arg, arg[0] ~= nil)\n")
    assert.are.equal(0, rc)
    assert.are.equal("0\ttrue\n", out)
  end)

  it("stops option handling at --", function()
    local path = script("print(...)\n")
    local out, _, rc = lx({ "--", path, "-e", "-v" })
    os.remove(path)
    assert.are.equal(0, rc)
    assert.are.equal("-e\t-v\n", out)
  end)

  it("exits with the script's os.exit status, 0 at the end", function()
    local _, _, rc = lx({ "-e", "os.exit(3)" })
    assert.are.equal(3, rc)
    -- Lua 5.1's os.exit takes a number only (LuaJIT and 5.2+ also a boolean)
    if os.getenv("LINX_LUA_VERSION") ~= "5.1" then
      _, _, rc = lx({ "-e", "os.exit(false)" })
      assert.are.equal(1, rc)
      _, _, rc = lx({ "-e", "os.exit(true, true)" })
      assert.are.equal(0, rc)
    end
    _, _, rc = lx({ "-e", "os.exit(0)" })
    assert.are.equal(0, rc)
    _, _, rc = lx({ "-e", "local x = 1" })
    assert.are.equal(0, rc)
  end)

  it("prints an uncaught error table through __tostring and exits 1", function()
    -- error(err) rather than assert(verb()): LuaJIT's assert raises its
    -- last argument (the errno) when given nil, err, code
    local out, err, rc = lx({ "-e", "local _, e = require('linxuser').read_uid_map(999999999); error(e)" })
    assert.are.equal(1, rc)
    assert.are.equal("", out)
    assert.matches("read_uid_map failed on /proc/999999999/uid_map: ENOENT %(errno 2%)", err)
    assert.matches("stack traceback", err)
    out, err, rc = lx({ "-e", "error(setmetatable({}, {__tostring = function() return 'custom text' end}))" })
    assert.are.equal(1, rc)
    assert.are.equal("", out)
    assert.matches(": custom text\n", err)
    out, err, rc = lx({ "-e", "error({})" })
    assert.are.equal(1, rc)
    assert.are.equal("", out)
    assert.matches("%(error object is a table value%)", err)
    out, err, rc = lx({ "-e", "error('plain')" })
    assert.are.equal(1, rc)
    assert.are.equal("", out)
    assert.matches("plain", err)
  end)

  it("exits 1 on a missing script, a syntax error and a bad option", function()
    local _, err, rc = lx({ "/nonexistent/script.lua" })
    assert.are.equal(1, rc)
    assert.matches("cannot open /nonexistent/script.lua", err)
    local path = script("this is not lua\n")
    _, err, rc = lx({ path })
    os.remove(path)
    assert.are.equal(1, rc)
    assert.matches(path:gsub("%p", "%%%0") .. ":1: ", err)
    _, err, rc = lx({ "-Z" })
    assert.are.equal(1, rc)
    assert.matches("unrecognized option '%-Z'", err)
    assert.matches("usage:", err)
    _, err, rc = lx({ "-e" })
    assert.are.equal(1, rc)
    assert.matches("'%-e' needs argument", err)
  end)

  it("runs LUA_INIT first, unless -E", function()
    local out = lx({ "-e", "print(x)" }, nil, "LUA_INIT='x = 5'")
    assert.are.equal("5\n", out)
    out = lx({ "-E", "-e", "print(x)" }, nil, "LUA_INIT='x = 5'")
    assert.are.equal("nil\n", out)
  end)

  it("reaps what a script left behind when the state closes", function()
    local out, _, rc = lx({ "-e", [[
      local c = assert(require("linx.process").spawn{argv = {"sleep", "600"}})
      print(c:host_pid())]] })
    assert.are.equal(0, rc)
    local pid = tonumber(out)
    assert.is_number(pid)
    -- lua_close ran __gc, which killed and reaped the parked child
    assert.is_false(S.exists("/proc/" .. pid .. "/stat"))
  end)

  it("runs the README's rootless flow as a script", function()
    local out, err, rc = lx({ "-e", [[
      local process, user = require "linx.process", require "linxuser"
      local st = io.open("/proc/self/status"):read("*a")
      local uid, gid = tonumber(st:match("Uid:%s*(%d+)")), tonumber(st:match("Gid:%s*(%d+)"))
      local c = assert(process.spawn{argv = {"id", "-u"}, namespaces = {"user", "mount", "pid"}})
      assert(user.setup_maps(c, {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}))
      assert(c:proceed())
      print(c:wait().code)]] })
    assert.are.equal(0, rc, err)
    assert.are.equal("0\n0\n", out)
  end)

  it("offers a REPL on a terminal", function()
    local found = os.execute("command -v script >/dev/null 2>&1")
    if found ~= true and found ~= 0 then -- 5.2+ gives true, 5.1 gives 0
      return pending("util-linux script(1) is needed to give linx-lua a terminal")
    end
    -- script(1) gives linx-lua a pty; the input is typed into it
    local input = "x = 6\nx * 7\nfor i = 1, 2 do\nprint('line', i)\nend\nerror('boom')\nos.exit(0)\n"
    local out, err, rc = run("script -qec " .. q(q(LINX_LUA)) .. " /dev/null", input)
    assert.are.equal(0, rc, err)
    assert.matches("linx%-lua %d+%.%d+%.%d+", out)
    assert.matches("> 42\r?\n", out)
    assert.matches("line\t1\r?\nline\t2", out)
    assert.matches("boom", out)
  end)
end)
