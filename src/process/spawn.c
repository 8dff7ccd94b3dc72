/* spawn's body (process.spawn, and a pool's fill, which parks the child
 * for a hand-over): read the options, start the keeper and the workload,
 * return the handle once the workload is parked. */
#include "spawn.h"

#include "support/handle.h"
#include "keeper_host.h"
#include "output_limit.h"
#include "spawn_opts.h"
#include "spawn_sandbox.h"
#include "stages.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>

int linx_spawn(lua_State *L, int opts, int park)
{
    if (lua_type(L, opts) != LUA_TTABLE)
        return linx_bad_option(L, "spawn", "opts", "not_a_table", opts, 0);
    opts = lua_absindex(L, opts);
    luaL_checkstack(L, 32, NULL);
    struct spawn_opts o;
    unsigned long long max_output;
    int r = linx_spawn_opts_read(L, opts, &o);
    if (r || (r = linx_output_opt_read(L, opts, &max_output)) || (r = linx_spawn_sandbox_read(L, opts, &o)))
        return r;
    o.park = park;

    linx_block_prepare(L);
    /* The handle exists before any fd, so __gc closes whatever an error
     * (even a Lua memory error) leaves behind. */
    struct handle *h = lua_newuserdata(L, sizeof *h);
    linx_handle_init(h);
    luaL_setmetatable(L, LINX_HANDLE_MT);
    int hidx = lua_gettop(L);

    h->has_max = max_output != LINX_OUTPUT_UNLIMITED;
    h->max_output = max_output;
    h->argv0 = linx_dup_str(o.argv[0]);
    h->cwd = o.cwd != NULL ? linx_dup_str(o.cwd) : NULL;
    int paths = o.in.nmounts > 0 || o.in.root != NULL || o.in.policy != NULL; /* kept for proceed()'s messages */
    h->inside = paths ? linx_inside_dup(&o.in) : NULL;
    if (h->argv0 == NULL || (o.cwd != NULL && h->cwd == NULL) || (paths && h->inside == NULL)) {
        linx_handle_release(L, h);
        return linx_error_os(L, "spawn", NULL, ENOMEM, NULL);
    }
    struct spawn_failure f;
    if (linx_handle_start(L, h, &o, &f) == 0) {
        lua_pushvalue(L, hidx);
        return 1;
    }
    if (f.child_died)
        return linx_child_died(L, "spawn", f.reason, f.has_code, f.code, f.signal);
    const char *hint = linx_stage_spawn_hint(f.stage, f.err, o.flags);
    int n = linx_error_os_call(L, f.stage == STAGE_CLONE3 ? "clone3" : "spawn", f.call, f.path, f.err, hint);
    if (f.stage >= 0) {
        lua_pushstring(L, linx_stage_operation(f.stage));
        lua_setfield(L, -3, "stage");
    }
    return n;
}
