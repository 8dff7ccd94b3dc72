/* spawn's body, shared by process.spawn and pools (spawn.c). */
#ifndef LINX_SPAWN_H
#define LINX_SPAWN_H

#include "support/compat.h"

/* Spawn from the option table at opts: pushes the parked handle and
 * returns 1, or pushes nil, err (and an errno) and returns their count.
 * park: a pool child (protocol.h, "Pools"), parked after its steps for a
 * hand-over instead of exec'ing. */
int linx_spawn(lua_State *L, int opts, int park);

#endif
