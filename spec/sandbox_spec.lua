-- linx.sandbox: bwrap's usual lock-down in one call, on linx.run (and
-- linx.luv, linx.resty through the same option table). The parts the
-- linked linx.process has are checked for real inside a busybox root;
-- a part whose option it lacks (process.options) is pending, naming the
-- option, and runs as soon as the option is there. Root and uid 65534,
-- Lua 5.4 and LuaJIT.
local process = require "linx.process"
local sandbox = require "linx.sandbox"
local S = require "support"

local child_count, fd_count = S.child_count, S.fd_count

local has = {spawn = {}, inside = {}, mount_types = {}}
for where, list in pairs(process.options) do
  for _, k in ipairs(list) do has[where][k] = true end
end

-- A busybox root filesystem: /bin/busybox and its applets, mount points.
local function make_root()
  local root = S.tmpdir("linx-sandbox")
  os.execute(("mkdir %s/bin %s/proc %s/dev %s/tmp %s/etc && cp /bin/busybox %s/bin/busybox")
    :format(root, root, root, root, root, root))
  S.symlinks("busybox", root .. "/bin", {"sh", "cat", "ls", "id", "touch", "echo", "env", "readlink", "grep", "cut",
                                         "head", "hostname", "yes", "sleep", "mkdir", "wc", "true"})
  return root
end

local root = make_root()
-- A writable place on the host, outside /tmp (the sandbox's /tmp is its
-- own tmpfs), with its mount point in the root.
local rw = S.sh("mktemp -d /var/tmp/linx-sandbox-rw.XXXXXX"):gsub("%s+$", "")
os.execute(("chmod 755 %s && mkdir -p %s%s"):format(rw, root, rw))

-- Run a shell line in the sandbox (strict = false: what the linked
-- module lacks is left out, and pending below).
local function box(line, extra)
  local t = {argv = {"/bin/sh", "-c", line}, root = root, rw = {rw}, strict = false, timeout = 60}
  for k, v in pairs(extra or {}) do t[k] = v end
  local res, err = sandbox.run(t)
  if not res then error(tostring(err), 2) end
  return res
end

local function host_ns(name)
  return S.sh("readlink /proc/self/ns/" .. name):gsub("%s+$", "")
end

-- A spec of a part that needs an option the linked module may lack.
local function needs(where, name, fn)
  return function()
    if not has[where][name] then
      local what = where == "inside" and "inside." .. name or where == "spawn" and "spawn option " .. name
                   or "mount type " .. name
      pending(("needs %s in the linked linx.process (process.options.%s)"):format(what, where))
      return
    end
    fn()
  end
end

