-- Each module exports only its luaopen_* (built -fvisibility=hidden, the
-- entry points marked in src/linx.h) and links only what it calls: every
-- file of a module defines something another of its files uses.
local S = require "support"

local build = os.getenv("LINX_BUILD") or "build/5.4"
local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
local pc = ver == "jit" and "luajit" or "lua" .. ver

local function lines(text)
  local t = {}
  for l in text:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

-- Defined dynamic symbols, leaving out the compiler's and sanitizers'
-- own (names that start with "__", as ASan builds add).
local function exported(so)
  local out = S.sh("nm -D --defined-only " .. so .. " 2>&1")
  local names = {}
  for name in out:gmatch("%x+ %a ([%w_%.@]+)") do
    if not name:match("^__") and not name:match("^_[A-Z]") and not name:match("^_init$")
       and not name:match("^_fini$") and not name:match("^_end$") and not name:match("^_edata$") then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  return names, out
end

describe("exports #source", function()
  for so, want in pairs({["linxuser.so"] = "luaopen_linxuser", ["linx/process.so"] = "luaopen_linx_process"}) do
    it(so .. " exports only " .. want, function()
      local names, out = exported(build .. "/" .. so)
      assert.are.same({want}, names, out)
    end)
  end

  it("one version, LINX_VERSION, in both modules and linx-lua", function()
    local header = assert(S.read_file("src/linx.h"))
    local v = assert(header:match('#define LINX_VERSION "([^"]+)"'))
    assert.are.equal(v, require("linxuser")._VERSION)
    assert.are.equal(v, require("linx.process")._VERSION)
    local lua = os.getenv("LINX_LUA") or (build .. "/linx-lua")
    assert.is_truthy(S.sh(lua .. " -v 2>&1"):find("linx-lua " .. v, 1, true))
    local literal = S.sh("grep -n '\"" .. v .. "\"' src/*/*.c src/*/*.h src/*.h")
    assert.are.equal("", (literal:gsub("src/linx%.h:%d+:#define LINX_VERSION[^\n]*\n", "")))
  end)
end)

describe("each module links only what it calls #source", function()
  local cflags = S.sh("pkg-config --cflags " .. pc .. " 2>/dev/null"):gsub("%s+$", "")
  local dir = S.sh("mktemp -d /tmp/linx-exports.XXXXXX"):gsub("%s+$", "")
  local objs = {}
  local function symbols(src)
    if objs[src] then return objs[src] end
    local obj = S.object(src, dir, function(_, o)
      local extra = src:match("^src/child/") and " -ffreestanding -fno-builtin" or ""
      local p = io.popen("cc -std=c11 -D_GNU_SOURCE -fPIC -O2 -c" .. extra .. " " .. cflags ..
                         " -Isrc -o " .. o .. " " .. src .. " 2>&1; echo rc=$?")
      local out = p:read("*a")
      p:close()
      return out, tonumber(out:match("rc=(%d+)%s*$"))
    end)
    local out = S.sh("nm -P " .. obj)
    local def, use = {}, {}
    for sym, kind in out:gmatch("([%w_%.]+) (%a) [^\n]*") do
      if kind == "U" then use[sym] = true elseif kind:match("[TDBRGSV]") then def[sym] = true end
    end
    objs[src] = {def = def, use = use}
    return objs[src]
  end
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  for _, var in ipairs({"USER_SRC", "PROC_SRC"}) do
    it(var, function()
      local srcs = lines(S.sh("make -s --no-print-directory print-" .. var):gsub("%s+", "\n"))
      -- the freestanding units, linked in as build/<ver>/child.o
      if var == "PROC_SRC" then srcs[#srcs + 1] = "src/child/child.c" end
      if var == "USER_SRC" then srcs[#srcs + 1] = "src/child/child_helper.c" end
      assert.is_true(#srcs >= 5)
      for _, src in ipairs(srcs) do
        local mine, used = symbols(src), false
        for sym in pairs(mine.def) do
          if sym:match("^luaopen_") then used = true end
          for _, other in ipairs(srcs) do
            if other ~= src and symbols(other).use[sym] then used = true end
          end
        end
        assert.is_true(used, src .. " is linked into the module but nothing in it is called")
      end
    end)
  end
end)
