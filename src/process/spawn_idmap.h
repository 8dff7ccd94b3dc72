/* spawn's inside.mounts[i].idmap: read and checked before any child
 * exists. */
#ifndef LINX_SPAWN_IDMAP_H
#define LINX_SPAWN_IDMAP_H

#include "support/compat.h"
#include "child/protocol.h"

/* The idmap field of the mount table at e (the i-th of inside.mounts,
 * its kind already read) into m: nil/false, true (the container's own
 * maps) or {uid = maps, gid = maps} (rendered; the strings anchored in
 * the table at anchor). Returns 0, or pushes nil, err and returns 2. */
int linx_spawn_idmap(lua_State *L, int e, lua_Integer i, int anchor, struct inside_mount *m);

/* The whole list, once read: idmap = true needs "user" in flags; at most
 * LINX_MAX_IDMAPS idmapped binds. 0, or pushes nil, err and returns 2. */
int linx_spawn_idmap_check(lua_State *L, const struct inside_mount *m, size_t n, unsigned long flags);

#endif
