-- OpenResty for real: Debian's nginx with lua-nginx-module (LuaJIT) runs
-- examples/openresty/nginx.conf on a loopback port, with its own prefix in
-- a temp dir and the modules from this build tree, and answers over HTTP.
-- Needs the LuaJIT build, so it runs in the busted-jit lanes.
local support = require "support"
local nginx = require "nginx_host"
local read_file, ppid_of, children_of, status_field = support.read_file, nginx.ppid_of, nginx.children_of,
  nginx.status_field

describe("OpenResty (nginx + lua-nginx-module)", function()
  if nginx.not_jit(it, function(why) pending(why) end) then return end

  local host

  local function get(path)
    return host:get(path)
  end

  setup(function()
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
    -- Another: a parked child of the worker, whose handlers are nginx's
    -- (SIGCHLD, SIGHUP, ...): the child must not keep one of them.
    -- It answers with the worker's SigCgt/SigIgn and the child's, once
    -- the child has set its own back (or after a second).
    local parked_signals = [[
        location = /parked_signals {
            content_by_lua_block {
                local process = require "linx.process"
                local function masks(pid)
                    local f = assert(io.open("/proc/" .. pid .. "/status"))
                    local t = f:read("*a")
                    f:close()
                    return t:match("\nSigCgt:\t(%x+)") .. " " .. t:match("\nSigIgn:\t(%x+)")
                end
                local c, err = process.spawn{argv = {"true"}, stdin = "null"}
                if not c then ngx.say("spawn ", tostring(err)) return end
                local child
                for _ = 1, 1000 do
                    child = masks(c:host_pid())
                    if child == "0000000000000000 0000000000000000" then break end
                    ngx.sleep(0.001)
                end
                c:close()
                ngx.say("worker ", masks("self"))
                ngx.say("child ", child)
            }
        }
]]
    host = nginx.start{locations = late_wait .. parked_signals}
  end)

  teardown(function()
    if host then host:stop() end
  end)

  local function worker_pid()
    return host:worker_pid()
  end

  -- The worker's children split in two: the keepers of parked pool
  -- children (the example's pool: their child runs the init image,
  -- "linx-init") and every other.
  local function worker_children(pid)
    local parked, other = {}, {}
    for _, kid in ipairs(children_of(pid)) do
      local is_parked = false
      for _, g in ipairs(children_of(kid)) do
        is_parked = is_parked or read_file("/proc/" .. g .. "/comm") == "linx-init\n"
      end
      table.insert(is_parked and parked or other, kid)
    end
    return parked, other
  end

  it("answers with the worker's own read_uid_map", function()
    local body, code = get("/uid_map")
    assert.are.equal(200, code, body)
    local pid = tonumber(body:match("^worker (%d+)\n"))
    assert.is_number(pid)
    -- A real nginx worker, child of the master we started.
    assert.are.equal("nginx\n", read_file("/proc/" .. pid .. "/comm"))
    assert.are.equal(host.master_pid, ppid_of(pid))
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
    -- linx.run's default maps: the worker's own uid (nobody) to 0 inside
    assert.are.equal("inside 0\nmap 0 65534 1\nexit 0\n", body)
  end)

  it("runs the same command in a child of the worker's pool, and refills the pool", function()
    local pid = worker_pid()
    local function parked_becomes(n)
      return support.wait_until(function() return #worker_children(pid) == n end, 3000)
    end
    -- init_worker_by_lua made the pool and filled it from a timer
    assert.is_truthy(parked_becomes(2), "the example's pool never filled: " .. host:log())
    for _ = 1, 3 do
      local body, code = get("/inside_pooled")
      assert.are.equal(200, code, body)
      assert.are.equal("inside 0\nmap 0 65534 1\nexit 0\n", body)
      assert.are.equal(get("/inside"), body)
      assert.is_truthy(parked_becomes(2), "not refilled after a take: " .. host:log())
    end
    local _, other = worker_children(pid)
    assert.are.same({}, other)
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

  it("gives a child none of the worker's signal handlers", function()
    local body, code = get("/parked_signals")
    assert.are.equal(200, code, body)
    local cgt, ign = body:match("^worker (%x+) (%x+)\n")
    assert.is_string(cgt, body)
    -- nginx catches signals (and ignores SIGPIPE): the check is not empty
    assert.are_not.equal("0000000000000000", cgt, body)
    assert.are_not.equal("0000000000000000", ign, body)
    assert.matches("\nchild 0000000000000000 0000000000000000\n$", body)
  end)

  it("leaves no child behind, and nginx's own reaper never sees one", function()
    local pid = worker_pid()
    for _ = 1, 5 do
      local body, code = get("/inside")
      assert.are.equal(200, code, body)
      assert.are.equal("inside 0\n", body:match("^inside %d+\n"))
    end
    -- (the example's pool keeps its parked children: they are not left behind)
    local _, other = worker_children(pid)
    assert.are.same({}, other)
    -- nginx's SIGCHLD handler does waitpid(-1) and logs every pid it reaps
    -- that is not one of its own processes; our children must not be there.
    local log = host:log()
    assert.is_nil(log:match("unknown process"), log)
    assert.is_nil(log:match("%[error%][^\n]*lua"), log)
    -- The same worker served every request: none crashed and was replaced.
    assert.are.equal(pid, worker_pid())
  end)
end)
