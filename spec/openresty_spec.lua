-- OpenResty for real: Debian's nginx with lua-nginx-module (LuaJIT) runs
-- examples/openresty/nginx.conf on a loopback port, with its own prefix in
-- a temp dir and the modules from this build tree, and answers over HTTP.
-- Needs the LuaJIT build, so it runs in the busted-jit lanes.
local support = require "support"

local ver = os.getenv("LINX_LUA_VERSION") or ""
local build = os.getenv("LINX_BUILD")

local function read_file(path)
  return support.read_file(path)
end

local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local function proc_state(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)")
end

local function ppid_of(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat and tonumber(stat:match("^%d+ %b() %a (%d+)"))
end

-- Host pids of every process whose parent is pid (no /proc/*/children
-- on every kernel, so scan).
local function children_of(pid)
  local out = {}
  local p = assert(io.popen("ls /proc", "r"))
  for name in p:lines() do
    if name:match("^%d+$") and ppid_of(name) == pid then out[#out + 1] = tonumber(name) end
  end
  p:close()
  return out
end

local function status_field(pid, field)
  local s = read_file("/proc/" .. pid .. "/status")
  return s and tonumber(s:match(field .. ":%s*(%d+)"))
end

-- A free loopback port: bind port 0, read what the kernel chose, release.
local function free_port(socket)
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function find_module(name)
  for _, dir in ipairs({ "/usr/lib/nginx/modules", "/usr/share/nginx/modules" }) do
    if support.exists(dir .. "/" .. name) then return dir .. "/" .. name end
  end
end

describe("OpenResty (nginx + lua-nginx-module)", function()
  if ver ~= "jit" then
    it("runs in the LuaJIT lanes", function()
      pending("nginx's Lua is LuaJIT: this spec runs in busted-jit, against build/jit")
    end)
    return
  end

  local socket, http = require "socket", require "socket.http"
  local prefix, port, conf, nginx_cmd, master, master_pid

  local function get(path)
    local body, code = http.request("http://127.0.0.1:" .. port .. path)
    return body, code
  end

  setup(function()
    assert(build, "LINX_BUILD not set")
    assert(support.exists("/usr/sbin/nginx"), "nginx is not installed (tools/packages.txt)")
    local lua_mod = assert(find_module("ngx_http_lua_module.so"), "libnginx-mod-http-lua missing")
    local ndk_mod = assert(find_module("ndk_http_module.so"), "libnginx-mod-http-ndk missing")
    prefix = support.sh("mktemp -d /tmp/linx-nginx.XXXXXX"):gsub("%s+$", "")
    assert(execute("mkdir -p " .. prefix .. "/logs " .. prefix .. "/tmp && chmod -R a+rwx " .. prefix))
    port = free_port(socket)
    -- Workers run as nobody when we are root, and the checkout may not be
    -- readable by nobody (a tree under /root): give nginx its own copy of
    -- this build's modules, inside the prefix.
    local lib = prefix .. "/lib"
    assert(execute("mkdir -p " .. lib .. "/linx && cp " .. build .. "/linxuser.so " .. lib ..
                   "/ && cp " .. build .. "/linx/process.so " .. lib .. "/linx/ && chmod -R a+rX " .. lib),
           "cannot copy the modules from " .. build)

    -- The example config, with this run's port, modules and build tree.
    local text = assert(read_file("examples/openresty/nginx.conf"))
    local n
    text, n = text:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
    assert(n == 1, "listen line not found in the example")
    text, n = text:gsub('lua_package_cpath "[^"]*";', 'lua_package_cpath "' .. lib .. '/?.so;;";')
    assert(n == 1, "lua_package_cpath line not found in the example")
    -- One spec-only location: the child exits while the worker is busy
    -- elsewhere (here: ngx.sleep, back in nginx's event loop, where its
    -- SIGCHLD handler reaps with waitpid(-1)), and only then is waited for.
    -- It answers with the state the child's /proc entry reached before
    -- wait() (Z: still ours; gone: someone else reaped it) and wait()'s result.
    -- (A function replacement: the block's own Lua patterns hold '%'.)
    local late_wait = [[
        location = /late_wait {
            content_by_lua_block {
                local process = require "linx.process"
                local c, err = process.spawn{argv = {"true"}, stdin = "null"}
                if not c then ngx.say("spawn ", tostring(err)) return end
                local pid = c:host_pid()
                local ok, perr = c:proceed()
                if not ok then ngx.say("proceed ", tostring(perr)) return end
                local state
                for _ = 1, 5000 do
                    local f = io.open("/proc/" .. pid .. "/stat")
                    local line = f and f:read("*l")
                    if f then f:close() end
                    state = line and line:match("^%d+ %b() (%a)") or "gone"
                    if state == "Z" or state == "gone" then break end
                    ngx.sleep(0.001)
                end
                local st, werr = c:wait()
                c:close()
                ngx.say("before wait ", state)
                ngx.say(st and ("exit " .. tostring(st.code)) or ("wait " .. tostring(werr)))
            }
        }
]]
    text, n = text:gsub("(listen 127%.0%.0%.1:%d+;\n)", function(listen) return listen .. late_wait end)
    assert(n == 1, "could not add the spec-only location")
    text = text:gsub("load_module %S*ngx_http_lua_module%.so;", "load_module " .. lua_mod .. ";")
    text = text:gsub("load_module %S*ndk_http_module%.so;", "load_module " .. ndk_mod .. ";")
    conf = prefix .. "/nginx.conf"
    local f = assert(io.open(conf, "w"))
    f:write(text)
    f:close()

    nginx_cmd = "nginx -p " .. prefix .. " -e " .. prefix .. "/logs/error.log -c " .. conf
    -- In the foreground, as the child of a popen'd shell that execs it, so
    -- that closing the pipe reaps the master (a daemonized master would be
    -- left to whatever init this machine has). nginx writes its pid file
    -- after it has bound the listening socket.
    master = assert(io.popen("exec " .. nginx_cmd .. " -g 'daemon off;' >" .. prefix ..
                             "/logs/start.log 2>&1", "r"))
    master_pid = support.wait_until(function()
      local s = read_file(prefix .. "/logs/nginx.pid")
      return s and tonumber(s:match("%d+"))
    end)
    assert(master_pid, "nginx did not start: " .. tostring(read_file(prefix .. "/logs/start.log")) ..
           tostring(read_file(prefix .. "/logs/error.log")))
  end)

  teardown(function()
    if master_pid then
      execute(nginx_cmd .. " -s stop >/dev/null 2>&1")
      local gone = support.wait_until(function()
        local st = proc_state(master_pid)
        return st == nil or st == "Z"
      end)
      if not gone then support.kill(master_pid) end
    end
    if master then master:close() end
    if prefix and prefix:match("^/tmp/linx%-nginx%.") then execute("rm -rf " .. prefix) end
  end)

  local function worker_pid()
    local body, code = get("/uid_map")
    assert.are.equal(200, code, body)
    return tonumber(body:match("^worker (%d+)\n"))
  end

  it("answers with the worker's own read_uid_map", function()
    local body, code = get("/uid_map")
    assert.are.equal(200, code, body)
    local pid = tonumber(body:match("^worker (%d+)\n"))
    assert.is_number(pid)
    -- A real nginx worker, child of the master we started.
    assert.are.equal("nginx\n", read_file("/proc/" .. pid .. "/comm"))
    assert.are.equal(master_pid, ppid_of(pid))
    -- Its map is the one every process in our namespace has, read by the
    -- kernel's rules: compare with our own uid_map, line by line.
    local expected = {}
    for a, b, c in read_file("/proc/self/uid_map"):gmatch("(%d+)%s+(%d+)%s+(%d+)") do
      expected[#expected + 1] = a .. " " .. b .. " " .. c
    end
    assert.is_true(#expected >= 1)
    local got = {}
    for line in body:gmatch("[^\n]+") do
      if not line:match("^worker") then got[#got + 1] = line end
    end
    assert.are.same(expected, got)
  end)

  it("runs its workers as nobody (master root) or as the unprivileged caller", function()
    local pid = worker_pid()
    assert.are.equal(65534, status_field(pid, "Uid"))
    assert.are.equal(65534, status_field(pid, "Gid"))
  end)

  it("spawns a child from the worker, maps it, and returns its inside identity", function()
    local body, code = get("/inside")
    assert.are.equal(200, code, body)
    assert.are.equal("inside 0\nmap 0 -> 65534\nexit 0\n", body)
  end)

  it("a child that exits while the worker is elsewhere is still the handle's to wait for", function()
    -- nginx's SIGCHLD handler calls waitpid(-1) in every worker: a child it
    -- can see is reaped there and its status lost to the handle.
    for _ = 1, 3 do
      local body, code = get("/late_wait")
      assert.are.equal(200, code, body)
      -- The workload itself is not the worker's child (execve would give it
      -- SIGCHLD as exit signal): linx.process's keeper holds it as a zombie
      -- (its pid pinned) until the handle waits, and wait() still has the
      -- exit code, not ECHILD.
      assert.are.equal("before wait Z\nexit 0\n", body)
    end
  end)

  it("leaves no child behind, and nginx's own reaper never sees one", function()
    local pid = worker_pid()
    for _ = 1, 5 do
      local body, code = get("/inside")
      assert.are.equal(200, code, body)
      assert.are.equal("inside 0\n", body:match("^inside %d+\n"))
    end
    assert.are.same({}, children_of(pid))
    -- nginx's SIGCHLD handler does waitpid(-1) and logs every pid it reaps
    -- that is not one of its own processes; our children must not be there.
    local log = read_file(prefix .. "/logs/error.log") or ""
    assert.is_nil(log:match("unknown process"), log)
    assert.is_nil(log:match("%[error%][^\n]*lua"), log)
    -- The same worker served every request: none crashed and was replaced.
    assert.are.equal(pid, worker_pid())
  end)
end)
