/* setup_maps, the whole pipeline in one room (lroute.h): read every Lua
 * value (the target, the maps, the options), reserve what the helpers
 * need, resolve the target (ltarget.c: the one prologue and liveness
 * check), plan each map's route (procfs directly, or the setuid
 * newuidmap/newgidmap helpers, found before the first write), write. */
#include "lroute.h"

#include "os/idhelper.h"
#include "support/lerror.h"
#include "support/lmaps.h"
#include "ltarget.h"

#include <errno.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum route_mode { ROUTE_AUTO, ROUTE_ALWAYS, ROUTE_NEVER };

/* One setup_maps call, step by step; arrays by enum map_kind. */
struct setup {
    /* read */
    int deny;                   /* deny setgroups first (not "skip") */
    struct lmaps_list map[2];   /* validated, arrays on the Lua stack */
    enum route_mode mode;       /* opts.helper */
    const char *name[2];        /* helper names, kept on the Lua stack */
    long timeout_ms;            /* each helper's time limit (LINX_HELPER_TIMEOUT) */
    /* reserve */
    int64_t own[2];             /* our euid and egid */
    int helper[2];              /* this map goes through its helper */
    void *scratch;              /* the helper runs' buffers, a userdata on the stack; NULL when none can run */
    /* resolve */
    struct procfs_target *t;
    /* plan */
    char path[2][PATH_MAX];     /* each helper's resolved path */
};

/* ---- read: every Lua value, before anything else ----------------------- */

/* A key setup_maps does not know, such as the typo "setgroup", would
 * otherwise leave setgroups at its default unnoticed. */
static int unknown_setup_key(lua_State *L, int opts)
{
    static const char *const known[] = {"uid",    "gid",       "setgroups", "helper",
                                        "newuidmap", "newgidmap", NULL};
    if (!linx_unknown_key(L, opts, known))
        return 0;
    const char *k = linx_plain_key(L, -1, 40);
    return linx_bad_option(L, "setup_maps", k != NULL ? k : "opts", "unknown_option", 0, 0);
}

/* opts.helper ("auto" default, "always", "never") and the optional
 * opts.newuidmap / opts.newgidmap names. Leaves values on the stack. */
static int read_route(lua_State *L, int opts, struct setup *s)
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
    s->mode = ROUTE_AUTO;
    if (!lua_isnil(L, top + 1)) {
        const char *v = lua_type(L, top + 1) == LUA_TSTRING ? lua_tostring(L, top + 1) : "";
        if (strcmp(v, "auto") == 0)
            s->mode = ROUTE_AUTO;
        else if (strcmp(v, "always") == 0)
            s->mode = ROUTE_ALWAYS;
        else if (strcmp(v, "never") == 0)
            s->mode = ROUTE_NEVER;
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
    s->name[UID_MAP] = lua_isnil(L, top + 2) ? "newuidmap" : lua_tostring(L, top + 2);
    s->name[GID_MAP] = lua_isnil(L, top + 3) ? "newgidmap" : lua_tostring(L, top + 3);
    s->helper[UID_MAP] = s->helper[GID_MAP] = 0;
    s->path[UID_MAP][0] = s->path[GID_MAP][0] = '\0';
    s->scratch = NULL;
    s->timeout_ms = idhelper_timeout_ms(getenv("LINX_HELPER_TIMEOUT"));
    return 0;
}

/* The target argument checked (so a bad target is named before a bad
 * map), the options and both maps read and validated. Options may run
 * metamethods: all of it happens before the target is resolved.
 * Stack: 1 = target, 2 = opts, 3 = uid, 4 = gid, 5 = setgroups. */
static int read_all(lua_State *L, struct setup *s)
{
    static const char op[] = "setup_maps";
    int n = ltarget_check(L, 1, op);
    if (n != 0)
        return n;
    if (lua_type(L, 2) != LUA_TTABLE)
        return linx_bad_option(L, op, "opts", "not_a_table", 0, 0);
    if ((n = unknown_setup_key(L, 2)) != 0)
        return n;
    static const char *const keys[] = {"uid", "gid", "setgroups"};
    for (int i = 0; i < 3; i++)
        if ((n = lmaps_get_option(L, 2, keys[i], op)) != 0)
            return n;
    if (lua_isnil(L, 3))
        return linx_bad_option(L, op, "uid", "missing", 0, 0);
    if (lua_isnil(L, 4))
        return linx_bad_option(L, op, "gid", "missing", 0, 0);
    /* field says which of the two maps was bad */
    if ((n = lmaps_read(L, 3, op, "uid", LMAPS_KERNEL, &s->map[UID_MAP])) != 0 ||
        (n = lmaps_read(L, 4, op, "gid", LMAPS_KERNEL, &s->map[GID_MAP])) != 0)
        return n;
    s->deny = 1;
    if (!lua_isnil(L, 5)) {
        const char *v = lua_type(L, 5) == LUA_TSTRING ? lua_tostring(L, 5) : NULL;
        if (v != NULL && strcmp(v, "skip") == 0)
            s->deny = 0;
        else if (v == NULL || strcmp(v, "deny") != 0)
            return linx_bad_setgroups(L, op, 5);
    }
    return read_route(L, 2, s);
}

