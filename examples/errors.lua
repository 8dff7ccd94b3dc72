-- The error cases: every failure is `nil, err` with an error table
-- (kind, operation, ...), and tostring(err) is one line. Nothing here
-- raises, except where assert() is asked to.
--
--   linx-lua examples/errors.lua
local process = require "linx.process"
local user = require "linxuser"

local function show(label, ok, err, code)
  assert(ok == nil, label .. ": expected a failure")
  local detail = code and ("errno=" .. err.errno) or err.reason and ("reason=" .. err.reason) or ""
  print(("%-26s kind=%-10s operation=%-12s %s"):format(label, err.kind, err.operation, detail))
  print("    " .. tostring(err))
end

local f = assert(io.open("/proc/self/status"))
local uid = tonumber(f:read("*a"):match("Uid:%s*(%d+)"))
f:close()

-- A missing binary: spawn succeeds (the child is parked before execve);
-- proceed() reports the exec failure with the errno.
local c = assert(process.spawn { argv = { "/nonexistent/bin/tool" }, namespaces = { "user" } })
show("missing binary", c:proceed())
print("    the child then exits with code " .. c:wait().code)
c:close()

-- Options the caller got wrong: caught before anything is cloned.
show("unknown namespace", process.spawn { argv = { "true" }, namespaces = { "users" } })
show("misspelt option", process.spawn { argv = { "true" }, stdio = "pipe" })
show("empty argv", process.spawn { argv = {} })

-- A bad map: named before any write.
local d = assert(process.spawn { argv = { "true" }, namespaces = { "user" } })
show("overlapping map", user.set_uid_map(d, { { 0, uid, 1 }, { 0, uid + 1, 1 } }))

-- Maps are write-once: the second write is EPERM, with a hint.
assert(user.set_uid_map(d, { { 0, uid, 1 } }))
show("second uid_map write", user.set_uid_map(d, { { 0, uid, 1 } }))

-- Waiting for a parked child would never end: refused.
show("wait while parked", d:wait())
d:close()

-- A closed handle targets nothing.
show("closed handle as target", user.read_uid_map(d))
show("proceed after close", d:proceed())

-- A pid that does not exist.
show("no such pid", user.read_uid_map(999999999))

-- Raised, the error table is the error value itself and its __tostring
-- is the message (linx-lua prints it that way when nothing catches it).
-- On PUC Lua 5.2+ assert(verb(...)) raises it too; LuaJIT's assert would
-- raise the errno (its last argument), so error(err) is the portable form.
local ok, raised = pcall(function()
  local maps, err = user.read_uid_map(999999999)
  if not maps then error(err, 0) end
end)
assert(not ok and getmetatable(raised).__tostring)
print("raised:                    " .. tostring(raised))
