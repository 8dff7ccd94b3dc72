/* spawn's options (see spawn_opts.h). Option tables are read normally
 * (an __index of defaults works) but protected; lists are read raw. */
#include "spawn_opts.h"

#include "support/lerror.h"
#include "spawn_cgroup.h"
#include "spawn_mounts.h"
#include "spawn_policy.h"
#include "spawn_read.h"
#include "spawn_net.h"
#include "spawn_seccomp.h"

#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define NS_COUNT 7
static const struct {
    const char *name;
    unsigned long flag;
} namespaces[NS_COUNT] = {
    {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID},   {"uts", CLONE_NEWUTS},
    {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},  {"cgroup", CLONE_NEWCGROUP},
};

static const char *const option_names[] = {"argv",   "namespaces", "env", "cwd", "stdin",
                                           "stdout", "stderr",     "fds", "inside", "max_output", "cgroup", "session", NULL};


static int get_opt(lua_State *L, int opts, const char *field)
{
    return linx_spawn_get_field(L, opts, field, field);
}

/* Read opts.argv (raw) into a NULL-terminated array in a userdata pushed
 * on the stack. The strings are anchored in a private table (left below
 * the array), never by the caller's argv: a later option read runs Lua
 * code that may empty argv and collect its strings. Returns 0 or pushes
 * nil, err and returns 2. */
static int get_argv(lua_State *L, int opts, char ***out)
{
    if (get_opt(L, opts, "argv"))
        return 2;
    int t = lua_gettop(L);
    if (lua_isnil(L, t))
        return linx_bad_option(L, "spawn", "argv", "missing", 0, 0);
    if (!lua_istable(L, t))
        return linx_bad_option(L, "spawn", "argv", "not_a_list", t, 0);
    size_t n = (size_t)lua_rawlen(L, t);
    if (n == 0)
        return linx_bad_option(L, "spawn", "argv", "empty", 0, 0);
    if (n > 1u << 20)
        return linx_bad_option(L, "spawn", "argv", "too_many", 0, 0);
    lua_createtable(L, (int)n, 0);
    int anchor = lua_gettop(L);
    char **v = lua_newuserdata(L, (n + 1) * sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i);
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_bad_option(L, "spawn", "argv", "not_a_string", -1, (lua_Integer)i);
        const char *s = lua_tolstring(L, -1, &len);
        if (linx_has_nul(s, len))
            return linx_bad_option(L, "spawn", "argv", "contains_nul", -1, (lua_Integer)i);
        v[i - 1] = (char *)s;
        lua_rawseti(L, anchor, (lua_Integer)i); /* pops the string */
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

/* opts.env: a table of NAME = value (strings or numbers), read raw.
 * Pushes a table anchoring the "NAME=value" strings and the array
 * userdata. Returns 0 or pushes nil, err and returns 2. */
static int get_env(lua_State *L, int opts, char ***out)
{
    if (get_opt(L, opts, "env"))
        return 2;
    int t = lua_gettop(L);
    *out = NULL;
    if (lua_isnil(L, t))
        return 0;
    if (!lua_istable(L, t))
        return linx_bad_option(L, "spawn", "env", "not_a_table", t, 0);
    lua_newtable(L); /* anchor for the "NAME=value" strings */
    int anchor = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        /* key at -2, value at -1 */
        if (lua_type(L, -2) != LUA_TSTRING)
            return linx_bad_option(L, "spawn", "env", "bad_name", -2, 0);
        size_t klen, vlen;
        const char *k = lua_tolstring(L, -2, &klen);
        if (klen == 0 || memchr(k, '=', klen) != NULL || linx_has_nul(k, klen))
            return linx_bad_option(L, "spawn", "env", "bad_name", -2, 0);
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            return linx_bad_option(L, "spawn", "env", "bad_value", -2, 0);
        lua_pushvalue(L, -1); /* convert a copy: never the table's value */
        const char *v = lua_tolstring(L, -1, &vlen);
        if (linx_has_nul(v, vlen))
            return linx_bad_option(L, "spawn", "env", "bad_value", -3, 0);
        lua_pushfstring(L, "%s=%s", k, v);
        lua_rawseti(L, anchor, (lua_Integer)++n);
        lua_pop(L, 2); /* the copy and the value; keep the key */
    }
    char **v = lua_newuserdata(L, (n + 1) * sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, anchor, (lua_Integer)i);
        v[i - 1] = (char *)lua_tostring(L, -1); /* anchored by the table */
        lua_pop(L, 1);
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

static int get_stdio(lua_State *L, int opts, const char *field, int *mode)
{
    *mode = IO_INHERIT;
    if (get_opt(L, opts, field))
        return 2;
    if (!lua_isnil(L, -1)) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(s, "inherit") == 0)
            *mode = IO_INHERIT;
        else if (strcmp(s, "null") == 0)
            *mode = IO_NULL;
        else if (strcmp(s, "pipe") == 0)
            *mode = IO_PIPE;
        else
            return linx_bad_option(L, "spawn", field, "unknown", -1, 0);
    }
    lua_pop(L, 1);
    return 0;
}

