-- The rockspec's builtin build lists its C sources by hand (LuaRocks has
-- no folder wildcard): every file of a module's own folder must be in
-- its list, and every listed file must exist, or the rock tree's module
-- fails to load (the rock lane finds that only at its end).
local S = require "support"

local function rockspec()
  local path = S.sh("ls linxuser-*.rockspec 2>/dev/null"):match("[^\n]+")
  assert(path, "no rockspec at the top of the tree")
  local env = {}
  local chunk
  if setfenv then -- Lua 5.1 and LuaJIT
    chunk = assert(loadfile(path))
    setfenv(chunk, env)
  else
    chunk = assert(loadfile(path, "t", env))
  end
  chunk()
  return env
end

local function folder(dir)
  local out = {}
  for f in S.sh("ls " .. dir .. "/*.c 2>/dev/null"):gmatch("[^\n]+") do out[#out + 1] = f end
  return out
end

local function missing(sources, files)
  local listed = {}
  for _, s in ipairs(sources) do listed[s] = true end
  local out = {}
  for _, f in ipairs(files) do
    if not listed[f] then out[#out + 1] = f end
  end
  return out
end

describe("the rockspec #source", function()
  local spec = rockspec()
  local modules = spec.build.modules

  it("lists every C file of each module's folder", function()
    assert.are.same({}, missing(modules["linx.process"].sources, folder("src/process")))
    assert.are.same({}, missing(modules.linxuser.sources, folder("src/linxuser")))
  end)

  it("lists only files that exist", function()
    local gone = {}
    for name, m in pairs(modules) do
      for _, s in ipairs(type(m) == "table" and m.sources or {}) do
        if not S.exists(s) then gone[#gone + 1] = name .. ": " .. s end
      end
    end
    assert.are.same({}, gone)
  end)

  it("the check sees a file left out", function()
    local short = {}
    for _, s in ipairs(modules["linx.process"].sources) do
      if s ~= "src/process/pool.c" then short[#short + 1] = s end
    end
    assert.are.same({ "src/process/pool.c" }, missing(short, folder("src/process")))
  end)
end)
