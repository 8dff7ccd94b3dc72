--- Run a child in one call: spawn, maps, proceed, input, output, wait, close.
--
--     local run = require "linx.run"
--     local res = assert(run.run{argv = {"id", "-u"}, namespaces = {"user"}})
--     print(res.code, res.stdout)   --> 0   0
--
-- `opts` are `linx.process.spawn`'s, plus `maps`, `input` and `timeout`;
-- or, with `pool = p` (a `linx.process.pool`), the request's options
-- only: a child made ready by the pool runs them (`p:spawn`).
-- Output streams default to `"pipe"` and come back as strings. Failures
-- are `nil, err` with an error table (`linxuser.Error`), plus the errno
-- number after a kernel refusal, as every verb of the library returns.
-- Pure Lua, for Lua 5.1 to 5.4 and LuaJIT.
-- @module linx.run

local process = require "linx.process"

local M = {}

-- The run's own options: spawn refuses names it does not know.
local OWN = {maps = true, input = true, timeout = true, pool = true}
-- What a request to a pool brings (`Pool:spawn`); every other spawn
-- option, and `maps`, is the pool's.
local REQUEST = {argv = true, env = true, cwd = true, stdin = true, stdout = true, stderr = true, fds = true,
                 max_output = true}
-- spawn's options, also read through an __index of defaults: the names
-- the linked linx.process knows (an older one without the list: its own).
local SPAWN = process.options and process.options.spawn or
  {"argv", "namespaces", "env", "cwd", "stdin", "stdout", "stderr", "fds", "inside"}

--- Every option name `run` takes: `linx.process.options.spawn` (the
-- linked module's) and `maps`, `input`, `timeout`, `pool`. Adapters read
-- this list instead of keeping their own.
M.option_names = {}
for _, k in ipairs(SPAWN) do M.option_names[#M.option_names + 1] = k end
for _, k in ipairs({"maps", "input", "timeout", "pool"}) do M.option_names[#M.option_names + 1] = k end

--- Is `p` a `linx.process.pool`?
-- @param p anything
-- @treturn boolean
function M.is_pool(p)
  if type(p) ~= "userdata" then return false end
  local mt = getmetatable(p)
  return type(mt) == "table" and rawget(mt, "__name") == "linx.process.pool"
end

--- One step of an event-loop adapter's refill of `pool` (`linx.luv`,
-- `linx.resty`): one child at a time, so that a failure ends the refill
-- with no other child left starting. It looks (`fill(0, 0)`) and, when no
-- child is starting, starts one (`fill(1, 0)`: the spawn and the map
-- writes). Never raises.
-- @tparam linx.process.Pool pool
-- @treturn[1] string `"next"` (a child got ready at once: start the next
-- now), `"wait"` (a child is starting: look again soon) or `"done"` (full)
-- @return[2] `nil`
-- @return[2] the error `fill` returned (closed, or the starting child
-- failed), or what it raised
-- @treturn[2] ?boolean `true` when `fill` raised
-- @local
function M.refill_step(pool)
  local ok, ready, starting = pcall(pool.fill, pool, 0, 0)
  if ok and ready and starting == 0 then
    local before = ready
    ok, ready, starting = pcall(pool.fill, pool, 1, 0)
    if ok and ready and starting == 0 then return ready > before and "next" or "done" end
  end
  if not ok then return nil, ready, true end
  if not ready then return nil, starting end
  return "wait"
end

-- The library's error metatable (one per Lua state, shared by every
-- module), taken from an error the C side makes.
local ERROR_MT
local function error_mt()
  if not ERROR_MT then
    local _, err = process.spawn(false)
    ERROR_MT = getmetatable(err)
  end
  return ERROR_MT
end

--- Give a table the library's error metatable (one line through
-- `tostring`), for adapters that report their own failures.
-- @tparam table t with `kind` and `operation`
-- @treturn linxuser.Error t
function M.error(t)
  return setmetatable(t, error_mt())
end
local new_error = M.error

--- An error table of kind `timeout` for a run that ran out of time.
-- @tparam number seconds the time limit
-- @treturn linxuser.Error `{kind = "timeout", operation = "run", seconds = seconds}`
function M.timeout_error(seconds)
  return new_error{kind = "timeout", operation = "run", seconds = seconds,
                   message = "the child did not end within " .. tostring(seconds) ..
                             " s; it was killed and reaped"}
end

local function bad_option(field, reason, value)
  return nil, new_error{kind = "bad_option", operation = "run", field = field, reason = reason,
                        value = value}
end

-- The caller's real uid and gid, as the kernel maps them.
local function own_ids()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("\nUid:%s*(%d+)")), tonumber(s:match("\nGid:%s*(%d+)"))
end

local function has_user_ns(namespaces)
  if type(namespaces) ~= "table" then return false end
  for _, ns in ipairs(namespaces) do
    if ns == "user" then return true end
  end
  return false
