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
