--- linx.run for OpenResty: a child's whole life, off the worker's event loop.
--
-- `require "linx.resty"`.run(opts) has `linx.run`'s contract (same `opts`,
-- same `{code =, signal =, stdout =, stderr =}` or `nil, err`) and never
-- blocks the nginx worker: the whole blocking cycle (spawn, map setup,
-- newuidmap/newgidmap included, proceed, input, output, wait, timeout) runs
-- in one of nginx's worker threads through `ngx.run_worker_thread`, while
-- the calling request's coroutine yields and the worker goes on serving
-- other requests.
--
-- nginx.conf needs, in the main block, a thread pool (the name is
-- `resty.thread_pool`, `"linx"` by default), and, in `http`, the paths where
-- the thread's own Lua VM finds this module, `linx.run` and the C modules
-- (the thread VM copies the calling VM's `package.path` and `package.cpath`):
--
--     thread_pool linx threads=32;
--     http {
--         lua_package_path  "/usr/local/share/lua/5.1/?.lua;;";
--         lua_package_cpath "/usr/local/lib/lua/5.1/?.so;;";
--     }
--
-- Each thread holds one child at a time: `threads` is how many children of
-- one worker run at once; more calls wait in the pool's queue (`max_queue`).
-- What crosses between the worker's VM and the thread's is data only
-- (strings, numbers, booleans and tables of them): `fds` may name
-- descriptors by number but not as Lua files, and an option read through
-- an `__index` is read once, on the caller's side.
--
-- Lua 5.1 syntax (nginx's Lua is LuaJIT); nothing here touches `ngx` until
-- `run` is called, so the thread's plain VM loads this file too.
-- @module linx.resty

local M = {}

--- Name of the nginx `thread_pool` that runs the children.
M.thread_pool = "linx"

-- spawn's options and run's own (`linx.run`'s `option_names`, from the
-- linked linx.process): read with a normal index (an `__index` of
-- defaults works, as for linx.run), protected.
local function known()
  return require("linx.run").option_names
end

-- An error table with the library's shared metatable (linx.run's helper;
-- loading linx.run here loads the C module too, which the caller's VM
-- has anyway when it spawns).
local function new_error(fields)
  return require("linx.run").error(fields)
end

local function bad_option(field, reason, value)
  return nil, new_error { kind = "bad_option", operation = "run", field = field, reason = reason,
                          value = type(value) == "string" and value or tostring(value) }
end

local PLAIN = { string = true, number = true, boolean = true }

-- A copy of v that run_worker_thread can carry, or nil and the path of
-- the first value it cannot (functions, userdata, threads, cycles).
local function copy(v, path, seen)
  if PLAIN[type(v)] then return v end
  if type(v) ~= "table" then return nil, path end
  if seen[v] then return nil, path end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do
    if not PLAIN[type(k)] then return nil, path end
    local c, where = copy(x, path .. "." .. tostring(k), seen)
    if c == nil then return nil, where end
    out[k] = c
  end
  seen[v] = nil
  return out
end

-- The options as plain data: known fields through a normal index, the
-- rest (so that spawn still names an unknown option) through pairs.
local function plain_opts(opts)
  local out, seen = {}, {}
  for _, k in ipairs(known()) do
    local ok, v = pcall(function() return opts[k] end)
    if not ok then
      return nil, new_error { kind = "bad_option", operation = "run", field = k, reason = "unreadable",
                              value = type(v) == "string" and v or tostring(v),
                              message = type(v) == "string" and v or "an option's metamethod raised" }
    end
    if v ~= nil then
      local c, where = copy(v, k, seen)
      if c == nil then return bad_option(where, "not_data", v) end
      out[k] = c
    end
  end
  for k, v in next, opts do -- raw, as spawn reads the names
    if out[k] == nil then
      if not PLAIN[type(k)] then return bad_option(tostring(k), "unknown_option", k) end
      local c, where = copy(v, tostring(k), seen)
      if c == nil then return bad_option(where, "not_data", v) end
      out[k] = c
    end
  end
  return out
end

-- An error table as plain data, for the trip back (fields only: the
-- metatable is restored on the worker's side).
local function export(err)
  if type(err) ~= "table" then
    return { kind = "os", operation = "run", message = tostring(err) }
  end
  local out = {}
  for k, v in pairs(err) do
    if PLAIN[type(k)] then
      local c = copy(v, "", {})
      if c == nil then c = tostring(v) end
      out[k] = c
    end
  end
  return out
end

--- Runs in the worker thread's own Lua VM (called by
-- `ngx.run_worker_thread`, not by users): the blocking `linx.run`.
-- @local
function M._thread_run(opts)
  local ok, run = pcall(require, "linx.run")
  if not ok then
    return nil, { kind = "bad_setup", operation = "run", reason = "unloadable (" .. tostring(run) .. ")", field = "linx.run",
                  message = tostring(run) }
  end
  local res, err, code = run.run(opts)
  if res then return res end
  return nil, export(err), code
end

-- Phases in which a request's coroutine may yield to a worker thread.
local YIELDABLE = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

--- Run a child to its end without blocking the nginx worker.
-- @tparam table opts `linx.run`'s options
-- @treturn[1] table `{code =, signal =, stdout =, stderr =}`
-- @return[2] nil
-- @treturn[2] linxuser.Error error table: `linx.run`'s errors, `bad_option` for an
--   option that is not plain data, `bad_state` outside a yieldable phase,
--   `bad_setup` (field `thread_pool`) when nginx has no such pool or the
--   thread cannot load the modules
function M.run(opts)
  if type(opts) ~= "table" then return bad_option("opts", "not_a_table", opts) end
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.run_worker_thread) ~= "function" then
    return nil, new_error { kind = "bad_state", operation = "run", state = "no_ngx",
                            reason = "needs lua-nginx-module with ngx.run_worker_thread (0.10.21 or later)" }
  end
  local phase = ngx.get_phase()
  if not YIELDABLE[phase] then
    return nil, new_error { kind = "bad_state", operation = "run", state = phase,
                            reason = "not a yieldable phase (rewrite, access, content, timer)" }
  end
  local data, derr = plain_opts(opts)
  if not data then return nil, derr end
  local pool = M.thread_pool
  local ok, res, err, code = ngx.run_worker_thread(pool, "linx.resty", "_thread_run", data)
  if not ok then
    -- nginx's own words (no such pool, no Lua VM left, a module the
    -- thread cannot load): in reason, so that tostring shows them.
    return nil, new_error { kind = "bad_setup", operation = "run", reason = "unusable (" .. tostring(res) .. ")",
                            field = "thread_pool", value = pool, message = tostring(res) }
  end
  if res then return res end
  if type(err) == "table" then return nil, new_error(err), code end
  return nil, new_error { kind = "os", operation = "run", message = tostring(err) }
end

return M
