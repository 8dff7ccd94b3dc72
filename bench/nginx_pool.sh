#!/usr/bin/env bash
# The nginx part of bench/run's "pool" section (issue 26): request latency
# of a location that runs bench/exit0.c in a new user namespace (the
# worker's uid and gid as 0) through linx.resty, unpooled against pooled,
# in Debian's nginx + lua-nginx-module with one worker; `ab -c 1` (median
# latency) and `ab -c 20` (99th percentile).
#
#   bench/nginx_pool.sh BUILD_JIT RAW_DIR EXIT0 [SUBUSER]
#       -> markdown on stdout, target rows in RAW_DIR/nginx_pool.target
#
# With SUBUSER (a user with /etc/subuid and /etc/subgid ranges; root
# runs this) the worker runs as that user and both locations map its
# ranges (linxuser.rootless_maps(): newuidmap/newgidmap for each child
# made): the subordinate-range route, informational, without the
# pooled-big row and without target rows.
#
# Locations (stdin, stdout and stderr "null" in both, so the rows differ
# only in how the child is made):
#   fresh   linx.resty.run{argv = {EXIT0}, namespaces = {"user"}, ...}: the
#           whole cycle in a thread of the `linx` thread pool
#   pooled  linx.resty.run{pool = POOL, argv = {EXIT0}, ...}: the hand-over
#           and the exec in the worker, the pool topped up by linx.resty
#           (ngx.timer.at after each take: fill(1, 0), one child at a time)
#   POOL is a process.pool{namespaces = {"user"}, size = BENCH_POOL_NGINX_SIZE}
#   made in init_worker and filled by linx.resty.refill (off the timed part).
#   pooled-big  (informational) by hand: POOL:spawn{...} in the worker, the
#           end watched with wait(0) between ngx.sleep()s, from a pool as
#           big as an ab run, filled (untimed, /fill-big) before each run
#           and not refilled during it: the hand-over alone, no set-up in
#           the way
# Knobs: BENCH_POOL_NGINX_N=300 requests per ab run, BENCH_POOL_NGINX_ROUNDS=3
# interleaved rounds (median kept), BENCH_POOL_NGINX_SIZE=32 children.
set -euo pipefail
cd "$(dirname "$0")/.."
JIT=${1:?jit build dir}
RAW=${2:?raw dir}
EXIT0=${3:?path of bench/exit0.c built}
SUBUSER=${4:-}
N=${BENCH_POOL_NGINX_N:-300}
ROUNDS=${BENCH_POOL_NGINX_ROUNDS:-3}
SIZE=${BENCH_POOL_NGINX_SIZE:-32}
mkdir -p "$RAW"
tag=nginx_pool${SUBUSER:+_sub} # the raw files' prefix
target_file=$RAW/$tag.target
: >"$target_file"

