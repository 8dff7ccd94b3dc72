-- A rootless busybox container in a screenful of Lua: its own root
-- filesystem, proc, a minimal /dev, a tmpfs /tmp, a hostname, root inside.
-- Every setup step is a spawn option the workload does to itself (no
-- shell). With subordinate ranges (or as root), uid 1000 inside makes a
-- file and the host sees it owned by the id to_host predicts.
--   linx-lua examples/container.lua
local process, user = require "linx.process", require "linxuser"

-- Run argv to its end and return its output; in a container when maps are given.
local function run(argv, maps, inside)
  local c = assert(process.spawn { argv = argv, stdout = "pipe", inside = inside,
                                   namespaces = maps and { "user", "mount", "pid", "uts", "ipc" } })
  if maps then assert(user.setup_maps(c, maps)) end
  local ok, err = c:proceed()
  if not ok then error(err, 0) end
  local out, st = c:read("stdout"), c:wait()
  c:close()
  assert(st.code == 0, argv[1] .. " failed")
  return out
end

local status = assert(io.open("/proc/self/status")):read("*a")
local uid, gid = tonumber(status:match("Uid:%s*(%d+)")), tonumber(status:match("Gid:%s*(%d+)"))
local maps = user.rootless_maps() -- our own id at 0, subordinate ranges from 1
if not maps and uid == 0 then      -- root needs no /etc/subuid: the same shape by hand
  local range = { { 0, 0, 1 }, { 1, 100000, 65536 } }
  maps = { uid = range, gid = range, setgroups = "skip" }
end
maps = maps or { uid = { { 0, uid, 1 } }, gid = { { 0, gid, 1 } } } -- just our own id

-- The root filesystem: busybox, and directories to mount on.
local root = run { "mktemp", "-d", "/tmp/linx-container.XXXXXX" }:match("%S+")
run { "chmod", "755", root } -- mktemp made it 0700: uid 1000 could not enter its own /
run { "mkdir", root .. "/bin", root .. "/proc", root .. "/dev", root .. "/tmp" }
run { "mkdir", "-m", "1777", root .. "/data" }
run { "cp", "/bin/busybox", root .. "/bin/busybox" }

local box = { root = root, hostname = "box",
              mounts = { { type = "proc", target = "/proc" }, { type = "dev", target = "/dev" },
                         { type = "tmpfs", target = "/tmp" } } }
run({ "/bin/busybox", "--install", "-s", "/bin" }, maps, box) -- busybox links its applets, inside
print("hostname: " .. run({ "hostname" }, maps, box):gsub("\n$", ""))
print("id:       " .. run({ "id" }, maps, box):gsub("\n$", ""))
io.write("ps:\n", run({ "ps", "-o", "pid,user,comm" }, maps, box))

if #maps.uid > 1 then
  box.uid, box.gid = 1000, 1000
  run({ "touch", "/data/made-by-1000" }, maps, box)
  local owner = tonumber(run { "stat", "-c", "%u", root .. "/data/made-by-1000" })
  print(("uid 1000 inside made a file owned by uid %d on the host; to_host predicted %d")
    :format(owner, user.to_host(maps.uid, 1000)))
  assert(owner == user.to_host(maps.uid, 1000))
else
  print("no subordinate range: only root inside is mapped (see full-range.lua)")
end
run({ "rm", "-rf", root }, maps) -- root inside may remove what the mapped ids own
print("removed:  " .. root)
