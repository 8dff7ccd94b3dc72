-- linx.run: the whole cycle in one call, against the real kernel. Runs as
-- root and as uid 65534, on Lua 5.4 and LuaJIT (pure Lua on 5.1's API).
local run = require "linx.run"
local process = require "linx.process"
local S = require "support"

local child_count, fd_count = S.child_count, S.fd_count

-- Is any process running exactly this argv?
local function running(argv)
  local want = table.concat(argv, "\0") .. "\0"
  for pid in S.sh("ls /proc"):gmatch("%d+") do
    if S.read_file("/proc/" .. pid .. "/cmdline") == want then return tonumber(pid) end
  end
  return nil
end

local function ok_run(opts)
  local res, err = run.run(opts)
  if not res then error(tostring(err), 2) end
  return res
end

describe("linx.run", function()
  it("collects stdout and stderr, and the exit code", function()
    local res = ok_run{argv = {"sh", "-c", "echo out; echo err >&2; exit 3"}}
    assert.are.equal(3, res.code)
    assert.is_nil(res.signal)
    assert.are.equal("out\n", res.stdout)
    assert.are.equal("err\n", res.stderr)
  end)

  it("says which signal ended the child", function()
    local res = ok_run{argv = {"sh", "-c", "echo before; kill -TERM $$"}}
    assert.is_nil(res.code)
    assert.are.equal(15, res.signal)
    assert.are.equal("before\n", res.stdout)
  end)

  it("maps the caller's own ids to 0 under a user namespace by default", function()
    local res = ok_run{argv = {"sh", "-c", "id -u; id -g"}, namespaces = {"user"}}
    assert.are.equal(0, res.code)
    assert.are.equal("0\n0\n", res.stdout)
  end)

  it("takes setup_maps options in maps, and false for none", function()
    local res = ok_run{argv = {"id", "-u"}, namespaces = {"user"},
                       maps = {uid = {{42, S.uid, 1}}, gid = {{42, S.gid, 1}}}}
    assert.are.equal("42\n", res.stdout)
    res = ok_run{argv = {"id", "-u"}, namespaces = {"user"}, maps = false}
    assert.are.equal("65534\n", res.stdout) -- unmapped: the overflow id
  end)

  it("passes spawn's options through, and leaves unpiped streams out", function()
    local res = ok_run{argv = {"sh", "-c", "echo $LINX_X; pwd"}, env = {LINX_X = "yes", PATH = "/usr/bin:/bin"},
                       cwd = "/", stderr = "null"}
    assert.are.equal("yes\n/\n", res.stdout)
    assert.is_nil(res.stderr)
  end)

  it("sends 1 MB through cat and back, larger than any pipe buffer", function()
    local parts = {}
    for i = 1, 65536 do parts[i] = string.format("%015d\n", i) end
    local big = table.concat(parts)
    assert.are.equal(1024 * 1024, #big)
    local res = ok_run{argv = {"cat"}, input = big}
    assert.are.equal(0, res.code)
    assert.is_true(res.stdout == big, "round trip differs")
    res = ok_run{argv = {"cat"}, input = big, timeout = 60}
    assert.is_true(res.stdout == big, "round trip differs with a timeout")
    -- and a child that reads none of it
    res = ok_run{argv = {"true"}, input = big}
    assert.are.equal(0, res.code)
  end)

  it("kills a child past its timeout and leaves nothing behind", function()
    -- a duration of this host's own: lanes run side by side and scan the
    -- same /proc
    local argv = {"sleep", ("31.%d"):format(S.self_pid())}
    local kids, fds = child_count(), fd_count()
    local t0 = process.now()
    local res, err = run.run{argv = argv, namespaces = {"user", "pid"}, timeout = 0.3}
    local took = process.now() - t0
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("run", err.operation)
    assert.are.equal(0.3, err.seconds)
    assert.is_truthy(tostring(err):find("timeout", 1, true))
    assert.is_true(took >= 0.29 and took < 3, "took " .. took)
    assert.is_nil(running(argv))
    assert.are.equal(kids, child_count()) -- no keeper
    assert.are.equal(fds, fd_count())
  end)

  it("times out while input is still going in, leaving nothing behind", function()
    local argv = {"sleep", ("27.%d"):format(S.self_pid())}
    local kids, fds = child_count(), fd_count()
    local res, err = run.run{argv = argv, input = string.rep("z", 1024 * 1024), timeout = 0.2}
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.is_nil(running(argv))
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("returns spawn's and exec's errors, with nothing left behind", function()
    local kids, fds = child_count(), fd_count()
    local res, err, code = run.run{argv = {"/nonexistent/linx"}}
    assert.is_nil(res)
    assert.are.equal("os", err.kind)
    assert.are.equal("ENOENT", err.errno)
    assert.are.equal(2, code)
    res, err = run.run{argv = {"true"}, namespace = {"user"}}
    assert.is_nil(res)
    assert.are.equal("bad_option", err.kind)
    assert.are.equal("namespace", err.field)
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("refuses bad run options before any child exists", function()
    for _, case in ipairs({
      {{argv = {"true"}, timeout = -1}, "timeout"},
      {{argv = {"true"}, timeout = "1"}, "timeout"},
      {{argv = {"true"}, input = 42}, "input"},
      {{argv = {"true"}, maps = "own"}, "maps"},
      {{argv = {"true"}, input = "x", stdin = "null"}, "input"},
    }) do
      local res, err = run.run(case[1])
      assert.is_nil(res)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal(case[2], err.field)
      assert.are.equal("run", err.operation)
      assert.is_string(tostring(err))
    end
    local res, err = run.run("true")
    assert.is_nil(res)
    assert.are.equal("opts", err.field)
  end)

  it("reads options through an __index of defaults", function()
    local defaults = {namespaces = {"user"}, timeout = 30}
    local res = ok_run(setmetatable({argv = {"id", "-u"}}, {__index = defaults}))
    assert.are.equal("0\n", res.stdout)
  end)
end)

describe("linx.run with pool =", function()
  -- A pool whose children map the caller to 42: output that says 42
  -- came from a pooled child, not from a fresh spawn without the maps.
  local function pool42(size)
    return assert(process.pool{namespaces = {"user"}, size = size or 2,
                               maps = {uid = {{42, S.uid, 1}}, gid = {{42, S.gid, 1}}}})
  end

  it("runs the request in a ready child: output and codes as on the fresh path", function()
    local p = pool42(3)
    assert.are.equal(3, p:fill())
    local cases = {
      {argv = {"sh", "-c", "id -u; echo err >&2; exit 3"}},
      {argv = {"sh", "-c", "echo before; kill -TERM $$"}},
      {argv = {"sh", "-c", "echo $LINX_X; pwd"}, env = {LINX_X = "yes", PATH = "/usr/bin:/bin"}, cwd = "/",
       stderr = "null"},
    }
    for i, case in ipairs(cases) do
      local fresh = {namespaces = {"user"}, maps = {uid = {{42, S.uid, 1}}, gid = {{42, S.gid, 1}}}}
      local pooled = {pool = p}
      for k, v in pairs(case) do fresh[k], pooled[k] = v, v end
      local want, got = ok_run(fresh), ok_run(pooled)
      assert.are.same(want, got)
      assert.are.equal(3 - i, p:size()) -- taken from the pool, which run leaves as it is
    end
    assert.are.equal("42\n", ok_run{pool = p, argv = {"id", "-u"}}.stdout) -- an empty pool readies one
    assert.are.equal(0, p:size())
    p:close()
  end)

  it("feeds input and takes output of any size through a pooled child", function()
    local parts = {}
    for i = 1, 65536 do parts[i] = string.format("%015d\n", i) end
    local big = table.concat(parts)
    local p = pool42(2)
    p:fill()
    local res = ok_run{pool = p, argv = {"cat"}, input = big}
    assert.are.equal(0, res.code)
    assert.is_true(res.stdout == big, "round trip differs")
    res = ok_run{pool = p, argv = {"cat"}, input = big, timeout = 60}
    assert.is_true(res.stdout == big, "round trip differs with a timeout")
    assert.are.equal(0, p:size())
    p:close()
  end)

  it("times out a pooled child, and bounds its output, leaving nothing behind", function()
    local argv = {"sleep", ("29.%d"):format(S.self_pid())}
    local kids, fds = child_count(), fd_count()
    local p = pool42(2)
    p:fill()
    local res, err = run.run{pool = p, argv = argv, timeout = 0.3}
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal(0.3, err.seconds)
    assert.is_nil(running(argv))
    res, err = run.run{pool = p, argv = {"sh", "-c", "head -c 5000 /dev/zero"}, max_output = 100}
    assert.is_nil(res)
    assert.are.equal("output_limit", err.kind)
    res, err = run.run{pool = p, argv = {"/nonexistent/linx"}}
    assert.is_nil(res)
    assert.are.equal("ENOENT", err.errno)
    p:close()
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("refuses the pool's own options beside pool =, taking no child", function()
    local p = pool42(1)
    p:fill()
    for _, case in ipairs({
      {{pool = p, argv = {"true"}, namespaces = {"user"}}, "namespaces", "fixed_by_pool"},
      {{pool = p, argv = {"true"}, maps = false}, "maps", "fixed_by_pool"},
      {{pool = p, argv = {"true"}, maps = {uid = {{0, S.uid, 1}}}}, "maps", "fixed_by_pool"},
      {{pool = p, argv = {"true"}, inside = {hostname = "x"}}, "inside", "fixed_by_pool"},
      {{pool = p, argv = {"true"}, session = "new"}, "session", "fixed_by_pool"},
      {{pool = p, argv = {"true"}, cgroup = "/sys/fs/cgroup/x"}, "cgroup", "fixed_by_pool"},
      {{pool = {}, argv = {"true"}}, "pool", "not_a_pool"},
      {{pool = io.stdout, argv = {"true"}}, "pool", "not_a_pool"},
    }) do
      local res, err = run.run(case[1])
      assert.is_nil(res)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal(case[2], err.field)
      assert.are.equal(case[3], err.reason)
      assert.are.equal("run", err.operation)
    end
    local res, err = run.run{pool = p, argv = {"true"}, namespace = {"user"}} -- a typo: spawn's word
    assert.is_nil(res)
    assert.are.equal("unknown_option", err.reason)
    assert.are.equal(1, p:size())
    p:close()
    res, err = run.run{pool = p, argv = {"true"}}
    assert.is_nil(res)
    assert.are.equal("bad_state", err.kind)
  end)
end)

describe("linx-lua", function()
  it("has linx.run and linx.luv built in: no LUA_PATH needed", function()
    local lx = os.getenv("LINX_LUA")
    local p = io.popen("cd / && env -u LUA_PATH -u LUA_PATH_5_4 -u LUA_INIT '" .. lx .. "' -e '" ..
                       "package.path = \"\" " ..
                       "local r = require(\"linx.run\").run{argv = {\"echo\", \"hi\"}} " ..
                       "print(r.code, r.stdout, type(package.preload[\"linx.luv\"]))' 2>&1")
    local out = p:read("*a")
    p:close()
    assert.are.equal("0\thi\n\tfunction\n", out)
  end)
end)
