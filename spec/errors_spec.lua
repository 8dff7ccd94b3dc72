-- One table of error kinds: src/support/lerror.c lists every kind with its fields
-- and when it is returned; the README (and the contract, API.md, where the
-- workspace has it) show the same table. And the rule for option mistakes:
-- setup_maps' are bad_setup, every other verb's bad_option.
local S = require("support").bind(function(why) pending(why) end)
local user = require "linxuser"
local process = require "linx.process"

-- The README's table: the rows after its header line, as text.
local function markdown_rows(text)
  local head = "| kind | extra fields | when |\n| --- | --- | --- |\n"
  local at = assert(text:find(head, 1, true), "no error table")
  local rows = {}
  for line in text:sub(at + #head):gmatch("([^\n]*)\n") do
    if not line:match("^|") then break end
    rows[#rows + 1] = line
  end
  return rows
end

-- kind -> {fields = "a, b", when = "..."} from markdown rows: the kinds are
-- the quoted names of the first column, the fields the unquoted names of
-- the second, the "when" the third without its backticks.
local function from_markdown(rows)
  local t, order = {}, {}
  for _, row in ipairs(rows) do
    local c1, c2, c3 = row:match("^|%s*(.-)%s*|%s*(.-)%s*|%s*(.-)%s*|$")
    assert(c1, "a row of three cells: " .. row)
    local fields = {}
    for name in c2:gmatch("`([^`]+)`") do
      if not name:match('^"') then fields[#fields + 1] = name end
    end
    local when = c3:gsub("`", "")
    for kind in c1:gmatch('`"([%w_]+)"`') do
      t[kind] = {fields = table.concat(fields, ", "), when = when}
      order[#order + 1] = kind
    end
  end
  return t, order
end

-- The same from src/support/lerror.c's kinds[] (one {"kind", "fields", "when"} a line).
local function from_source(text)
  local body = assert(text:match("kinds%[%] = {\n(.-)\n};"), "kinds[] in src/support/lerror.c")
  local t, order = {}, {}
  local function unescape(s) return (s:gsub('\\"', '"')) end
  for line in body:gmatch("[^\n]+") do
    local kind, fields, when = line:match('^%s*{"([%w_]+)", "(.-)", "(.*)"},%s*$')
    assert(kind, "an entry of kinds[] on one line: " .. line)
    t[kind] = {fields = fields, when = unescape(when)}
    order[#order + 1] = kind
  end
  return t, order
end

local function read(path) return assert(S.read_file(path), "cannot read " .. path) end

describe("error kinds", function()
  local source, source_order = from_source(read("src/support/lerror.c"))
  local readme_rows = markdown_rows(read("README.md"))

  it("the source's table lists the contract's kinds", function()
    assert.are.same({"os", "bad_map", "bad_setgroups", "bad_setup", "bad_target", "bad_option",
                     "bad_state", "timeout", "output_limit", "child_died", "helper", "no_subids", "no_user",
                     "bad_user", "bad_id"}, source_order)
  end)

  it("the error metatable's kinds is the source's table", function()
    local _, err = user.map(-1, 0, 1)
    local runtime = {}
    for kind, k in pairs(getmetatable(err).kinds) do
      runtime[kind] = {fields = table.concat(k.fields, ", "), when = k.when}
    end
    assert.are.same(source, runtime)
  end)

  it("the README's table is the source's, row for row", function()
    local readme, readme_order = from_markdown(readme_rows)
    assert.are.same(source_order, readme_order)
    assert.are.same(source, readme)
  end)

  it("the comparison sees a change (a field dropped from a README row)", function()
    local changed = {}
    for i, row in ipairs(readme_rows) do changed[i] = row:gsub(", `hint`", "", 1) end
    assert.are_not.same(source, (from_markdown(changed)))
  end)

  it("the README's table is the contract's (API.md), where the workspace has it", function()
    local api
    for _, path in ipairs({os.getenv("LINX_API_MD") or "", "../shared/design/API.md",
                           "../../shared/design/API.md"}) do
      api = path ~= "" and S.read_file(path)
      if api then break end
    end
    if not api then
      S.pending("API.md is not next to this checkout")
      return
    end
    -- Same kinds in the same order, the same "when"; the README may add
    -- fields the contract does not name (os's syscall), never drop one.
    local contract, contract_order = from_markdown(markdown_rows(api))
    local readme, readme_order = from_markdown(readme_rows)
    assert.are.same(contract_order, readme_order)
    for kind, c in pairs(contract) do
      assert.are.equal(c.when, readme[kind].when, kind)
      local have = {}
      for f in readme[kind].fields:gmatch("[^, ]+") do have[f] = true end
      for f in c.fields:gmatch("[^, ]+") do
        assert.is_true(have[f] == true, kind .. " lacks the contract's field " .. f)
      end
    end
  end)

  it("every kind the C code names is in the table", function()
    local names = S.sh("cat src/*/*.c")
    local seen = 0
    for kind in names:gmatch('linx_error_new%(L, "([%w_]+)"') do
      seen = seen + 1
      assert.is_truthy(source[kind], kind .. " raised but not in src/support/lerror.c's table")
    end
    for a, b in names:gmatch('"(bad_[%w_]+)" : "(bad_[%w_]+)"') do -- lmaps.c's option_kind
      assert.is_truthy(source[a] and source[b], a .. ", " .. b)
    end
    assert.is_true(seen >= 10)
  end)
end)

describe("option mistakes", function()
  it("setup_maps: bad_setup", function()
    local _, err = user.setup_maps(1, "no table")
    assert.are.same({"bad_setup", "setup_maps"}, {err.kind, err.operation})
    _, err = user.setup_maps(1, {uid = {{0, 0, 1}}, gid = {{0, 0, 1}}, helper = "sometimes"})
    assert.are.same({"bad_setup", "invalid", "helper"}, {err.kind, err.reason, err.field})
    _, err = user.setup_maps(1, {uid = {{0, 0, 1}}, gid = {{0, 0, 1}}, helpers = "always"})
    assert.are.same({"bad_setup", "unknown_option", "helpers"}, {err.kind, err.reason, err.field})
  end)

  it("every other verb: bad_option", function()
    local _, err = user.subids("root", "no table")
    assert.are.same({"bad_option", "subids"}, {err.kind, err.operation})
    _, err = user.rootless_maps("root", {subuid_path = 7})
    assert.are.same({"bad_option", "rootless_maps", "subuid_path"}, {err.kind, err.operation, err.field})
    _, err = process.spawn{argv = {"true"}, namespaces = {"nonsense"}}
    assert.are.same({"bad_option", "spawn"}, {err.kind, err.operation})
    _, err = process.spawn{argv = {"true"}, stdout = "sideways"}
    assert.are.same({"bad_option", "spawn", "stdout"}, {err.kind, err.operation, err.field})
  end)

  it("error tables share one metatable and print one line", function()
    local _, a = user.setup_maps(1, "no table")
    local _, b = process.spawn{argv = {"true"}, stdout = "sideways"}
    assert.are.equal(getmetatable(a), getmetatable(b))
    assert.is_nil(tostring(a):find("\n"))
    assert.is_truthy(tostring(b):find("^spawn failed: bad_option 'stdout'"))
  end)
end)