static int get_namespaces(lua_State *L, int opts, unsigned long *flags)
{
    *flags = 0;
    if (get_opt(L, opts, "namespaces"))
        return 2;
    int t = lua_gettop(L);
    if (!lua_isnil(L, t)) {
        if (!lua_istable(L, t))
            return linx_bad_option(L, "spawn", "namespaces", "not_a_list", t, 0);
        size_t n = (size_t)lua_rawlen(L, t);
        if (!linx_spawn_only_list_keys(L, t, n)) /* {user = true} must not mean "none" */
            return linx_bad_option(L, "spawn", "namespaces", "not_a_list", t, 0);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, t, (lua_Integer)i);
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            int found = 0;
            for (int k = 0; s != NULL && k < NS_COUNT; k++) {
                if (strcmp(s, namespaces[k].name) == 0) {
                    *flags |= namespaces[k].flag;
                    found = 1;
                }
            }
            if (!found)
                return linx_bad_option(L, "spawn", "namespaces", "unknown", -1, (lua_Integer)i);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* ---- opts.inside ------------------------------------------------------------ */

/* An id as the inside sees it: an integral number 0..4294967294 (-1,
 * 4294967295, is no id to the kernel). */
static int get_id(lua_State *L, int idx, int64_t *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    lua_Number n = lua_tonumber(L, idx);
    if (!(n >= 0 && n <= 4294967294.0) || floor(n) != n)
        return 0;
    *out = (int64_t)n;
    return 1;
}

/* t[key] (field names it in errors) as a list read raw, of at most max
 * entries: pushes it and sets *n (0 for nil). Returns 0 or pushes nil,
 * err and returns 2. */
static int get_list(lua_State *L, int t, const char *key, const char *field, size_t max, size_t *n)
{
    *n = 0;
    if (linx_spawn_get_field(L, t, key, field))
        return 2;
    if (lua_isnil(L, -1))
        return 0;
    if (!lua_istable(L, -1))
        return linx_bad_option(L, "spawn", field, "not_a_list", -1, 0);
    *n = (size_t)lua_rawlen(L, -1);
    if (*n > max)
        return linx_bad_option(L, "spawn", field, "too_many", 0, 0);
    if (!linx_spawn_only_list_keys(L, lua_gettop(L), *n)) /* {proc = {...}}, or a hole */
        return linx_bad_option(L, "spawn", field, "not_a_list", -1, 0);
    return 0;
}

static int get_mounts(lua_State *L, int t, unsigned long flags, int anchor, struct inside *in)
{
    size_t n;
    if (get_list(L, t, "mounts", "inside.mounts", INSIDE_MAX_MOUNTS, &n))
        return 2;
    int ms = lua_gettop(L);
    if (n > 0 && !(flags & CLONE_NEWNS))
        return linx_bad_option(L, "spawn", "inside.mounts", "needs_mount_namespace", 0, 0);
    return linx_spawn_mounts(L, ms, n, flags, anchor, in);
}

static int get_groups(lua_State *L, int t, int anchor, struct inside *in)
{
    size_t n;
    if (get_list(L, t, "groups", "inside.groups", 65536 /* NGROUPS_MAX */, &n))
        return 2;
    int g = lua_gettop(L);
    if (lua_isnil(L, g))
        return 0;
    uint32_t *ids = lua_newuserdata(L, n * sizeof *ids + 1);
    linx_spawn_anchor_top(L, anchor);
    for (size_t i = 1; i <= n; i++) {
        int64_t id;
        lua_rawgeti(L, g, (lua_Integer)i);
        if (!get_id(L, -1, &id))
            return linx_bad_option(L, "spawn", "inside.groups", "bad_id", -1, (lua_Integer)i);
        ids[i - 1] = (uint32_t)id;
        lua_pop(L, 1);
    }
    in->groups = ids;
    in->ngroups = (int32_t)n;
    return 0;
}

static const char *const inside_keys[] = {"mounts", "root", "hostname", "groups", "gid", "uid", "no_new_privs",
                                          "caps", "rlimits", "landlock", "loopback", "seccomp", "init", NULL};

/* opts.inside: the steps the workload takes after the release. */
static int get_inside(lua_State *L, int opts, unsigned long flags, struct inside *in)
{
    memset(in, 0, sizeof *in);
    in->ngroups = -1;
    in->gid = in->uid = -1;
    in->loopback = (flags & CLONE_NEWNET) != 0; /* lo up unless inside.loopback = false */
    if (get_opt(L, opts, "inside"))
        return 2;
    int t = lua_gettop(L);
    if (lua_isnil(L, t))
        return 0;
    if (!lua_istable(L, t))
        return linx_bad_option(L, "spawn", "inside", "not_a_table", t, 0);
    if (linx_spawn_check_keys(L, t, inside_keys, 0, "inside"))
        return 2;
    luaL_checkstack(L, 24, NULL);
    lua_newtable(L); /* anchors every string and array the children's block is built from */
    int anchor = lua_gettop(L);

    if (linx_spawn_get_field(L, t, "root", "inside.root"))
        return 2;
    if (!lua_isnil(L, -1)) {
        if (linx_spawn_root(L, flags, anchor, in))
            return 2;
    } else {
        lua_pop(L, 1);
    }
    if (get_mounts(L, t, flags, anchor, in))
        return 2;
    lua_settop(L, anchor);

    if (linx_spawn_get_field(L, t, "hostname", "inside.hostname"))
        return 2;
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_bad_option(L, "spawn", "inside.hostname", "not_a_string", -1, 0);
        in->hostname = lua_tolstring(L, -1, &len);
        if (len == 0 || len > 64 || linx_has_nul(in->hostname, len)) /* HOST_NAME_MAX */
            return linx_bad_option(L, "spawn", "inside.hostname", "bad_value", -1, 0);
        /* Without a uts namespace of its own, the workload would rename the host. */
        if (!(flags & CLONE_NEWUTS))
            return linx_bad_option(L, "spawn", "inside.hostname", "needs_uts_namespace", 0, 0);
        linx_spawn_anchor_top(L, anchor);
    } else {
        lua_pop(L, 1);
    }
    if (get_groups(L, t, anchor, in))
        return 2;
    lua_settop(L, anchor);
    static const char *const id_names[2] = {"gid", "uid"};
    for (int k = 0; k < 2; k++) {
        if (linx_spawn_get_field(L, t, id_names[k], k ? "inside.uid" : "inside.gid"))
            return 2;
        int64_t *id = k ? &in->uid : &in->gid;
        if (!lua_isnil(L, -1) && !get_id(L, -1, id))
            return linx_bad_option(L, "spawn", k ? "inside.uid" : "inside.gid", "bad_id", -1, 0);
        lua_pop(L, 1);
    }
    if (linx_spawn_get_field(L, t, "no_new_privs", "inside.no_new_privs"))
        return 2;
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return linx_bad_option(L, "spawn", "inside.no_new_privs", "not_a_boolean", -1, 0);
    in->no_new_privs = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (linx_spawn_get_field(L, t, "loopback", "inside.loopback") || linx_spawn_loopback(L, lua_gettop(L), flags, in))
        return 2;
    int r = linx_policy_read(L, t, anchor, in); /* caps, rlimits, landlock */
    if (r)
        return r;
    lua_settop(L, anchor);
    if (linx_spawn_get_field(L, t, "seccomp", "inside.seccomp"))
        return 2;
    r = !lua_isnil(L, -1) ? linx_seccomp_opt(L, lua_gettop(L), anchor, in) : 0; /* spawn_seccomp.c */
    if (r)
        return r;
    lua_settop(L, anchor);
    return 0;
}