/* ---- reserve: which maps may need a helper, and its buffers ----------- */

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
static int may_write(const struct setup *s, enum map_kind k, int needs_deny)
{
    const struct idmap_entry *e = s->map[k].e;
    /* The own-id line needs no capability: skip the capget for it. */
    if (s->map[k].n == 1 && e[0].length == 1 && e[0].outside == s->own[k] && !needs_deny)
        return 1;
    return has_cap(k == UID_MAP ? CAP_SETUID : CAP_SETGID);
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

/* The scratch reserve makes: one run per map, by enum map_kind. */
static size_t scratch_size(void)
{
    return 2 * sizeof(struct run);
}

/* The last Lua step, before the target is resolved. */
static void reserve(lua_State *L, struct setup *s)
{
    enum route_mode mode = s->mode;
    s->own[UID_MAP] = geteuid();
    s->own[GID_MAP] = getegid();
    s->helper[UID_MAP] = mode == ROUTE_ALWAYS || (mode == ROUTE_AUTO && !may_write(s, UID_MAP, 0));
    /* setgroups "skip" may leave it allow: the gid map's worst case. */
    s->helper[GID_MAP] = mode == ROUTE_ALWAYS || (mode == ROUTE_AUTO && !may_write(s, GID_MAP, !s->deny));
    /* Made now, before the target is resolved: an allocation may run Lua
     * code (a finalizer), which must not happen between the resolving
     * and the last write. Only when a helper may run: the buffers are
     * tens of kilobytes, garbage after every call. */
    if (s->helper[UID_MAP] || s->helper[GID_MAP])
        s->scratch = lua_newuserdata(L, scratch_size());
}

/* ---- plan: each map's route, the helpers found, before any write ------ */

/* helper = "never", and the gid map is one the kernel will refuse from
 * this process: say so before the uid map is spent on a setup that
 * cannot finish. */
static int refused_gid(lua_State *L, const struct setup *s, int setgroups_allow)
{
    linx_helper_error(L, "set_gid_map", s->name[GID_MAP], "never");
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

static int find_helper(lua_State *L, const char *op, const char *name, char *out)
{
    int err = idhelper_find(name, getenv("PATH"), out, PATH_MAX);
    if (err == 0)
        return 0;
    /* Not found, or not executable, is "missing"; a path that is there
     * but cannot be looked at (ELOOP, EIO, ...) is "exec", as execve
     * would fail on it. */
    int missing = err == ENOENT || err == EACCES || err == ENAMETOOLONG;
    linx_helper_error(L, op, name, missing ? "missing" : "exec");
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

/* From what the kernel will take from this process, now that the
 * target's setgroups is known. Runs no Lua code unless it fails. */
static int plan(lua_State *L, struct setup *s)
{
    enum route_mode mode = s->mode;
    /* the target's setgroups will still be "allow" when the gid map is written */
    int setgroups_allow = !s->deny && ltarget_setgroups_allowed(s->t);
    /* reserve decided the uid map and the gid map's worst case; the
     * target's setgroups, known now, can only spare the gid helper, so a
     * helper never runs without its buffers. */
    int gid_direct = may_write(s, GID_MAP, setgroups_allow);
    s->helper[GID_MAP] = s->helper[GID_MAP] && (mode == ROUTE_ALWAYS || !gid_direct);
    /* A uid map the kernel refuses is its EPERM at the first map write,
     * with nothing spent; a gid map it would refuse after the uid map
     * went in is refused here. */
    if (mode == ROUTE_NEVER && !gid_direct && may_write(s, UID_MAP, 0))
        return refused_gid(L, s, setgroups_allow);
    /* Find both helpers before the first write: a missing one leaves
     * nothing behind. */
    for (enum map_kind k = UID_MAP; k <= GID_MAP; k++) {
        int n;
        if (s->helper[k] && (n = find_helper(L, ltarget_map_op(k), s->name[k], s->path[k])) != 0)
            return n;
    }
    return 0;
}

/* ---- write: setgroups, then each map directly or through its helper --- */

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
 * have been reused; the resolve step checked that it still runs. */
static struct run *run_init(const struct setup *s, enum map_kind k)
{
    struct run *run = (struct run *)s->scratch + k;
    run->path = s->path[k];
    run->res = &run->result;
    run->started = 0;
    idhelper_argv(run->path, s->t->pid, s->map[k].e, s->map[k].n, run->argv, run->text);
    return run;
}

/* A helper run that failed, as the error table. */
static int run_failed(lua_State *L, enum map_kind kind, struct run *run)
{
    const char *op = ltarget_map_op(kind);
    const char *path = run->path;
    struct idhelper_result *res = run->res;
    trim_end(res->out, &res->out_len);
    static const char *const reasons[] = {"ok", "exit", "signal", "exec", "spawn", "timeout"};
    linx_helper_error(L, op, path, reasons[res->outcome]);
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

/* One map through its helper. Runs no Lua code unless it fails. */
static int write_helper(lua_State *L, const struct setup *s, enum map_kind k)
{
    struct run *run = run_init(s, k);
    if (idhelper_run(run->path, run->argv, s->timeout_ms, run->res) == 0)
        return 0;
    return run_failed(L, k, run);
}

/* Both maps through their helpers, newuidmap and newgidmap side by side:
 * both started, then both waited for (one that fails still lets the
 * other finish and be reaped). The first failure in the order uid, gid
 * is the error (its operation and helper say which); the other map may
 * be written meanwhile. Runs no Lua code unless it fails. */
static int write_both(lua_State *L, const struct setup *s)
{
    struct run *runs[2] = {run_init(s, UID_MAP), run_init(s, GID_MAP)};
    /* Both started, then both finished: the helpers run side by side,
     * and one that fails (to start, or in its run) never leaves the other
     * unreaped. */
    int failed[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        runs[i]->started = 0;
        if (i == 1 && failed[0])
            break; /* newuidmap did not start: nothing is written */
        failed[i] = idhelper_start(runs[i]->path, runs[i]->argv, s->timeout_ms, &runs[i]->proc,
                                   runs[i]->res) != 0;
        runs[i]->started = !failed[i];
    }
    for (int i = 0; i < 2; i++)
        if (runs[i]->started)
            failed[i] = idhelper_finish(&runs[i]->proc, runs[i]->res) != 0;
    int n = 0;
    for (int i = 0; i < 2 && n == 0; i++)
        if (failed[i])
            n = run_failed(L, (enum map_kind)i, runs[i]);
    return n;
}

static int write_all(lua_State *L, const struct setup *s)
{
    int n;
    if (s->deny && (n = ltarget_deny_setgroups(L, s->t)) != 0)
        return n;
    /* Both through the helpers: side by side, one wait for the two. */
    if (s->helper[UID_MAP] && s->helper[GID_MAP])
        return write_both(L, s);
    for (enum map_kind k = UID_MAP; k <= GID_MAP; k++) {
        n = s->helper[k] ? write_helper(L, s, k)
                         : ltarget_write_map(L, ltarget_map_op(k), s->t, k, s->map[k].e, s->map[k].n);
        if (n != 0)
            return n;
    }
    return 0;
}

/* ---- the verb --------------------------------------------------------- */

/* linxuser.setup_maps (its API comment is in linxuser.c, with the
 * other verbs): the five steps in order. */
int lroute_setup_maps(lua_State *L)
{
    struct setup s = {.deny = 1, .mode = ROUTE_AUTO};
    lua_settop(L, 2);
    int n = read_all(L, &s);
    if (n != 0)
        return n;
    reserve(L, &s);
    /* From here on nothing but C runs until the last write. The target
     * found gone is the error of the first write. */
    n = ltarget_open(L, 1, "setup_maps", s.deny ? "deny_setgroups" : "set_uid_map",
                     s.deny ? "setgroups" : "uid_map", &s.t);
    if (n == 0)
        n = plan(L, &s);
    if (n == 0)
        n = write_all(L, &s);
    ltarget_drop(s.t);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}