end

--- Check `opts` and split them into spawn's options and the run's plan.
-- @tparam table opts as for `run`
-- @treturn[1] table spawn's options (output streams defaulting to `"pipe"`)
-- @treturn[1] table the plan: `maps` (or false), `input` (or nil), `timeout` (or nil),
-- `pool` (or nil), and `stdin`, `stdout`, `stderr`: true for each piped stream
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option`
function M.prepare(opts)
  if type(opts) ~= "table" then return bad_option("opts", "not_a_table", opts) end
  -- Every read through the caller's table is protected: an __index that
  -- raises is bad_option "unreadable", as spawn has it.
  local got = {}
  local function fetch(k)
    local ok, v = pcall(function() return opts[k] end)
    if not ok then
      local e = new_error{kind = "bad_option", operation = "run", field = k, reason = "unreadable",
                          value = v, message = type(v) == "string" and v or "an option's metamethod raised"}
      return nil, e
    end
    got[k] = v
    return true
  end
  for _, k in ipairs({"timeout", "input", "maps", "pool"}) do
    local ok, e = fetch(k)
    if not ok then return nil, e end
  end
  local timeout, input, maps, pool = got.timeout, got.input, got.maps, got.pool
  if timeout ~= nil and (type(timeout) ~= "number" or timeout ~= timeout or timeout < 0) then
    return bad_option("timeout", type(timeout) == "number" and "negative" or "not_a_number", timeout)
  end
  if input ~= nil and type(input) ~= "string" then
    return bad_option("input", "not_a_string", input)
  end
  if pool ~= nil and not M.is_pool(pool) then return bad_option("pool", "not_a_pool", pool) end
  if pool ~= nil and maps ~= nil then return bad_option("maps", "fixed_by_pool", maps) end
  if maps ~= nil and maps ~= false and type(maps) ~= "table" then
    return bad_option("maps", "not_a_table", maps)
  end
  local so = {}
  for k, v in next, opts do -- raw, as spawn reads the names (no __pairs)
    if not OWN[k] then so[k] = v end
  end
  for _, k in ipairs(SPAWN) do
    if so[k] == nil then
      local ok, e = fetch(k)
      if not ok then return nil, e end
      so[k] = got[k]
    end
  end
  if pool ~= nil then
    -- the pool's options were fixed when it was made: name the first
    -- one given here (in spawn's order), as Pool:spawn would
    for _, k in ipairs(SPAWN) do
      if so[k] ~= nil and not REQUEST[k] then return bad_option(k, "fixed_by_pool", so[k]) end
    end
  end
  if so.stdout == nil then so.stdout = "pipe" end
  if so.stderr == nil then so.stderr = "pipe" end
  if input ~= nil and so.stdin == nil then so.stdin = "pipe" end
  if input ~= nil and so.stdin ~= "pipe" then return bad_option("input", "stdin_not_piped", input) end
  if maps == nil and pool == nil and has_user_ns(so.namespaces) then
    local uid, gid = own_ids()
    maps = {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}
  end
  return so, {maps = maps or false, input = input, timeout = timeout, pool = pool,
              stdin = so.stdin == "pipe", stdout = so.stdout == "pipe", stderr = so.stderr == "pipe"}
end

--- The first half of `run`: spawn, write the maps, proceed; or, with
-- `pool`, `pool:spawn` of the request. For adapters (`linx.luv`,
-- `linx.resty`) that wait on a loop instead of blocking.
-- @tparam table opts as for `run`
-- @treturn[1] linx.process.Handle the running child
-- @treturn[1] table the plan (see `prepare`)
-- @return[2] `nil`
-- @treturn[2] linxuser.Error
-- @treturn[2] ?int errno
function M.start(opts)
  local so, plan = M.prepare(opts)
  if not so then return nil, plan end
  return M.launch(so, plan)
end

--- The second half of `start`, for what `prepare` returned: spawn, maps,
-- proceed, or the pool's `spawn`.
-- @tparam table so spawn's options from `prepare`
-- @tparam table plan the plan from `prepare`
-- @treturn[1] linx.process.Handle the running child
-- @treturn[1] table the plan
-- @return[2] `nil`
-- @treturn[2] linxuser.Error
-- @treturn[2] ?int errno
function M.launch(so, plan)
  if plan.pool then
    local c, err, code = plan.pool:spawn(so)
    if not c then return nil, err, code end
    return c, plan
  end
  local c, err, code = process.spawn(so)
  if not c then return nil, err, code end
  if plan.maps then
    local user = require "linxuser"
    local ok
    ok, err, code = user.setup_maps(c, plan.maps)
    if not ok then
      c:close()
      return nil, err, code
    end
  end
  local ok
  ok, err, code = c:proceed()
  if not ok then
    c:close()
    return nil, err, code
  end
  return c, plan
end

--- The result table of a run from a `wait` status and the output.
-- @tparam table status what `Handle:wait` returned
-- @tparam ?string stdout
-- @tparam ?string stderr
-- @treturn table `{code =, signal =, stdout =, stderr =}`
function M.result(status, stdout, stderr)
  return {code = status.code, signal = status.signal, exited = status.exited,
          signaled = status.signaled, stdout = stdout, stderr = stderr}
end

-- Everything a stream holds now (the child has ended): what it wrote
-- before it exited is in the pipe already.
local function take(c, stream)
  local parts = {}
  while true do
    local s, err, code = c:read(stream, 0)
    if s == nil and err ~= nil then return nil, err, code end
    if s == nil or s == "" then break end
    parts[#parts + 1] = s
  end
  return table.concat(parts)
end

-- Feed input: all of it (the write drains output meanwhile), or what
-- goes in before the deadline. A child that closed its stdin takes no
-- more, which is no error (as `subprocess.run` has it). true, or false
-- when time ran out, or nil, err, code.
local function feed(c, input, deadline)
  local rest = input
  while rest ~= "" do
    local n, err, code
    if deadline then
      local left = deadline - process.now()
      if left <= 0 then return false end
      n, err, code = c:write(rest, left)
    else
      n, err, code = c:write(rest)
      if n == true then n = #rest end
    end
    if not n then
      if err.errno == "EPIPE" then break end
      return nil, err, code
    end
    rest = rest:sub(n + 1)
  end
  return true
end

--- Run a child to its end.
--
-- Spawns with `opts`, writes its maps (when `namespaces` has `"user"` and
-- `maps` is not given: the caller's own uid and gid mapped to 0; `maps`
-- takes `linxuser.setup_maps` options, `false` writes none), proceeds,
-- writes `input` to its stdin while collecting its output (any amount:
-- nothing deadlocks), closes stdin, waits, and closes the handle.
--
-- With `timeout`, a child still running when it runs out is killed and
-- reaped (nothing is left behind), and the error is kind `timeout`;
-- output is then what the child wrote by the time it ended. Without
-- one, output is read to end of file.
--
-- With `pool` (a `linx.process.pool`), a child the pool made ready runs
-- the request (`pool:spawn`): `opts` then hold only what a request
-- brings (`argv`, `env`, `cwd`, `stdin`, `stdout`, `stderr`, `fds`,
-- `max_output`) and `input`, `timeout`; the pool's own options
-- (`namespaces`, `inside`, `maps`, `cgroup`, `session`) are `bad_option`
-- with reason `"fixed_by_pool"`. `run` does not refill the pool: call
-- `pool:fill()` where a pause suits (the event-loop adapters refill on
-- their own).
-- @tparam table opts `spawn`'s options, plus:
-- @tparam[opt] linx.process.Pool opts.pool a pool whose ready child runs the request
-- @tparam[opt] table|false opts.maps `setup_maps` options
-- @tparam[opt] string opts.input written to stdin (`stdin` defaults to `"pipe"` then)
-- @tparam[opt] number opts.timeout seconds
-- @treturn[1] table `{code =, signal =, stdout =, stderr =}` (`code` when it exited,
-- `signal` when a signal ended it; `stdout`/`stderr` when piped, the default)
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `timeout`, `bad_option`, or what a step returned
-- @treturn[2] ?int errno
-- @usage
-- local res = assert(run.run{argv = {"tr", "a-z", "A-Z"}, input = "hello", timeout = 5})
-- assert(res.code == 0 and res.stdout == "HELLO")
function M.run(opts)
  local c, plan, code = M.start(opts)
  if not c then return nil, plan, code end
  local deadline = plan.timeout and process.now() + plan.timeout
  local ok, err
  if plan.input then
    ok, err, code = feed(c, plan.input, deadline)
    if ok == nil then
      c:close()
      return nil, err, code
    end
    if ok == false then
      c:close()
      return nil, M.timeout_error(plan.timeout)
    end
  end
  if plan.stdin then c:shutdown("stdin") end
  local status
  if deadline then
    status, err, code = c:wait(math.max(0, deadline - process.now()))
    if not status then
      c:close()
      if err.kind == "timeout" then return nil, M.timeout_error(plan.timeout) end
      return nil, err, code
    end
  else
    status, err, code = c:wait()
    if not status then
      c:close()
      return nil, err, code
    end
  end
  local out = {}
  for _, stream in ipairs({"stdout", "stderr"}) do
    if plan[stream] then
      local s
      if deadline then
        s, err, code = take(c, stream)
      else
        s, err, code = c:read(stream)
      end
      if s == nil then
        c:close()
        return nil, err, code
      end
      out[stream] = s
    end
  end
  c:close()
  return M.result(status, out.stdout, out.stderr)
end

return M
