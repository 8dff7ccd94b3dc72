/* spawn's inside.loopback (see spawn_net.h): with "net" in namespaces
 * the workload brings lo up before execve unless it is false. */
#include "spawn_net.h"

#include "support/lerror.h"

#include <sched.h>

/* nil, a bad_option error for inside.loopback; returns 2. */
static int bad(lua_State *L, const char *reason, int value_idx)
{
    return linx_bad_option(L, "spawn", "inside.loopback", reason, value_idx, 0);
}

int linx_spawn_loopback(lua_State *L, int idx, unsigned long flags, struct inside *in)
{
    if (!lua_isnil(L, idx) && !lua_isboolean(L, idx))
        return bad(L, "not_a_boolean", idx);
    if (lua_toboolean(L, idx) && !(flags & CLONE_NEWNET))
        return bad(L, "needs_net_namespace", 0);
    if (lua_isboolean(L, idx) && !lua_toboolean(L, idx))
        in->loopback = 0;
    lua_remove(L, idx);
    return 0;
}
