/* spawn{cgroup = path_or_fd}: the cgroup v2 directory the workload starts
 * in (the keeper clones it there with clone3 CLONE_INTO_CGROUP,
 * child_clone3.h). Reading the option, and opening the path at spawn. */
#ifndef LINX_SPAWN_CGROUP_H
#define LINX_SPAWN_CGROUP_H

#include "support/compat.h"

/* The value at idx (opts.cgroup): an absolute path (*path, anchored by
 * the value), an fd number or a Lua file (*fd); nil leaves *fd -1 and
 * *path NULL. Returns 0 or pushes nil, err (bad_option) and returns 2. */
int linx_cgroup_opt(lua_State *L, int idx, int *fd, const char **path);

/* The directory fd the keeper gets (*out, -1: none) for spawn's fd or
 * path, and whether the caller closes it after the clone; 0 or an errno
 * value (open failed). */
int linx_cgroup_open(int fd, const char *path, int *out, int *owned);

/* The hint for clone3's errno into a cgroup, or NULL. */
const char *linx_cgroup_hint(int err);

#endif