note() { echo "bench $tag: $*" >&2; }
minmax() { sort -g | awk 'NR==1{lo=$1} {hi=$1} END {if (NR) printf "%.2f-%.2f", lo, hi}'; }
fmt() { awk -v v="$1" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.2f", v }'; }
verdict() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a") print "not measured"; else if (a <= b) print "met"; else print "MISSED" }'; }

skip() {
    note "$*: nginx pool rows skipped"
    echo "Skipped the nginx rows${SUBUSER:+ of the subordinate-range route}: $*."
    [[ -z $SUBUSER ]] && {
        echo "| nginx, ab -c 1: median latency of the pooled location <= 0.5x unpooled (issue 26) | not measured ($*) | not measured |"
        echo "| nginx, ab -c 20: p99 latency of the pooled location <= 0.5x unpooled (issue 26) | not measured ($*) | not measured |"
    } >"$target_file"
    exit 0
}
[[ -x $EXIT0 ]] || skip "no $EXIT0"
# shellcheck source=bench/nginx_lib.sh
. bench/nginx_lib.sh
if [[ -n $SUBUSER ]]; then
    id -u "$SUBUSER" >/dev/null 2>&1 || skip "no user $SUBUSER"
    NGINX_USER="$SUBUSER $(id -gn "$SUBUSER")"
fi
maps_lua=nil # the worker's own ids as 0
[[ -n $SUBUSER ]] && maps_lua='assert(require("linxuser").rootless_maps())'
nginx_setup "$JIT" linx-nginx-pool
cp "$EXIT0" "$prefix/exit0"
chmod a+rx "$prefix/exit0"

{
nginx_conf_head
cat <<EOF
    init_worker_by_lua_block {
        EXIT0 = "$prefix/exit0"
        REQ = {argv = {EXIT0}, stdin = "null", stdout = "null", stderr = "null"}
        -- the subordinate-range route: the worker user's ranges (nil: the worker's own ids as 0)
        MAPS = $maps_lua
        POOL = assert(require("linx.process").pool{namespaces = {"user"}, maps = MAPS, size = $SIZE})
        require("linx.resty").refill(POOL) -- one child per timer run, so the worker serves requests meanwhile
    }
    server {
        listen 127.0.0.1:$port;
        default_type text/plain;
        location = /size { content_by_lua_block { ngx.say(POOL:size()) } }
        location = /fill-big {
            content_by_lua_block {
                BIG = BIG or assert(require("linx.process").pool{namespaces = {"user"}, size = $N})
                ngx.say((assert(BIG:fill())))
            }
        }
        location = /pooled-big {
            content_by_lua_block {
                local c, err = BIG:spawn(REQ)
                if not c then ngx.status = 500 ngx.say(tostring(err)) return end
                local st, werr = c:wait(0)
                local turns = 0
                while not st and type(werr) == "table" and werr.kind == "timeout" do
                    turns = turns + 1
                    ngx.sleep(turns <= 200 and 0 or 0.001)
                    st, werr = c:wait(0)
                end
                c:close()
                if not st or st.code ~= 0 then ngx.status = 500 ngx.say(tostring(werr)) return end
                ngx.say("exit ", st.code)
            }
        }
        location = /fresh {
            content_by_lua_block {
                local res, err = require("linx.resty").run{argv = {EXIT0}, namespaces = {"user"}, maps = MAPS,
                                                          stdin = "null", stdout = "null", stderr = "null"}
                if not res or res.code ~= 0 then ngx.status = 500 ngx.say(tostring(err)) return end
                ngx.say("exit ", res.code)
            }
        }
        location = /pooled {
            content_by_lua_block {
                local res, err = require("linx.resty").run{pool = assert(POOL), argv = {EXIT0}, stdin = "null",
                                                          stdout = "null", stderr = "null"}
                if not res or res.code ~= 0 then ngx.status = 500 ngx.say(tostring(err)) return end
                ngx.say("exit ", res.code)
            }
        }
    }
}
EOF

} >"$prefix/nginx.conf"

nginx_start "$RAW/nginx_pool.log"
# GET a path, print the body (bash's /dev/tcp: no HTTP client needed)
get() {
    local fd line body=0
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n' "$1" >&"$fd"
    while IFS= read -r line <&"$fd"; do
        line=${line%$'\r'}
        if ((body)); then printf '%s\n' "$line"; elif [[ -z $line ]]; then body=1; fi
    done
    exec {fd}>&-
}
ok1() { nginx_ok1 "$1"; }
# wait until the pool is full (at most ~10 s): the refill runs off the timed part
full() { [[ $(get /size) == "$SIZE" ]]; }
wait_full() {
    local i
    for ((i = 0; i < 200; i++)); do
        full && return 0
        sleep 0.05
    done
    note "the pool did not refill to $SIZE"
}
pooled_how="\`linx.resty.run{pool = POOL, ...}\` (linx.resty keeps the pool full)"
all_rows=(fresh pooled pooled-big)
[[ -n $SUBUSER ]] && all_rows=(fresh pooled) # a pool of N through the helpers: not worth its minutes
if [[ -z $SUBUSER ]]; then
    [[ $(get /fill-big) == "$N" ]] || skip "/fill-big fails: $(tail -3 "$prefix/logs/error.log")"
fi
for r in "${all_rows[@]}"; do ok1 "/$r" || skip "/$r fails: $(tail -3 "$prefix/logs/error.log")"; done

