# shellcheck shell=bash
# Sourced by bench/nginx.sh and bench/nginx_pool.sh (not run): what both
# need to run Debian's nginx + lua-nginx-module with this build's LuaJIT
# modules in a throw-away prefix. The sourcing script defines note() and
# skip() (which writes its own "not measured" target rows and exits 0)
# first.

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) printf "%.6g\n", v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "nan" || b == "nan" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }

# nginx_setup JIT NAME: nginx, ab, the lua module and JIT's build there
# (else skip), then a prefix in /tmp (removed at exit unless
# BENCH_NGINX_KEEP is set) holding the modules and lua/linx. Sets mod,
# prefix, pidfile and port.
nginx_setup() {
    local jit=$1 name=$2 tool dir
    for tool in nginx ab; do command -v "$tool" >/dev/null || skip "no $tool"; done
    mod=
    for dir in /usr/lib/nginx/modules /usr/share/nginx/modules; do
        [[ -f $dir/ngx_http_lua_module.so ]] && mod=$dir
    done
    [[ -n $mod ]] || skip "no libnginx-mod-http-lua"
    [[ -f $jit/linxuser.so && -f $jit/linx/process.so ]] || skip "no LuaJIT build in $jit"
    prefix=$(mktemp -d "/tmp/$name.XXXXXX")
    pidfile=$prefix/logs/nginx.pid
    [[ -n ${BENCH_NGINX_KEEP:-} ]] || trap nginx_cleanup EXIT
    mkdir -p "$prefix/logs" "$prefix/tmp" "$prefix/lib/linx" "$prefix/lua"
    cp "$jit/linxuser.so" "$prefix/lib/"
    cp "$jit/linx/process.so" "$prefix/lib/linx/"
    cp -r lua/linx "$prefix/lua/"
    chmod -R a+rwX "$prefix"
    port=$((20000 + RANDOM % 20000))
}

nginx_cleanup() {
    if [[ -s $pidfile ]]; then
        nginx -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" -s stop >/dev/null 2>&1 || true
        for _ in $(seq 100); do [[ -e $pidfile ]] || break; sleep 0.05; done
    fi
    rm -rf "$prefix"
}

# The head of nginx.conf both use, up to the Lua paths inside http {:
# one worker as NGINX_USER ("user group"; default nobody), the `linx`
# thread pool of 32.
nginx_conf_head() {
    cat <<HEAD
load_module $mod/ndk_http_module.so;
load_module $mod/ngx_http_lua_module.so;
user ${NGINX_USER:-nobody nogroup};
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
thread_pool linx threads=32;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    lua_package_cpath "$prefix/lib/?.so;;";
    lua_package_path "$prefix/lua/?.lua;;";
HEAD
}

# nginx_start LOG: start it on $prefix/nginx.conf (else skip) and wait for
# its pid file; sets url.
nginx_start() {
    nginx -p "$prefix" -e "$prefix/logs/error.log" -c "$prefix/nginx.conf" 2>>"$1" || skip "nginx did not start"
    for _ in $(seq 100); do [[ -s $pidfile ]] && break; sleep 0.05; done
    url=http://127.0.0.1:$port
}

# nginx_ok1 PATH: one request to PATH answers 2xx.
nginx_ok1() { [[ $(ab -q -n 1 -c 1 "$url$1" 2>/dev/null | awk '/^Non-2xx/ {print "bad"} /^Complete requests/ {print $3}') == 1 ]]; }
