-- The linxuser verbs against real user namespaces and real procfs.
local user = require "linxuser"
local S = require("support").bind(function(why) pending(why) end)

local uid, gid = S.uid, S.gid

local function assert_os(err, errno_name, operation)
  assert.is_table(err)
  assert.are.equal("os", err.kind)
  assert.are.equal(errno_name, err.errno)
  assert.are.equal(operation, err.operation)
  assert.is_number(err.code)
  assert.is_string(err.message)
end

local function nothing_written(pid)
  assert.are.same({}, user.read_uid_map(pid))
  assert.are.same({}, user.read_gid_map(pid))
end

describe("linxuser", function()
  it("is supported on this kernel", function()
    assert.is_true(user.supported())
    assert.is_true(S.exists("/proc/self/uid_map"))
  end)

  it("returns its table and sets no globals", function()
    assert.is_nil(rawget(_G, "linxuser"))
    assert.is_function(user.setup_maps)
  end)

  describe("rootless single-line map", function()
    it("maps root inside to our own ids via setup_maps", function()
      S.with_sleeper(function(pid)
        nothing_written(pid)
        assert.are.equal("allow", user.read_setgroups(pid))
        assert.is_true(user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))
        assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
        assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
        assert.are.equal("deny", user.read_setgroups(pid))
        -- what the kernel shows inside the namespace agrees
        local inside = S.sh("nsenter --preserve-credentials -U -t " .. pid .. " cat /proc/self/uid_map 2>&1")
        if S.is_root then
          assert.matches("^%s*0%s+" .. uid .. "%s+1%s*$", inside)
        end
      end)
    end)

    it("accepts named-field entries and integral floats", function()
      S.with_sleeper(function(pid)
        assert.is_true(user.set_uid_map(pid, { { inside = 0, outside = uid + 0.0, length = 1.0 } }))
        assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
      end)
    end)

    it("reads back Maps that print and compare", function()
      S.with_sleeper(function(pid)
        assert(user.set_uid_map(pid, { user.map(0, uid, 1) }))
        local m = user.read_uid_map(pid)[1]
        assert.are.equal("0 -> " .. uid, tostring(m))
        assert.is_true(m == user.map(0, uid, 1))
        assert.is_false(m == user.map(0, uid, 2))
        assert.are.same(getmetatable(m), getmetatable(user.map(1, 2, 3)))
      end)
    end)
  end)

  describe("privileged maps", function()
    it("writes and reads back a multi-range map", function()
      if S.root_only("multi-range map") then return end
      S.with_sleeper(function(pid)
        local maps = { { 0, 100000, 65536 }, { 65536, 1000, 1 }, { 70000, 300000, 10 } }
        assert.is_true(user.set_uid_map(pid, maps))
        assert.is_true(user.set_gid_map(pid, maps))
        local back = user.read_uid_map(pid)
        assert.are.same(maps, S.triples(back))
        assert.are.same(maps, S.triples(user.read_gid_map(pid)))
        assert.are.equal("0..65535 -> 100000..165535", tostring(back[1]))
        -- setgroups stays allow: root has CAP_SETGID over the parent
        assert.are.equal("allow", user.read_setgroups(pid))
      end)
    end)

    it("writes a 340-entry map in one write and reads it back equal", function()
      if S.root_only("340-entry map") then return end
      S.with_sleeper(function(pid)
        local maps = {}
        for i = 1, 340 do maps[i] = { i - 1, 1000 + i - 1, 1 } end
        assert.is_true(user.set_uid_map(pid, maps))
        local back = user.read_uid_map(pid)
        assert.are.equal(340, #back)
        assert.are.same(maps, S.triples(back))
        -- the file is larger than a page: the reader must have read it whole
        assert.is_true(#S.read_file("/proc/" .. pid .. "/uid_map") > 4096)
      end)
    end)

    it("copies a map read from one process to another unchanged", function()
      if S.root_only("map copy") then return end
      S.with_sleeper(function(a)
        S.with_sleeper(function(b)
          assert(user.set_uid_map(a, { { 0, 100000, 65536 }, { 65536, 5000, 2 } }))
          assert.is_true(user.set_uid_map(b, user.read_uid_map(a)))
          assert.are.same(S.triples(user.read_uid_map(a)), S.triples(user.read_uid_map(b)))
        end)
      end)
    end)
  end)

  describe("write-once", function()
    it("refuses a second uid_map write with EPERM and says why", function()
      S.with_sleeper(function(pid)
        assert.is_true(user.set_uid_map(pid, { { 0, uid, 1 } }))
        local ok, err, code = user.set_uid_map(pid, { { 0, uid, 1 } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_uid_map")
        assert.are.equal(1, code)
        assert.are.equal(1, err.code)
        assert.are.equal("/proc/" .. pid .. "/uid_map", err.path)
        assert.matches("write%-once", err.hint)
        assert.are.equal("set_uid_map failed on /proc/" .. pid .. "/uid_map: EPERM (errno 1): "
          .. err.message .. "; hint: " .. err.hint, tostring(err))
        -- the first map is intact
        assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
      end)
    end)

    it("refuses setgroups changes once gid_map is written", function()
      S.with_sleeper(function(pid)
        assert.is_true(user.deny_setgroups(pid))
        assert.is_true(user.deny_setgroups(pid)) -- harmless until gid_map is written
        assert.is_true(user.set_gid_map(pid, { { 0, gid, 1 } }))
        local ok, err = user.deny_setgroups(pid)
        assert.is_nil(ok)
        assert_os(err, "EPERM", "deny_setgroups")
        assert.matches("gid_map", err.hint)
        -- so running the setup sequence twice fails at deny_setgroups
        local ok2, err2 = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } })
        assert.is_nil(ok2)
        assert.are.equal("deny_setgroups", err2.operation)
        assert.are.same({}, user.read_uid_map(pid))
      end)
    end)
  end)

  describe("dead targets", function()
    it("reports ENOENT for a pid that does not exist", function()
      local ok, err, code = user.set_uid_map(999999999, { { 0, uid, 1 } })
      assert.is_nil(ok)
      assert_os(err, "ENOENT", "set_uid_map")
      assert.are.equal(2, code)
      assert.are.equal("/proc/999999999/uid_map", err.path)
      assert.matches("exited", err.hint)
    end)

    it("reports an os error for a process that has exited and been reaped", function()
      local pid = S.sleeper()
      assert.is_true(S.kill_and_wait(pid))
      for _, call in ipairs {
        { "read_uid_map", function() return user.read_uid_map(pid) end },
        { "read_gid_map", function() return user.read_gid_map(pid) end },
        { "read_setgroups", function() return user.read_setgroups(pid) end },
        { "deny_setgroups", function() return user.deny_setgroups(pid) end },
        { "set_gid_map", function() return user.set_gid_map(pid, { { 0, gid, 1 } }) end },
      } do
        local ok, err = call[2]()
        assert.is_nil(ok)
        assert.are.equal(call[1], err.operation)
        assert.are.equal("os", err.kind)
        assert.is_truthy(err.errno == "ENOENT" or err.errno == "ESRCH")
      end
    end)
  end)

  describe("bad maps", function()
    local many = {}
    for i = 1, 341 do many[i] = { i - 1, 1000 + i - 1, 1 } end
    local long = {}
    for i = 1, 200 do long[i] = { 4000000000 + i, 3000000000 + i, 1 } end
    -- Long maps (past the pairwise-only size) listed in descending order,
    -- so a sort must not change which pair is named: entry 300 meets
    -- entry 120 inside; in the other, entry 250 meets entry 40 outside.
    local crowded_inside, crowded_outside = {}, {}
    for i = 1, 340 do
      crowded_inside[i] = { 10 * (340 - i), 100000 + 10 * (340 - i), 5 }
      crowded_outside[i] = { 10 * (340 - i), 100000 + 10 * (340 - i), 5 }
    end
    crowded_inside[300] = { 10 * (340 - 120) + 4, 900000, 1 }
    crowded_outside[250] = { 900000, 100000 + 10 * (340 - 40) + 2, 3 }
    local cases = {
      { "not_a_list", 42 },
      { "not_a_list", "0 1000 1" },
      { "not_a_list", { inside = 0, outside = 1000, length = 1 } },
      { "empty", {} },
      { "too_many", many },
      { "too_long", long },
      { "bad_entry", { { 0, 1000 } }, 1 },
      { "bad_entry", { { 0, 1000, 1, 4 } }, 1 },
      { "bad_entry", { { "0", 1000, 1 } }, 1 },
      { "bad_entry", { { 0, 1000, 1 }, { 1.5, 2000, 1 } }, 2 },
      { "bad_entry", { { 0 / 0, 1000, 1 } }, 1 },
      { "bad_entry", { { math.huge, 1000, 1 } }, 1 },
      { "bad_entry", { { true, 1000, 1 } }, 1 },
      { "bad_entry", { "0 1000 1" }, 1 },
      { "bad_entry", { { inside = 0, outside = 1000 } }, 1 },
      { "negative", { { -1, 1000, 1 } }, 1 },
      { "negative", { { 0, 1000, 1 }, { 5, -1000, 1 } }, 2 },
      { "zero_length", { { 0, 1000, 0 } }, 1 },
      { "out_of_range", { { 4294967296, 1000, 1 } }, 1 },
      { "out_of_range", { { 0, 4294967295, 1 } }, 1 },
      { "out_of_range", { { 1, 0, 4294967295 } }, 1 },
      { "out_of_range", { { 0, 1000, 1e300 } }, 1 },
      { "overlap", { { 0, 1000, 10 }, { 9, 5000, 1 } }, 2, 1 },
      { "overlap", { { 0, 1000, 10 }, { 20, 30, 1 }, { 50, 1005, 1 } }, 3, 1 },
      { "overlap", crowded_inside, 300, 120 },
      { "overlap", crowded_outside, 250, 40 },
    }
    for n, case in ipairs(cases) do
      local reason, maps, index, other = case[1], case[2], case[3], case[4]
      it(("%d: %s is refused before any write"):format(n, reason), function()
        S.with_sleeper(function(pid)
          for _, verb in ipairs { "set_uid_map", "set_gid_map" } do
            local ok, err = user[verb](pid, maps)
            assert.is_nil(ok)
            assert.are.equal("bad_map", err.kind)
            assert.are.equal(reason, err.reason)
            assert.are.equal(verb, err.operation)
            assert.are.equal(index, err.index)
            assert.are.equal(other, err.other)
            if index then assert.are.equal(maps[index], err.entry) end
            assert.matches("^" .. verb .. ": bad map: " .. reason, tostring(err))
          end
          local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = maps })
          assert.is_nil(ok)
          assert.are.equal("bad_map", err.kind)
          assert.are.equal(reason, err.reason)
          assert.are.equal("gid", err.field)
          -- nothing was written, not even setgroups...
          nothing_written(pid)
          assert.are.equal("allow", user.read_setgroups(pid))
          -- ...and a correct write still succeeds afterwards
          assert.is_true(user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))
          assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
        end)
      end)
    end

    it("accepts the largest valid ranges", function()
      if S.root_only("full-range map") then return end
      S.with_sleeper(function(pid)
        assert.is_true(user.set_uid_map(pid, { { 0, 0, 4294967295 } }))
        assert.are.same({ { 0, 0, 4294967295 } }, S.triples(user.read_uid_map(pid)))
      end)
    end)

    it("never raises, even on hostile tables", function()
      local hostile = setmetatable({}, {
        __index = function() error("boom") end,
        __len = function() error("boom") end,
      })
      local entry = setmetatable({}, { __index = function() error("boom") end })
      for _, maps in ipairs { hostile, { entry }, { hostile } } do
        local ok, err = user.set_uid_map(1, maps)
        assert.is_nil(ok)
        assert.are.equal("bad_map", err.kind)
      end
    end)

    it("map() validates like a one-entry list", function()
      assert.are.equal("0..9 -> 100..109", tostring(user.map(0, 100, 10)))
      local ok, err = user.map(0, 100, 0)
      assert.is_nil(ok)
      assert.are.equal("zero_length", err.reason)
      ok, err = user.map(0, "100", 1)
      assert.is_nil(ok)
      assert.are.equal("bad_entry", err.reason)
    end)
  end)

  describe("bad targets and options", function()
    for _, target in ipairs { 0, -1, 1.5, "1", {}, true, 2 ^ 40 } do
      it("refuses target " .. tostring(target), function()
        for _, verb in ipairs { "deny_setgroups", "read_setgroups", "read_uid_map", "read_gid_map" } do
          local ok, err = user[verb](target)
          assert.is_nil(ok)
          assert.are.equal("bad_target", err.kind)
          assert.are.equal(verb, err.operation)
          assert.are.equal(target, err.value)
        end
        local ok, err = user.set_uid_map(target, { { 0, 0, 1 } })
        assert.is_nil(ok)
        assert.are.equal("bad_target", err.kind)
        assert.matches("^set_uid_map: bad target", tostring(err))
      end)
    end

    it("refuses missing uid or gid before writing", function()
      S.with_sleeper(function(pid)
        local ok, err = user.setup_maps(pid, { gid = { { 0, gid, 1 } } })
        assert.is_nil(ok)
        assert.are.equal("bad_setup", err.kind)
        assert.are.equal("missing", err.reason)
        assert.are.equal("uid", err.field)
        ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } } })
        assert.is_nil(ok)
        assert.are.equal("gid", err.field)
        ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } }, setgroups = "allow" })
        assert.is_nil(ok)
        assert.are.equal("bad_setgroups", err.kind)
        assert.are.equal("allow", err.value)
        assert.are.equal("setup_maps", err.operation)
        nothing_written(pid)
        assert.are.equal("allow", user.read_setgroups(pid))
      end)
    end)

    it("refuses an option it does not know (a typo), before any write", function()
      S.with_sleeper(function(pid)
        -- "setgroup" for "setgroups": ignored, it would leave setgroups denied
        local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } }, setgroup = "skip" })
        assert.is_nil(ok)
        assert.are.same({ "bad_setup", "unknown_option", "setgroup" }, { err.kind, err.reason, err.field })
        assert.matches("setgroup", tostring(err), 1, true)
        ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } }, [1] = true })
        assert.is_nil(ok)
        assert.are.same({ "unknown_option", "opts" }, { err.reason, err.field })
        nothing_written(pid)
        assert.are.equal("allow", user.read_setgroups(pid))
      end)
    end)

    it("reads options normally, so __index defaults work", function()
      S.with_sleeper(function(pid)
        local defaults = { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }
        assert.is_true(user.setup_maps(pid, setmetatable({}, { __index = defaults })))
        assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
      end)
    end)

    it("turns a raising option metamethod into an error table", function()
      local opts = setmetatable({}, { __index = function() error("no options here") end })
      local ok, err = user.setup_maps(1, opts)
      assert.is_nil(ok)
      assert.are.equal("bad_setup", err.kind)
      assert.are.equal("unreadable", err.reason)
    end)
  end)

  describe("setup_maps stops at the first kernel refusal", function()
    it("names set_uid_map when uid_map is already written, leaving gid_map alone", function()
      S.with_sleeper(function(pid)
        assert(user.set_uid_map(pid, { { 0, uid, 1 } }))
        local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_uid_map")
        assert.are.same({}, user.read_gid_map(pid))
        assert.are.equal("deny", user.read_setgroups(pid)) -- earlier steps are not rolled back
      end)
    end)

    it("names set_gid_map when gid_map is already written, after writing uid_map", function()
      if S.root_only("gid_map before setup_maps") then return end
      S.with_sleeper(function(pid)
        assert(user.set_gid_map(pid, { { 0, gid, 1 } }))
        local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } }, setgroups = "skip" })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_gid_map")
        assert.matches("write%-once", err.hint)
        assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
      end)
    end)

    it("names deny_setgroups when setgroups can no longer change", function()
      if S.root_only("gid_map before setup_maps") then return end
      S.with_sleeper(function(pid)
        assert(user.set_gid_map(pid, { { 0, gid, 1 } }))
        local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "deny_setgroups")
        assert.are.same({}, user.read_uid_map(pid))
      end)
    end)
  end)

  describe("unprivileged writer", function()
    it("needs deny_setgroups before gid_map, and says so", function()
      if S.unpriv_only("setgroups order") then return end
      S.with_sleeper(function(pid)
        local ok, err, code = user.set_gid_map(pid, { { 0, gid, 1 } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_gid_map")
        assert.are.equal(1, code)
        assert.matches("deny setgroups first", err.hint)
        assert.matches("deny setgroups first", tostring(err))
        assert.are.same({}, user.read_gid_map(pid))
        -- in the right order it works
        assert.is_true(user.deny_setgroups(pid))
        assert.are.equal("deny", user.read_setgroups(pid))
        assert.is_true(user.set_gid_map(pid, { { 0, gid, 1 } }))
        assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
      end)
    end)

    it("told to skip setgroups without the helper, refuses setup_maps before any write", function()
      if S.unpriv_only("setgroups skip") then return end
      S.with_sleeper(function(pid)
        local ok, err = user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } }, setgroups = "skip",
                                              helper = "never" })
        assert.is_nil(ok)
        assert.are.same({ "helper", "set_gid_map", "never" }, { err.kind, err.operation, err.reason })
        assert.matches("setgroups", err.message)
        assert.are.same({}, user.read_uid_map(pid)) -- nothing spent
        assert.are.same({}, user.read_gid_map(pid))
        assert.are.equal("allow", user.read_setgroups(pid))
        -- the plain gid write still hints at the order, not at the call that just failed
        ok, err = user.set_gid_map(pid, { { 0, gid, 1 } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_gid_map")
        assert.matches("deny setgroups first", err.hint)
        assert.matches("skip", err.hint)
        -- then the whole sequence still works on the same child
        assert.is_true(user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))
      end)
    end)

    it("succeeds with setup_maps", function()
      if S.unpriv_only("rootless setup_maps") then return end
      S.with_sleeper(function(pid)
        assert.is_true(user.setup_maps(pid, { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } }))
        assert.are.same({ { 0, uid, 1 } }, S.triples(user.read_uid_map(pid)))
        assert.are.same({ { 0, gid, 1 } }, S.triples(user.read_gid_map(pid)))
      end)
    end)

    it("may not map ids it does not own", function()
      if S.unpriv_only("foreign ids") then return end
      S.with_sleeper(function(pid)
        local ok, err = user.set_uid_map(pid, { { 0, uid, 1 }, { 1, 100000, 10 } })
        assert.is_nil(ok)
        assert_os(err, "EPERM", "set_uid_map")
        assert.matches("only its own id", err.hint)
        assert.are.same({}, user.read_uid_map(pid))
      end)
    end)
  end)
end)