/* ---- opts.fds ------------------------------------------------------------------- */

/* The descriptor behind a Lua file or an integer at idx, or -1 and why. */
static int fd_of(lua_State *L, int idx, const char **why)
{
    int fd = -1;
    *why = NULL;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (!(n >= 0 && n <= 2147483647.0) || floor(n) != n) {
            *why = "bad_fd";
            return -1;
        }
        fd = (int)n;
    } else {
        FILE *f = linx_spawn_lua_file(L, idx, why);
        if (f == NULL)
            return -1;
        fflush(f); /* what Lua buffered goes before what the workload writes */
        fd = fileno(f);
    }
    if (fd < 0 || fcntl(fd, F_GETFD) < 0)
        *why = "not_open";
    return *why != NULL ? -1 : fd;
}

static int get_fds(lua_State *L, int opts, struct spawn_opts *o)
{
    if (get_opt(L, opts, "fds"))
        return 2;
    int t = lua_gettop(L);
    if (lua_isnil(L, t))
        return 0;
    if (!lua_istable(L, t))
        return linx_bad_option(L, "spawn", "fds", "not_a_table", t, 0);
    int *v = lua_newuserdata(L, (size_t)2 * LINX_MAX_FDS * sizeof *v); /* anchored: stays on the stack */
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        /* the workload's number: 3 and up (0..2 are stdin, stdout, stderr) */
        lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : -1;
        if (!(k >= 3 && k < 1048576) || floor(k) != k)
            return linx_bad_option(L, "spawn", "fds", "bad_number", -2, 0);
        if (n == LINX_MAX_FDS)
            return linx_bad_option(L, "spawn", "fds", "too_many", 0, 0);
        const char *why;
        int fd = fd_of(L, -1, &why);
        if (fd < 0)
            return linx_spawn_bad_at(L, why, -1, (lua_Integer)k, "fds[%d]", (int)k);
        v[n] = fd;
        v[LINX_MAX_FDS + n] = (int)k;
        n++;
        lua_pop(L, 1);
    }
    o->nfds = n;
    o->fd_src = v;
    o->fd_dst = v + LINX_MAX_FDS;
    return 0;
}

