/* Internal to the linxuser module: the two verb tables that
 * linxuser_module.c puts together. linxuser.c and linxuser_ids.c never
 * call each other; what both need is in lmaps.c, below them. Not an API. */
#ifndef LINX_LINXUSER_INT_H
#define LINX_LINXUSER_INT_H

#include "support/compat.h"

/* From linxuser.c: supported, deny_setgroups, read_setgroups,
 * set_uid_map, set_gid_map, read_uid_map, read_gid_map, setup_maps, map;
 * added to the module table on top of the stack. */
void linxuser_maps_register(lua_State *L);

/* From linxuser_ids.c: subids, rootless_maps, to_host, to_inside,
 * compose; added to the module table on top of the stack. */
void linxuser_ids_register(lua_State *L);

#endif
