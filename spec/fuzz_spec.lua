-- Randomized junk at every verb: never a raise, never a crash; always
-- success for valid input or nil, err with a kind from the contract, and
-- nothing written when the input was refused. Reproducible: the seed is
-- in the test names (LINX_FUZZ_SEED=N busted ... to replay one,
-- LINX_FUZZ_ROUNDS=N for more rounds).
--
-- Expected outcomes come from a reference validator written here in Lua
-- from the contract (API.md), independent of src/. Targets are real:
-- processes in fresh user namespaces started with util-linux unshare,
-- and pids that cannot exist (above pid_max). Nothing else is aimed at,
-- so a generated valid map never lands on a stranger.
local user = require "linxuser"
local process = require "linx.process"
local S = require("support").bind(function(why) pending(why) end)

local SEED = tonumber(os.getenv("LINX_FUZZ_SEED")) or 20261125
local ROUNDS = tonumber(os.getenv("LINX_FUZZ_ROUNDS")) or 600

local ID_MAX = 4294967295
-- The contract's kinds, plus "helper": setup_maps falls back on the setuid
-- newuidmap/newgidmap when the caller lacks the privilege for its ranges.
local KINDS = { os = true, bad_map = true, bad_setgroups = true, bad_setup = true, bad_target = true,
                helper = true }
local rawlen = rawlen or function(t) return #t end -- 5.1: # ignores __len on tables
local unpack = table.unpack or unpack

local pid_max = tonumber(S.read_file("/proc/sys/kernel/pid_max")) or 4194304

-- Park-Miller: the same sequence on every Lua version (exact in doubles).
local function rng(seed)
  local s = seed % 2147483647
  if s <= 0 then s = s + 2147483646 end
  return function(n)
    s = (s * 16807) % 2147483647
    return 1 + s % n
  end
end

---------------------------------------------------------------------------
-- junk

local function hostile_mt(tag)
  local function boom() error("hostile " .. tag, 0) end
  return {
    __index = boom, __newindex = boom, __len = boom, __pairs = boom, __ipairs = boom,
    __eq = boom, __lt = boom, __le = boom, __concat = boom, __call = boom,
    __tostring = boom, __unm = boom, __add = boom, __close = boom,
    __name = tag, __metatable = "locked",
  }
end

