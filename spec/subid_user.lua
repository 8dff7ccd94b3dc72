-- A throw-away user with a real subordinate range, for the specs that need
-- the newuidmap/newgidmap route for real (root only: useradd, and edits of
-- /etc/subuid and /etc/subgid, restored byte for byte by down()).
--   local fx = require("subid_user").up()  -- fx.name, uid, gid, ustart, gstart
--   ... (fx.name owns fx.ustart..+65536 in subuid, fx.gstart..+65536 in subgid)
--   require("subid_user").down(fx)
local S = require "support"

local U = {}

local LOCK = "/tmp/linx-subid-spec.lock"
local FILES = { "/etc/subuid", "/etc/subgid", "/etc/subuid-", "/etc/subgid-" }

local function snapshot(path)
  local f = io.open(path, "rb")
  if not f then return { path = path, missing = true } end
  local data = f:read("*a")
  f:close()
  local st = S.sh(("stat -c '%%a %%u %%g' '%s'"):format(path))
  return { path = path, data = data, mode = st:match("^(%d+) (%d+) (%d+)") and { st:match("^(%d+) (%d+) (%d+)") } }
end

local function restore(snap)
  if snap.missing then
    os.remove(snap.path)
    return
  end
  local f = assert(io.open(snap.path, "wb"))
  f:write(snap.data)
  f:close()
  local m = snap.mode
  os.execute(("chown %s:%s '%s' && chmod %s '%s'"):format(m[2], m[3], snap.path, m[1], snap.path))
end

-- First id after every range in the file's text (and at least 1000000).
local function free_start(text)
  local top = 1000000
  for s, c in (text or ""):gmatch("[^\n:]*:(%w+):(%w+)") do
    local a, b = tonumber(s), tonumber(c)
    if a and b and a + b > top then top = a + b end
  end
  return top
end

-- Create the user and its ranges; `tag` (optional) tells users of one
-- busted process apart. Call down(fx) even when up() raised half-way.
function U.up(tag)
  local fx = { snaps = {} }
  -- one spec run at a time edits the files: flock, held by a shell that
  -- exits (releasing it) when our end of its stdin closes, even if we die
  local marker = os.tmpname()
  os.remove(marker)
  fx.lock = assert(io.popen(("flock -w 600 %s sh -c 'echo > %s; read x; rm -f %s'"):format(LOCK, marker, marker), "w"))
  assert(S.wait_until(function() return S.exists(marker) end, 60000), "could not take " .. LOCK)
  for _, p in ipairs(FILES) do fx.snaps[#fx.snaps + 1] = snapshot(p) end
  local pid = S.read_file("/proc/self/stat"):match("^(%d+)")
  fx.name = "linxsub" .. (tag or "") .. pid
  -- a system account: useradd gives it no range of its own; we write one
  S.sh(("useradd --system --no-create-home --user-group --shell /usr/sbin/nologin %s 2>&1"):format(fx.name))
  fx.uid = tonumber(S.sh("id -u " .. fx.name .. " 2>/dev/null"))
  fx.gid = tonumber(S.sh("id -g " .. fx.name .. " 2>/dev/null"))
  assert(fx.uid and fx.gid, "useradd " .. fx.name .. " failed")
  fx.created = true
  fx.ustart = free_start(fx.snaps[1].data)
  fx.gstart = free_start(fx.snaps[2].data) + 65536 -- different from the uid range on purpose
  local function add(snap, line)
    local f = assert(io.open(snap.path, "wb"))
    local old = snap.data or ""
    if old ~= "" and old:sub(-1) ~= "\n" then old = old .. "\n" end
    f:write(old, line, "\n")
    f:close()
    os.execute("chmod 644 " .. snap.path)
  end
  add(fx.snaps[1], ("%s:%d:65536"):format(fx.name, fx.ustart))
  add(fx.snaps[2], ("%s:%d:65536"):format(fx.name, fx.gstart))
  return fx
end

function U.down(fx)
  if not fx then return end
  if fx.created then S.sh("userdel " .. fx.name .. " 2>&1; groupdel " .. fx.name .. " 2>/dev/null") end
  for _, snap in ipairs(fx.snaps) do restore(snap) end
  if fx.lock then fx.lock:close() end
end

return U
