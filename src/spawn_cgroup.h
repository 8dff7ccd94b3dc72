/* spawn{cgroup = path_or_fd}: the cgroup v2 directory the workload starts
 * in (the keeper clones it there with clone3 CLONE_INTO_CGROUP,
 * child_clone3.h). Reading the option, and opening the path at spawn. */
#ifndef LINX_SPAWN_CGROUP_H
#define LINX_SPAWN_CGROUP_H

#include "compat.h"

struct spawn_opts;

/* The value at idx (opts.cgroup): an absolute path, an fd number or a Lua
 * file, into o->cgroup_path or o->cgroup. Returns 0 or pushes nil, err
 * (bad_option) and returns 2. */
int linx_cgroup_opt(lua_State *L, int idx, struct spawn_opts *o);

/* The directory fd the keeper gets (-1: none) and whether the caller
 * closes it after the clone; 0 or an errno value (open failed). */
int linx_cgroup_open(const struct spawn_opts *o, int *fd, int *owned);

/* The hint for clone3's errno into a cgroup, or NULL. */
const char *linx_cgroup_hint(int err);

#endif