/* Typos must not pass silently (a misspelt "namespaces" would run the
 * workload in the host's namespaces): reject unknown keys. */
static int check_option_names(lua_State *L, int opts)
{
    if (!linx_unknown_key(L, opts, option_names))
        return 0;
    /* Name a short printable key as the field; anything else stays in
     * value, which messages show escaped and cut to 40. */
    const char *k = linx_plain_key(L, -1, 40);
    return linx_bad_option(L, "spawn", k != NULL ? k : "opts", "unknown_option", -1, 0);
}

int linx_spawn_opts_read(lua_State *L, int opts, struct spawn_opts *o)
{
    static const char *const stdio_names[3] = {"stdin", "stdout", "stderr"};
    memset(o, 0, sizeof *o);
    int r = check_option_names(L, opts);
    if (r || (r = get_argv(L, opts, &o->argv)) || (r = get_namespaces(L, opts, &o->flags)) ||
        (r = get_env(L, opts, &o->envp)))
        return r;
    for (int i = 0; i < 3; i++)
        if ((r = get_stdio(L, opts, stdio_names[i], &o->stdio[i])))
            return r;
    if ((r = get_opt(L, opts, "cwd")))
        return r;
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_bad_option(L, "spawn", "cwd", "not_a_string", -1, 0);
        o->cwd = lua_tolstring(L, -1, &len); /* anchored: stays on the stack */
        if (linx_has_nul(o->cwd, len) || len == 0)
            return linx_bad_option(L, "spawn", "cwd", "bad_path", -1, 0);
    }
    if ((r = get_fds(L, opts, o)) || (r = get_inside(L, opts, o->flags, &o->in)))
        return r;
    if ((r = get_opt(L, opts, "cgroup")) || (r = linx_cgroup_opt(L, lua_gettop(L), &o->cgroup, &o->cgroup_path))) /* spawn_cgroup.c */
        return r;
    return 0;
}

int linx_spawn_option_known(const char *k)
{
    for (int i = 0; k != NULL && option_names[i] != NULL; i++)
        if (strcmp(k, option_names[i]) == 0)
            return 1;
    return 0;
}

static void push_list(lua_State *L, const char *const *names)
{
    lua_newtable(L);
    for (int i = 0; names[i] != NULL; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

void linx_spawn_push_names(lua_State *L)
{
    lua_createtable(L, 0, 3);
    push_list(L, option_names);
    lua_setfield(L, -2, "spawn");
    push_list(L, inside_keys);
    lua_setfield(L, -2, "inside");
    linx_spawn_push_mount_types(L);
    lua_setfield(L, -2, "mount_types");
}
