/* spawn{cgroup = ...} in the host (see spawn_cgroup.h). */
#include "spawn_cgroup.h"

#include "support/lerror.h"
#include "spawn_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* bad_option for spawn{cgroup} (lerror.c builds every error). */
static int bad(lua_State *L, const char *reason, int value_idx)
{
    return linx_bad_option(L, "spawn", "cgroup", reason, value_idx, 0);
}

int linx_cgroup_opt(lua_State *L, int idx, int *fd, const char **path)
{
    *fd = -1;
    *path = NULL;
    if (lua_isnil(L, idx))
        return 0;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (s[0] != '/' || linx_has_nul(s, len))
            return bad(L, s[0] != '/' ? "not_absolute" : "bad_path", idx);
        *path = s; /* anchored: the value stays on the caller's stack */
        return 0;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v >= 0 && v <= 2147483647.0) || floor(v) != v || fcntl((int)v, F_GETFD) < 0)
            return bad(L, "bad_fd", idx);
        *fd = (int)v;
        return 0;
    }
    const char *why;
    FILE *f = linx_spawn_lua_file(L, idx, &why);
    if (f == NULL) /* not_a_file: neither a path nor an fd either */
        return bad(L, strcmp(why, "closed") == 0 ? why : "not_a_path_or_fd", idx);
    *fd = fileno(f);
    return 0;
}

int linx_cgroup_open(int fd, const char *path, int *out, int *owned)
{
    *owned = 0;
    *out = fd;
    if (path == NULL)
        return 0;
    /* O_PATH is enough: clone3 only needs the directory. */
    *out = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*out < 0)
        return errno;
    if (*out < 3) {
        /* A host running with stdio closed: keep it off 0..2, where the
         * workload would take it for an inherited stdin/stdout/stderr. */
        int high = fcntl(*out, F_DUPFD_CLOEXEC, 3);
        int err = errno;
        close(*out);
        *out = high;
        if (high < 0)
            return err;
    }
    *owned = 1;
    return 0;
}

const char *linx_cgroup_hint(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return "the caller may not write the cgroup's cgroup.procs (nor that of the cgroup it is in now, up to the "
               "common ancestor): delegate the directory to this user";
    case EBUSY:
        return "the cgroup has controllers enabled for its children (no internal processes): use a leaf cgroup";
    case EBADF:
    case EINVAL:
        return "spawn's cgroup must be a directory of a cgroup v2 hierarchy (cgroup2 mounted at /sys/fs/cgroup or "
               "/sys/fs/cgroup/unified)";
    case ENOSYS:
    case E2BIG:
        return "clone3 with CLONE_INTO_CGROUP needs Linux 5.7";
    case ENODEV:
    case ENOENT:
        return "the cgroup was removed";
    default: return NULL;
    }
}
