/* A verb's target, held for one call: the one prologue of every map and
 * setgroups verb (check the argument, hold the process, check once that
 * it still runs), the kernel's refusals of its /proc files explained,
 * and the direct procfs writes. Below linxuser.c and lroute.c; calls
 * procfs, idmap and lerror. */
#ifndef LINX_LTARGET_H
#define LINX_LTARGET_H

#include "support/compat.h"
#include "core/idmap.h"
#include "os/procfs.h"

#include <stddef.h>

/* Which map: the one type for uid vs gid, also an index (0, 1). */
enum map_kind { UID_MAP, GID_MAP };

/* "uid_map" / "gid_map", and the verb that writes it ("set_uid_map" /
 * "set_gid_map"). */
const char *ltarget_map_file(enum map_kind k);
const char *ltarget_map_op(enum map_kind k);

/* Is argument idx a target (a positive integral pid, or a handle that is
 * not closed)? Returns 0, or pushes nil, err (bad_target) and returns 2.
 * Nothing is kept: a verb checks first (so that a bad target is named
 * before a bad map), reads every Lua value, and only then opens it. */
int ltarget_check(lua_State *L, int idx, const char *op);

/* The prologue: push a held target (a userdata: its fds are closed on
 * every return path, by __gc when a Lua error unwinds), resolve argument
 * idx into it (a handle closed since ltarget_check is bad_target, under
 * op), then check once that the process still runs: a gone target is the
 * os error of what the verb does first (first_op on file). Every
 * allocation of the call must come before: from here to the last write
 * no Lua code may run. *t is set either way; ltarget_drop it after the
 * last write. Returns 0, or pushes nil, err and returns 2. */
int ltarget_open(lua_State *L, int idx, const char *op, const char *first_op, const char *file,
                 struct procfs_target **t);

/* Let the target's fds go (repeatable). */
void ltarget_drop(struct procfs_target *t);

/* nil, err, code for a refusal err of file, with a hint for the
 * refusals people actually hit; returns 3. */
int ltarget_os_error(lua_State *L, const char *op, const struct procfs_target *t, const char *file,
                     int err);

/* Is the target's setgroups "allow" (0 when unreadable)? */
int ltarget_setgroups_allowed(const struct procfs_target *t);

/* Write "deny" to setgroups (operation deny_setgroups). Returns 0, or
 * pushes nil, err, code and returns 3. */
int ltarget_deny_setgroups(lua_State *L, const struct procfs_target *t);

/* Render validated entries and write them into the map file in one
 * write(). Returns 0, or pushes nil, err[, code] and returns their number. */
int ltarget_write_map(lua_State *L, const char *op, const struct procfs_target *t, enum map_kind kind,
                      const struct idmap_entry *entries, size_t count);

/* Make the held target's metatable (once per state). */
void ltarget_register(lua_State *L);

#endif
