-- linx.luv on a real libuv loop (Debian's lua-luv): children run side by
-- side while the loop turns. Runs as root and as uid 65534.
local uv = require "luv"
local luv = require "linx.luv"
local process = require "linx.process"
local S = require "support"

local child_count, fd_count = S.child_count, S.fd_count

-- Start every job, run the loop until it is idle; the results in order,
-- the wall time from the first start to the last callback, and from the
-- moment all were started to the last callback.
local function run_all(jobs)
  local results, last = {}, nil
  local t0 = process.now()
  for i, opts in ipairs(jobs) do
    luv.run(opts, function(res, err)
      results[i] = {res = res, err = err}
      last = process.now()
    end)
  end
  local t1 = process.now()
  uv.run()
  return results, last and last - t0, last and last - t1
end

describe("linx.luv", function()
  it("runs 10 children of 0.2 s side by side: all callbacks within 0.6 s", function()
    local jobs = {}
    for i = 1, 10 do
      jobs[i] = {argv = {"sh", "-c", "sleep 0.2; echo " .. i}, namespaces = {"user"}}
    end
    -- A wall-time bound on a shared 2-core machine: one retry absorbs a
    -- stall from elsewhere; serial would be 2 s or more every time. Under
    -- AddressSanitizer a spawn costs several times more, so there the
    -- clock starts once all ten are started: the loop part is the same.
    local san = os.getenv("LINX_SANITIZER") ~= nil
    local results, took, total, after_start
    for _ = 1, 2 do
      results, total, after_start = run_all(jobs)
      took = san and after_start or total
      if took <= 0.6 then break end
    end
    for i = 1, 10 do
      local r = results[i]
      assert.is_truthy(r.res, tostring(r.err))
      assert.are.equal(0, r.res.code)
      assert.are.equal(i .. "\n", r.res.stdout)
    end
    assert.is_true(total >= 0.2, "total " .. total)
    assert.is_true(took <= 0.6, "took " .. took)
  end)

  it("keeps the loop turning while children run", function()
    -- A 10 ms timer beside a 0.3 s child: about 30 ticks; a run that held
    -- the loop for the child's life would allow one or two. The bound is
    -- low and retried once, for a shared, loaded machine.
    local ticks, done
    for _ = 1, 2 do
      ticks, done = 0, false
      local timer = uv.new_timer()
      timer:start(10, 10, function() ticks = ticks + 1 end)
      luv.run({argv = {"sleep", "0.3"}}, function(res)
        done = res and res.code == 0
        timer:stop()
        timer:close()
      end)
      uv.run()
      if ticks >= 8 then break end
    end
    assert.is_true(done)
    assert.is_true(ticks >= 8, "ticks " .. ticks)
  end)

  it("feeds input and collects output of any size", function()
    local parts = {}
    for i = 1, 65536 do parts[i] = string.format("%015d\n", i) end
    local big = table.concat(parts)
    local results = run_all{
      {argv = {"cat"}, input = big},
      {argv = {"sh", "-c", "echo out; echo err >&2; exit 7"}},
      {argv = {"sh", "-c", "kill -KILL $$"}},
    }
    assert.is_true(results[1].res.stdout == big, "round trip differs")
    assert.are.equal(7, results[2].res.code)
    assert.are.equal("out\n", results[2].res.stdout)
    assert.are.equal("err\n", results[2].res.stderr)
    assert.are.equal(9, results[3].res.signal)
  end)

  it("times out, reports errors from the loop, and leaves nothing behind", function()
    local kids, fds = child_count(), fd_count()
    local results = run_all{
      {argv = {"sleep", "30"}, namespaces = {"user", "pid"}, timeout = 0.2},
      {argv = {"/nonexistent/linx"}},
      {argv = {"true"}, timeout = "soon"},
    }
    assert.is_nil(results[1].res)
    assert.are.equal("timeout", results[1].err.kind)
    assert.are.equal(0.2, results[1].err.seconds)
    assert.are.equal("ENOENT", results[2].err.errno)
    assert.are.equal("bad_option", results[3].err.kind)
    assert.are.equal(kids, child_count())
    assert.are.equal(fds, fd_count())
  end)

  it("refuses a callback that is not a function, starting nothing", function()
    local kids = child_count()
    local ok, err = luv.run({argv = {"sleep", "10"}}, "not a function")
    assert.is_nil(ok)
    assert.are.equal("bad_option", err.kind)
    assert.are.equal("callback", err.field)
    assert.are.equal(kids, child_count())
  end)

  it("calls back from the loop, never before run returns", function()
    local called = false
    luv.run({argv = {"true"}, input = 1}, function() called = true end)
    assert.is_false(called)
    uv.run()
    assert.is_true(called)
  end)

  describe("with pool =", function()
    local function pool42(size)
      return assert(process.pool{namespaces = {"user"}, size = size,
                                 maps = {uid = {{42, S.uid, 1}}, gid = {{42, S.gid, 1}}}})
    end
    local maps42 = {uid = {{42, S.uid, 1}}, gid = {{42, S.gid, 1}}}

    it("runs a pooled child while the loop's timers go on, as the fresh path would", function()
      local p = pool42(2)
      assert.are.equal(2, p:fill())
      local ticks, at_end, results = 0, nil, {}
      local timer = uv.new_timer()
      timer:start(10, 10, function() ticks = ticks + 1 end)
      local job = {argv = {"sh", "-c", "id -u; cat; echo err >&2; sleep 0.3; exit 5"}, input = "in\n"}
      local fresh = {namespaces = {"user"}, maps = maps42}
      for k, v in pairs(job) do fresh[k] = v end
      luv.run(job, function() end) -- not a pool's: a pool-less job beside it changes nothing
      job.pool = p
      luv.run(job, function(res, err)
        results.pooled = {res = res, err = err}
        at_end = ticks
        timer:stop()
        timer:close()
      end)
      assert.are.equal(1, p:size()) -- taken at once
      uv.run()
      luv.run(fresh, function(res, err) results.fresh = {res = res, err = err} end)
      uv.run()
      assert.is_truthy(results.pooled.res, tostring(results.pooled.err))
      assert.are.same(results.fresh.res, results.pooled.res)
      assert.are.equal("42\nin\n", results.pooled.res.stdout)
      assert.are.equal(5, results.pooled.res.code)
      assert.is_true(at_end >= 1, "the timer never ran while the child did")
      assert.are.equal(2, p:size()) -- refilled by the loop
      p:close()
    end)

    it("refills one child per turn of the loop, and stops when full", function()
      local p = pool42(3)
      p:fill()
      local done = 0
      for i = 1, 3 do
        luv.run({pool = p, argv = {"echo", tostring(i)}}, function(res) if res and res.code == 0 then done = done + 1 end end)
      end
      assert.are.equal(0, p:size())
      local seen = {}
      local check = uv.new_check()
      check:start(function() -- ready and starting: each child counts from its start on
        local ready, starting = p:fill(0, 0)
        seen[#seen + 1] = ready + starting
      end)
      uv.unref(check) -- it watches; it must not keep the loop alive
      local guard = uv.new_timer() -- the loop ends by itself; this only keeps a broken refill from hanging the run
      local hung = false
      guard:start(60000, 0, function() hung = true uv.stop() end)
      uv.unref(guard)
      uv.run()
      check:stop()
      check:close()
      guard:close()
      assert.is_false(hung)
      assert.are.equal(3, done)
      assert.are.equal(3, p:size())
      -- the counts seen between turns rise one at a time: never two set-ups in one turn
      local prev = 0
      for _, n in ipairs(seen) do
        assert.is_true(n == prev or n == prev + 1, "jumped from " .. prev .. " to " .. n)
        prev = n
      end
      p:close()
    end)

    it("runs one refill per pool at a time", function()
      local function idles()
        local n = 0
        uv.walk(function(h) if uv.handle_get_type(h) == "idle" and not h:is_closing() then n = n + 1 end end)
        return n
      end
      local p, q = pool42(2), pool42(1)
      local before = idles()
      for _ = 1, 3 do assert(luv.refill(p)) end
      assert.are.equal(before + 1, idles())
      assert(luv.refill(q)) -- another pool: a refill of its own
      assert.are.equal(before + 2, idles())
      uv.run()
      assert.are.equal(2, p:size())
      assert.are.equal(1, q:size())
      assert.are.equal(before, idles()) -- stopped and closed once full
      p:close()
      q:close()
    end)

    it("stops refilling a closed pool", function()
      local kids = child_count()
      local p = pool42(2)
      p:fill()
      local got
      luv.run({pool = p, argv = {"true"}}, function(res, err) got = res or err end)
      p:close()
      local guard = uv.new_timer()
      local hung = false
      guard:start(60000, 0, function() hung = true uv.stop() end)
      uv.unref(guard)
      uv.run()
      guard:close()
      assert.is_false(hung)
      assert.are.equal(0, got.code)
      assert.are.equal(0, p:size())
      assert.are.equal(kids, child_count())
    end)

    it("reports a pool that cannot ready a child to the request, and stops refilling it", function()
      local kids, fds = child_count(), fd_count()
      local p = assert(process.pool{namespaces = {"user", "mount"}, size = 2,
                                    inside = {mounts = {{type = "bind", source = "/nonexistent/linx", target = "/mnt"}}}})
      local got
      luv.run({pool = p, argv = {"true"}}, function(res, err) got = {res, err} end)
      local guard = uv.new_timer()
      local hung = false
      guard:start(60000, 0, function() hung = true uv.stop() end)
      uv.unref(guard)
      uv.run() -- ends: the refill's first fill fails, and it stops
      guard:close()
      assert.is_false(hung)
      assert.is_nil(got[1])
      assert.are.equal("mount", got[2].operation)
      assert.are.equal("ENOENT", got[2].errno)
      assert.are.equal(0, p:size())
      -- one child at a time: the failed one was released, and none other is left starting
      assert.are.equal(kids, child_count())
      assert.are.same({ 0, 0 }, { p:fill(0, 0) })
      p:close()
      assert.are.equal(kids, child_count())
      assert.are.equal(fds, fd_count())
    end)

    it("calls back with bad_option for the pool's own options, taking no child", function()
      local p = pool42(1)
      p:fill()
      local errs = {}
      luv.run({pool = p, argv = {"true"}, namespaces = {"user"}}, function(_, err) errs[1] = err end)
      luv.run({pool = p, argv = {"true"}, maps = false}, function(_, err) errs[2] = err end)
      luv.run({pool = "p", argv = {"true"}}, function(_, err) errs[3] = err end)
      uv.run()
      assert.are.equal("fixed_by_pool", errs[1].reason)
      assert.are.equal("namespaces", errs[1].field)
      assert.are.equal("fixed_by_pool", errs[2].reason)
      assert.are.equal("not_a_pool", errs[3].reason)
      assert.are.equal(1, p:size())
      assert.is_nil(luv.refill("p"))
      p:close()
    end)
  end)
end)
