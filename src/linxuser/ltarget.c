/* A verb's target held for one call (ltarget.h): the prologue every map
 * and setgroups verb shares, the one liveness check, the hints for the
 * kernel's refusals, and the direct writes of setgroups and the maps. */
#include "ltarget.h"

#include "support/handle.h"
#include "core/hostutil.h"
#include "support/lerror.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TARGET_MT "linxuser.target"

const char *ltarget_map_file(enum map_kind k)
{
    return k == UID_MAP ? "uid_map" : "gid_map";
}

const char *ltarget_map_op(enum map_kind k)
{
    return k == UID_MAP ? "set_uid_map" : "set_gid_map";
}

/* ---- the prologue ----------------------------------------------------- */

int ltarget_check(lua_State *L, int idx, const char *op)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (n >= 1 && n <= INT_MAX && floor(n) == n)
            return 0;
    } else if (lua_type(L, idx) == LUA_TUSERDATA) {
        const struct linx_target_ref *ref = luaL_testudata(L, idx, LINX_HANDLE_MT);
        if (ref != NULL && ref->procfd >= 0)
            return 0;
    }
    return linx_bad_target(L, op, idx);
}

void ltarget_drop(struct procfs_target *t)
{
    linx_close_fd(&t->dirfd);
    linx_close_fd(&t->pidfd);
}

static int target_gc(lua_State *L)
{
    ltarget_drop(lua_touserdata(L, 1));
    return 0;
}

/* A target held for one call: a userdata pushed on the stack, empty
 * until resolve. Made before the handle is resolved, as is every other
 * allocation of the call: an allocation may run a finalizer (Lua code)
 * that closes the handle. */
static struct procfs_target *target_new(lua_State *L)
{
    struct held {
        struct procfs_target t; /* first: target_gc reads it */
        const char *failed;     /* the call behind an error, for err.syscall */
    } *h = lua_newuserdata(L, sizeof *h);
    struct procfs_target *t = &h->t;
    t->pid = 0;
    t->dirfd = -1;
    t->pidfd = -1;
    h->failed = NULL;
    t->failed = &h->failed;
    luaL_setmetatable(L, TARGET_MT);
    return t;
}

/* Resolve argument idx into *t, with our own duplicates of a handle's
 * /proc/<pid> fd and pidfd: from here to the last write no Lua code may
 * run, and even if some did, closing the handle could not make a write
 * land in another process. A handle closed since ltarget_check is
 * bad_target. Returns 0, or pushes nil, err and returns 2. */
static int resolve(lua_State *L, int idx, const char *op, struct procfs_target *t)
{
    if (ltarget_check(L, idx, op) != 0)
        return 2;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        t->pid = (pid_t)lua_tonumber(L, idx);
        return 0;
    }
    const struct linx_target_ref *ref = lua_touserdata(L, idx);
    t->pid = ref->pid;
    t->dirfd = fcntl(ref->procfd, F_DUPFD_CLOEXEC, 3);
    if (t->dirfd >= 0 && ref->pidfd >= 0)
        t->pidfd = fcntl(ref->pidfd, F_DUPFD_CLOEXEC, 3);
    if (t->dirfd < 0 || (ref->pidfd >= 0 && t->pidfd < 0)) {
        int err = errno;
        ltarget_drop(t);
        return linx_error_os_call(L, op, "fcntl", NULL, err, NULL);
    }
    return 0;
}

int ltarget_open(lua_State *L, int idx, const char *op, const char *first_op, const char *file,
                 struct procfs_target **t)
{
    *t = target_new(L);
    int n = resolve(L, idx, op, *t);
    if (n != 0)
        return n;
    /* The one liveness check of the call, before its first read or
     * write (a zombie's map files take writes that can never matter). */
    int err = procfs_alive(*t);
    return err != 0 ? ltarget_os_error(L, first_op, *t, file, err) : 0;
}

/* ---- kernel refusals -------------------------------------------------- */

