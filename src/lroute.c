/* setup_maps through newuidmap / newgidmap (lroute.h): the route of
 * each map, planned before the first write, and the helper's run
 * turned into an error table. */
#include "lroute.h"

#include "idhelper.h"
#include "lerror.h"
#include "lmaps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int has_cap(int cap)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0;
    return (int)((data[cap / 32].effective >> (cap % 32)) & 1U);
}

/* Will the kernel take this map from this process directly? With
 * CAP_SETUID/CAP_SETGID (root), any map; without, only the one line it
 * allows: its own effective id, length 1, and for the gid map only
 * while the target's setgroups is deny. Anything else is EPERM. */
static int may_write(int cap, int64_t own, const struct idmap_entry *e, size_t n,
                     int needs_deny)
{
    /* The own-id line needs no capability: skip the capget for it. */
    if (n == 1 && e[0].length == 1 && e[0].outside == own && !needs_deny)
        return 1;
    return has_cap(cap);
}

static void helper_error(lua_State *L, const char *op, const char *helper, const char *reason)
{
    linx_error_new(L, "helper", op);
    linx_error_setstr(L, "helper", helper);
    linx_error_setstr(L, "reason", reason);
}

static int find_helper(lua_State *L, const char *op, const char *name, char *out)
{
    int err = idhelper_find(name, getenv("PATH"), out, PATH_MAX);
    if (err == 0)
        return 0;
    /* Not found, or not executable, is "missing"; a path that is there
     * but cannot be looked at (ELOOP, EIO, ...) is "exec", as execve
     * would fail on it. */
    int missing = err == ENOENT || err == EACCES || err == ENAMETOOLONG;
    helper_error(L, op, name, missing ? "missing" : "exec");
    linx_error_setstr(L, "errno", linx_errno_name(err));
    linx_error_setint(L, "code", err);
    const char *why = err == EACCES ? "is not executable" : "was not found";
    if (!missing)
        lua_pushfstring(L, "cannot run %s: %s", name, strerror(err));
    else if (strchr(name, '/') != NULL)
        lua_pushfstring(L, "%s %s", name, why);
    else
        lua_pushfstring(L, "%s %s in PATH", name, why);
    lua_setfield(L, -2, "message");
    if (missing)
        linx_error_setstr(L, "hint", "install the uidmap package, or map only the caller's own id");
    return linx_error_return(L);
}

int lroute_read(lua_State *L, int opts, struct lroute *route)
{
    static const char op[] = "setup_maps";
    static const char *const keys[] = {"helper", "newuidmap", "newgidmap"};
    int top = lua_gettop(L);
    for (int i = 0; i < 3; i++) {
        int n = lmaps_get_option(L, opts, keys[i], op);
        if (n != 0)
            return n;
    }
    /* top+1 = helper, top+2 = newuidmap, top+3 = newgidmap: they stay
     * on the stack, so the names below stay valid. */
    route->mode = LROUTE_AUTO;
    if (!lua_isnil(L, top + 1)) {
        const char *v = lua_type(L, top + 1) == LUA_TSTRING ? lua_tostring(L, top + 1) : "";
        if (strcmp(v, "auto") == 0)
            route->mode = LROUTE_AUTO;
        else if (strcmp(v, "always") == 0)
            route->mode = LROUTE_ALWAYS;
        else if (strcmp(v, "never") == 0)
            route->mode = LROUTE_NEVER;
        else
            return linx_bad_option(L, op, "helper", "invalid", top + 1, 0);
    }
    for (int i = 2; i <= 3; i++) {
        if (lua_isnil(L, top + i))
            continue;
        if (lua_type(L, top + i) != LUA_TSTRING)
            return linx_bad_option(L, op, keys[i - 1], "not_a_string", top + i, 0);
        /* exec would take the name only up to a NUL: another program */
        size_t len;
        const char *name = lua_tolstring(L, top + i, &len);
        if (strlen(name) != len)
            return linx_bad_option(L, op, keys[i - 1], "contains_nul", top + i, 0);
    }
    route->uname = lua_isnil(L, top + 2) ? "newuidmap" : lua_tostring(L, top + 2);
    route->gname = lua_isnil(L, top + 3) ? "newgidmap" : lua_tostring(L, top + 3);
    route->uid_helper = route->gid_helper = 0;
    route->uid_path[0] = route->gid_path[0] = '\0';
    route->scratch = NULL;
    route->timeout_ms = idhelper_timeout_ms(getenv("LINX_HELPER_TIMEOUT"));
    return 0;
}

