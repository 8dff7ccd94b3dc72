-- to_host, to_inside and compose: pure functions checked against a
-- reference written here, and against what the kernel shows for real
-- processes and files in real user namespaces.
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local ID_MAX = 4294967295

-- Park-Miller, identical on every Lua version.
local function rng(seed)
  local s = seed
  return function(n)
    s = (s * 16807) % 2147483647
    return 1 + s % n
  end
end

-- Reference translation, straight from the definition.
local function ref_to_host(maps, id)
  for _, m in ipairs(maps) do
    if id >= m[1] and id < m[1] + m[3] then return m[2] + (id - m[1]) end
  end
  return nil
end

-- Random maps: disjoint inside ranges, and the same lengths laid out
-- disjointly outside in a shuffled order; the list itself shuffled too.
local function random_maps(r, n, span)
  local len, out, order = {}, {}, {}
  for i = 1, n do len[i] = r(span); order[i] = i end
  for i = n, 2, -1 do local j = r(i); order[i], order[j] = order[j], order[i] end
  local a = r(3) - 1
  for i = 1, n do out[i] = { a, 0, len[i] }; a = a + len[i] + r(4) - 1 end
  local b = r(3) - 1
  for _, i in ipairs(order) do out[i][2] = b; b = b + len[i] + r(4) - 1 end
  for i = n, 2, -1 do local j = r(i); out[i], out[j] = out[j], out[i] end
  return out
end

local function one(...) return select("#", ...) end

describe("to_host and to_inside", function()
  local maps = { { 0, 1000, 1 }, { 1, 100000, 65536 } }

  it("translate through each entry, both ways, and nil outside every entry", function()
    assert.are.equal(1000, user.to_host(maps, 0))
    assert.are.equal(100000, user.to_host(maps, 1))
    assert.are.equal(100999, user.to_host(maps, 1000))
    assert.are.equal(165535, user.to_host(maps, 65536))
    assert.is_nil(user.to_host(maps, 65537))
    assert.are.equal(1, one(user.to_host(maps, 65537))) -- just nil, no error
    assert.are.equal(0, user.to_inside(maps, 1000))
    assert.are.equal(1000, user.to_inside(maps, 100999))
    assert.is_nil(user.to_inside(maps, 99999))
    assert.is_nil(user.to_inside(maps, 165536))
    assert.are.equal(1, one(user.to_inside(maps, 0)))
  end)

  it("take Maps, named fields, integral floats and the ends of the id space", function()
    local named = { user.map(0, 1000, 1), { inside = 5, outside = 2000, length = 5 } }
    assert.are.equal(1000, user.to_host(named, 0))
    assert.are.equal(2004, user.to_host(named, 9.0))
    assert.are.equal(9, user.to_inside(named, 2004))
    local all = { { 0, 0, ID_MAX } }
    assert.are.equal(ID_MAX - 1, user.to_host(all, ID_MAX - 1))
    assert.is_nil(user.to_host(all, ID_MAX)) -- (uid_t)-1 is never mapped
    local top = { { ID_MAX - 1, 0, 1 } }
    assert.are.equal(0, user.to_host(top, ID_MAX - 1))
    assert.are.equal(ID_MAX - 1, user.to_inside(top, 0))
    assert.is_nil(user.to_host(top, 0))
  end)

  it("agree with a reference on random maps, and invert each other", function()
    local r = rng(20261126)
    for _ = 1, 200 do
      local m = random_maps(r, r(12), 50)
      for _ = 1, 40 do
        local id = r(700) - 1
        local h = user.to_host(m, id)
        assert.are.equal(ref_to_host(m, id), h)
        if h then assert.are.equal(id, user.to_inside(m, h)) end
      end
    end
  end)

  it("accept lists beyond one kernel write (over 340 entries, long text)", function()
    local big = {}
    for i = 1, 1000 do big[i] = { i * 10, 4000000000 + i * 10, 5 } end
    assert.are.equal(4000005002, user.to_host(big, 5002))
    assert.is_nil(user.to_host(big, 5005))
    assert.are.equal(5002, user.to_inside(big, 4000005002))
  end)

  it("refuse bad maps with the same bad_map errors as set_uid_map", function()
    local cases = {
      { "not_a_list", 5 }, { "not_a_list", { inside = 0, outside = 1000, length = 1 } }, { "empty", {} },
      { "bad_entry", { { 0, 1000 } } }, { "bad_entry", { { 0, "1000", 1 } } },
      { "negative", { { -1, 0, 1 } } }, { "zero_length", { { 0, 0, 0 } } },
      { "out_of_range", { { 0, ID_MAX, 1 } } },
      { "overlap", { { 0, 1000, 10 }, { 20, 2000, 1 }, { 5, 3000, 1 } } },
      { "overlap", { { 0, 1000, 10 }, { 20, 1005, 1 } } },
    }
    for _, c in ipairs(cases) do
      for _, verb in ipairs { "to_host", "to_inside" } do
        local v, err = user[verb](c[2], 0)
        assert.is_nil(v)
        assert.are.equal("bad_map", err.kind, verb .. " " .. c[1])
        assert.are.equal(c[1], err.reason)
        assert.are.equal(verb, err.operation)
        if type(c[2]) == "table" and #c[2] > 0 and #c[2] <= 340 and c[1] ~= "bad_entry" then
          -- the same reason, index and other as the kernel-map check
          local _, werr = user.set_uid_map(1, c[2])
          assert.are.same({ werr.reason, werr.index, werr.other }, { err.reason, err.index, err.other })
        end
      end
    end
    local _, err = user.to_host({ { 0, 1000, 10 }, { 20, 2000, 1 }, { 5, 3000, 1 } }, 0)
    assert.are.same({ 3, 1 }, { err.index, err.other })
    assert.are.equal("to_host: bad map: overlap at entry 3 (meets entry 1)", tostring(err))
  end)

  it("refuse ids that are not integral numbers in 0..4294967295", function()
    for _, bad in ipairs { -1, ID_MAX + 1, 1.5, "5", true, {}, 0 / 0, math.huge } do
      local v, err = user.to_host(maps, bad)
      assert.is_nil(v)
      assert.are.equal("bad_id", err.kind)
      assert.are.equal("to_host", err.operation)
      assert.matches("to_host failed: bad_id", tostring(err), 1, true)
      v, err = user.to_inside(maps, bad)
      assert.is_nil(v)
      assert.are.equal("bad_id", err.kind)
    end
    local _, err = user.to_host(maps)
    assert.are.equal("bad_id", err.kind)
  end)

  it("never raise, even on hostile tables", function()
    local boom = setmetatable({}, { __index = function() error("boom") end, __len = function() error("boom") end })
    local entry = setmetatable({}, { __index = function() error("boom") end })
    for _, verb in ipairs { "to_host", "to_inside" } do
      local ok, v, err = pcall(user[verb], boom, 0)
      assert.is_true(ok)
      assert.is_nil(v)
      assert.are.equal("empty", err.reason)
      ok, v, err = pcall(user[verb], { entry }, 0)
      assert.is_true(ok)
      assert.is_nil(v)
      assert.are.equal("bad_entry", err.reason)
      ok, v, err = pcall(user[verb], maps, boom)
      assert.is_true(ok)
      assert.is_nil(v)
      assert.are.equal("bad_id", err.kind)
    end
  end)
end)