/* Read a target's map file just to decide whether it was already written. */
static int map_written(const struct procfs_target *t, const char *file)
{
    char *text;
    size_t len;
    if (procfs_read_all(t, file, &text, &len) != 0)
        return 0;
    size_t found = idmap_parse(text, len, NULL, 0);
    free(text);
    return found > 0;
}

int ltarget_setgroups_allowed(const struct procfs_target *t)
{
    char *text;
    size_t len;
    if (procfs_read_all(t, "setgroups", &text, &len) != 0)
        return 0;
    int allow = strncmp(text, "allow", 5) == 0;
    free(text);
    return allow;
}

/* Does the target share this process's user namespace (a child spawned
 * without "user")? Its maps are then the ones this process lives under. */
static int in_own_userns(const struct procfs_target *t)
{
    struct stat mine, its;
    int fd = procfs_open(t, "ns/user", O_RDONLY);
    if (fd < 0)
        return 0;
    int ok = fstat(fd, &its) == 0 && stat("/proc/self/ns/user", &mine) == 0;
    close(fd);
    return ok && mine.st_dev == its.st_dev && mine.st_ino == its.st_ino;
}

/* Explain the refusals people actually hit; NULL when we know no better. */
static const char *hint_for(const struct procfs_target *t, const char *file, int err)
{
    if (err == ENOENT || err == ESRCH)
        return "the target process has exited";
    if ((err == EPERM || err == EACCES) && in_own_userns(t))
        return "the target shares this process's user namespace, whose maps were written when "
               "it was made: the likely mistake is a spawn without namespaces = {\"user\"}";
    if (err == EACCES)
        return "the target's /proc files belong to another user";
    if (err != EPERM)
        return NULL;
    if (strcmp(file, "setgroups") == 0)
        return map_written(t, "gid_map")
                   ? "setgroups cannot change once gid_map has been written"
                   : "only a writer with CAP_SYS_ADMIN over the target's user namespace "
                     "may change setgroups";
    if (map_written(t, file))
        return "maps are write-once: this map was already written";
    if (strcmp(file, "gid_map") == 0 && geteuid() != 0 && ltarget_setgroups_allowed(t))
        return "an unprivileged writer must deny setgroups first (deny_setgroups, or "
               "setup_maps without setgroups = \"skip\"), or write through newgidmap";
    return "an unprivileged writer may map only its own id, as one entry of length 1, "
           "from the parent namespace; ranges need CAP_SETUID/CAP_SETGID there "
           "(or newuidmap/newgidmap)";
}

int ltarget_os_error(lua_State *L, const char *op, const struct procfs_target *t, const char *file,
                     int err)
{
    const char *call = t->failed != NULL ? *t->failed : NULL; /* before hint_for reads more */
    char path[64];
    procfs_path(t, file, path, sizeof path);
    return linx_error_os_call(L, op, call, path, err, hint_for(t, file, err));
}

/* ---- direct writes ---------------------------------------------------- */

int ltarget_deny_setgroups(lua_State *L, const struct procfs_target *t)
{
    static const char deny[] = "deny";
    int err = procfs_write_once(t, "setgroups", deny, sizeof deny - 1);
    if (err != 0)
        return ltarget_os_error(L, "deny_setgroups", t, "setgroups", err);
    return 0;
}

int ltarget_write_map(lua_State *L, const char *op, const struct procfs_target *t, enum map_kind kind,
                      const struct idmap_entry *entries, size_t count)
{
    char text[IDMAP_MAX_TEXT];
    long len = idmap_render(entries, count, text, sizeof text);
    if (len < 0) /* validated already: cannot happen, but never write half */
        return linx_bad_map(L, op, "too_long", 0, 0);
    int err = procfs_write_once(t, ltarget_map_file(kind), text, (size_t)len);
    if (err != 0)
        return ltarget_os_error(L, op, t, ltarget_map_file(kind), err);
    return 0;
}

void ltarget_register(lua_State *L)
{
    if (luaL_newmetatable(L, TARGET_MT)) {
        lua_pushcfunction(L, target_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}
