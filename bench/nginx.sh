#!/usr/bin/env bash
# The nginx rows of `make bench` (bench/run's "nginx" section): requests
# per second of a location that spawns a user-namespaced child, in Debian's
# nginx + lua-nginx-module with one worker and 20 concurrent clients (ab).
#
#   bench/nginx.sh BUILD_JIT RAW_DIR   -> markdown on stdout,
#                                         the target's table row in RAW_DIR/nginx.target
#
# Rows (each `argv = {"true"}` in a new user namespace, the worker's uid and
# gid mapped to 0):
#   resty     linx.resty.run: the child's whole life in the `linx` thread pool
#   blocking  linx.process in the worker itself (spawn, setup_maps, proceed,
#             read, wait, close): what examples/openresty did before linx.resty
#   pipe      ngx.pipe.spawn{"unshare", "-Ur", "true"}, when the module has
#             ngx.pipe (Debian's 0.10.23 does not: built without OpenResty's
#             socket-cloexec patch, it says so, and the row is skipped)
#   execute   os.execute("unshare -Ur true"): the same job as the ngx.pipe
#             row without ngx.pipe, blocking the worker (fork, sh, unshare)
#   plain     ngx.say only: the worker's ceiling, for scale
# Knobs: BENCH_NGINX_N=1000 requests per ab run, BENCH_NGINX_ROUNDS=5
# interleaved rounds (median kept), BENCH_NGINX_C=20 concurrent clients.
set -euo pipefail
cd "$(dirname "$0")/.."
JIT=${1:?jit build dir}
RAW=${2:?raw dir}
N=${BENCH_NGINX_N:-1000}
ROUNDS=${BENCH_NGINX_ROUNDS:-5}
C=${BENCH_NGINX_C:-20}
mkdir -p "$RAW"
target_file=$RAW/nginx.target
: >"$target_file"

note() { echo "bench nginx: $*" >&2; }
minmax() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {if (NR) printf "%.0f-%.0f", lo, hi}'; }

skip() {
    note "$*: nginx rows skipped"
    echo "| linx.resty req/s >= 2x the comparison row (nginx, 1 worker, $C clients) | not measured ($*) | not measured |" >"$target_file"
    exit 0
}
# shellcheck source=bench/nginx_lib.sh
. bench/nginx_lib.sh
nginx_setup "$JIT" linx-nginx

{
nginx_conf_head
cat <<EOF
    init_worker_by_lua_block {
        -- The worker's own ids, read once per worker (nobody when the master is root).
        local f = assert(io.open("/proc/self/status"))
        local s = f:read("*a")
        f:close()
        IDS = {uid = tonumber(s:match("Uid:%s*(%d+)")), gid = tonumber(s:match("Gid:%s*(%d+)"))}
    }
    server {
        listen 127.0.0.1:$port;
        default_type text/plain;
        location = /plain { content_by_lua_block { ngx.say("plain") } }
        location = /resty {
            content_by_lua_block {
                local res, err = require("linx.resty").run{argv = {"true"}, namespaces = {"user"}}
                if not res or res.code ~= 0 then ngx.status = 500 ngx.say(tostring(err)) return end
                ngx.say("exit ", res.code)
            }
        }
        location = /blocking {
            content_by_lua_block {
                local process, user = require "linx.process", require "linxuser"
                local w = IDS
                local c, err = process.spawn{argv = {"true"}, namespaces = {"user"}, stdin = "null",
                                             stdout = "pipe"}
                if not c then ngx.status = 500 ngx.say(tostring(err)) return end
                local ok, serr = user.setup_maps(c, {uid = {{0, w.uid, 1}}, gid = {{0, w.gid, 1}}})
                if ok then ok, serr = c:proceed() end
                if not ok then c:close() ngx.status = 500 ngx.say(tostring(serr)) return end
                c:read("stdout")
                local st = c:wait()
                c:close()
                ngx.say("exit ", st and st.code)
            }
        }
        location = /execute {
            content_by_lua_block {
                -- nginx's SIGCHLD handler may reap the shell first, so the
                -- status is not checked: the row is the cost, not the answer.
                os.execute("unshare -Ur true")
                ngx.say("done")
            }
        }
        location = /pipe {
            content_by_lua_block {
                local ok, pipe = pcall(require, "ngx.pipe")
                if not ok then ngx.status = 501 ngx.say(pipe) return end
                local proc, err = pipe.spawn({"unshare", "-Ur", "true"})
                if not proc then ngx.status = 500 ngx.say(err) return end
                local done, reason, status = proc:wait()
                ngx.say("exit ", tostring(status))
            }
        }
    }
}
EOF

} >"$prefix/nginx.conf"

