/* spawn{cgroup = ...} in the host (see spawn_cgroup.h). */
#include "spawn_cgroup.h"

#include "spawn_opts.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int linx_cgroup_opt(lua_State *L, int idx, struct spawn_opts *o)
{
    o->cgroup = -1;
    o->cgroup_path = NULL;
    if (lua_isnil(L, idx))
        return 0;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (s[0] != '/' || memchr(s, '\0', len) != NULL)
            return linx_bad_option(L, "spawn", "cgroup", s[0] != '/' ? "not_absolute" : "bad_path", idx, 0);
        o->cgroup_path = s; /* anchored: the value stays on the caller's stack */
        return 0;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v >= 0 && v <= 2147483647.0) || floor(v) != v || fcntl((int)v, F_GETFD) < 0)
            return linx_bad_option(L, "spawn", "cgroup", "bad_fd", idx, 0);
        o->cgroup = (int)v;
        return 0;
    }
    void *ud = luaL_testudata(L, idx, LUA_FILEHANDLE);
    if (ud == NULL)
        return linx_bad_option(L, "spawn", "cgroup", "not_a_path_or_fd", idx, 0);
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 502
    luaL_Stream *st = ud;
    FILE *f = st->closef != NULL ? st->f : NULL;
#else
    FILE *f = *(FILE **)ud;
#endif
    if (f == NULL)
        return linx_bad_option(L, "spawn", "cgroup", "closed", idx, 0);
    o->cgroup = fileno(f);
    return 0;
}

int linx_cgroup_open(const struct spawn_opts *o, int *fd, int *owned)
{
    *owned = 0;
    *fd = o->cgroup;
    if (o->cgroup_path == NULL)
        return 0;
    /* O_PATH is enough: clone3 only needs the directory. */
    *fd = open(o->cgroup_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return errno;
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
