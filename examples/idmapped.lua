-- Idmapped binds (root only): one root filesystem owned by host uid 0,
-- shared by two containers whose user namespaces map to different host
-- ranges (100000 and 200000). Each sees the files owned by 0 inside, and
-- what each creates lands on the host owned by the root filesystem's
-- owner: no chown of the tree, no copy per container. The host makes
-- each idmapped mount at proceed() (the kernel allows that only with
-- CAP_SYS_ADMIN in the initial user namespace); as non-root this example
-- shows the EPERM a rootless caller gets, and stops.
--
--   linx-lua examples/idmapped.lua
local process = require "linx.process"
local user = require "linxuser"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return (out:gsub("%s+$", ""))
end

-- The shared root filesystem: busybox, its applets, a file, owned by 0:0.
local rootfs = sh("mktemp -d /tmp/linx-idmapped.XXXXXX")
for _, d in ipairs { "bin", "proc", "tmp", "data" } do assert(os.execute("mkdir -p " .. rootfs .. "/" .. d)) end
assert(os.execute("cp /bin/busybox " .. rootfs .. "/bin/busybox"))
for _, applet in ipairs { "sh", "stat", "touch", "id" } do
  assert(os.execute("ln -s busybox " .. rootfs .. "/bin/" .. applet))
end
assert(os.execute("echo shared > " .. rootfs .. "/data/readme && chmod 1777 " .. rootfs .. "/tmp"))
print("rootfs:    " .. rootfs .. " owned by " .. sh("stat -c %u:%g " .. rootfs .. "/data"))

-- One container: mapped 0..65535 -> base.., root inside, the rootfs
-- idmapped with its own maps as its root.
local host_uid = tonumber(sh("id -u"))
local function container(name, base)
  -- rootless: only our own id can be mapped (and the mount is refused anyway)
  local maps = host_uid == 0 and { { 0, base, 65536 } } or { { 0, host_uid, 1 } }
  local c = assert(process.spawn {
    argv = { "sh", "-c", "id -u; stat -c %u:%g /data/readme; touch /data/from-" .. name .. " && echo created" },
    namespaces = { "user", "mount", "pid" },
    stdout = "pipe",
    inside = {
      root = rootfs,
      mounts = { { type = "bind", source = rootfs, target = "/", idmap = true } },
      uid = 0, gid = 0,
    },
  })
  local gmaps = host_uid == 0 and maps or { { 0, tonumber(sh("id -g")), 1 } }
  assert(user.setup_maps(c, { uid = maps, gid = gmaps }))
  local ok, err = c:proceed()
  if not ok then
    c:wait()
    c:close()
    return nil, err
  end
  local out = c:read("stdout")
  local code = c:wait().code
  c:close()
  return out, code
end

for _, ct in ipairs { { "a", 100000 }, { "b", 200000 } } do
  local out, code = container(ct[1], ct[2])
  if out == nil then
    print(("container %s: %s"):format(ct[1], tostring(code)))
    print("skipped:   idmapped mounts need root (" .. tostring(code.errno) .. " from " .. tostring(code.syscall) .. ")")
    os.execute("rm -rf " .. rootfs)
    return
  end
  local id, owner, created = out:match("^(%d+)\n(%S+)\n(%a*)")
  print(("container %s: mapped to %d, uid %s inside, /data/readme owned by %s inside, %s (exit %d)")
    :format(ct[1], ct[2], id, owner, created, code))
end
for _, name in ipairs { "a", "b" } do
  print(("host:      /data/from-%s owned by %s"):format(name, sh("stat -c %u:%g " .. rootfs .. "/data/from-" .. name)))
end
os.execute("rm -rf " .. rootfs)
print("removed:   " .. rootfs)
