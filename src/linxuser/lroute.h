/* setup_maps, the whole pipeline in one room: read every Lua value,
 * reserve, resolve the target, plan each map's route (procfs directly,
 * or the setuid newuidmap/newgidmap helpers), write. Below linxuser.c,
 * which registers it; calls ltarget, lmaps, idhelper and lerror. */
#ifndef LINX_LROUTE_H
#define LINX_LROUTE_H

#include "support/compat.h"

/* linxuser.setup_maps(target, opts): true, or nil, err[, code]. */
int lroute_setup_maps(lua_State *L);

#endif
