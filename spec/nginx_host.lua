-- A real nginx for the specs: Debian's nginx with lua-nginx-module (LuaJIT)
-- runs examples/openresty/nginx.conf on a free loopback port, with its own
-- prefix in a temp dir holding this build's modules and lua/linx/*.lua, in
-- the foreground (a popen'd shell execs it, so closing the pipe reaps the
-- master). Needs the LuaJIT build (LINX_BUILD).
--   local host = require("nginx_host").start{locations = "...", user = "name group"}
--   host:get("/path") -> body, code;  host:worker_pid();  host:stop()
local support = require "support"

local N = {}

local function read_file(path)
  return support.read_file(path)
end

local function execute(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

function N.proc_state(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat and stat:match("^%d+ %b() (%a)")
end

function N.ppid_of(pid)
  local stat = read_file("/proc/" .. pid .. "/stat")
  return stat and tonumber(stat:match("^%d+ %b() %a (%d+)"))
end

-- Host pids of every process whose parent is pid (no /proc/*/children
-- on every kernel, so scan; threads are not listed in /proc).
function N.children_of(pid)
  local out = {}
  local p = assert(io.popen("ls /proc", "r"))
  for name in p:lines() do
    if name:match("^%d+$") and N.ppid_of(name) == pid then out[#out + 1] = tonumber(name) end
  end
  p:close()
  return out
end

function N.status_field(pid, field)
  local s = read_file("/proc/" .. pid .. "/status")
  return s and tonumber(s:match(field .. ":%s*(%d+)"))
end

-- The descriptors a process holds, as {fd = target} (readlink of each).
function N.fds_of(pid)
  local out = {}
  local p = assert(io.popen("cd /proc/" .. pid .. "/fd 2>/dev/null && for f in *; do echo \"$f $(readlink $f)\"; done", "r"))
  for fd, target in p:read("*a"):gmatch("(%d+) ([^\n]*)") do out[tonumber(fd)] = target end
  p:close()
  return out
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

-- nginx's Lua is LuaJIT: outside the jit lanes a spec's describe block
-- calls this first, which leaves one pending test and returns true.
-- pending_fn must look `pending` up when called (busted gives each test
-- its own): function(why) pending(why) end.
function N.not_jit(it, pending_fn)
  if os.getenv("LINX_LUA_VERSION") == "jit" then return false end
  it("runs in the LuaJIT lanes", function()
    pending_fn("nginx's Lua is LuaJIT: this spec runs in busted-jit, against build/jit")
  end)
  return true
end

local Host = {}
Host.__index = Host

function Host:get(path)
  local http = require "socket.http"
  local body, code = http.request("http://127.0.0.1:" .. self.port .. path)
  return body, code
end

function Host:worker_pid()
  local body, code = self:get("/uid_map")
  assert(code == 200, "GET /uid_map: " .. tostring(code) .. " " .. tostring(body))
  return tonumber(body:match("^worker (%d+)\n"))
end

function Host:log()
  return read_file(self.prefix .. "/logs/error.log") or ""
end

function Host:stop()
  if self.master_pid then
    execute(self.cmd .. " -s stop >/dev/null 2>&1")
    local gone = support.wait_until(function()
      local st = N.proc_state(self.master_pid)
      return st == nil or st == "Z"
    end)
    if not gone then support.kill(self.master_pid) end
    self.master_pid = nil
  end
  if self.master then self.master:close() self.master = nil end
  if self.prefix and self.prefix:match("^/tmp/linx%-nginx%.") then execute("rm -rf " .. self.prefix) end
end

-- opts.locations: server-block text added after the listen line;
-- opts.user: "user group" for the `user` directive (workers' identity
-- when the master is root); opts.edit(text) -> text: any other change.
function N.start(opts)
  opts = opts or {}
  local socket = require "socket"
  local build = assert(os.getenv("LINX_BUILD"), "LINX_BUILD not set")
  assert(support.exists("/usr/sbin/nginx"), "nginx is not installed (tools/packages.txt)")
  local lua_mod = assert(find_module("ngx_http_lua_module.so"), "libnginx-mod-http-lua missing")
  local ndk_mod = assert(find_module("ndk_http_module.so"), "libnginx-mod-http-ndk missing")
  local self = setmetatable({}, Host)
  self.prefix = support.sh("mktemp -d /tmp/linx-nginx.XXXXXX"):gsub("%s+$", "")
  local prefix = self.prefix
  assert(execute("mkdir -p " .. prefix .. "/logs " .. prefix .. "/tmp && chmod -R a+rwx " .. prefix))
  self.port = free_port(socket)
  -- Workers run as nobody (or opts.user) when we are root, and the
  -- checkout may not be readable by them (a tree under /root): give nginx
  -- its own copy of this build's modules and of lua/, inside the prefix.
  local lib, lua = prefix .. "/lib", prefix .. "/lua"
  assert(execute("mkdir -p " .. lib .. "/linx " .. lua .. " && cp " .. build .. "/linxuser.so " .. lib ..
                 "/ && cp " .. build .. "/linx/process.so " .. lib .. "/linx/ && cp -r lua/linx " .. lua ..
                 "/ && chmod -R a+rX " .. lib .. " " .. lua),
         "cannot copy the modules from " .. build)

  -- The example config, with this run's port, modules and paths.
  local text = assert(read_file("examples/openresty/nginx.conf"))
  local n
  text, n = text:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. self.port .. ";")
  assert(n == 1, "listen line not found in the example")
  text, n = text:gsub('lua_package_cpath "[^"]*";', 'lua_package_cpath "' .. lib .. '/?.so;;";')
  assert(n == 1, "lua_package_cpath line not found in the example")
  text, n = text:gsub('lua_package_path "[^"]*";', 'lua_package_path "' .. lua .. '/?.lua;;";')
  assert(n == 1, "lua_package_path line not found in the example")
  if opts.user then
    text, n = text:gsub("\nuser [^;]*;", "\nuser " .. opts.user .. ";")
    assert(n == 1, "user line not found in the example")
  end
  if opts.locations then
    -- (A function replacement: location blocks hold '%'.)
    text, n = text:gsub("(listen 127%.0%.0%.1:%d+;\n)", function(listen) return listen .. opts.locations end)
    assert(n == 1, "could not add the spec's locations")
  end
  if opts.edit then text = opts.edit(text) end
  text = text:gsub("load_module %S*ngx_http_lua_module%.so;", "load_module " .. lua_mod .. ";")
  text = text:gsub("load_module %S*ndk_http_module%.so;", "load_module " .. ndk_mod .. ";")
  self.conf = prefix .. "/nginx.conf"
  local f = assert(io.open(self.conf, "w"))
  f:write(text)
  f:close()

  self.cmd = "nginx -p " .. prefix .. " -e " .. prefix .. "/logs/error.log -c " .. self.conf
  -- nginx writes its pid file after it has bound the listening socket.
  self.master = assert(io.popen("exec " .. self.cmd .. " -g 'daemon off;' >" .. prefix ..
                                "/logs/start.log 2>&1", "r"))
  self.master_pid = support.wait_until(function()
    local s = read_file(prefix .. "/logs/nginx.pid")
    return s and tonumber(s:match("%d+"))
  end)
  if not self.master_pid then
    local why = tostring(read_file(prefix .. "/logs/start.log")) .. tostring(read_file(prefix .. "/logs/error.log"))
    self:stop()
    error("nginx did not start: " .. why)
  end
  return self
end

return N
