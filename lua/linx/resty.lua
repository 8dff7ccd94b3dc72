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
-- With `pool = p` (a `linx.process.pool` made in the worker, e.g. in
-- `init_worker_by_lua`), a ready child runs the request instead, in the
-- worker's own VM: `p:spawn` hands it argv, environment, descriptors (the
-- hand-over and the exec are what the request waits for), then the
-- request's coroutine watches its pipes and its end without blocking,
-- sleeping between looks (`ngx.sleep(0)`, the next turn of nginx's
-- loop, for the first 2 ms, then 1 ms growing to 16 ms). After the
-- take, `ngx.timer.at` timers top the pool up, one child at a time and
-- one chain of timers per pool: a timer starts a child with `fill(1, 0)`
-- (the spawn and the map writes block the worker, a few tenths of a
-- millisecond on the own-id route, in the timer, between requests); the
-- child's inside steps and park image run meanwhile in the child, the
-- next timers look at it every millisecond until it is ready, then start
-- the next, until the pool is full. A failed fill is logged (`ngx.log`)
-- and ends the chain until the next take. A request that finds no child
-- ready takes one still starting (waiting for it to get ready) or, with
-- none, readies its own child, blocking.
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

-- ---- pools: the child is taken and watched in the worker's own VM ----

-- The pools with a refill under way (one chain of timers per pool).
local refilling = setmetatable({}, { __mode = "k" })

local function log_error(ngx, ...)
  ngx.log(ngx.ERR, "linx.resty: ", ...)
end

local refill_step
-- Arm the next step of pool's refill (after delay seconds); false when
-- nginx refuses the timer.
local function arm(ngx, pool, delay)
  local ok, err = ngx.timer.at(delay or 0, refill_step, pool)
  if not ok then
    refilling[pool] = nil
    log_error(ngx, "cannot refill a pool: ngx.timer.at: ", tostring(err))
    return false
  end
  return true
end