nginx_start "$RAW/nginx.log"
curl_ok() { nginx_ok1 "$1"; }
rows=(resty blocking execute plain)
pipe_note=""
if curl_ok /pipe; then
    rows=(resty pipe blocking execute plain)
else
    pipe_note=$(ab -v 4 -n 1 "$url/pipe" 2>/dev/null | grep -m1 -i "not supported" || true)
    note "no ngx.pipe in this lua-nginx-module: comparing with the blocking call"
fi
for r in resty blocking; do curl_ok "/$r" || skip "/$r fails: $(tail -3 "$prefix/logs/error.log")"; done

# warm-up: the pool's thread VMs, the worker's caches
ab -q -n 200 -c "$C" "$url/resty" >/dev/null 2>&1 || true
nrows=${#rows[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < nrows; k++)); do
        row=${rows[$(((k + r) % nrows))]}
        out=$(ab -q -n "$N" -c "$C" "$url/$row" 2>&1) || { note "ab /$row failed"; continue; }
        if grep -q '^Non-2xx' <<<"$out" || ! grep -q '^Failed requests: *0$' <<<"$out"; then
            note "/$row: failed requests"; continue
        fi
        awk '/^Requests per second/ {print $4}' <<<"$out" >>"$RAW/nginx.$row"
    done
done

declare -A label=(
    [resty]="\`linx.resty.run{argv = {\"true\"}, namespaces = {\"user\"}}\` (thread pool)"
    [pipe]="\`ngx.pipe.spawn{\"unshare\", \"-Ur\", \"true\"}\` + wait"
    [blocking]="\`linx.process\` in the worker: spawn, setup_maps, proceed, read, wait (blocks)"
    [execute]="\`os.execute(\"unshare -Ur true\")\` in the worker (blocks)"
    [plain]="\`ngx.say\` only (no child)"
)
declare -A med
for row in "${rows[@]}"; do med[$row]=$( [[ -s $RAW/nginx.$row ]] && median <"$RAW/nginx.$row" || echo nan); done
ref=blocking
[[ " ${rows[*]} " == *" pipe "* ]] && ref=pipe
echo "## nginx: a spawning location, 1 worker, $C concurrent clients (ab -n $N; median req/s of $ROUNDS interleaved rounds)"
echo ""
echo "| location | req/s | range | × ${ref} |"
echo "| --- | ---: | ---: | ---: |"
for row in "${rows[@]}"; do
    echo "| ${label[$row]} | $(awk -v v="${med[$row]}" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f", v }') | $( [[ -s $RAW/nginx.$row ]] && minmax <"$RAW/nginx.$row") | $(ratio "${med[$row]}" "${med[$ref]}") |"
done
if [[ $ref == blocking ]]; then
    echo ""
    echo "This lua-nginx-module has no \`ngx.pipe\`${pipe_note:+ (\`$pipe_note\`)}: linx.resty is compared with the blocking call."
fi
a=$(ratio "${med[resty]}" "${med[$ref]}")
verdict=$(awk -v a="$a" 'BEGIN { if (a == "n/a") print "not measured"; else if (a >= 2) print "met"; else print "MISSED" }')
echo "| linx.resty req/s >= 2x the $ref row (nginx, 1 worker, $C clients) | ${a}x | $verdict |" >"$target_file"
