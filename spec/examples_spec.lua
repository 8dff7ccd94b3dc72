-- Every examples/*.lua runs through linx-lua, and its output says what
-- the example promises. A new example without a check here fails.
local S = require("support").bind(function(why) pending(why) end)

local LINX_LUA = os.getenv("LINX_LUA")

local function run_example(name)
  local out = S.sh(("%q examples/%s 2>&1; echo \"exit=$?\""):format(LINX_LUA, name))
  local body, rc = out:match("^(.*)exit=(%d+)\n$")
  return body, tonumber(rc)
end

local uid, gid = S.uid, S.gid

local checks = {}

checks["rootless.lua"] = function(out)
  assert.matches("host:    we are uid " .. uid .. ", gid " .. gid .. "\n", out, 1, true)
  assert.matches("spawn:   child %d+ parked at the checkpoint\n", out)
  assert.matches("maps:    uid 0 -> " .. uid .. ", gid 0 -> " .. gid .. ", setgroups deny\n", out, 1, true)
  -- the child's own `id`: root inside
  assert.matches("\ninside:  uid=0%(root%) gid=0%(root%)", out)
  -- mapped to our ids outside
  assert.matches(("outside: uid 0 inside is uid %d on the host, gid 0 inside is gid %d on the host\n")
    :format(uid, gid), out, 1, true)
  assert.matches("exit:    code 0\n$", out)
end

checks["multirange.lua"] = function(out)
  if not S.is_root then
    assert.matches("^skipped: a multi%-range map needs root", out)
    return
  end
  assert.matches("1%. 0 %-> 0 ", out)
  assert.matches("2%. 1%.%.65535 %-> 100001%.%.165535 ", out)
  assert.matches("setgroups: allow\n", out, 1, true)
  assert.matches("inside, at start:      uid 0\n", out, 1, true)
  assert.matches("inside, after setpriv: uid 1000, gid 1000\n", out, 1, true)
  assert.matches("on the host that is:  uid 101000\n", out, 1, true)
  assert.matches("exit: code 0\n$", out)
end

checks["readback.lua"] = function(out)
  assert.matches("before setup: 0 uid entries, 0 gid entries, setgroups allow\n", out, 1, true)
  assert.matches(("running, via the handle: uid 0 -> %d, gid 0 -> %d\n"):format(uid, gid), out, 1, true)
  assert.matches("running, via pid %d+: uid 0 %-> " .. uid .. "\n", out)
  assert.matches("same map both ways: true\n", out, 1, true)
  assert.matches("twin with the copied map says uid 0\n", out, 1, true)
  -- inside, /proc/self/uid_map then gid_map
  assert.matches("own view of its maps:\n%s*0%s+" .. uid .. "%s+1\n%s*0%s+" .. gid .. "%s+1\n", out)
  assert.matches("exit: code 0\n$", out)
end

checks["sandbox.lua"] = function(out)
  assert.matches("\nwho:     uid 0, in /tmp, env: HOME=/tmp LANG=C.UTF%-8 PATH=[^\n]*\n", "\n" .. out)
  assert.matches("root:    read-only\n", out, 1, true)
  assert.matches("host:    no /home, no host files\n", out, 1, true)
  assert.matches("net:     lo \n", out, 1, true)
  assert.matches("procs:   [1-5] in its /proc\n", out) -- linx-init, the shell, its pipeline
  assert.matches("tmp:     writable (scratch)\n", out, 1, true)
  assert.matches("exit:    code 0\n", out, 1, true)
  assert.matches("runaway: output_limit after %d+ bytes of stdout\n", out)
  assert.matches("sleeper: timeout after 0.2 s\n", out, 1, true)
  assert.is_nil(out:find("ln: ", 1, true))
end

checks["errors.lua"] = function(out)
  local want = {
    "missing binary%s+kind=os%s+operation=exec%s+errno=ENOENT\n    exec failed on /nonexistent/bin/tool: ENOENT",
    "the child then exits with code 127",
    "unknown namespace%s+kind=bad_option%s+operation=spawn%s+reason=unknown\n",
    "misspelt option%s+kind=bad_option%s+operation=spawn%s+reason=unknown_option\n    spawn failed: bad_option 'stdio'",
    "empty argv%s+kind=bad_option%s+operation=spawn%s+reason=empty\n",
    "overlapping map%s+kind=bad_map%s+operation=set_uid_map%s+reason=overlap\n",
    "second uid_map write%s+kind=os%s+operation=set_uid_map%s+errno=EPERM\n.-write%-once",
    "wait while parked%s+kind=bad_state%s+operation=wait%s+reason=parked\n",
    "closed handle as target%s+kind=bad_target%s+operation=read_uid_map",
    "proceed after close%s+kind=bad_state%s+operation=proceed%s+reason=closed\n",
    "no such pid%s+kind=os%s+operation=read_uid_map%s+errno=ENOENT\n",
    "raised:%s+read_uid_map failed on /proc/999999999/uid_map: ENOENT %(errno 2%)",
  }
  for _, pat in ipairs(want) do assert.matches(pat, out) end
end

-- spec/container_spec.lua looks closer.
checks["container.lua"] = function(out)
  assert.matches("^hostname: box\nid:       uid=0 gid=0\n", out)
  assert.matches("\nremoved:  /tmp/linx%-container%.%w+\n$", out)
end

-- Needs a subordinate range, which neither lane's user has: the example
-- says so. spec/helper_spec.lua runs it for real as a throw-away user
-- that has one.
checks["full-range.lua"] = function(out)
  local has = require("linxuser").subids()
  if has then
    assert.matches("setgroups:     allow\n", out, 1, true)
    assert.matches("as 1000:       uid 1000, gid 1000\n", out, 1, true)
    assert.matches("exit:          code 0\n", out, 1, true)
    return
  end
  assert.matches("^skipped: rootless_maps failed: no_subids", out)
  assert.matches("usermod --add-subuids", out, 1, true)
end

-- spec/idmapped_spec.lua looks closer.
checks["idmapped.lua"] = function(out)
  if not S.is_root then
    assert.matches("idmap failed on /tmp/linx%-idmapped%.%w+: EPERM.-hint: idmapped mounts need CAP_SYS_ADMIN", out)
    assert.matches("\nskipped:   idmapped mounts need root %(EPERM from open_tree%)\n$", out)
    return
  end
  assert.matches("rootfs:    /tmp/linx%-idmapped%.%w+ owned by 0:0\n", out)
  assert.matches("container a: mapped to 100000, uid 0 inside, /data/readme owned by 0:0 inside, created (exit 0)\n",
    out, 1, true)
  assert.matches("container b: mapped to 200000, uid 0 inside, /data/readme owned by 0:0 inside, created (exit 0)\n",
    out, 1, true)
  assert.matches("host:      /data/from-a owned by 0:0\nhost:      /data/from-b owned by 0:0\n", out, 1, true)
  assert.matches("\nremoved:   /tmp/linx%-idmapped%.%w+\n$", out)
end

checks["pool.lua"] = function(out)
  assert.matches("^filled:  4 children ready\n", out)
  -- root inside, the pool's hostname, pid 2 under the pool's init
  assert.matches("request 1: exit 0, 0 pooled 2\n         3 ready\n", out, 1, true)
  assert.matches("request 2: exit 0, HELLO FROM A POOLED CHILD\n         2 ready\n", out, 1, true)
  assert.matches("request 3: exit 0, hi in /\n         1 ready\n", out, 1, true)
  assert.matches("request 4: exit 7\n         0 ready\n", out, 1, true)
  assert.matches("request 5: timeout (", out, 1, true)
  assert.matches("request 6: exit 0, the pool was empty: this one was readied on the spot\n", out, 1, true)
  assert.matches("refused: bad_option namespaces fixed_by_pool\n", out, 1, true)
  assert.matches("refill:  4 ready\nclosed:  0 ready\n$", out)
end

describe("examples", function()
  local names = {}
  for name in S.sh("cd examples && ls *.lua"):gmatch("[^\n]+") do names[#names + 1] = name end

  it("are all checked here", function()
    assert.is_true(#names >= 4)
    for _, name in ipairs(names) do
      assert.is_function(checks[name], "no check for examples/" .. name)
    end
  end)

  for _, name in ipairs(names) do
    it(name .. " runs through linx-lua and prints what it promises", function()
      local out, rc = run_example(name)
      assert.are.equal(0, rc, out)
      assert.is_function(checks[name], "no check for examples/" .. name)
      checks[name](out)
    end)
  end
end)
