/* How setup_maps writes each map: procfs directly, or through the
 * setuid newuidmap/newgidmap helpers. Below linxuser.c; calls only
 * lmaps, idhelper, procfs and lerror. */
#ifndef LINX_LROUTE_H
#define LINX_LROUTE_H

#include "compat.h"
#include "idhelper.h"
#include "idmap.h"
#include "procfs.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

enum lroute_mode { LROUTE_AUTO, LROUTE_ALWAYS, LROUTE_NEVER };

/* The route of each map, and the helper's resolved path where used. */
struct lroute {
    enum lroute_mode mode;
    const char *uname, *gname; /* helper names, kept on the Lua stack */
    void *scratch;   /* the helper runs' buffers, a userdata on the stack; NULL when no helper can run */
    long timeout_ms; /* each helper's time limit (LINX_HELPER_TIMEOUT) */
    int uid_helper, gid_helper;
    int64_t euid, egid; /* ours, read once by lroute_reserve */
    char uid_path[PATH_MAX], gid_path[PATH_MAX];
};

/* Read opts.helper ("auto" default, "always", "never") and the optional
 * opts.newuidmap / opts.newgidmap names from the options table at index
 * opts. Leaves values on the stack. Returns 0, or pushes nil, err and
 * returns 2. */
int lroute_read(lua_State *L, int opts, struct lroute *route);

/* The last Lua step of the route, before the target is resolved: decide
 * which maps may need a helper (skip_setgroups: setgroups = "skip", so
 * the target's setgroups may still be allow) and, if any, push the
 * helper runs' buffers. Pushes nothing when no helper can run. */
void lroute_reserve(lua_State *L, struct lroute *route, const struct idmap_entry *uid, size_t nuid,
                    const struct idmap_entry *gid, size_t ngid, int skip_setgroups);

/* Decide the route of each (validated) map from what the kernel will
 * take from this process (setgroups_allow: the target's setgroups will
 * still be "allow" when the gid map is written), after lroute_reserve
 * and the target's resolving, and find the helpers
 * it needs, all before any write. Runs no Lua code unless it fails.
 * helper = "never" with a gid map the kernel would refuse after the uid
 * map went in is an error (kind helper, reason "never"). Returns 0, or
 * pushes nil, err and returns 2. */
int lroute_plan(lua_State *L, struct lroute *route, const struct idmap_entry *uid, size_t nuid,
                const struct idmap_entry *gid, size_t ngid, int setgroups_allow);

/* Write one map (the gid map when gid_map) through its helper. Runs no
 * Lua code unless it fails. Returns 0, or pushes nil, err (kind
 * "helper") and returns 2. */
int lroute_write(lua_State *L, const struct lroute *route, int gid_map,
                 const struct procfs_target *t, const struct idmap_entry *entries, size_t count);

/* Both maps through their helpers, newuidmap and newgidmap side by side:
 * both started, then both waited for (one that fails still lets the
 * other finish and be reaped). The first failure in the order uid, gid
 * is the error (its operation and helper say which); the other map may
 * be written meanwhile. Runs no Lua code unless it fails. Returns 0, or
 * pushes nil, err and returns 2. */
int lroute_write_both(lua_State *L, const struct lroute *route, const struct procfs_target *t,
                      const struct idmap_entry *uid, size_t nuid, const struct idmap_entry *gid,
                      size_t ngid);

/* Bytes of the scratch userdata lroute_reserve makes. */
size_t lroute_scratch_size(void);

#endif
