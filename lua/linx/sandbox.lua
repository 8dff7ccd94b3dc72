--- A sandbox in one call: bwrap's usual lock-down as one option table.
--
--     local sandbox = require "linx.sandbox"
--     local res = assert(sandbox.run{argv = {"sh", "-c", "id -u; ls /"},
--                                    ro = {"/usr", "/bin", "/lib", "/lib64", "/etc"},
--                                    timeout = 5})
--
-- What `sandbox.options(t)` turns on (each is a `linx.process.spawn`
-- option; `sandbox.run` hands the table to `linx.run`, `run_resty` to
-- `linx.resty`, `run_luv` to `linx.luv`):
--
-- * namespaces user, mount, pid, ipc, uts, cgroup, and net unless
--   `net = true`; root inside (the caller's uid and gid mapped to 0), with
--   no capability (`inside.caps = {}`);
-- * a new session (`session = "new"`: no controlling terminal), a small
--   init as pid 1 (`inside.init`), `no_new_privs`;
-- * a root of its own: `root = dir` (a root filesystem, bound read-only
--   as `/`), or `ro = {paths}` (host paths bound read-only at the same
--   place on an empty tmpfs root, which is then made read-only); `rw =
--   {paths}` bound writable; `/proc` (of its own pid namespace), a
--   minimal `/dev`, a tmpfs `/tmp`;
-- * `inside.seccomp = "default"` (the documented deny list), Landlock over
--   the same paths (read all it can see; write only to `rw`, `/tmp` and
--   `/dev`; with `ro`, run programs only from the `ro` paths), rlimits (`core = 0`, `nofile = 1024`,
--   `nproc = 512`);
-- * a clean environment (`PATH`, `HOME=/tmp`, `LANG=C.UTF-8`), `cwd` `/tmp`,
--   stdin `/dev/null` unless `input` is given, output piped and bounded
--   (`max_output`, 16 MiB per stream by default).
--
-- Each part needs the linked `linx.process` to have the option
-- (`process.options` lists them). With `strict` (the default) a missing
-- one is an error (`bad_option`, `reason = "unsupported"`, `field` the
-- option) and nothing runs; `strict = false` runs without it, and
-- `sandbox.missing()` lists what is missing.
--
-- `sandbox.pool(t)` makes a `linx.process.pool` of children readied with
-- all of the above but what a request brings; `run{pool = p, argv = ...}`
-- (and `run_resty`, `run_luv`) then takes one, with the request's
-- options (`argv`, `env`, `cwd`, `input`, `timeout`, `max_output`,
-- `stdout`, `stderr`) and their defaults as on the fresh path.
-- Pure Lua, for Lua 5.1 to 5.4 and LuaJIT.
-- @module linx.sandbox

local process = require "linx.process"
local core = require "linx.run"

local M = {}

--- The environment a sandboxed command gets unless `env` is given.
M.env = {PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME = "/tmp",
         LANG = "C.UTF-8"}
-- The caller's hard limits, by sandbox.rlimits name, from
-- /proc/self/limits ("unlimited" left out): {nofile = 4096, ...}.
local limit_rows = {nofile = "Max open files", nproc = "Max processes", core = "Max core file size"}
local function caller_hard_limits()
  local hard = {}
  local f = io.open("/proc/self/limits", "r")
  if not f then return hard end
  local text = f:read("*a")
  f:close()
  for name, row in pairs(limit_rows) do
    local h = text:match(row .. "%s+%S+%s+(%d+)")
    if h then hard[name] = tonumber(h) end
  end
  return hard
end

--- The rlimits a sandboxed command gets; `rlimits` entries replace these
-- (`rlimits = false`: none).
M.rlimits = {core = 0, nofile = 1024, nproc = 512}
--- Bytes per output stream unless `max_output` is given.
M.max_output = 16 * 1024 * 1024
--- Host directories an `ro` sandbox may build its empty root on (the
-- first that exists and holds no bound path); `base` picks one.
M.bases = {"/mnt", "/srv", "/opt", "/media", "/var/empty"}

-- Which options the linked linx.process has.
local function names_of(list)
  local set = {}
  for _, k in ipairs(list or {}) do set[k] = true end
  return set
end
local have = {spawn = {}, inside = {}, mount_types = {}}
do
  local o = process.options or {}
  have.spawn, have.inside, have.mount_types = names_of(o.spawn), names_of(o.inside), names_of(o.mount_types)
end

-- Every protection the sandbox asks for: where it goes, and its name.
local WANTED = {
  {"spawn", "session"}, {"inside", "init"}, {"inside", "caps"}, {"inside", "rlimits"},
  {"inside", "landlock"}, {"inside", "seccomp"}, {"spawn", "max_output"},
}

--- The protections the linked `linx.process` lacks, as option names
-- (`"session"`, `"inside.caps"`, `"mount type dir"`, ...).
-- @treturn {string,...} empty when everything is there
function M.missing()
  local out = {}
  for _, w in ipairs(WANTED) do
    if not have[w[1]][w[2]] then out[#out + 1] = (w[1] == "inside" and "inside." or "") .. w[2] end
  end
  for _, t in ipairs({"dir", "file", "remount"}) do
    if not have.mount_types[t] then out[#out + 1] = "mount type " .. t end
  end
  return out
end

local function bad_option(field, reason, value, message)
  return nil, core.error{kind = "bad_option", operation = "sandbox", field = field, reason = reason,
                         value = value, message = message}
end

-- t[k], protected: an __index that raises is bad_option "unreadable".
local function get(t, k)
  local ok, v = pcall(function() return t[k] end)
  if not ok then
    return nil, core.error{kind = "bad_option", operation = "sandbox", field = k, reason = "unreadable",
                           value = v, message = type(v) == "string" and v or "an option's metamethod raised"}
  end
  return true, v
end

local function is_dir(path)
  local f = io.open(path .. "/.", "r") -- opens for a directory only (a file: ENOTDIR)
  if f then f:close() return true end
  return false
end

local function exists(path)
  if is_dir(path) then return true end
  local f = io.open(path, "r")
  if f then f:close() return true end
  return false
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

-- A list of absolute paths in normal form, or nil, reason.
local function paths(list)
  if list == nil then return {} end
  if type(list) ~= "table" then return nil, "not_a_list" end
  local out = {}
  for i, p in ipairs(list) do
    if type(p) ~= "string" then return nil, "not_a_string", i end
    if p:sub(1, 1) ~= "/" then return nil, "not_absolute", i end
    if p:find("//", 1, true) or p:find("/%.%.?/") or p:find("/%.%.?$") or (#p > 1 and p:sub(-1) == "/") then
      return nil, "not_normal", i
    end
    out[#out + 1] = p
  end
  return out
end

local function under(path, dir)
  return dir == "/" or path == dir or path:sub(1, #dir + 1) == dir .. "/"
end

-- The dirs (and a file) to make on the empty root so that target exists:
-- every parent, then the target itself as a directory or an empty file.
local function make_target(mounts, made, target, as_file)
  local at = 1
  while true do
    local s = target:find("/", at + 1, true)
    local part = s and target:sub(1, s - 1) or target
    if not made[part] then
      made[part] = true
      if s or not as_file then
        mounts[#mounts + 1] = {type = "dir", target = part}
      else
        mounts[#mounts + 1] = {type = "file", target = part, data = ""}
      end
    end
    if not s then break end
    at = s
  end
end

-- The sandbox's options: what a request brings, and what a pool fixes.
local REQUEST = {"argv", "timeout", "input", "max_output", "env", "cwd", "stdout", "stderr"}
local FIXED = {"root", "ro", "rw", "net", "rlimits", "seccomp", "caps", "hostname", "base", "strict"}
-- Every option, in the order they are read (the first that raises is named).
local ORDER = {"argv", "root", "ro", "rw", "net", "timeout", "input", "max_output", "env", "cwd",
               "rlimits", "seccomp", "caps", "hostname", "base", "strict", "stdout", "stderr", "pool"}
local KNOWN = {}
for _, k in ipairs(ORDER) do KNOWN[k] = true end

-- Read every known option of t (protected) and refuse unknown ones.
local function read_options(t, extra)
  local v = {}
  for _, k in ipairs(ORDER) do
    local ok, x = get(t, k)
    if not ok then return nil, x end
    v[k] = x
  end
  for k in next, t do
    if v[k] == nil and type(k) == "string" and not KNOWN[k] and not (extra and extra[k]) then
      return bad_option(k, "unknown_option", k)
    elseif type(k) ~= "string" then
      return bad_option("opts", "unknown_option", k)
    end
  end
  return v
end

-- The request's half of the options, for a child of a sandbox pool: the
-- same defaults as a fresh sandbox (env, cwd, stdin, max_output).
local function request(v)
  if not core.is_pool(v.pool) then return bad_option("pool", "not_a_pool", v.pool) end
  for _, k in ipairs(FIXED) do
    if v[k] ~= nil then
      return bad_option(k, "fixed_by_pool", v[k], k .. " was fixed when the pool was made (sandbox.pool)")
    end
  end
  local o = {pool = v.pool, argv = v.argv, env = v.env or copy(M.env), cwd = v.cwd or "/tmp",
             timeout = v.timeout, input = v.input, stdin = v.input == nil and "null" or nil,
             stdout = v.stdout, stderr = v.stderr}
  if have.spawn.max_output then
    if v.max_output == nil then o.max_output = M.max_output else o.max_output = v.max_output end
  end
  return o, {}
end

--- Build the option table for `linx.run`'s `run` (and `linx.resty`'s,
-- `linx.luv`'s): the sandbox's own options turned into spawn's.
-- @tparam table t
-- @tparam {string,...} t.argv the command
-- @tparam[opt] string t.root a root filesystem directory, bound read-only as `/`
-- @tparam[opt] {string,...} t.ro host paths bound read-only at the same place (instead of `root`;
-- paths that do not exist are left out)
-- @tparam[opt] {string,...} t.rw host paths bound writable at the same place
-- @tparam[opt=false] boolean t.net keep the host's network (no net namespace)
-- @tparam[opt] number t.timeout seconds (`linx.run`'s)
-- @tparam[opt] string t.input written to stdin (`linx.run`'s)
-- @tparam[opt] number t.max_output bytes per output stream (default `sandbox.max_output`)
-- @tparam[opt] table t.env the whole environment (default `sandbox.env`)
-- @tparam[opt="/tmp"] string t.cwd
-- @tparam[opt] table|false t.rlimits replaces entries of `sandbox.rlimits`; `false`: none
-- @tparam[opt="default"] table|string t.seccomp `inside.seccomp`
-- @tparam[opt] {string,...} t.caps capabilities to keep (default none)
-- @tparam[opt] string t.hostname
-- @tparam[opt] string t.base the host directory an `ro` root is built on (see `sandbox.bases`)
-- @tparam[opt=true] boolean t.strict refuse to run when a protection is missing
-- @tparam[opt] linx.process.Pool t.pool a pool from `sandbox.pool`: then `t` holds only the
-- request's options (`argv`, `env`, `cwd`, `input`, `timeout`, `max_output`, `stdout`, `stderr`;
-- the others are `bad_option`, reason `fixed_by_pool`), and the options are `pool` and those
-- with the sandbox's defaults
-- @treturn[1] table the options
-- @treturn[1] {string,...} the protections left out (only with `strict = false`)
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option` (operation `sandbox`)
function M.options(t)
  if type(t) ~= "table" then return bad_option("opts", "not_a_table", t) end
  local v, verr = read_options(t)
  if not v then return nil, verr end
  if v.pool ~= nil then return request(v) end
  if v.root ~= nil and v.ro ~= nil then return bad_option("ro", "with_root", nil, "give root or ro, not both") end
  if v.root == nil and v.ro == nil then
    return bad_option("root", "missing", nil, "give root (a root filesystem) or ro (host paths to bind)")
  end
  local rw, why, i = paths(v.rw)
  if not rw then return bad_option("rw", why, i and v.rw[i] or v.rw) end
  local missing = {}
  local function need(where, name)
    if have[where][name] then return true end
    missing[#missing + 1] = (where == "inside" and "inside." or "") .. name
    return false
  end

  local inside = {no_new_privs = true, mounts = {}}
  local mounts = inside.mounts
  local made = {}
  local read, write, exec = {"/"}, {"/tmp", "/dev"}, {}
  for _, p in ipairs(rw) do
    if not exists(p) then return bad_option("rw", "not_found", p, p .. " does not exist") end
  end
  if v.root ~= nil then
    if type(v.root) ~= "string" then return bad_option("root", "not_a_string", v.root) end
    inside.root = v.root
    -- the root filesystem is the caller's: bound read-only on itself
    mounts[#mounts + 1] = {type = "bind", source = v.root, target = "/", readonly = true}
    exec[1] = "/"
  else
    local ro
    ro, why, i = paths(v.ro)
    if not ro then return bad_option("ro", why, i and v.ro[i] or v.ro) end
    local base = v.base
    if base == nil then
      for _, b in ipairs(M.bases) do
        local clash = false
        for _, p in ipairs(ro) do clash = clash or under(p, b) end
        for _, p in ipairs(rw) do clash = clash or under(p, b) end
        if not clash and is_dir(b) then
          base = b
          break
        end
      end
      if base == nil then return bad_option("base", "missing", nil, "no directory of sandbox.bases is usable") end
    end
    for _, tname in ipairs({"dir", "file", "remount"}) do
      if not have.mount_types[tname] then
        return bad_option("ro", "unsupported", nil,
                          "the linked linx.process has no mount type \"" .. tname .. "\" (give root instead)")
      end
    end
    -- An empty tmpfs root: the read-only binds and every mount point
    -- go in, then it is made read-only before anything writable is
    -- mounted on it. A path that does not exist is left out.
    inside.root = base
    mounts[#mounts + 1] = {type = "tmpfs", target = "/", options = "mode=0755"}
    for _, p in ipairs(ro) do
      if exists(p) then
        local dir = is_dir(p)
        make_target(mounts, made, p, not dir)
        mounts[#mounts + 1] = {type = "bind", source = p, target = p, readonly = true}
        if dir then exec[#exec + 1] = p end -- programs run only from here
      end
    end
    for _, p in ipairs(rw) do
      if not under(p, "/tmp") then make_target(mounts, made, p, not is_dir(p)) end
    end
    for _, p in ipairs({"/proc", "/dev", "/tmp"}) do make_target(mounts, made, p, false) end
    mounts[#mounts + 1] = {type = "remount", target = "/", readonly = true}
  end
  mounts[#mounts + 1] = {type = "proc", target = "/proc"}
  mounts[#mounts + 1] = {type = "dev", target = "/dev"}
  mounts[#mounts + 1] = {type = "tmpfs", target = "/tmp", options = "mode=1777"}
  made["/tmp"] = true
  for _, p in ipairs(rw) do
    -- under the fresh /tmp the mount point is made; in a root filesystem
    -- elsewhere it must be there already
    if under(p, "/tmp") and p ~= "/tmp" and have.mount_types.dir then
      make_target(mounts, made, p, not is_dir(p))
    end
    mounts[#mounts + 1] = {type = "bind", source = p, target = p}
    write[#write + 1] = p
  end
  if v.hostname ~= nil then inside.hostname = v.hostname end

  if need("inside", "init") then inside.init = true end
  if need("inside", "caps") then inside.caps = v.caps or {} end
  if v.rlimits ~= false and need("inside", "rlimits") then
    local rl = copy(M.rlimits)
    -- A default never asks for more than the caller's own hard limit
    -- (raising one needs CAP_SYS_RESOURCE); what the caller names is
    -- passed on as given.
    local hard = caller_hard_limits()
    for k, x in pairs(rl) do
      if hard[k] and type(x) == "number" and x > hard[k] then rl[k] = hard[k] end
    end
    if type(v.rlimits) == "table" then for k, x in pairs(v.rlimits) do rl[k] = x end end
    inside.rlimits = rl
  end
  if need("inside", "landlock") then
    inside.landlock = {read = read, write = write, exec = exec, required = false}
  end
  if v.seccomp ~= false and need("inside", "seccomp") then
    if v.seccomp == nil then inside.seccomp = "default" else inside.seccomp = v.seccomp end
  end

  local namespaces = {"user", "mount", "pid", "ipc", "uts", "cgroup"}
  if not v.net then namespaces[#namespaces + 1] = "net" end
  local o = {argv = v.argv, namespaces = namespaces, inside = inside, env = v.env or copy(M.env),
             cwd = v.cwd or "/tmp", timeout = v.timeout, input = v.input,
             stdin = v.input == nil and "null" or nil, stdout = v.stdout, stderr = v.stderr}
  if need("spawn", "session") then o.session = "new" end
  if need("spawn", "max_output") then
    if v.max_output == nil then o.max_output = M.max_output else o.max_output = v.max_output end
  end
  if #missing > 0 and v.strict ~= false then
    return bad_option(missing[1], "unsupported", nil,
                      "the linked linx.process lacks " .. table.concat(missing, ", ") ..
                      "; strict = false runs without")
  end
  return o, missing
end

--- A pool of sandboxed children (`linx.process.pool`), made ready with
-- everything `options` would turn on but what a request brings: pass it
-- as `pool =` to `run`, `run_resty` or `run_luv` with the request's
-- options (`argv`, `env`, `cwd`, `input`, `timeout`, `max_output`,
-- `stdout`, `stderr`), which get the sandbox's defaults as on the fresh
-- path. It is empty: `pool:fill()` (blocking), or the adapters' refill.
-- @tparam table t as for `options`, without the request's options, plus `size`
-- (how many children the pool keeps ready, default 4)
-- @treturn[1] linx.process.Pool the pool
-- @treturn[1] {string,...} the protections left out (only with `strict = false`)
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option` (operation `sandbox`; a request's option: reason
-- `per_request`), or what `process.pool` returns
function M.pool(t)
  if type(t) ~= "table" then return bad_option("opts", "not_a_table", t) end
  local v, verr = read_options(t, {size = true})
  if not v then return nil, verr end
  local okz, size = get(t, "size")
  if not okz then return nil, size end
  for _, k in ipairs(REQUEST) do
    if v[k] ~= nil then
      return bad_option(k, "per_request", v[k], k .. " belongs to each request (run{pool = p, " .. k .. " = ...})")
    end
  end
  if v.pool ~= nil then return bad_option("pool", "per_request", v.pool) end
  v.argv = {"/bin/true"} -- options wants one; the request brings the real one
  local o, missing = M.options(v)
  if not o then return nil, missing end
  if type(process.pool) ~= "function" then
    return bad_option("pool", "unsupported", nil, "the linked linx.process has no process.pool")
  end
  local pool, err, code = process.pool{namespaces = o.namespaces, inside = o.inside, session = o.session,
                                      size = size}
  if not pool then return nil, err, code end
  return pool, missing
end

--- Run `argv` in the sandbox to its end (`linx.run`'s `run`).
-- @tparam table t as for `options`
-- @treturn[1] table `{code =, signal =, stdout =, stderr =}`
-- @return[2] `nil`
-- @treturn[2] linxuser.Error as `linx.run` returns them (`timeout`, `output_limit`, ...), or `bad_option`
-- @treturn[2] ?int errno
function M.run(t)
  local o, err = M.options(t)
  if not o then return nil, err end
  return core.run(o)
end

--- `run` for OpenResty (`linx.resty`'s `run`: never blocks the worker).
-- @tparam table t as for `options`
function M.run_resty(t)
  local o, err = M.options(t)
  if not o then return nil, err end
  return require("linx.resty").run(o)
end

--- `run` on a libuv loop (`linx.luv`'s `run`): `callback(res, err)` from the loop.
-- @tparam table t as for `options`
-- @tparam function callback
function M.run_luv(t, callback)
  local o, err = M.options(t)
  if o or type(callback) ~= "function" then return require("linx.luv").run(o or t, callback) end
  -- as linx.luv does for its own bad options: called back from the loop
  local uv = require "luv"
  local timer = uv.new_timer()
  timer:start(0, 0, function()
    timer:close()
    callback(nil, err)
  end)
  return true
end

return M
