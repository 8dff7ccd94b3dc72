# The one TAP writer of the shell lanes (tools/*-lane, tools/tap-cmd,
# tools/fuzz-run): source it, report tests, end with tap_end.
#   source "$(dirname "$0")/tap.sh"
#   tap_result RC NAME [LOG]   ok when RC is 0; on failure LOG (a file) is
#                              shown as "# " lines
#   tap_run NAME CMD...        run CMD (its output to stderr), one test
#   tap_skip NAME WHY          ok ... # SKIP WHY
#   tap_merge PREFIX <TAP      another TAP stream, renumbered into this one
#                              (comments pass; no plan: one failing test)
#   tap_end                    the plan; returns 1 if any test failed
# stdout is the TAP stream; diagnostics go to stderr. The Lua smoke test
# (tools/smoke.lua) and the C unit tests (spec/unit/tap.c) write their own
# TAP in their own language; tools/check reads every lane's the same way.
TAP_N=0 TAP_FAILED=0

tap_result() {
    TAP_N=$((TAP_N + 1))
    if (($1 == 0)); then
        echo "ok $TAP_N - $2"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_N - $2"
        [[ -n ${3:-} && -s $3 ]] && sed 's/^/# /' "$3"
    fi
    return 0
}

tap_run() {
    local name=$1; shift
    "$@" >&2
    local rc=$?
    if ((rc == 0)); then tap_result 0 "$name"; else tap_result 1 "$name (exit $rc)"; fi
}

tap_skip() {
    TAP_N=$((TAP_N + 1))
    echo "ok $TAP_N - $1 # SKIP $2"
}

tap_merge() {
    local prefix=$1 line planned=0
    while IFS= read -r line; do
        case $line in
        "ok "[0-9]*) line=${line#ok }; line=${line#*[0-9] }; tap_result 0 "$prefix${line#- }" ;;
        "not ok "[0-9]*) line=${line#not ok }; line=${line#*[0-9] }; tap_result 1 "$prefix${line#- }" ;;
        "1.."[0-9]*) planned=1 ;;
        "#"*) echo "$line" ;;
        esac
    done
    ((planned)) || tap_result 1 "${prefix}the stream ended with its plan"
}

tap_end() {
    echo "1..$TAP_N"
    ((TAP_FAILED == 0))
}
