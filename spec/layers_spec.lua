-- The rooms of src/ call and include downwards only: no circle between
-- files, and between folders only the arrows of the table below, read
-- from the sources' #include lines and from nm of each object (the
-- build's, one per unit: support.object).
local support = require "support"

local ver = os.getenv("LINX_LUA_VERSION") or "5.4"
local pc = ver == "jit" and "luajit" or "lua" .. ver

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"rc=$?\"", "r"))
  local out = p:read("*a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)%s*$"))
  return out:gsub("rc=%d+%s*$", ""), rc
end

-- Every source below src/, as "core/idmap.c" (or "linx.h" at the top).
local function sources()
  local list = {}
  for name in support.sh("cd src && find . -name '*.[ch]' | sed 's#^[.]/##'"):gmatch("[^\n]+") do
    list[#list + 1] = name
  end
  table.sort(list)
  return list
end

-- A file's room: "support/lmaps" for both src/support/lmaps.c and .h.
local function room(name) return (name:gsub("%.[ch]$", "")) end
-- A room's floor: its folder ("" for src/linx.h).
local function folder(r) return r:match("^([^/]+)/") or "" end

-- The arrows the house allows, folder -> folders it may include or call
-- (README "Inside: which file holds what"); every folder may use itself
-- and the public header src/linx.h.
local allowed = {
  child = {},
  core = {},
  os = {core = true, child = true},
  support = {core = true},
  linxuser = {support = true, os = true, core = true, child = true},
  process = {support = true, child = true, core = true},
  host = {linxuser = true, process = true, support = true},
}

local function add_edge(g, a, b)
  if a == b then return end
  g[a] = g[a] or {}
  g[a][b] = true
end

-- One circle in graph g (node -> set of nodes) as a list, or nil.
local function find_cycle(g)
  local state, stack = {}, {}
  local function visit(n)
    state[n] = "open"
    stack[#stack + 1] = n
    local nexts = {}
    for m in pairs(g[n] or {}) do nexts[#nexts + 1] = m end
    table.sort(nexts)
    for _, m in ipairs(nexts) do
      if state[m] == "open" then
        local cycle, from = {}, nil
        for i, s in ipairs(stack) do if s == m then from = i end end
        for i = from, #stack do cycle[#cycle + 1] = stack[i] end
        cycle[#cycle + 1] = m
        return cycle
      elseif state[m] == nil then
        local c = visit(m)
        if c then return c end
      end
    end
    stack[#stack] = nil
    state[n] = "done"
    return nil
  end
  local nodes = {}
  for n in pairs(g) do nodes[#nodes + 1] = n end
  table.sort(nodes)
  for _, n in ipairs(nodes) do
    if state[n] == nil then
      local c = visit(n)
      if c then return c end
    end
  end
  return nil
end

local function include_graph()
  local g = {}
  for _, name in ipairs(sources()) do
    local text = assert(support.read_file("src/" .. name))
    for inc in text:gmatch('\n%s*#%s*include%s+"([^"]+)"') do
      -- "core/idmap.h" from anywhere (-Isrc), "idmap.h" beside the file
      local target = inc:find("/", 1, true) and inc or
                     (folder(room(name)) ~= "" and folder(room(name)) .. "/" .. inc or inc)
      if support.read_file("src/" .. target) then add_edge(g, room(name), room(target)) end
    end
  end
  return g
end

-- file -> file edges: a.o uses a symbol that b.o defines.
local objects
local function call_graph()
  if objects then return objects end
  local dir = support.sh("mktemp -d /tmp/linx-layers.XXXXXX"):gsub("%s+$", "")
  local cflags = support.sh("pkg-config --cflags " .. pc .. " 2>/dev/null"):gsub("%s+$", "")
  local defines, uses = {}, {}
  for _, name in ipairs(sources()) do
    if name:match("%.c$") then
      local obj = support.object("src/" .. name, dir, function(src, o)
        local extra = name:match("^child/") and " -ffreestanding -fno-builtin" or ""
        return sh("cc -std=c11 -D_GNU_SOURCE -fPIC -O2 -c" .. extra .. " " .. cflags .. " -Isrc -o " .. o .. " " .. src)
      end)
      local syms, nrc = sh("nm -P " .. obj)
      assert(nrc == 0, syms)
      uses[room(name)] = {}
      for sym, kind in syms:gmatch("([%w_%.]+) (%a) [^\n]*") do
        if kind == "U" then
          uses[room(name)][sym] = true
        elseif kind:match("[TDBRGSV]") then
          defines[sym] = room(name)
        end
      end
    end
  end
  os.execute("rm -rf '" .. dir .. "'")
  local g = {}
  for from, set in pairs(uses) do
    for sym in pairs(set) do
      if defines[sym] then add_edge(g, from, defines[sym]) end
    end
  end
  objects = g
  return g
end

local function show(cycle) return cycle and table.concat(cycle, " -> ") or "none" end

describe("layers #source", function()
  it("the circle finder finds a circle, and only one that is there", function()
    assert.are.equal("a -> b -> c -> a", show(find_cycle({a = {b = true}, b = {c = true}, c = {a = true}})))
    assert.is_nil(find_cycle({a = {b = true, c = true}, b = {c = true}}))
  end)

  it("#include lines form no circle between rooms", function()
    local g = include_graph()
    assert.is_truthy(g["linxuser/linxuser"] and g["linxuser/linxuser"]["support/lmaps"], "linxuser.c includes lmaps.h")
    assert.are.equal("none", show(find_cycle(g)))
  end)

  it("no object calls into one that calls back (nm)", function()
    local g = call_graph()
    assert.is_truthy(g["linxuser/linxuser"] and g["linxuser/linxuser"]["support/lmaps"], "linxuser.o uses lmaps.o")
    assert.are.equal("none", show(find_cycle(g)))
  end)

  it("calls and includes together form no circle", function()
    local g = {}
    for _, part in ipairs({include_graph(), call_graph()}) do
      for a, set in pairs(part) do
        for b in pairs(set) do add_edge(g, a, b) end
      end
    end
    assert.are.equal("none", show(find_cycle(g)))
  end)

  it("between folders, only the arrows of the house", function()
    local checked = 0
    for _, part in ipairs({include_graph(), call_graph()}) do
      for a, set in pairs(part) do
        for b in pairs(set) do
          local fa, fb = folder(a), folder(b)
          checked = checked + 1
          if fa ~= fb and fb ~= "" then
            assert.is_truthy(allowed[fa] and allowed[fa][fb], a .. " -> " .. b .. ": " .. fa .. "/ may not use " .. fb .. "/")
          end
        end
      end
    end
    assert.is_true(checked > 20)
  end)

  it("the arrow check catches a wrong arrow", function()
    assert.is_falsy(allowed.core.support, "core/ must not use support/")
    assert.is_falsy(allowed.child.core, "child/ uses nothing but itself")
    assert.is_falsy(allowed.support.process)
  end)

  it("linxuser.c and linxuser_ids.c never call each other; lmaps.c is below both", function()
    local calls, incs = call_graph(), include_graph()
    local U, I, M = "linxuser/linxuser", "linxuser/linxuser_ids", "support/lmaps"
    for _, g in ipairs({calls, incs}) do
      assert.is_falsy((g[U] or {})[I])
      assert.is_falsy((g[I] or {})[U])
      for _, upper in ipairs({U, I, "linxuser/lroute", "linxuser/linxuser_module"}) do
        assert.is_falsy((g[M] or {})[upper], "lmaps depends on " .. upper)
      end
      assert.is_falsy((g["linxuser/lroute"] or {})[U])
      assert.is_falsy((g["linxuser/lroute"] or {})[I])
    end
    assert.is_truthy(calls[I][M], "linxuser_ids.o uses lmaps.o")
    assert.is_truthy(calls["linxuser/linxuser_module"][U] and calls["linxuser/linxuser_module"][I],
                     "the module file puts both verb tables together")
  end)
end)
