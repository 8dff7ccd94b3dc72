/* spawn's options (see spawn_opts.h). Option tables are read normally
 * (an __index of defaults works) but protected; lists are read raw. */
#include "spawn_opts.h"

#include "lerror.h"

#include <sched.h>
#include <string.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

/* nil, {kind="bad_option", operation=op, field=, reason=[, value=][, index=]} */
int linx_bad_option(lua_State *L, const char *op, const char *field, const char *reason, int value_idx,
                    lua_Integer index)
{
    if (value_idx < 0)
        value_idx = lua_gettop(L) + value_idx + 1; /* lua_absindex is 5.2+ */
    linx_error_new(L, "bad_option", op);
    linx_error_setstr(L, "field", field);
    linx_error_setstr(L, "reason", reason);
    if (value_idx != 0) {
        lua_pushvalue(L, value_idx);
        lua_setfield(L, -2, "value");
    }
    if (index > 0)
        linx_error_setint(L, "index", index);
    linx_error_return(L);
    return 2; /* nil, err: visibly non-zero, so callers' "r != 0" paths are clear to analyzers */
}



#define NS_COUNT 7
static const struct {
    const char *name;
    unsigned long flag;
} namespaces[NS_COUNT] = {
    {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID},   {"uts", CLONE_NEWUTS},
    {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},  {"cgroup", CLONE_NEWCGROUP},
};

static const char *const option_names[] = {"argv", "namespaces", "env", "cwd", "stdin", "stdout", "stderr", NULL};


static int gettable_k(lua_State *L)
{
    lua_gettable(L, 1);
    return 1;
}

/* opts[field], read normally (an __index of defaults works) but protected:
 * a metamethod that raises becomes bad_option "unreadable". Pushes the
 * value and returns 0, or pushes nil, err and returns 2. */
static int get_opt(lua_State *L, int opts, const char *field)
{
    lua_pushcfunction(L, gettable_k);
    lua_pushvalue(L, opts);
    lua_pushstring(L, field);
    if (lua_pcall(L, 2, 1, 0) != 0) {
        int r = linx_bad_option(L, "spawn", field, "unreadable", -1, 0);
        /* the raised value, as text when it is text */
        lua_getfield(L, -1, "value");
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an option's metamethod raised";
        lua_pushstring(L, msg);
        lua_setfield(L, -3, "message");
        lua_pop(L, 1);
        return r;
    }
    return 0;
}

/* Has the string a NUL inside? Execve would silently cut it. */
static int has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

/* Read opts.argv (raw) into a NULL-terminated array in a userdata pushed
 * on the stack; the strings stay anchored by the argv table, which is
 * also left on the stack (below the array). Returns 0 or pushes nil, err
 * and returns 2. */
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
    char **v = lua_newuserdata(L, (n + 1) * sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i);
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_bad_option(L, "spawn", "argv", "not_a_string", -1, (lua_Integer)i);
        const char *s = lua_tolstring(L, -1, &len);
        if (has_nul(s, len))
            return linx_bad_option(L, "spawn", "argv", "contains_nul", -1, (lua_Integer)i);
        v[i - 1] = (char *)s; /* anchored by the argv table */
        lua_pop(L, 1);
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
        if (klen == 0 || memchr(k, '=', klen) != NULL || has_nul(k, klen))
            return linx_bad_option(L, "spawn", "env", "bad_name", -2, 0);
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            return linx_bad_option(L, "spawn", "env", "bad_value", -2, 0);
        lua_pushvalue(L, -1); /* convert a copy: never the table's value */
        const char *v = lua_tolstring(L, -1, &vlen);
        if (has_nul(v, vlen))
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

/* Typos must not pass silently (a misspelt "namespaces" would run the
 * workload in the host's namespaces): reject unknown keys. */
static int check_option_names(lua_State *L, int opts)
{
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; option_names[i] != NULL; i++)
                known |= strcmp(k, option_names[i]) == 0;
        }
        if (!known) {
            /* name a short printable key as the field; anything else stays in value */
            size_t len = 0;
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            int plain = k != NULL && len > 0 && len <= 64;
            for (size_t i = 0; plain && i < len; i++)
                plain = k[i] > ' ' && k[i] < 127;
            return linx_bad_option(L, "spawn", plain ? k : "opts", "unknown_option", -1, 0);
        }
    }
    return 0;
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
        if (has_nul(o->cwd, len) || len == 0)
            return linx_bad_option(L, "spawn", "cwd", "bad_path", -1, 0);
    }
    return 0;
}