# ab's CSV (-e): "percent,ms" for 0..100; p50 and p99 from it (µs precision)
percentile() { awk -F, -v p="$2" '$1 == p { print $2 }' "$1"; }
ab -q -n 100 -c 20 "$url/fresh" >/dev/null 2>&1 || true # warm-up: the thread VMs
for c in 1 20; do
    for ((r = 0; r < ROUNDS; r++)); do
        rows=("${all_rows[@]}")
        if ((r % 2)); then # every other round backwards
            rows=()
            for ((i = ${#all_rows[@]} - 1; i >= 0; i--)); do rows+=("${all_rows[$i]}"); done
        fi
        for row in "${rows[@]}"; do
            [[ $row == pooled ]] && wait_full
            # untimed: the big pool filled up to the run's size
            [[ $row == pooled-big && $(get /fill-big) != "$N" ]] && { note "/fill-big failed"; continue; }
            csv=$RAW/$tag.$row.c$c.$r.csv
            out=$(ab -q -n "$N" -c "$c" -e "$csv" "$url/$row" 2>&1) || { note "ab /$row -c $c failed"; continue; }
            if grep -q '^Non-2xx' <<<"$out" || ! grep -q '^Failed requests: *0$' <<<"$out"; then
                note "/$row -c $c: failed requests"
                continue
            fi
            percentile "$csv" 50 >>"$RAW/$tag.$row.c$c.p50"
            percentile "$csv" 99 >>"$RAW/$tag.$row.c$c.p99"
            awk '/^Requests per second/ {print $4}' <<<"$out" >>"$RAW/$tag.$row.c$c.rps"
        done
    done
done

declare -A m
for row in "${all_rows[@]}"; do
    for c in 1 20; do
        for k in p50 p99 rps; do
            f=$RAW/$tag.$row.c$c.$k
            m[$row.$c.$k]=$( [[ -s $f ]] && median <"$f" || echo nan)
        done
    done
done
maps_how=""
if [[ -n $SUBUSER ]]; then
    maps_how=", maps = rootless_maps()"
    echo "## Pools in nginx on the subordinate-range route (informational): the worker as a user with ranges, bench/exit0.c through linx.resty (ab -n $N; median of $ROUNDS interleaved rounds; ms)"
else
    echo "## Pools in nginx: bench/exit0.c through linx.resty, 1 worker (ab -n $N; median of $ROUNDS interleaved rounds; ms)"
fi
echo ""
echo "Pooled: $pooled_how; a pool of $SIZE, full before each pooled run."
echo ""
echo "| location | -c 1 p50 ms | -c 1 req/s | -c 20 p50 ms | -c 20 p99 ms | -c 20 req/s |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for row in "${all_rows[@]}"; do
    label="\`linx.resty.run{argv = {exit0}, namespaces = {\"user\"}$maps_how}\` (thread pool)"
    [[ $row == pooled ]] && label="pooled (\`process.pool{namespaces = {\"user\"}$maps_how, size = $SIZE}\`), refilled as it goes"
    [[ $row == pooled-big ]] && label="informational: pooled by hand from a pool of $N filled before the run, no refill during it"
    echo "| $label | $(fmt "${m[$row.1.p50]}") | $(awk -v v="${m[$row.1.rps]}" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f", v }') | $(fmt "${m[$row.20.p50]}") | $(fmt "${m[$row.20.p99]}") | $(awk -v v="${m[$row.20.rps]}" 'BEGIN { if (v == "nan") print "n/a"; else printf "%.0f", v }') |"
done
a=$(ratio "${m[pooled.1.p50]}" "${m[fresh.1.p50]}")
b=$(ratio "${m[pooled.20.p99]}" "${m[fresh.20.p99]}")
if [[ -n $SUBUSER ]]; then
    echo ""
    echo "Pooled × unpooled: ${a}x the median at -c 1, ${b}x the p99 at -c 20."
    exit 0
fi
{
    echo "| nginx, ab -c 1: median latency of the pooled location <= 0.5x unpooled (issue 26) | ${a}x ($(fmt "${m[pooled.1.p50]}") vs $(fmt "${m[fresh.1.p50]}") ms) | $(verdict "$a" 0.50) |"
    echo "| nginx, ab -c 20: p99 latency of the pooled location <= 0.5x unpooled (issue 26) | ${b}x ($(fmt "${m[pooled.20.p99]}") vs $(fmt "${m[fresh.20.p99]}") ms) | $(verdict "$b" 0.50) |"
} >"$target_file"