-- One step per timer (linx.run's refill_step): the next child at once,
-- a look again in a millisecond while one is starting, else the end.
local NAP = 0.001
refill_step = function(premature, pool)
  local ngx = rawget(_G, "ngx")
  if premature then refilling[pool] = nil return end -- the worker is exiting
  local step, err, raised = require("linx.run").refill_step(pool)
  if step == "next" then arm(ngx, pool) return end
  if step == "wait" then arm(ngx, pool, NAP) return end
  refilling[pool] = nil
  if raised then
    log_error(ngx, "refilling a pool raised: ", tostring(err))
  elseif not step and not (type(err) == "table" and err.kind == "bad_state") then -- closed: nothing to say
    log_error(ngx, "refilling a pool: ", tostring(err))
  end
end

--- Top `pool` up off the request's path: from `ngx.timer.at` timers, one
-- child at a time, unless a refill of it is under way (`run` calls this
-- after each take; call it in `init_worker_by_lua` to fill a new pool).
-- Errors go to nginx's error log, never to a request.
-- @tparam linx.process.Pool pool
-- @treturn[1] boolean `true`
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option` (not a pool) or `bad_state` (no `ngx`, or no timer)
function M.refill(pool)
  if not require("linx.run").is_pool(pool) then return bad_option("pool", "not_a_pool", pool) end
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.timer) ~= "table" then
    return nil, new_error { kind = "bad_state", operation = "refill", state = "no_ngx",
                            reason = "needs lua-nginx-module (ngx.timer.at)" }
  end
  if refilling[pool] then return true end
  refilling[pool] = true
  if not arm(ngx, pool) then
    return nil, new_error { kind = "bad_state", operation = "refill", state = "no_timer",
                            reason = "ngx.timer.at refused (see the error log)" }
  end
  return true
end

-- What a piped stream holds now, appended to parts: true when something
-- came, false when nothing did, "eof" at its end, or nil, err, code.
local function drain(c, stream, parts)
  local got = false
  while true do
    local s, err, code = c:read(stream, 0)
    if s == nil then
      if err then return nil, err, code end
      return "eof"
    end
    if s == "" then return got end
    parts[#parts + 1] = s
    got = true
  end
end

-- Looks at a pooled child: at each turn of nginx's loop (ngx.sleep(0))
-- for its first SPIN seconds, where a short child ends; then naps of
-- NAP_MIN doubling to NAP_MAX while nothing moves.
local SPIN, NAP_MIN, NAP_MAX = 0.002, 0.001, 0.016

-- Feed, collect and wait for a pooled child from the request's
-- coroutine: only non-blocking calls, ngx.sleep between them.
local function watch(ngx, run, c, plan)
  local now = require("linx.process").now
  local deadline = plan.timeout and now() + plan.timeout
  local input = plan.input or ""
  local out = { stdout = {}, stderr = {} }
  local open = { stdout = plan.stdout, stderr = plan.stderr }
  local function fail(err, code)
    c:close() -- kills and reaps a child still running
    if type(err) == "table" and err.kind == "output_limit" and out[err.stream] then
      err.output = table.concat(out[err.stream]) .. (err.output or "")
    end
    return nil, err, code
  end
  if plan.stdin and input == "" then c:shutdown("stdin") end
  local spin_until = now() + SPIN
  local nap = 0
  while true do
    local moved = false
    if input ~= "" then
      local n, err, code = c:write(input, 0)
      if not n then
        if err.errno ~= "EPIPE" then return fail(err, code) end
        input = ""
      elseif n > 0 then
        input = input:sub(n + 1)
        moved = true
      end
      if input == "" then c:shutdown("stdin") end
    end
    for _, stream in ipairs({ "stdout", "stderr" }) do
      if open[stream] then
        local got, err, code = drain(c, stream, out[stream])
        if got == nil then return fail(err, code) end
        if got == "eof" then open[stream] = false end
        moved = moved or got == true
      end
    end
    local status, err, code = c:wait(0)
    if status then
      for _, stream in ipairs({ "stdout", "stderr" }) do
        if open[stream] then
          local got
          got, err, code = drain(c, stream, out[stream])
          if got == nil then return fail(err, code) end
        end
      end
      c:close()
      return run.result(status, plan.stdout and table.concat(out.stdout) or nil,
                        plan.stderr and table.concat(out.stderr) or nil)
    end
    if err.kind ~= "timeout" then return fail(err, code) end
    local t = now()
    local left = deadline and deadline - t
    if left and left <= 0 then return fail(run.timeout_error(plan.timeout)) end
    if t < spin_until then
      ngx.sleep(0) -- other requests' events run first
    else
      nap = moved and NAP_MIN or math.min(math.max(nap * 2, NAP_MIN), NAP_MAX)
      ngx.sleep(left and math.min(nap, left) or nap)
    end
  end
end

local function pooled(ngx, opts)
  local run = require "linx.run"
  local so, plan = run.prepare(opts)
  if not so then return nil, plan end
  local c, err, code = run.launch(so, plan)
  M.refill(plan.pool) -- taken (or lost to a failed hand-over)
  if not c then return nil, err, code end
  return watch(ngx, run, c, plan)
end

-- Phases in which a request's coroutine may yield to a worker thread.
local YIELDABLE = {
  rewrite = true, server_rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true,
}

--- Run a child to its end without blocking the nginx worker.
-- @tparam table opts `linx.run`'s options (with `pool`: the request's, run by
-- a ready child in the worker; see the module's text)
-- @treturn[1] table `{code =, signal =, stdout =, stderr =}`
-- @return[2] nil
-- @treturn[2] linxuser.Error error table: `linx.run`'s errors, `bad_option` for an
--   option that is not plain data, `bad_state` outside a yieldable phase,
--   `bad_setup` (field `thread_pool`) when nginx has no such pool or the
--   thread cannot load the modules
function M.run(opts)
  if type(opts) ~= "table" then return bad_option("opts", "not_a_table", opts) end
  local ngx = rawget(_G, "ngx")
  local read, pool = pcall(function() return opts.pool end) -- raising: plain_opts says unreadable
  local with_pool = read and pool ~= nil
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" or
     (not with_pool and type(ngx.run_worker_thread) ~= "function") then
    return nil, new_error { kind = "bad_state", operation = "run", state = "no_ngx",
                            reason = "needs lua-nginx-module with ngx.run_worker_thread (0.10.21 or later)" }
  end
  local phase = ngx.get_phase()
  if not YIELDABLE[phase] then
    return nil, new_error { kind = "bad_state", operation = "run", state = phase,
                            reason = "not a yieldable phase (rewrite, access, content, timer)" }
  end
  if with_pool then return pooled(ngx, opts) end
  local data, derr = plain_opts(opts)
  if not data then return nil, derr end
  local threads = M.thread_pool
  local ok, res, err, code = ngx.run_worker_thread(threads, "linx.resty", "_thread_run", data)
  if not ok then
    -- nginx's own words (no such pool, no Lua VM left, a module the
    -- thread cannot load): in reason, so that tostring shows them.
    return nil, new_error { kind = "bad_setup", operation = "run", reason = "unusable (" .. tostring(res) .. ")",
                            field = "thread_pool", value = threads, message = tostring(res) }
  end
  if res then return res end
  if type(err) == "table" then return nil, new_error(err), code end
  return nil, new_error { kind = "os", operation = "run", message = tostring(err) }
end

return M