describe("linx.sandbox", function()
  teardown(function()
    os.execute("rm -rf " .. root .. " " .. rw)
  end)

  it("with strict (the default), refuses to run without a protection it lacks", function()
    local missing = sandbox.missing()
    local kids = child_count()
    local res, err = sandbox.run{argv = {"/bin/true"}, root = root}
    if #missing == 0 then
      assert.is_table(res, tostring(err))
      assert.are.equal(0, res.code)
      return
    end
    assert.is_nil(res)
    assert.are.equal("bad_option", err.kind)
    assert.are.equal("unsupported", err.reason)
    assert.are.equal("sandbox", err.operation)
    assert.is_truthy(err.message:find(err.field, 1, true))
    assert.are.equal(kids, child_count())
  end)

  it("runs in new user, mount, pid, ipc, uts and net namespaces, root inside", function()
    local res = box("id -u; for n in user mnt pid ipc uts net; do readlink /proc/self/ns/$n; done")
    assert.are.equal(0, res.code, res.stderr)
    local lines = {}
    for l in res.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.are.equal("0", lines[1])
    for i, n in ipairs({"user", "mnt", "pid", "ipc", "uts", "net"}) do
      assert.is_truthy(lines[i + 1]:match("^" .. n .. ":%["), lines[i + 1])
      assert.are_not.equal(host_ns(n), lines[i + 1], n)
    end
  end)

  it("keeps the host's network with net = true", function()
    local res = box("readlink /proc/self/ns/net", {net = true})
    assert.are.equal(host_ns("net") .. "\n", res.stdout)
  end)

  it("binds the root read-only; /tmp is its own tmpfs, rw paths are writable", function()
    local res = box(("touch /x; touch /bin/x; echo in > /tmp/t && cat /tmp/t; echo out > %s/f && echo rw ok; ls /tmp")
      :format(rw))
    assert.is_truthy(res.stderr:find("/x: Read-only file system", 1, true), res.stderr)
    assert.is_truthy(res.stderr:find("/bin/x: Read-only file system", 1, true), res.stderr)
    assert.are.equal("in\nrw ok\nt\n", res.stdout)
    assert.are.equal("out\n", S.read_file(rw .. "/f"))
    assert.is_false(S.exists(root .. "/x"))
  end)

  it("mounts its own /proc (its pid namespace only) and a minimal /dev", function()
    local res = box("ls /proc | grep -c '^[0-9]'; ls /dev; echo x > /dev/null && echo null ok")
    local n = tonumber(res.stdout:match("^(%d+)"))
    assert.is_true(n >= 1 and n <= 4, res.stdout) -- sh, ls, grep (and an init), not the host's
    assert.is_truthy(res.stdout:find("\nnull\n", 1, true))
    assert.is_truthy(res.stdout:find("urandom", 1, true))
    assert.is_truthy(res.stdout:find("null ok\n", 1, true))
  end)

  it("gives a clean environment, cwd /tmp, stdin /dev/null, no_new_privs", function()
    local res = box("env | grep -v -e '^SHLVL=' -e '^PWD=' -e '^_=' | sort; pwd; cat; " ..
                    "grep NoNewPrivs /proc/self/status")
    assert.are.equal("HOME=/tmp\nLANG=C.UTF-8\n" ..
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" ..
                     "/tmp\nNoNewPrivs:\t1\n", res.stdout)
    res = box("cat", {input = "fed\n"})
    assert.are.equal("fed\n", res.stdout)
    res = box("echo $A; hostname", {env = {A = "set", PATH = "/bin"}, hostname = "box"})
    assert.are.equal("set\nbox\n", res.stdout)
  end)

  it("bounds output (16 MiB by default) and time, leaving nothing behind", function()
    local kids, fds = child_count(), fd_count()
    local o = assert(sandbox.options{argv = {"yes"}, root = root, strict = false})
    if has.spawn.max_output then assert.are.equal(16 * 1024 * 1024, o.max_output) end
    local res, err = sandbox.run{argv = {"/bin/yes"}, root = root, strict = false, max_output = 1e5, timeout = 60}
    assert.is_nil(res)
    assert.are.equal("output_limit", err.kind)
    res, err = sandbox.run{argv = {"/bin/sleep", "30"}, root = root, strict = false, timeout = 0.3}
    assert.is_nil(res)
    assert.are.equal("timeout", err.kind)
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("refuses bad options before any child exists", function()
    local kids = child_count()
    for _, case in ipairs({
      {{argv = {"true"}}, "root", "missing"},
      {{argv = {"true"}, root = root, ro = {"/usr"}}, "ro", "with_root"},
      {{argv = {"true"}, root = root, rw = {"tmp"}}, "rw", "not_absolute"},
      {{argv = {"true"}, root = root, rw = {"/a/../b"}}, "rw", "not_normal"},
      {{argv = {"true"}, root = root, rw = {"/nonexistent/linx"}}, "rw", "not_found"},
      {{argv = {"true"}, root = root, network = true}, "network", "unknown_option"},
      {setmetatable({argv = {"true"}}, {__index = function(_, k) error("no " .. k) end}), "root", "unreadable"},
    }) do
      local res, err = sandbox.run(case[1])
      assert.is_nil(res)
      assert.are.equal("bad_option", err.kind)
      assert.are.equal(case[2], err.field)
      assert.are.equal(case[3], err.reason)
    end
    local res, err = sandbox.run("true")
    assert.is_nil(res)
    assert.are.equal("opts", err.field)
    assert.are.equal(kids, child_count())
  end)

  it("builds plain data that linx.resty can carry, and runs on linx.luv", function()
    local o = assert(sandbox.options{argv = {"/bin/echo", "hi"}, root = root, strict = false})
    local function plain(v, path)
      local t = type(v)
      if t == "table" then
        for k, x in pairs(v) do plain(x, path .. "." .. tostring(k)) end
      else
        assert.is_truthy(t == "string" or t == "number" or t == "boolean", path .. " is a " .. t)
      end
    end
    plain(o, "opts")
    -- luv in a host of its own: opened a second time in one Lua state
    -- (busted reloads modules for each spec file) it crashes
    local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
    local script = ([[
      local ok, uv = pcall(require, "luv")
      if not ok then print("no luv") return end
      local sandbox = require "linx.sandbox"
      local got, called
      assert(sandbox.run_luv({argv = {"/bin/echo", "hi"}, root = %q, strict = false, timeout = 60},
                             function(res, err) got = {res, err} end))
      uv.run()
      io.write(got[1] and got[1].stdout or tostring(got[2]))
      assert(sandbox.run_luv({argv = {"true"}}, function(res, err) called = {res, err} end))
      print(called == nil, "")
      uv.run()
      print(called[2].reason)
    ]]):format(root)
    local lane = os.getenv("LINX_INTERP") or ""
    local out = S.sh((lane ~= "" and lane or ver == "jit" and "luajit" or "lua" .. ver) .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1")
    if out == "no luv\n" then
      pending("lua-luv is not installed for this Lua")
      return
    end
    -- hi from the sandbox; the bad options' callback never before run_luv returns
    assert.are.equal("hi\ntrue\t\nmissing\n", out)
  end)

  it("is built into linx-lua (no LUA_PATH needed)", function()
    local lx = os.getenv("LINX_LUA")
    if not (lx and S.exists(lx)) then
      pending("no linx-lua built for this Lua (make LUA_VERSION=... all)")
      return
    end
    local out = S.sh("cd / && env -u LUA_PATH -u LUA_PATH_5_4 -u LUA_INIT '" .. lx .. "' -e '" ..
                     "package.path = \"\" print(type(require(\"linx.sandbox\").run))' 2>&1")
    assert.are.equal("function\n", out)
  end)

  -- The parts other options bring (pending until the linked module has them).

  it("starts a new session: no controlling terminal", needs("spawn", "session", function()
    local res = box("cut -d' ' -f6 /proc/$$/stat; echo $$")
    local sid, pid = res.stdout:match("^(%d+)\n(%d+)\n$")
    assert.are.equal(pid, sid, res.stdout)
  end))

  it("runs a small init as pid 1, the workload below it", needs("inside", "init", function()
    local res = box("echo $$; cat /proc/1/cmdline | head -c 64 | wc -c")
    assert.are_not.equal("1", res.stdout:match("^(%d+)"))
  end))

  it("drops every capability", needs("inside", "caps", function()
    local res = box("grep -E '^Cap(Eff|Prm|Bnd|Amb)' /proc/self/status")
    assert.are.equal("CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n" ..
                     "CapBnd:\t0000000000000000\nCapAmb:\t0000000000000000\n", res.stdout)
  end))

  it("sets rlimits: nofile 1024, core 0; rlimits entries replace them", needs("inside", "rlimits", function()
    local res = box("ulimit -n; ulimit -c")
    assert.are.equal("1024\n0\n", res.stdout)
    res = box("ulimit -n", {rlimits = {nofile = 64}})
    assert.are.equal("64\n", res.stdout)
  end))

  it("keeps its default rlimits within the caller's hard limits; named ones pass as given",
     needs("inside", "rlimits", function()
    -- a fresh host whose hard nofile is 512 (prlimit(1), util-linux)
    local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
    local lane = os.getenv("LINX_INTERP") or ""
    local lua = lane ~= "" and lane or ver == "jit" and "luajit" or "lua" .. ver
    local script = ([[
      local sandbox = require "linx.sandbox"
      local a = assert(sandbox.options{argv = {"true"}, root = %q}).inside.rlimits
      local b = assert(sandbox.options{argv = {"true"}, root = %q, rlimits = {nofile = 2048}}).inside.rlimits
      print(a.nofile, a.nproc, a.core, b.nofile)
    ]]):format(root, root)
    local quoted = "'" .. script:gsub("'", "'\\''") .. "'"
    local low = S.sh("prlimit --nofile=512:512 " .. lua .. " -e " .. quoted .. " 2>&1")
    assert.are.equal("512\t512\t0\t2048\n", low)
    local high = S.sh("prlimit --nofile=4096:4096 " .. lua .. " -e " .. quoted .. " 2>&1")
    assert.are.equal("1024\t512\t0\t2048\n", high)
  end))

  it("loads the default seccomp filter", needs("inside", "seccomp", function()
    local res = box("grep '^Seccomp:' /proc/self/status")
    assert.are.equal("Seccomp:\t2\n", res.stdout)
  end))

  it("puts Landlock over the same paths: no write outside rw, /tmp, /dev", needs("inside", "landlock", function()
    -- /proc/self/comm is writable without Landlock; with it, /proc is not in the write list
    local res = box(("echo x > /proc/self/comm || echo denied; echo y > %s/g && echo rw ok"):format(rw))
    assert.are.equal("denied\nrw ok\n", res.stdout)
  end))

  it("builds an empty root from ro paths (bwrap --ro-bind)", needs("mount_types", "dir", function()
    if not (has.mount_types.file and has.mount_types.remount) then
      pending("needs mount types file and remount in the linked linx.process (process.options.mount_types)")
      return
    end
    local res, err = sandbox.run{argv = {"/bin/busybox", "sh", "-c", "ls /; touch /x || echo ro"},
                                 ro = {"/bin", "/usr", "/lib", "/lib64", "/etc/passwd", "/nonexistent"},
                                 strict = false, timeout = 60}
    assert.is_table(res, tostring(err))
    local top = {}
    for name in res.stdout:gmatch("[^\n]+") do top[#top + 1] = name end
    table.sort(top)
    assert.is_nil(res.stdout:find("home", 1, true))
    assert.is_truthy(res.stdout:find("\nro\n", 1, true) or res.stdout:find("^ro\n"))
    assert.is_truthy(res.stdout:find("etc", 1, true) and res.stdout:find("proc", 1, true))
  end))

  describe("with a pool", function()
    -- What a sandbox shows of itself, in one line of shell: run fresh and
    -- from a pool, it must print the same.
    local probe = "id -u; id -g; pwd; env | grep -v -e '^SHLVL=' -e '^PWD=' -e '^_=' | sort; " ..
                  "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status; ulimit -n; echo $$; " ..
                  "ls /; echo x > /proc/self/comm 2>/dev/null || echo denied; " ..
                  ("echo y > %s/g && echo rw ok; cat; echo err >&2; exit 4"):format(rw)

    it("answers as a fresh sandbox does, from a child the pool made ready", function()
      local kids, fds = child_count(), fd_count()
      local p = assert(sandbox.pool{root = root, rw = {rw}, strict = false, size = 2})
      assert.are.equal(0, p:size())
      assert.are.equal(2, p:fill())
      local fresh = box(probe, {input = "fed\n"})
      local pooled, err = sandbox.run{pool = p, argv = {"/bin/sh", "-c", probe}, input = "fed\n", timeout = 60}
      assert.is_table(pooled, tostring(err))
      assert.are.same(fresh, pooled)
      assert.are.equal(4, pooled.code)
      assert.are.equal(1, p:size()) -- taken from the pool
      -- request options with the sandbox's defaults, as on the fresh path
      local res = assert(sandbox.run{pool = p, argv = {"/bin/sh", "-c", "echo $A; pwd; cat"},
                                     env = {A = "set", PATH = "/bin"}, cwd = "/", timeout = 60})
      assert.are.equal("set\n/\n", res.stdout) -- stdin /dev/null: cat ends at once
      assert.are.equal(0, p:size())
      res, err = sandbox.run{pool = p, argv = {"/bin/yes"}, max_output = 1e5, timeout = 60} -- an empty pool readies one
      assert.is_nil(res)
      assert.are.equal("output_limit", err.kind)
      res, err = sandbox.run{pool = p, argv = {"/bin/sleep", "30"}, timeout = 0.3}
      assert.is_nil(res)
      assert.are.equal("timeout", err.kind)
      p:close()
      assert.are.equal(kids, child_count())
      assert.are.equal(fds, fd_count())
    end)

    it("gives the request's options their sandbox defaults (for run_resty and run_luv too)", function()
      local p = assert(sandbox.pool{root = root, strict = false, size = 1})
      local o = assert(sandbox.options{pool = p, argv = {"/bin/true"}})
      assert.are.equal(p, o.pool)
      assert.are.same(sandbox.env, o.env)
      assert.are.equal("/tmp", o.cwd)
      assert.are.equal("null", o.stdin)
      if has.spawn.max_output then assert.are.equal(sandbox.max_output, o.max_output) end
      assert.is_nil(o.namespaces)
      assert.is_nil(o.inside)
      o = assert(sandbox.options{pool = p, argv = {"/bin/cat"}, input = "x"})
      assert.is_nil(o.stdin)
      assert.are.equal("x", o.input)
      p:close()
    end)

    it("refuses the pool's options in a request, and the request's in a pool", function()
      local kids = child_count()
      local p = assert(sandbox.pool{root = root, strict = false, size = 1})
      p:fill()
      for _, k in ipairs({"root", "ro", "rw", "net", "rlimits", "seccomp", "caps", "hostname", "base", "strict"}) do
        local res, err = sandbox.run{pool = p, argv = {"/bin/true"}, [k] = false}
        assert.is_nil(res)
        assert.are.equal("bad_option", err.kind)
        assert.are.equal(k, err.field)
        assert.are.equal("fixed_by_pool", err.reason)
        assert.are.equal("sandbox", err.operation)
      end
      local res, err = sandbox.run{pool = "p", argv = {"/bin/true"}}
      assert.is_nil(res)
      assert.are.equal("not_a_pool", err.reason)
      assert.are.equal(1, p:size()) -- nothing was taken
      p:close()
      for _, k in ipairs({"argv", "env", "cwd", "input", "timeout", "max_output", "stdout", "stderr", "pool"}) do
        local q
        q, err = sandbox.pool{root = root, strict = false, [k] = "x"}
        assert.is_nil(q)
        assert.are.equal(k, err.field)
        assert.are.equal("per_request", err.reason)
      end
      local q
      q, err = sandbox.pool{root = root, strict = false, sise = 2}
      assert.is_nil(q)
      assert.are.equal("unknown_option", err.reason)
      q, err = sandbox.pool{root = root, strict = false, size = 0}
      assert.is_nil(q)
      assert.are.equal("size", err.field)
      q, err = sandbox.pool{strict = false}
      assert.is_nil(q)
      assert.are.equal("root", err.field)
      assert.are.equal(kids, child_count())
    end)

    it("runs a pooled sandbox on linx.luv, which refills the pool", function()
      local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
      local script = ([[
        local ok, uv = pcall(require, "luv")
        if not ok then print("no luv") return end
        local sandbox = require "linx.sandbox"
        local p = assert(sandbox.pool{root = %q, strict = false, size = 2})
        p:fill()
        local got
        assert(sandbox.run_luv({pool = p, argv = {"/bin/sh", "-c", "id -u; pwd"}, timeout = 60},
                               function(res, err) got = {res, err} end))
        print(p:size())
        uv.run()
        io.write(got[1] and got[1].stdout or tostring(got[2]))
        print(p:size())
      ]]):format(root)
      local lane = os.getenv("LINX_INTERP") or ""
      local lua = lane ~= "" and lane or ver == "jit" and "luajit" or "lua" .. ver
      local out = S.sh(lua .. " -e '" .. script:gsub("'", "'\\''") .. "' 2>&1")
      if out == "no luv\n" then
        pending("lua-luv is not installed for this Lua")
        return
      end
      -- taken at once; the child's answer; refilled by the loop
      assert.are.equal("1\n0\n/tmp\n2\n", out)
    end)
  end)
end)