local NUMBERS = {
  0, 1, -1, 2, 1000, 65535, 65536, 100000, 4294967294, 4294967295, 4294967296,
  2 ^ 31, 2 ^ 31 - 1, -2 ^ 31, 2 ^ 32, 2 ^ 53, 2 ^ 53 + 2, 2 ^ 63, -2 ^ 63, 2 ^ 64,
  1e300, -1e300, math.huge, -math.huge, 0 / 0, 1.5, -0.5, 1e-300, 1000.0, 0.0, -0.0,
  4294967295.0, 4294967296.0, -4294967296,
}
if math.maxinteger then
  for _, v in ipairs { math.maxinteger, math.mininteger, math.maxinteger - 1, math.mininteger + 1 } do
    NUMBERS[#NUMBERS + 1] = v
  end
end
local STRINGS = { "", "0", "1000", "0 1000 1\n", "-1", "deny", "skip", "allow", "uid", "\0",
  string.rep("x", 100000), "4294967295", "0x10", " 1 " }

local function junk_number(r) return NUMBERS[r(#NUMBERS)] end

-- Any value at all (depth bounds nesting). May return nil.
local junk, BIG
junk = function(r, depth)
  depth = depth or 0
  local c = r(depth > 2 and 9 or 14)
  if c <= 3 then return junk_number(r)
  elseif c == 4 then return STRINGS[r(#STRINGS)]
  elseif c == 5 then return r(2) == 1
  elseif c == 6 then return nil
  elseif c == 7 then return function() error("junk function", 0) end
  elseif c == 8 then return r(2) == 1 and io.stdout or coroutine.create(function() end)
  elseif c == 9 then return setmetatable({}, hostile_mt("junk"))
  elseif c == 10 then -- nested array
    local t = {}
    for i = 1, r(5) do t[i] = junk(r, depth + 1) end
    return t
  elseif c == 11 then -- random keys
    local t = {}
    for _ = 1, r(4) do
      local k = junk(r, depth + 1)
      if k ~= nil and k == k then t[k] = junk(r, depth + 1) end
    end
    return t
  elseif c == 12 then -- sparse
    local t = {}
    for _ = 1, r(4) do t[r(12)] = junk(r, depth + 1) end
    return t
  elseif c == 13 then -- metatable that makes it look like something else
    return setmetatable({}, { __index = function(_, k) return ({ 0, 1000, 1, inside = 0 })[k] end,
                              __len = function() return 3 end })
  else -- big: one table of 100000 numbers, built once (no verb writes
    -- to its arguments; building it anew each time was most of this
    -- file's time under ASan)
    if not BIG then
      BIG = {}
      for i = 1, 100000 do BIG[i] = i end
    end
    return BIG
  end
end

---------------------------------------------------------------------------
-- map lists: valid ones, mutated ones, and the reference validator

-- Non-overlapping random ranges; unprivileged writers may map only their
-- own id, as one entry of length 1.
local function valid_triples(r, own)
  if own then return { { 0, own, 1 } } end
  local n = ({ 1, 1, 2, 3, 5, 10, 40, 340 })[r(8)]
  local out, inside, outside = {}, r(3) - 1, 100000 * r(40)
  for i = 1, n do
    local len = r(4) == 1 and 65536 or r(100)
    out[i] = { inside, outside, len }
    inside = inside + len + r(3) - 1
    outside = outside + len + r(5) - 1
  end
  if n == 340 then -- short numbers, so the text stays under 4096 bytes
    for i = 1, n do out[i] = { i - 1, 1000 + i, 1 } end
  end
  return out
end

-- One triple in a random written form the contract accepts.
local function as_entry(r, t)
  local c = r(4)
  if c == 1 then return { t[1], t[2], t[3] }
  elseif c == 2 then return { inside = t[1], outside = t[2], length = t[3] }
  elseif c == 3 then return { t[1] + 0.0, t[2] + 0.0, t[3] + 0.0 }
  else return user.map(t[1], t[2], t[3]) end
end

local function as_list(r, triples)
  local list = {}
  for i, t in ipairs(triples) do list[i] = as_entry(r, t) end
  if r(5) == 1 then -- a hostile metatable on the list is never consulted
    setmetatable(list, hostile_mt("list"))
  end
  return list
end

local function mutate(r, list)
  local n = rawlen(list)
  local i = r(n)
  local e = rawget(list, i)
  local c = r(14)
  if c == 1 then rawset(list, i, junk(r))
  elseif c == 2 then rawset(list, i, { junk_number(r), junk_number(r), junk_number(r) })
  elseif c == 3 then rawset(list, i, { inside = junk(r), outside = 0, length = 1 })
  elseif c == 4 then rawset(list, n + 1, rawget(list, i)) -- the same range twice: overlap
  elseif c == 5 then rawset(list, i, { 0, 0, 0 })
  elseif c == 6 then rawset(list, i, { -1, 0, 1 })
  elseif c == 7 then rawset(list, i, { 1, 0, ID_MAX })
  elseif c == 8 then rawset(list, i, { 0, 1, 2, 3 })
  elseif c == 9 then rawset(list, i, setmetatable({}, hostile_mt("entry")))
  elseif c == 10 then rawset(list, i, nil) -- sparse
  elseif c == 11 then for k = n + 1, n + 341 do rawset(list, k, { 10000 + k, 10000 + k, 1 }) end
  elseif c == 12 then -- 171+ ten-digit lines reach 4096 bytes
    for k = 1, 171 + r(100) do rawset(list, k, { 4000000000 + k, 3000000000 + k, 1 }) end
  elseif c == 13 then rawset(list, i, { r(3) - 1, type(e) == "table" and rawget(e, 2) or 0, 1.5 })
  else rawset(list, i, tostring(i)) end
  return list
end

local function integral(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
      and math.floor(v) == v
end

-- The entry at list[i] as a triple, or nil (bad_entry). Raw reads only.
local function ref_entry(e)
  if type(e) ~= "table" then return nil end
  local f
  if rawget(e, 1) ~= nil then
    if rawget(e, 4) ~= nil then return nil end
    f = { rawget(e, 1), rawget(e, 2), rawget(e, 3) }
  else
    f = { rawget(e, "inside"), rawget(e, "outside"), rawget(e, "length") }
  end
  for k = 1, 3 do if not integral(f[k]) then return nil end end
  return f
end

local function digits(v) return #string.format("%.0f", v) end

-- Expected outcome of writing list[1..n]: "ok", triples or "bad_map:reason:index".
local function ref_list_n(list, n)
  if n == 0 then return next(list) ~= nil and "bad_map:not_a_list:" or "bad_map:empty:" end
  if n > 340 then return "bad_map:too_many:" end
  local ts = {}
  for i = 1, n do
    ts[i] = ref_entry(rawget(list, i))
    if not ts[i] then return "bad_map:bad_entry:" .. i end
  end
  for i, t in ipairs(ts) do
    local a, b, len = t[1], t[2], t[3]
    if a < 0 or b < 0 or len < 0 then return "bad_map:negative:" .. i end
    if len == 0 then return "bad_map:zero_length:" .. i end
    if a > ID_MAX or b > ID_MAX or len > ID_MAX or a + len > ID_MAX or b + len > ID_MAX then
      return "bad_map:out_of_range:" .. i
    end
  end
  for j = 2, n do
    local b = ts[j]
    for i = 1, j - 1 do
      local a = ts[i]
      if (a[1] < b[1] + b[3] and b[1] < a[1] + a[3]) or (a[2] < b[2] + b[3] and b[2] < a[2] + a[3]) then
        return "bad_map:overlap:" .. j
      end
    end
  end
  local text = 0
  for _, t in ipairs(ts) do text = text + digits(t[1]) + digits(t[2]) + digits(t[3]) + 3 end
  if text >= 4096 then return "bad_map:too_long:" end
  return "ok", ts
end

-- Every outcome the C side may legitimately reach: one per border of
-- the list (lua_rawlen may return any border of a sparse table).
-- Returns a set: outcome -> list of accepted triples (for "ok").
local function ref_list(list)
  if type(list) ~= "table" then return { ["bad_map:not_a_list:"] = true } end
  local maxk = 0
  for k in next, list do -- raw: a hostile __pairs is never called
    if type(k) == "number" and k >= 1 and math.floor(k) == k and k > maxk and k < 1e6 then maxk = k end
  end
  local set = {}
  for b = 0, maxk do
    if (b == 0 or rawget(list, b) ~= nil) and rawget(list, b + 1) == nil then
      local out, ts = ref_list_n(list, b)
      if out == "ok" then
        set.ok = set.ok or {}
        table.insert(set.ok, ts)
      else
        set[out] = true
      end
    end
  end
  return set
end

---------------------------------------------------------------------------
-- outcome checks

local stats = {}
local function count(key) stats[key] = (stats[key] or 0) + 1 end
if os.getenv("LINX_FUZZ_STATS") then -- what the generator reached, for tuning
  setmetatable(stats, { __gc = function(t)
    local keys = {}
    for k, v in next, t do keys[#keys + 1] = ("%6d %s"):format(v, k) end
    table.sort(keys)
    io.stderr:write(table.concat(keys, "\n"), "\n")
  end })
end

-- Call verb(...) protected; the result must be a contract shape. Returns
-- ok-flag, value, err.
local function pack(...) return { n = select("#", ...), ... } end

local function call(name, ...)
  local res = pack(pcall(user[name], ...))
  assert(res[1], ("%s raised: %s"):format(name, tostring(res[2])))
  local v, err, code = res[2], res[3], res[4]
  if v == nil then
    assert(type(err) == "table", name .. " returned nil without an error table")
    assert(KINDS[err.kind], name .. " returned unknown kind " .. tostring(err.kind))
    assert(type(err.operation) == "string", name .. ": error without operation")
    local ok, s = pcall(tostring, err)
    assert(ok and type(s) == "string" and not s:find("\n"), name .. ": __tostring failed")
    if err.kind == "os" then
      assert(type(code) == "number" and code == err.code and type(err.errno) == "string",
        name .. ": os error without errno/code")
    end
    count(name .. ":" .. err.kind .. (err.reason and (":" .. err.reason) or ""))
    return false, nil, err
  end
  count(name .. ":ok")
  return true, v, nil
end

local function outcome_key(err)
  if err.kind ~= "bad_map" then return err.kind end
  return ("bad_map:%s:%s"):format(err.reason, err.index or "")
end

local function untouched(pid)
  assert.are.same({}, user.read_uid_map(pid))
  assert.are.same({}, user.read_gid_map(pid))
  assert.are.equal("allow", user.read_setgroups(pid))
end

-- A pool of real targets: a fresh sleeper is taken only once one was written.
local Target = {}
Target.__index = Target
function Target.new() return setmetatable({ pid = S.sleeper(), spawned = 1 }, Target) end
function Target:renew()
  S.kill(self.pid)
  self.pid = S.sleeper()
  self.spawned = self.spawned + 1
end
function Target:close() S.kill(self.pid) end

local function own_id(which)
  if S.is_root then return nil end
  return which == "uid" and S.uid or S.gid
end

-- Targets that are not a process of ours: every one must be refused
-- (bad_target) or fail in the kernel (ENOENT: the pid cannot exist).
local function stranger_target(r)
  local c = r(6)
  if c == 1 then return pid_max + r(1000) end
  if c == 2 then return 2147483647 end
  if c == 3 then return pid_max + 1.0 end
  local v = junk(r)
  if type(v) == "number" and v >= 1 and v <= 2147483647 and math.floor(v) == v then
    return pid_max + 7 -- a junk number that is a valid pid: aim it nowhere
  end
  return v
end

local function expect_stranger(name, target, ok, err)
  assert.is_false(ok, name .. " succeeded on a stranger target")
  if type(target) == "number" and target > pid_max and target <= 2147483647 then
    -- a well-formed pid: the arguments are checked next, then the kernel
    if err.kind == "os" then
      assert.are.equal("ENOENT", err.errno)
    else
      assert.are_not.equal("bad_target", err.kind, name .. ": " .. tostring(err))
    end
  else
    assert.are.equal("bad_target", err.kind, name .. ": " .. tostring(err))
  end
end

---------------------------------------------------------------------------

describe(("randomized junk (seed=%d, rounds=%d)"):format(SEED, ROUNDS), function()
  it(("at every verb with stranger targets never raises (seed=%d)"):format(SEED), function()
    local r = rng(SEED)
    local verbs = { "deny_setgroups", "read_setgroups", "set_uid_map", "set_gid_map",
      "read_uid_map", "read_gid_map", "setup_maps" }
    for _ = 1, ROUNDS do
      local name = verbs[r(#verbs)]
      local target = stranger_target(r)
      local args = { target, junk(r), junk(r), junk(r) }
      local ok, _, err = call(name, unpack(args, 1, r(4)))
      expect_stranger(name, target, ok, err)
    end
    for _ = 1, ROUNDS do -- supported() and map() take anything
      local a = { junk(r), junk(r), junk(r), junk(r) }
      assert.is_true(call("supported", unpack(a, 1, r(4))))
      if r(2) == 1 then -- near-valid: a valid triple with maybe one field replaced
        local t = valid_triples(r)[1]
        a = { t[1], t[2], t[3] }
        if r(2) == 1 then a[r(3)] = junk_number(r) end
      end
      local okm, m, err = call("map", unpack(a, 1, 3))
      local wf = ref_list_n({ { a[1], a[2], a[3] } }, 1)
      if wf == "ok" then
        assert.is_true(okm, "map() refused valid " .. tostring(err))
        assert.are.same({ { a[1], a[2], a[3] } }, S.triples({ m }))
        assert.are.equal(getmetatable(user.map(0, 0, 1)), getmetatable(m))
      else
        assert.is_false(okm)
        assert.are.equal(wf, outcome_key(err))
      end
    end
    assert.is_true((stats["deny_setgroups:bad_target"] or 0) > 0)
    assert.is_true((stats["read_uid_map:os"] or 0) + (stats["read_gid_map:os"] or 0) > 0)
    assert.is_true((stats["map:ok"] or 0) > 0)
  end)

  it(("set_uid_map / set_gid_map with generated lists on a real target (seed=%d)"):format(SEED + 1), function()
    local r = rng(SEED + 1)
    local t = Target.new()
    local reasons, written = {}, 0
    local ok_all, why = pcall(function()
      for round = 1, ROUNDS do
        local which = r(2) == 1 and "uid" or "gid"
        local name = "set_" .. which .. "_map"
        local c = r(10)
        local list
        if c <= 2 then list = junk(r)
        elseif c <= 4 then list = as_list(r, valid_triples(r, own_id(which)))
        else list = mutate(r, as_list(r, valid_triples(r, own_id(which)))) end
        if which == "gid" and not S.is_root and r(2) == 1 then
          -- unprivileged gid_map needs setgroups denied first
          assert(user.deny_setgroups(t.pid))
        end
        local expected = ref_list(list)
        local ok, _, err = call(name, t.pid, list)
        if ok then
          assert.is_truthy(expected.ok, ("round %d: %s accepted an invalid list"):format(round, name))
          -- the kernel lists a map of more than 5 entries sorted by inside id
          local function sorted(entries)
            local out = {}
            for i, e in ipairs(entries) do out[i] = { e[1], e[2], e[3] } end
            table.sort(out, function(a, b) return a[1] < b[1] end)
            return out
          end
          local back = sorted(S.triples(user["read_" .. which .. "_map"](t.pid)))
          local match = false
          for _, unsorted in ipairs(expected.ok) do
            local ts = sorted(unsorted)
            if #ts == #back then
              match = true
              for i = 1, #ts do
                for k = 1, 3 do match = match and ts[i][k] == back[i][k] end
              end
              if match then break end
            end
          end
          assert.is_true(match, ("round %d: the map read back is not the one written"):format(round))
          written = written + 1
          t:renew()
        else
          local key = outcome_key(err)
          if err.kind == "os" then
            -- only a valid list reaches the kernel; as root it must succeed
            assert.is_truthy(expected.ok, ("round %d: os error %s for an invalid list"):format(round, tostring(err)))
            assert.is_false(S.is_root, ("round %d: root was refused: %s"):format(round, tostring(err)))
            assert.are.equal("EPERM", err.errno)
            assert.are.same({}, user["read_" .. which .. "_map"](t.pid))
          else
            assert.is_truthy(expected[key], ("round %d: %s gave %s (%s)"):format(round, name, key, tostring(err)))
            reasons[err.reason] = true
            assert.are.same({}, user.read_uid_map(t.pid))
            assert.are.same({}, user.read_gid_map(t.pid))
          end
        end
      end
    end)
    t:close()
    assert(ok_all, why)
    assert.is_true(written > 0, "no generated valid list was written")
    for _, reason in ipairs { "not_a_list", "bad_entry", "overlap", "too_many", "too_long",
      "negative", "zero_length", "out_of_range" } do
      assert.is_true(reasons[reason], "the generator never produced " .. reason)
    end
  end)

  it(("setup_maps with generated options on a real target (seed=%d)"):format(SEED + 2), function()
    local r = rng(SEED + 2)
    local t = Target.new()
    local written, kinds = 0, {}
    local ok_all, why = pcall(function()
      for round = 1, math.floor(ROUNDS / 2) do
        local opts
        local c = r(8)
        local function maps(which)
          local k = r(6)
          if k == 1 then return junk(r) end
          if k == 2 then return mutate(r, as_list(r, valid_triples(r, own_id(which)))) end
          return as_list(r, valid_triples(r, own_id(which)))
        end
        local sg = ({ nil, "deny", "deny", "skip", junk(r) })[r(5)]
        if c == 1 then opts = junk(r)
        elseif c == 2 then opts = setmetatable({}, hostile_mt("opts"))
        elseif c == 3 then
          opts = setmetatable({ uid = maps("uid") }, { __index = { gid = maps("gid"), setgroups = sg } })
        elseif c == 4 then opts = { uid = maps("uid"), setgroups = sg }
        else opts = { uid = maps("uid"), gid = maps("gid"), setgroups = sg } end

        -- reference, in the contract's order: options, both maps, setgroups
        local expect
        if type(opts) ~= "table" then expect = { bad_setup = true }
        else
          local okr, uid, gid, setgroups = pcall(function() return opts.uid, opts.gid, opts.setgroups end)
          if not okr then expect = { bad_setup = true }
          elseif uid == nil or gid == nil then expect = { bad_setup = true }
          else
            local eu, eg = ref_list(uid), ref_list(gid)
            expect = {}
            for k in pairs(eu) do if k ~= "ok" then expect[k] = true end end
            if eu.ok then
              for k in pairs(eg) do if k ~= "ok" then expect[k] = true end end
              if eg.ok then
                if setgroups ~= nil and setgroups ~= "deny" and setgroups ~= "skip" then
                  expect.bad_setgroups = true
                else
                  expect.ok = { uid = eu.ok, gid = eg.ok, deny = setgroups ~= "skip" }
                end
              end
            end
          end
        end

        local ok, _, err = call("setup_maps", t.pid, opts)
        if ok then
          assert.is_truthy(expect.ok, ("round %d: setup_maps accepted invalid options"):format(round))
          local bu, bg = S.triples(user.read_uid_map(t.pid)), S.triples(user.read_gid_map(t.pid))
          assert.is_true(#bu > 0 and #bg > 0, ("round %d: success but maps not written"):format(round))
          -- "skip" leaves setgroups alone where the gid map is written
          -- directly (root); unprivileged, the gid map then goes through
          -- newgidmap, which denies setgroups for an own-gid-only map
          local skipped = S.is_root and "allow" or "deny"
          assert.are.equal(expect.ok.deny and "deny" or skipped, user.read_setgroups(t.pid))
          written = written + 1
          t:renew()
        elseif err.kind == "os" or err.kind == "helper" then
          -- refused by the kernel, or (valid ranges, no privilege) no
          -- newuidmap/newgidmap to fall back on
          assert.is_truthy(expect.ok, ("round %d: %s error for invalid options: %s"):format(round, err.kind, tostring(err)))
          assert.is_false(S.is_root, ("round %d: root was refused: %s"):format(round, tostring(err)))
          if err.kind == "os" then assert.are.equal("EPERM", err.errno) end
          kinds.os = true
          t:renew()
        else
          local key = outcome_key(err)
          assert.is_truthy(expect[key], ("round %d: setup_maps gave %s (%s)"):format(round, key, tostring(err)))
          kinds[err.kind] = true
          untouched(t.pid)
        end
      end
    end)
    t:close()
    assert(ok_all, why)
    assert.is_true(written > 0, "no generated valid setup was written")
    for _, k in ipairs { "bad_setup", "bad_map", "bad_setgroups" } do
      assert.is_true(kinds[k], "the generator never produced " .. k)
    end
  end)

  it("error messages stay one short line whatever the caller's strings hold", function()
    local nasty = "line\nbreak\27[31mred\0nul" .. string.rep("x", 100000)
    local _, e1 = user.read_uid_map(nasty)
    local _, e2 = user.setup_maps(1, { uid = { { 0, 0, 1 } }, gid = { { 0, 0, 1 } }, setgroups = nasty })
    local _, e3 = process.spawn { argv = { "true" }, [nasty] = 1 }
    local c = assert(process.spawn { argv = { "/nonexistent/line\nbreak\27[31m" } })
    local _, e4 = c:proceed()
    c:close()
    for i, e in ipairs { e1, e2, e3, e4 } do
      local msg = tostring(e)
      assert.is_nil(msg:find("[%c]"), ("message %d has a control character: %q"):format(i, msg))
      assert.is_true(#msg < 2048, ("message %d is %d bytes long"):format(i, #msg))
    end
    assert.matches('bad target "line\\x0abreak\\x1b%[31mred\\x00nulxxx', tostring(e1))
  end)

  it(("read verbs on real targets with junk extra arguments (seed=%d)"):format(SEED + 3), function()
    local r = rng(SEED + 3)
    S.with_sleeper(function(pid)
      for _ = 1, math.floor(ROUNDS / 4) do
        local name = ({ "read_uid_map", "read_gid_map", "read_setgroups" })[r(3)]
        local ok, v = call(name, pid, junk(r), junk(r))
        assert.is_true(ok)
        if name == "read_setgroups" then assert.are.equal("allow", v) else assert.are.same({}, v) end
      end
    end)
  end)

  -------------------------------------------------------------------------
  -- linx.process: spawn options and handle methods

  local lfs = require "lfs" -- busted's own dependency: list /proc without forking
  local PROC_KINDS = { os = true, bad_option = true, bad_state = true, child_died = true }
  local NAMESPACES = { "user", "mount", "pid", "uts", "ipc", "net", "cgroup" }
  local my_pid = tonumber(S.read_file("/proc/self/stat"):match("^(%d+)"))

  local function children()
    local n = 0
    for name in lfs.dir("/proc") do
      local pid = tonumber(name)
      local st = pid and S.read_file("/proc/" .. pid .. "/stat")
      if st and tonumber(st:match("^.*%)%s+%S+%s+(%d+)")) == my_pid then n = n + 1 end
    end
    return n
  end

  -- Call a process function or method protected: a contract shape or bust.
  local function pcall_proc(what, f, ...)
    local res = pack(pcall(f, ...))
    assert(res[1], ("%s raised: %s"):format(what, tostring(res[2])))
    local v, err, code = res[2], res[3], res[4]
    if v == nil then
      assert(type(err) == "table", what .. " returned nil without an error table")
      assert(PROC_KINDS[err.kind], what .. " returned unknown kind " .. tostring(err.kind))
      assert(type(err.operation) == "string", what .. ": error without operation")
      local ok, msg = pcall(tostring, err)
      assert(ok and type(msg) == "string" and not msg:find("\n"), what .. ": __tostring failed")
      if err.kind == "os" then assert(type(code) == "number" and code == err.code, what .. ": errno") end
      count("process." .. what .. ":" .. err.kind)
      return nil, err
    end
    count("process." .. what .. ":ok")
    return v
  end

  -- Options the contract accepts; never "inherit" for stdout/stderr, which
  -- would write into busted's TAP stream.
  local function valid_opts(r)
    local argvs = { { "true" }, { "sh", "-c", "exit 3" }, { "echo", "fuzz" } }
    local opts = { argv = argvs[r(#argvs)], stdout = r(2) == 1 and "null" or "pipe",
                   stderr = r(2) == 1 and "null" or "pipe" }
    local ns = {}
    for _, name in ipairs(NAMESPACES) do if r(3) == 1 then ns[#ns + 1] = name end end
    if #ns > 0 and not S.is_root and ns[1] ~= "user" then table.insert(ns, 1, "user") end
    if #ns > 0 or r(2) == 1 then opts.namespaces = ns end
    local c = r(4)
    if c == 1 then opts.env = { PATH = "/usr/bin:/bin", LINX_FUZZ = "1", N = 5 }
    elseif c == 2 then opts.cwd = r(2) == 1 and "/" or "/tmp" end
    opts.stdin = ({ nil, "inherit", "null", "pipe" })[r(4)]
    return opts
  end

  local function mutate_opts(r, opts)
    local keys = { "argv", "namespaces", "env", "cwd", "stdin", "stdout", "stderr", "bogus", 1 }
    local c = r(6)
    if c == 1 then opts[keys[r(#keys)]] = junk(r)
    elseif c == 2 then opts.argv = { "true", junk(r), "x\0y" }
    elseif c == 3 then opts.namespaces = { "user", junk(r) }
    elseif c == 4 then
      local k = junk(r)
      if k == nil or k ~= k then k = "K" end -- nil and NaN cannot be keys
      opts.env = { [k] = junk(r) }
    elseif c == 5 then opts.cwd = ({ "", "/nonexistent/linx", "a\0b", 5 })[r(4)]
    else setmetatable(opts, hostile_mt("spawn opts")) end
    return opts
  end

  -- Is v in list[1..rawlen]? Raw reads: the list may carry a hostile metatable.
  local function raw_has(list, v)
    if type(list) ~= "table" then return false end
    for i = 1, rawlen(list) do
      if rawget(list, i) == v then return true end
    end
    return false
  end

  local signals = { 0, 1, 9, 15, "TERM", "sigkill", "KILL", "WINCH", "CHLD", "CONT", "STOP",
                    "nope", -1, 65, 1.5, 0 / 0, math.huge, true, {}, "" }

  it(("spawn with generated options and handle methods with junk (seed=%d)"):format(SEED + 4), function()
    local r = rng(SEED + 4)
    local before = children()
    local spawned, failed_kinds = 0, {}
    for round = 1, math.floor(ROUNDS / 2) do
      local c = r(5)
      local opts, must_succeed
      if c == 1 then opts = junk(r)
      elseif c == 2 then opts = mutate_opts(r, valid_opts(r))
      else opts, must_succeed = valid_opts(r), true end
      local h, err = pcall_proc("spawn", process.spawn, opts)
      if must_succeed then
        assert(h, ("round %d: spawn refused valid options: %s"):format(round, tostring(err)))
      end
      if not h then
        failed_kinds[err.kind] = true
      else
        spawned = spawned + 1
        local pid = pcall_proc("host_pid", h.host_pid, h, junk(r))
        assert.is_true(math.type == nil or math.type(pid) == "integer")
        -- parked: it reported in and is about to sleep on its socket
        assert.is_truthy(S.wait_until(function()
          return S.read_file("/proc/" .. pid .. "/stat"):match("^.*%)%s+(%S)") == "S"
        end), "round " .. round .. ": the spawned child is not parked")
        local action = r(4)
        local pid_init = raw_has(rawget(opts, "namespaces"), "pid") -- init of a new pid namespace
        if action == 1 then -- junk at every method while parked, then close
          for _ = 1, 6 do
            local m = ({ "read", "write", "kill", "host_pid", "wait" })[r(5)]
            local a = m == "kill" and signals[r(#signals)] or junk(r)
            if m == "wait" and pid_init then m = "host_pid" end -- see faults_spec: pid-ns init and signals
            pcall_proc(m, h[m], h, a, junk(r))
          end
          assert.is_true(pcall_proc("close", h.close, h, junk(r)))
          for _, m in ipairs { "proceed", "wait", "kill", "read", "write", "close" } do
            pcall_proc(m .. " (closed)", h[m], h, junk(r))
          end
        elseif action == 2 then -- the whole flow (options read raw: they may be hostile)
          if raw_has(rawget(opts, "namespaces"), "user") then
            assert(user.setup_maps(h, { uid = { { 0, S.uid, 1 } }, gid = { { 0, S.gid, 1 } } }))
          end
          local went, perr = pcall_proc("proceed", h.proceed, h, junk(r))
          if must_succeed then assert(went, tostring(perr)) end -- mutated ones may fail chdir/exec
          local argv = rawget(opts, "argv")
          local out = went and rawget(opts, "stdout") == "pipe" and pcall_proc("read", h.read, h, "stdout") or nil
          local st = assert(pcall_proc("wait", h.wait, h)) -- wait's argument is a time limit
          if must_succeed then
            local want = ({ ["true"] = 0, sh = 3, echo = 0 })[argv[1]]
            assert.are.same({ exited = true, code = want }, st)
            if argv[1] == "echo" and out then assert.are.equal("fuzz\n", out) end
          else
            assert.is_true(st.exited or st.signaled)
          end
          assert.is_true(h:close())
        elseif action == 3 then -- killed while parked, then waited
          local sig = ({ "KILL", "TERM", 9, "sigint" })[r(4)]
          if pid_init then sig = "KILL" end -- only KILL ends a pid-ns init (faults_spec)
          assert(pcall_proc("kill", h.kill, h, sig))
          local st = assert(pcall_proc("wait", h.wait, h))
          assert.is_true(st.signaled)
          pcall_proc("proceed", h.proceed, h, junk(r))
          h:close()
        else -- dropped while parked: the collector kills and reaps it
          h = nil -- luacheck: ignore 311
          collectgarbage("collect")
          collectgarbage("collect")
        end
      end
      if round % 25 == 0 then
        assert.are.equal(before, children(), "round " .. round .. ": a child was left behind")
      end
    end
    collectgarbage("collect")
    collectgarbage("collect")
    assert.are.equal(before, children(), "a child was left behind")
    assert.is_true(spawned > 0)
    assert.is_true(failed_kinds.bad_option, "the generator never produced bad_option")
  end)
end)
