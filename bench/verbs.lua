-- One linxuser verb, called on targets parked by `baseline park`.
--   verbs.lua MODE VERB ENTRIES CALLS PID...
-- MODE   count: just make the calls (run under callgrind --toggle-collect)
--        time:  print CPU microseconds per call (os.clock: user + system,
--               and a map write or read is all synchronous kernel work)
--        trace: make CALLS calls, with marker syscalls (a failing open of
--               a path that says begin/end) around the last one, so strace
--               shows exactly what one warm call does
--        (no PID: the targets are linx.process handles spawned here)
-- VERB   set_uid_map | read_uid_map | setup_maps
-- ENTRIES map size: 1 maps inside 0 to our own uid (works rootless);
--        more is entry i = {i, i, 1} (root only)
-- CALLS  one target each: writes are write-once. read_uid_map first
--        writes every target (not part of what is measured), then reads
--        each once, like `baseline scale`.
local user = require "linxuser"

local mode, verb = arg[1], arg[2]
local entries, calls = tonumber(arg[3]), tonumber(arg[4])
local pids = {}
for i = 5, #arg do pids[#pids + 1] = tonumber(arg[i]) end
-- No pids: aim at linx.process handles instead (children parked by spawn,
-- the product's own way), which a verb checks with one poll of a pidfd.
local handles
if #pids == 0 then
    local process = require "linx.process"
    handles = {}
    for i = 1, calls do
        handles[i] = assert(process.spawn{argv = {"true"}, namespaces = {"user"}})
        pids[i] = handles[i]
    end
end
assert(#pids >= calls, "need one parked pid per call")

local function own_ids()
    local f = assert(io.open("/proc/self/status"))
    local s = f:read("a")
    f:close()
    return tonumber(s:match("\nUid:%s*(%d+)")), tonumber(s:match("\nGid:%s*(%d+)"))
end

local uid, gid = own_ids()
local function make_map(id)
    if entries == 1 then return {{0, id, 1}} end
    local m = {}
    for i = 0, entries - 1 do m[#m + 1] = {i, i, 1} end
    return m
end
local uid_map, gid_map = make_map(uid), make_map(gid)
local setup = {uid = uid_map, gid = gid_map}

local call
if verb == "set_uid_map" then
    call = function(pid) return user.set_uid_map(pid, uid_map) end
elseif verb == "setup_maps" then
    call = function(pid) return user.setup_maps(pid, setup) end
elseif verb == "read_uid_map" then
    for i = 1, calls do assert(user.set_uid_map(pids[i], uid_map)) end
    call = function(pid)
        local m, err = user.read_uid_map(pid)
        if m and #m ~= entries then return nil, "read back " .. #m .. " entries" end
        return m, err
    end
else
    error("unknown verb " .. tostring(verb))
end

local function marker(name) io.open("/nonexistent/linx-bench-" .. name) end

if mode == "time" then
    local t0 = os.clock()
    for i = 1, calls do assert(call(pids[i])) end
    print(string.format("%.3f", (os.clock() - t0) * 1e6 / calls))
else
    for i = 1, calls do
        local last = mode == "trace" and i == calls
        if last then marker("begin") end
        local ok, err = call(pids[i])
        if last then marker("end") end
        assert(ok, err)
    end
end
if handles then for _, h in ipairs(handles) do h:close() end end
