/* spawn's inside.mounts and inside.root: reading and checking the mount
 * plan in the host, before any child exists (src/spawn_mounts.c). */
#ifndef LINX_SPAWN_MOUNTS_H
#define LINX_SPAWN_MOUNTS_H

#include "support/compat.h"
#include "child/protocol.h"

/* Most entries a mount plan may have. */
#define INSIDE_MAX_MOUNTS 4096

/* The n entries of the list at index ms (inside.mounts, read raw) into
 * in->mounts; every string and array is anchored in the table at anchor.
 * flags: the CLONE_NEW* of the spawn. Returns 0, or pushes nil, err
 * (bad_option naming the field) and returns 2. */
int linx_spawn_mounts(lua_State *L, int ms, size_t n, unsigned long flags, int anchor, struct inside *in);

/* inside.root at the top of the stack: "/path" or {path =, readonly =,
 * suid =, dev =}, into in->root and in->root_flags; the path is anchored
 * (popped). Returns 0, or pushes nil, err and returns 2. */
int linx_spawn_root(lua_State *L, unsigned long flags, int anchor, struct inside *in);

/* Pushes the list of mount types, in enum inside_mount_kind order. */
void linx_spawn_push_mount_types(lua_State *L);

#endif