void lroute_reserve(lua_State *L, struct lroute *route, const struct idmap_entry *uid, size_t nuid,
                    const struct idmap_entry *gid, size_t ngid, int skip_setgroups)
{
    int mode = route->mode;
    route->euid = geteuid();
    route->egid = getegid();
    route->uid_helper = mode == LROUTE_ALWAYS ||
                        (mode == LROUTE_AUTO && !may_write(CAP_SETUID, route->euid, uid, nuid, 0));
    /* setgroups "skip" may leave it allow: the gid map's worst case. */
    route->gid_helper = mode == LROUTE_ALWAYS ||
                        (mode == LROUTE_AUTO &&
                         !may_write(CAP_SETGID, route->egid, gid, ngid, skip_setgroups));
    /* Made now, before the target is resolved: an allocation may run Lua
     * code (a finalizer), which must not happen between the resolving
     * and the last write. Only when a helper may run: the buffers are
     * tens of kilobytes, garbage after every call. */
    if (route->uid_helper || route->gid_helper)
        route->scratch = lua_newuserdata(L, lroute_scratch_size());
}

/* helper = "never", and the gid map is one the kernel will refuse from
 * this process: say so before the uid map is spent on a setup that
 * cannot finish. */
static int refused_gid(lua_State *L, const struct lroute *route, int setgroups_allow)
{
    helper_error(L, "set_gid_map", route->gname, "never");
    lua_pushstring(L, setgroups_allow
                          ? "without CAP_SETGID the kernel takes a gid map only once setgroups "
                            "is deny, and setgroups = \"skip\" leaves it allow; helper = "
                            "\"never\" rules out newgidmap: nothing was written"
                          : "without CAP_SETGID the kernel takes only the caller's own gid, "
                            "length 1; helper = \"never\" rules out newgidmap: nothing was "
                            "written");
    lua_setfield(L, -2, "message");
    linx_error_setstr(L, "hint",
                      setgroups_allow ? "drop setgroups = \"skip\" (setup_maps denies setgroups "
                                        "first), or let newgidmap write it (helper = \"auto\")"
                                      : "let newgidmap write it (helper = \"auto\"), or map only "
                                        "the caller's own gid");
    return linx_error_return(L);
}

int lroute_plan(lua_State *L, struct lroute *route, const struct idmap_entry *uid, size_t nuid,
                const struct idmap_entry *gid, size_t ngid, int setgroups_allow)
{
    int mode = route->mode;
    /* lroute_reserve decided the uid map and the gid map's worst case;
     * the target's setgroups, known now, can only spare the gid helper,
     * so a helper never runs without its buffers. */
    int gid_direct = may_write(CAP_SETGID, route->egid, gid, ngid, setgroups_allow);
    route->gid_helper = route->gid_helper && (mode == LROUTE_ALWAYS || !gid_direct);
    /* A uid map the kernel refuses is its EPERM at the first map write,
     * with nothing spent; a gid map it would refuse after the uid map
     * went in is refused here. */
    if (mode == LROUTE_NEVER && !gid_direct &&
        may_write(CAP_SETUID, route->euid, uid, nuid, 0))
        return refused_gid(L, route, setgroups_allow);
    /* Find both helpers before the first write: a missing one leaves
     * nothing behind. */
    int n;
    if (route->uid_helper &&
        (n = find_helper(L, "set_uid_map", route->uname, route->uid_path)) != 0)
        return n;
    if (route->gid_helper &&
        (n = find_helper(L, "set_gid_map", route->gname, route->gid_path)) != 0)
        return n;
    return 0;
}

static void trim_end(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == ' ' || s[*len - 1] == '\r'))
        s[--*len] = '\0';
}

static const char *helper_hint(const char *out)
{
    if (strstr(out, "not allowed") != NULL)
        return "the caller owns no such subordinate range: compare the map with "
               "linxuser.subids() (/etc/subuid, /etc/subgid)";
    if (strstr(out, "owned by a different user") != NULL)
        return "the helpers only map a process whose uid and gid are the caller's real uid "
               "and primary gid";
    if (strstr(out, "user name") != NULL)
        return "the caller's uid has no passwd entry";
    return NULL;
}

/* The helper names the target by pid. A handle's child is unreaped
 * until wait() or close(), neither of which can run in this call (no Lua
 * code runs between resolving the handle and here), so its pid cannot
 * have been reused; check that it still runs, as the procfs path does,
 * right before the helpers. */
static int check_target(lua_State *L, int gid_map, const struct procfs_target *t)
{
    int gone = procfs_alive(t);
    if (gone == 0)
        return 0;
    char file[64];
    procfs_path(t, gid_map ? "gid_map" : "uid_map", file, sizeof file);
    return linx_error_os_call(L, gid_map ? "set_gid_map" : "set_uid_map",
                              t->failed != NULL ? *t->failed : NULL, file, gone,
                              gone == ENOENT || gone == ESRCH ? "the target process has exited"
                                                              : NULL);
}

/* One helper's run on the way: its argument vector and result. */
struct run {
    const char *path;
    struct idhelper_result *res;
    struct idhelper_proc proc;
    int started;
    char *argv[IDHELPER_MAX_ARGS];
    char text[IDHELPER_ARGTEXT];
    struct idhelper_result result;
};

size_t lroute_scratch_size(void)
{
    return 2 * sizeof(struct run);
}

