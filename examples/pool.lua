-- A pool of ready children serving requests through linx.run. Each child
-- is made ready before its request: spawned into new user, pid and uts
-- namespaces, mapped (our own uid and gid as 0), its hostname set, and
-- parked. A request then costs the hand-over and one exec; the set-up is
-- paid in pool:fill(), here between batches, where a server would do it
-- off the request's path (linx.resty and linx.luv refill on their own).
--
--   linx-lua examples/pool.lua
local process = require "linx.process"
local run = require "linx.run"

local pool = assert(process.pool{
  namespaces = {"user", "pid", "uts"},
  inside = {hostname = "pooled"},
  size = 4,
})
print(("filled:  %d children ready"):format(assert(pool:fill())))

-- Requests bring only what differs: argv, env, cwd, input, timeout, ...
local requests = {
  {argv = {"sh", "-c", "echo $(id -u) $(hostname) $$"}},
  {argv = {"tr", "a-z", "A-Z"}, input = "hello from a pooled child\n"},
  {argv = {"sh", "-c", "echo $GREETING in $(pwd)"}, env = {GREETING = "hi", PATH = "/usr/bin:/bin"}, cwd = "/"},
  {argv = {"sh", "-c", "exit 7"}},
  {argv = {"sleep", "10"}, timeout = 0.2},
  {argv = {"echo", "the pool was empty: this one was readied on the spot"}},
}
for i, req in ipairs(requests) do
  req.pool = pool
  local res, err = run.run(req)
  if res then
    local said = res.stdout:gsub("\n$", "")
    print(("request %d: exit %s%s"):format(i, tostring(res.code), said ~= "" and ", " .. said or ""))
  else
    print(("request %d: %s (%s)"):format(i, err.kind, tostring(err)))
  end
  print(("         %d ready"):format(pool:size()))
end

-- The pool's own options belong to the pool: a request cannot change them.
local _, err = run.run{pool = pool, argv = {"true"}, namespaces = {"user"}}
print(("refused: %s %s %s"):format(err.kind, err.field, err.reason))

print(("refill:  %d ready"):format(assert(pool:fill())))
pool:close() -- kills and reaps the parked children (so would collection)
print(("closed:  %d ready"):format(pool:size()))
