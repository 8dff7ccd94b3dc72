-- An untrusted script in a sandbox, in one call: linx.sandbox gives it a
-- busybox root of its own (read-only), its own /proc, /dev and /tmp, no
-- network, no host environment, bounded time and output (and, where the
-- linked linx.process has them: a new session, an init, no capabilities,
-- the default seccomp filter, Landlock, rlimits).
--   linx-lua examples/sandbox.lua
local sandbox = require "linx.sandbox"

local function sh(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

-- The root filesystem: busybox and the directories to mount on; busybox
-- --install links every applet to it (hard links: they hold no path).
local root = sh("mktemp -d /tmp/linx-sandbox.XXXXXX"):match("%S+")
assert(os.execute(("chmod 755 %s && mkdir %s/bin %s/proc %s/dev %s/tmp %s/etc && cp /bin/busybox %s/bin/")
  :format(root, root, root, root, root, root, root)))
sh(("%s/bin/busybox --install %s/bin 2>&1"):format(root, root))

-- What we run: somebody else's script (here, one that tries its luck).
local untrusted = [[
echo "who:     uid $(id -u), in $(pwd), env: $(env | grep -v -e ^PWD= -e ^SHLVL= | sort | tr '\n' ' ')"
touch /bin/evil 2>/dev/null && echo "root:    writable!" || echo "root:    read-only"
ls /home >/dev/null 2>&1 && echo "host:    /home visible!" || echo "host:    no /home, no host files"
echo "net:     $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
echo "procs:   $(ls /proc | grep -c '^[0-9]') in its /proc"
echo scratch > /tmp/s && echo "tmp:     writable ($(cat /tmp/s))"
]]

local missing = sandbox.missing()
if #missing > 0 then
  print("note:    this linx.process lacks " .. table.concat(missing, ", ") .. "; running without them")
end
local strict = #missing == 0 and nil or false
local res, err = sandbox.run{argv = {"/bin/sh", "-c", untrusted}, root = root, timeout = 10, strict = strict}
if not res then error(err, 0) end
io.write(res.stdout, res.stderr)
print("exit:    code " .. tostring(res.code))

-- A script that writes without end is stopped at max_output.
local none, lerr = sandbox.run{argv = {"/bin/yes", "spam"}, root = root, timeout = 10, strict = strict,
                               max_output = 100000}
print(("runaway: %s after %d bytes of %s"):format(none == nil and lerr.kind or "ended?", lerr and lerr.bytes or 0,
                                                   lerr and lerr.stream or "?"))
-- ... and one that never ends, at its timeout.
none, lerr = sandbox.run{argv = {"/bin/sleep", "60"}, root = root, timeout = 0.2, strict = strict}
print(("sleeper: %s after %s s"):format(none == nil and lerr.kind or "ended?", lerr and lerr.seconds or "?"))

os.execute("rm -rf " .. root)
