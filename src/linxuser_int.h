/* Internal to the linxuser module: what linxuser.c shares with
 * linxuser_ids.c (subordinate ids, the newuidmap/newgidmap route,
 * id translation). Not an API. */
#ifndef LINX_LINXUSER_INT_H
#define LINX_LINXUSER_INT_H

#include "compat.h"
#include "idmap.h"
#include "procfs.h"

#include <limits.h>
#include <stdint.h>

/* From linxuser.c: the readers every verb shares (raw access only). */
int linxuser_get_integral(lua_State *L, int idx, int64_t *out);
int linxuser_get_entry(lua_State *L, int e, struct idmap_entry *out);
int linxuser_bad_map(lua_State *L, const char *op, const char *reason, lua_Integer index,
                     int entry_idx);
/* Push a list of Maps (a sequence of count Map tables). */
void linxuser_push_map_list(lua_State *L, const struct idmap_entry *e, size_t count);
int linxuser_get_option(lua_State *L, int opts, const char *key, const char *op);

/* From linxuser_ids.c. */

/* Add subids, rootless_maps, to_host, to_inside, compose to the module
 * table on top of the stack. */
void linxuser_ids_register(lua_State *L);

/* How setup_maps writes each map: procfs directly, or through the
 * setuid helper at the resolved path. */
struct linxuser_route {
    int uid_helper, gid_helper;
    char uid_path[PATH_MAX], gid_path[PATH_MAX];
};

/* Read opts.helper ("auto" default, "always", "never") and the optional
 * opts.newuidmap / opts.newgidmap paths from the options table at index
 * opts, decide the route of each (validated) map and find the helpers
 * it needs, all before any write. Returns 0, or pushes nil, err and
 * returns the number of results. */
int linxuser_route_plan(lua_State *L, int opts, const struct idmap_entry *uid, size_t nuid,
                        const struct idmap_entry *gid, size_t ngid, struct linxuser_route *route);

/* Write one map through its helper. op is "set_uid_map"/"set_gid_map".
 * Returns 0, or pushes nil, err (kind "helper") and returns 2. */
int linxuser_route_write(lua_State *L, const char *op, const char *path,
                         const struct procfs_target *t, const struct idmap_entry *entries,
                         size_t count);

#endif
