/* spawn's inside.loopback (see spawn_idmap.h): with "net" in namespaces
 * the workload brings lo up before execve unless it is false. */
#include "spawn_idmap.h"

#include "spawn_opts.h"

#include <sched.h>

int linx_spawn_loopback(lua_State *L, int idx, unsigned long flags, struct inside *in)
{
    if (!lua_isnil(L, idx) && !lua_isboolean(L, idx))
        return linx_bad_option(L, "spawn", "inside.loopback", "not_a_boolean", idx, 0);
    if (lua_toboolean(L, idx) && !(flags & CLONE_NEWNET))
        return linx_bad_option(L, "spawn", "inside.loopback", "needs_net_namespace", 0, 0);
    if (lua_isboolean(L, idx) && !lua_toboolean(L, idx))
        in->loopback = 0;
    lua_remove(L, idx);
    return 0;
}
