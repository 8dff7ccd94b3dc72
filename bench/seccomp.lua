-- Compiling inside.seccomp's "default" filter (libseccomp, in the host),
-- for bench/run's targets table: one Markdown row.
--   linx-lua bench/seccomp.lua [N]
-- "default" is compiled once per Lua state and then reused (README,
-- "Sandbox"); the first figure clears that cache before every call, the
-- second is what every spawn after the first pays. A policy table is
-- compiled at every spawn: the third figure is a short deny list.
local process = require "linx.process"
local n = tonumber(arg[1]) or 2000
local reg = debug.getregistry()
local KEY = "linx.process.seccomp_default"

local function median_us(fn)
  local samples = {}
  for r = 1, 7 do
    local t = process.now()
    for _ = 1, n do fn() end
    samples[r] = (process.now() - t) / n * 1e6
  end
  table.sort(samples)
  return samples[4]
end

local first = median_us(function() reg[KEY] = nil; assert(process.seccomp_program("default")) end)
local cached = median_us(function() assert(process.seccomp_program("default")) end)
local tbl = median_us(function() assert(process.seccomp_program { deny = { "keyctl", "bpf", "ptrace" } }) end)
local verdict = first <= 100 and "met" or (cached <= 100 and "met by the per-state cache only" or "missed")
print(("| compiling the \"default\" seccomp filter <= 100 µs | %.1f µs compiled, %.2f µs cached (a 3-entry table: %.1f µs) | %s |")
  :format(first, cached, tbl, verdict))
