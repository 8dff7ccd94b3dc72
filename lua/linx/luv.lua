--- `linx.run` on a libuv loop (`luv`): the loop keeps turning while the
-- child runs.
--
--     local uv, luv = require "luv", require "linx.luv"
--     luv.run({argv = {"sleep", "0.2"}, namespaces = {"user"}}, function(res, err)
--       print(res and res.code, err)
--     end)
--     uv.run()
--
-- Spawning, writing the maps and proceeding happen at once (they take a
-- few milliseconds, more on the subordinate-range helper path); the rest
-- (input, output, the child's end, the time limit) is watched with poll
-- handles and a timer on the handle's descriptors (`Handle:fileno`).
--
-- With `pool = p` (a `linx.process.pool`) a ready child runs the request
-- (`p:spawn`: the hand-over and the exec only), and the pool is topped up
-- afterwards from the loop: an idle handle starts one child at a turn of
-- the loop (`p:fill(1, 0)`: the spawn and the map writes; the child's
-- inside steps run meanwhile, looked at every millisecond until it is
-- ready), then the next, so timers and other handles run between two
-- set-ups, and stops (and is closed) once the pool is full, closed, or a
-- fill fails (the next take starts it again; a request that meets an
-- empty pool readies its own child and reports that child's errors).
-- @module linx.luv

local uv = require "luv"
local core = require "linx.run"

local M = {}

-- The refill under way for each pool: its idle handle (one per pool).
local refills = setmetatable({}, {__mode = "k"})

--- Top `pool` up from the loop, one child at a time, unless a refill of it
-- is under way already (`run` calls this after each take; call it once
-- after making a pool to fill it without blocking). Returns at once.
-- @tparam linx.process.Pool pool
-- @treturn[1] boolean `true`
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option` when `pool` is not a pool
function M.refill(pool)
  if not core.is_pool(pool) then
    return nil, core.error{kind = "bad_option", operation = "refill", field = "pool", reason = "not_a_pool",
                           value = pool}
  end
  if refills[pool] then return true end
  local idle, nap = uv.new_idle(), uv.new_timer()
  local function stop()
    idle:stop()
    idle:close()
    nap:close()
    if refills[pool] == idle then refills[pool] = nil end
  end
  -- One step per turn (core.refill_step): the next child at the next
  -- turn, a look again in a millisecond while one is starting (an idle
  -- handle would spin), else the end: full, closed or failed.
  local step
  step = function()
    local how = core.refill_step(pool)
    if how == "wait" then
      idle:stop()
      nap:start(1, 0, function() idle:start(step) end)
    elseif how ~= "next" then
      stop()
    end
  end
  refills[pool] = idle
  idle:start(step)
  return true
end

--- Run a child to its end without blocking the loop, then call
-- `callback(res, err)` from the loop: `res` as `linx.run`'s run returns
-- it (`{code =, signal =, stdout =, stderr =}`), or `nil, err` (a
-- `timeout` kills and reaps the child). The callback always runs from
-- the loop, never before `run` returns, even for a bad option. Output is
-- what the child wrote by the time it ended (a background grandchild that
-- keeps the pipe open is not waited for).
-- @tparam table opts as for `linx.run`'s run: `spawn`'s, plus `maps`, `input`, `timeout`;
-- or `pool` and the request's options
-- @tparam function callback `callback(res, err, code)`
-- @treturn[1] boolean `true`
-- @return[2] `nil`
-- @treturn[2] linxuser.Error `bad_option` when `callback` is not a function
-- (nothing started, and nothing to call back)
function M.run(opts, callback)
  if type(callback) ~= "function" then
    return nil, core.error{kind = "bad_option", operation = "run", field = "callback",
                           reason = "not_a_function", value = callback}
  end
  local c, plan, code
  local so, splan = core.prepare(opts)
  if so then
    c, plan, code = core.launch(so, splan)
    if splan.pool then M.refill(splan.pool) end -- taken (or lost to a failed hand-over)
  else
    plan = splan
  end
  if not c then
    local err = plan
    local t = uv.new_timer()
    t:start(0, 0, function()
      t:close()
      callback(nil, err, code)
    end)
    return true
  end

  local polls, timer = {}, nil
  local out = {stdout = {}, stderr = {}}
  local input = plan.input or ""
  local finished = false

  local function stop(name)
    local p = polls[name]
    if p then
      p:stop()
      p:close()
      polls[name] = nil
    end
  end

  local function finish(res, err, errcode)
    if finished then return end
    finished = true
    for name in pairs(polls) do stop(name) end
    if timer then
      timer:stop()
      timer:close()
      timer = nil
    end
    c:close()
    callback(res, err, errcode)
  end

  local function fail(err, errcode)
    -- output_limit: what the loop had already taken of that stream
    -- goes in front of what the error holds
    if type(err) == "table" and err.kind == "output_limit" and out[err.stream] then
      err.output = table.concat(out[err.stream]) .. (err.output or "")
    end
    finish(nil, err, errcode)
  end

  -- What a stream holds now; false once it has ended.
  local function drain(stream)
    while true do
      local s, err, errcode = c:read(stream, 0)
      if s == nil then
        if err then return nil, err, errcode end
        return false
      end
      if s == "" then return true end
      local parts = out[stream]
      parts[#parts + 1] = s
    end
  end

  local function ended()
    -- stop watching the status descriptor before wait(0) closes it
    stop("status")
    local status, err, errcode = c:wait(0)
    if not status then return fail(err, errcode) end
    for _, stream in ipairs({"stdout", "stderr"}) do
      if plan[stream] then
        stop(stream)
        local more
        more, err, errcode = drain(stream)
        if more == nil then return fail(err, errcode) end
      end
    end
    finish(core.result(status, plan.stdout and table.concat(out.stdout) or nil,
                       plan.stderr and table.concat(out.stderr) or nil))
  end

  local function on_poll(perr, on_ready)
    if finished then return end
    if perr then return fail(core.error{kind = "os", operation = "poll", message = tostring(perr)}) end
    on_ready()
  end

  local function watch(name, fd, events, on_ready)
    local p = uv.new_poll(fd)
    polls[name] = p
    p:start(events, function(perr) on_poll(perr, on_ready) end)
  end

  local function feed()
    local n, err, errcode = c:write(input, 0)
    if not n then
      if err.errno ~= "EPIPE" then return fail(err, errcode) end
      input = ""
    else
      input = input:sub(n + 1)
    end
    if input == "" then
      stop("stdin") -- before shutdown closes the descriptor
      c:shutdown("stdin")
    end
  end

  if plan.stdin then
    if input == "" then
      c:shutdown("stdin")
    else
      watch("stdin", assert(c:fileno("stdin")), "w", feed)
    end
  end
  for _, stream in ipairs({"stdout", "stderr"}) do
    if plan[stream] then
      local function ready()
        local p = polls[stream]
        p:stop() -- a read at end of file closes the descriptor: stop watching first
        local more, err, errcode = drain(stream)
        if more == nil then return fail(err, errcode) end
        if more then
          p:start("r", function(perr) on_poll(perr, ready) end)
        else
          stop(stream)
        end
      end
      watch(stream, assert(c:fileno(stream)), "r", ready)
    end
  end
  watch("status", assert(c:fileno("status")), "r", ended)
  if plan.timeout then
    timer = uv.new_timer()
    timer:start(math.floor(plan.timeout * 1000 + 0.5), 0, function()
      fail(core.timeout_error(plan.timeout))
    end)
  end
  return true
end

return M
