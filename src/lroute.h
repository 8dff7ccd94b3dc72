/* How setup_maps writes each map: procfs directly, or through the
 * setuid newuidmap/newgidmap helpers. Below linxuser.c; calls only
 * lmaps, idhelper, procfs and lerror. */
#ifndef LINX_LROUTE_H
#define LINX_LROUTE_H

#include "compat.h"
#include "idmap.h"
#include "procfs.h"

#include <limits.h>
#include <stddef.h>

/* The route of each map, and the helper's resolved path where used. */
struct lroute {
    int uid_helper, gid_helper;
    char uid_path[PATH_MAX], gid_path[PATH_MAX];
};

/* Read opts.helper ("auto" default, "always", "never") and the optional
 * opts.newuidmap / opts.newgidmap paths from the options table at index
 * opts, decide the route of each (validated) map and find the helpers
 * it needs, all before any write. Returns 0, or pushes nil, err and
 * returns the number of results. */
int lroute_plan(lua_State *L, int opts, const struct idmap_entry *uid, size_t nuid,
                const struct idmap_entry *gid, size_t ngid, struct lroute *route);

/* Write one map through its helper. op is "set_uid_map"/"set_gid_map".
 * Returns 0, or pushes nil, err (kind "helper") and returns 2. */
int lroute_write(lua_State *L, const char *op, const char *path, const struct procfs_target *t,
                 const struct idmap_entry *entries, size_t count);

#endif