describe("compose", function()
  it("expresses a nested namespace's map against the host", function()
    local outer = { { 0, 100000, 65536 } }
    local inner = { { 0, 1000, 1 }, { 1, 2000, 10 } }
    local c = user.compose(outer, inner)
    assert.are.same({ { 0, 101000, 1 }, { 1, 102000, 10 } }, S.triples(c))
    assert.are.equal("1..10 -> 102000..102009", tostring(c[2])) -- Maps
    assert.are.equal(user.map(0, 101000, 1), c[1])
  end)

  it("splits an inner range where outer ranges begin and end, dropping unmapped ids", function()
    local outer = { { 5, 300000, 5 }, { 0, 100000, 5 } } -- any order
    assert.are.same({ { 0, 100002, 3 }, { 3, 300000, 3 } }, S.triples(user.compose(outer, { { 0, 2, 6 } })))
    -- ids 10..12 of the middle namespace are unmapped on the host: dropped
    assert.are.same({ { 0, 300003, 2 } }, S.triples(user.compose(outer, { { 0, 8, 5 } })))
    -- a gap inside the outer map splits the piece and loses the gap
    local gappy = { { 0, 100, 3 }, { 5, 200, 3 } }
    assert.are.same({ { 10, 100, 3 }, { 15, 200, 3 } }, S.triples(user.compose(gappy, { { 10, 0, 8 } })))
    -- nothing maps: an empty list, not an error
    assert.are.same({}, user.compose(outer, { { 0, 50, 10 } }))
  end)

  it("merges pieces that continue each other on both sides", function()
    local outer = { { 0, 100, 5 }, { 5, 105, 5 } }
    assert.are.same({ { 0, 100, 10 } }, S.triples(user.compose(outer, { { 0, 0, 10 } })))
    assert.are.same({ { 0, 100, 10 } }, S.triples(user.compose(outer, { { 0, 0, 4 }, { 4, 4, 6 } })))
  end)

  it("agrees with translating twice, on random maps", function()
    local r = rng(20261127)
    for _ = 1, 200 do
      local outer, inner = random_maps(r, r(10), 40), random_maps(r, r(10), 40)
      local c = user.compose(outer, inner)
      assert.is_true(user.to_host(c, 0) == user.to_host(c, 0)) -- c is a valid list (or empty)
      for id = 0, 300 do
        local mid = ref_to_host(inner, id)
        local want = mid and ref_to_host(outer, mid)
        assert.are.equal(want, #c > 0 and user.to_host(c, id) or nil)
      end
    end
  end)

  it("names the bad list with field outer or inner", function()
    local v, err = user.compose({ { 0, 0, 0 } }, { { 0, 0, 1 } })
    assert.is_nil(v)
    assert.are.same({ "bad_map", "compose", "zero_length", "outer", 1 }, { err.kind, err.operation, err.reason, err.field, err.index })
    v, err = user.compose({ { 0, 0, 10 } }, "inner")
    assert.is_nil(v)
    assert.are.same({ "bad_map", "not_a_list", "inner" }, { err.kind, err.reason, err.field })
  end)
end)

describe("translation against the kernel", function()
  it("to_host and to_inside give the ids the kernel shows across the namespace boundary", function()
    local process = require "linx.process"
    -- root maps a range; an unprivileged caller only its own id. The
    -- child keeps the caller's kuid, so its own id is mapped to inside 0
    -- (as root too: a child whose kuid is unmapped inside loses its
    -- capabilities at execve and could not setuid).
    local maps = S.is_root and { { 0, 0, 1 }, { 1, 100000, 65535 } } or { { 0, S.uid, 1 } }
    local inside_id = S.is_root and 1000 or 0
    local dir = S.sh("mktemp -d /tmp/linx-idtrans.XXXXXX"):match("%S+")
    os.execute("chmod 1777 " .. dir)
    local host_file = dir .. "/by-host"
    assert(io.open(host_file, "w")):close()
    -- a file the child creates (as inside_id), and one the host made,
    -- seen from the other side
    local cmd = ("%s touch %s/by-child && stat -c %%u %s"):format(
      inside_id ~= 0 and ("setpriv --reuid %d"):format(inside_id) or "",
      dir, host_file)
    local c = assert(process.spawn { argv = { "sh", "-c", cmd }, namespaces = { "user" }, stdout = "pipe" })
    assert(user.setup_maps(c, { uid = maps, gid = maps }))
    assert(c:proceed())
    local seen_inside = tonumber(c:read("stdout"))
    assert.are.equal(0, c:wait().code)
    local child_owner = tonumber(S.sh("stat -c %u " .. dir .. "/by-child"))
    os.execute("rm -rf " .. dir)
    -- the host sees the child's file owned by to_host(inside id)
    assert.are.equal(user.to_host(maps, inside_id), child_owner)
    -- the child saw the host's file owned by to_inside(host id), or by
    -- the overflow id 65534 where to_inside says nil
    local want = user.to_inside(maps, S.uid) or 65534
    assert.are.equal(want, seen_inside)
  end)

  it("compose gives the map the kernel shows the host for a nested namespace", function()
    if S.root_only("nested ranges") then return end
    local process = require "linx.process"
    local outer = { { 0, 0, 1 }, { 1, 100000, 49 }, { 50, 300000, 50 } }
    -- each inner range inside one outer range: the kernel refuses a
    -- range that spans two (it cannot split)
    local inner = { { 0, 10, 30 }, { 30, 60, 20 }, { 50, 95, 5 } }
    -- The child (root inside: its kuid 0 is mapped to inside 0) starts a
    -- nested namespace and, as root of its own, writes that one's map.
    local script = [[
      unshare --user sleep 30 >/dev/null 2>&1 & p=$!
      n=0
      while [ "$(cat /proc/$p/comm 2>/dev/null)" != sleep ]; do
        n=$((n + 1)); [ $n -gt 1000 ] && exit 2; sleep 0.01
      done
      printf '0 10 30\n30 60 20\n50 95 5\n' > /proc/$p/uid_map || exit 1
      echo $p
      exec sleep 30 >/dev/null
    ]]
    local c = assert(process.spawn { argv = { "sh", "-c", script }, namespaces = { "user" }, stdout = "pipe" })
    assert(user.setup_maps(c, { uid = outer, gid = outer }))
    assert(c:proceed())
    local pid = tonumber(c:read("stdout")) -- EOF once it has exec'd sleep
    assert.is_number(pid, "the nested namespace was not set up")
    local seen = S.triples(assert(user.read_uid_map(pid))) -- from the host: host ids
    S.kill(pid)
    c:kill(9)
    c:wait()
    assert.are.same(seen, S.triples(user.compose(outer, inner)))
    assert.are.same({ { 0, 100009, 30 }, { 30, 300010, 20 }, { 50, 300045, 5 } }, seen)
  end)
end)