static void run_init(struct run *run, const struct lroute *route, int gid_map,
                     const struct procfs_target *t, const struct idmap_entry *entries,
                     size_t count)
{
    run->path = gid_map ? route->gid_path : route->uid_path;
    run->res = &run->result;
    run->started = 0;
    idhelper_argv(run->path, t->pid, entries, count, run->argv, run->text);
}

/* A helper run that failed, as the error table. */
static int run_failed(lua_State *L, int gid_map, struct run *run)
{
    const char *op = gid_map ? "set_gid_map" : "set_uid_map";
    const char *path = run->path;
    struct idhelper_result *res = run->res;
    trim_end(res->out, &res->out_len);
    static const char *const reasons[] = {"ok", "exit", "signal", "exec", "spawn", "timeout"};
    helper_error(L, op, path, reasons[res->outcome]);
    lua_createtable(L, IDHELPER_MAX_ARGS, 0);
    for (size_t i = 0; run->argv[i] != NULL; i++) {
        lua_pushstring(L, run->argv[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    lua_setfield(L, -2, "argv");
    lua_pushlstring(L, res->out, res->out_len);
    lua_setfield(L, -2, "stderr");
    const char *hint = helper_hint(res->out);
    switch (res->outcome) {
    case IDHELPER_EXIT:
        linx_error_setint(L, "status", res->status);
        lua_pushfstring(L, "%s exited with status %d", path, res->status);
        break;
    case IDHELPER_SIGNAL:
        linx_error_setint(L, "signal", res->status);
        lua_pushfstring(L, "%s was killed by signal %d", path, res->status);
        break;
    case IDHELPER_TIMEOUT:
        lua_pushnumber(L, (lua_Number)res->timeout_ms / 1000);
        lua_setfield(L, -2, "seconds");
        lua_pushnumber(L, (lua_Number)res->timeout_ms / 1000);
        lua_pushfstring(L, "%s still ran after %s s: killed (SIGKILL) and reaped", path,
                        lua_tostring(L, -1));
        lua_remove(L, -2);
        if (hint == NULL)
            hint = "a helper that hangs waits on something (a user database, PAM, NFS); "
                   "LINX_HELPER_TIMEOUT sets the limit in seconds";
        break;
    case IDHELPER_SPAWN:
        linx_error_setstr(L, "errno", linx_errno_name(res->err));
        linx_error_setint(L, "code", res->err);
        linx_error_setstr(L, "syscall", res->call != NULL ? res->call : "?");
        lua_pushfstring(L, "cannot start %s: %s: %s", path, res->call != NULL ? res->call : "?",
                        strerror(res->err));
        break;
    default: /* exec */
        linx_error_setstr(L, "errno", linx_errno_name(res->err));
        linx_error_setint(L, "code", res->err);
        lua_pushfstring(L, "cannot run %s: %s", path, strerror(res->err));
        break;
    }
    if (hint != NULL) {
        lua_pushstring(L, hint);
        lua_setfield(L, -3, "hint");
    }
    /* One line for tostring: the helper's own words (tostring adds the
     * hint). */
    if (res->out_len > 0) {
        lua_pushliteral(L, ": ");
        luaL_gsub(L, res->out, "\n", "; ");
        lua_concat(L, 3);
    }
    lua_setfield(L, -2, "message");
    return linx_error_return(L);
}

int lroute_write(lua_State *L, const struct lroute *route, int gid_map,
                 const struct procfs_target *t, const struct idmap_entry *entries, size_t count)
{
    int n = check_target(L, gid_map, t);
    if (n != 0)
        return n;
    struct run *run = (struct run *)route->scratch + gid_map;
    run_init(run, route, gid_map, t, entries, count);
    if (idhelper_run(run->path, run->argv, route->timeout_ms, run->res) == 0)
        return 0;
    return run_failed(L, gid_map, run);
}

int lroute_write_both(lua_State *L, const struct lroute *route, const struct procfs_target *t,
                      const struct idmap_entry *uid, size_t nuid, const struct idmap_entry *gid,
                      size_t ngid)
{
    int n = check_target(L, 0, t);
    if (n != 0)
        return n;
    struct run *runs = route->scratch;
    run_init(&runs[0], route, 0, t, uid, nuid);
    run_init(&runs[1], route, 1, t, gid, ngid);
    /* Both started, then both finished: the helpers run side by side,
     * and one that fails (to start, or in its run) never leaves the other
     * unreaped. */
    int failed[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        runs[i].started = 0;
        if (i == 1 && failed[0])
            break; /* newuidmap did not start: nothing is written */
        failed[i] = idhelper_start(runs[i].path, runs[i].argv, route->timeout_ms,
                                   &runs[i].proc, runs[i].res) != 0;
        runs[i].started = !failed[i];
    }
    for (int i = 0; i < 2; i++)
        if (runs[i].started)
            failed[i] = idhelper_finish(&runs[i].proc, runs[i].res) != 0;
    n = 0;
    for (int i = 0; i < 2 && n == 0; i++)
        if (failed[i])
            n = run_failed(L, i, &runs[i]);
    return n;
}
