/* require "linxuser": the module table, put together from the verbs of
 * linxuser.c (maps and setgroups) and linxuser_ids.c (subordinate ids,
 * translation), with the shared Map metatable from lmaps.c. */
#include "support/compat.h"
#include "linx.h"
#include "linxuser_int.h"
#include "support/lmaps.h"

int luaopen_linxuser(lua_State *L)
{
    lmaps_open(L);
    lua_newtable(L);
    linxuser_maps_register(L);
    linxuser_ids_register(L);
    lua_pushliteral(L, LINX_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
