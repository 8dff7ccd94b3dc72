-- Every ```lua block in README.md runs, as written, against the real kernel.
local S = require "support"

local function blocks(path)
  local text = assert(S.read_file(path))
  local out = {}
  for body in text:gmatch("```lua\n(.-)```") do out[#out + 1] = body end
  return out
end

describe("README examples", function()
  local found = blocks("README.md")
  it("has examples to run", function()
    assert.is_true(#found >= 3)
  end)
  for i, body in ipairs(found) do
    local first = body:match("[^\n]*")
    it(("block %d runs (%s)"):format(i, first), function()
      local chunk = assert((loadstring or load)(body, "=README.md block " .. i))
      chunk()
    end)
  end
end)

describe("README architecture table", function()
  it("names every C file of src/, so a newcomer finds each room", function()
    local text = assert(S.read_file("README.md"))
    local at = assert(text:find("## Inside: which file holds what", 1, true), "the section")
    local section = text:sub(at, (text:find("\n## ", at + 1, true) or #text))
    local files = S.sh("cd src && ls */*.c")
    local n = 0
    for name in files:gmatch("[^\n]+") do
      if name:match("%.c$") then
        n = n + 1
        assert.is_truthy(section:find("`" .. name .. "`", 1, true), name .. " is not in the README's table")
      end
    end
    assert.is_true(n >= 10)
  end)
end)

describe("README verb tables", function()
  it("name every function of linx.process and linx.run and every handle method", function()
    local text = assert(S.read_file("README.md"))
    local process = require "linx.process"
    local missing = {}
    for _, m in ipairs { "linx.process", "linx.run" } do
      for k, v in pairs(require(m)) do
        if type(v) == "function" and not (text:find("`" .. k .. "(", 1, true) or text:find("`" .. k .. "{", 1, true)) then
          missing[#missing + 1] = m .. "." .. k
        end
      end
    end
    local c = assert(process.spawn { argv = { "true" } })
    for k in pairs(getmetatable(c).__index) do
      if not text:find("`handle:" .. k .. "(", 1, true) then missing[#missing + 1] = "handle:" .. k end
    end
    c:close()
    table.sort(missing)
    assert.are.same({}, missing)
  end)
end)
