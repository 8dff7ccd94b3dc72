/* spawn's inside.mounts (see spawn_mounts.h): each entry of the mount
 * plan read raw and checked in the host, before any child exists. */
#include "spawn_mounts.h"

#include "lerror.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Small helpers as spawn_opts.c has them (kept private to each file: the
 * options call down into this file, never back). */

/* nil, {kind="bad_option", operation="spawn", field=, reason=[, value=][, index=]} */
static int bad_option(lua_State *L, const char *field, const char *reason, int value_idx, lua_Integer index)
{
    if (value_idx < 0)
        value_idx = lua_gettop(L) + value_idx + 1;
    linx_error_new(L, "bad_option", "spawn");
    linx_error_setstr(L, "field", field);
    linx_error_setstr(L, "reason", reason);
    if (value_idx != 0) {
        lua_pushvalue(L, value_idx);
        lua_setfield(L, -2, "value");
    }
    if (index > 0)
        linx_error_setint(L, "index", index);
    linx_error_return(L);
    return 2;
}
static int has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

static int bad_at(lua_State *L, const char *reason, int value_idx, lua_Integer index, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad_at(lua_State *L, const char *reason, int value_idx, lua_Integer index, const char *fmt, ...)
{
    char field[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    return bad_option(L, field, reason, value_idx, index);
}

static const char *check_path(lua_State *L, int idx, const char **reason)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        *reason = "not_a_string";
        return NULL;
    }
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    *reason = has_nul(s, len) ? "bad_path" : s[0] != '/' ? "not_absolute" : len >= INSIDE_PATH_MAX ? "too_long" : NULL;
    return *reason != NULL ? NULL : s;
}

static int check_keys(lua_State *L, int t, const char *const *names, const char *prefix)
{
    if (!linx_unknown_key(L, t, names))
        return 0;
    const char *k = linx_plain_key(L, -1, 32);
    return bad_at(L, "unknown_option", -1, 0, "%s%s%s", prefix, k != NULL ? "." : "", k != NULL ? k : "");
}

static void anchor_top(lua_State *L, int anchor)
{
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
}

static const char *const mount_keys[] = {"type", "source", "target", "readonly", "options", NULL};
static const char *const mount_types[] = {"proc", "tmpfs", "bind", "dev", NULL}; /* enum inside_mount_kind */

/* One entry of inside.mounts (at index e, the i-th), into m. root (or
 * NULL, without trailing '/': rlen) is joined to the target; the joined
 * string is anchored in the table at anchor. */
static int get_mount(lua_State *L, int e, lua_Integer i, const char *root, size_t rlen, int anchor,
                     struct inside_mount *m)
{
    const char *why;
    if (!lua_istable(L, e))
        return bad_at(L, "not_a_table", e, i, "inside.mounts[%lld]", (long long)i);
    char prefix[48];
    snprintf(prefix, sizeof prefix, "inside.mounts[%lld]", (long long)i);
    if (check_keys(L, e, mount_keys, prefix))
        return 2;
    lua_pushliteral(L, "type");
    lua_rawget(L, e);
    if (lua_isnil(L, -1))
        return bad_at(L, "missing", 0, i, "%s.type", prefix);
    m->kind = -1;
    for (int k = 0; mount_types[k] != NULL && lua_type(L, -1) == LUA_TSTRING; k++)
        if (strcmp(lua_tostring(L, -1), mount_types[k]) == 0)
            m->kind = k;
    if (m->kind < 0)
        return bad_at(L, "unknown", -1, i, "%s.type", prefix);
    lua_pop(L, 1);

    lua_pushliteral(L, "target");
    lua_rawget(L, e);
    if (lua_isnil(L, -1))
        return bad_at(L, "missing", 0, i, "%s.target", prefix);
    const char *target = check_path(L, -1, &why);
    if (target == NULL)
        return bad_at(L, why, -1, i, "%s.target", prefix);
    if (root != NULL) {
        lua_pushlstring(L, root, rlen);
        lua_pushvalue(L, -2);
        lua_concat(L, 2); /* the root without its trailing '/', then the target */
    } else {
        lua_pushvalue(L, -1);
    }
    m->target = lua_tostring(L, -1);
    anchor_top(L, anchor);
    lua_pop(L, 1);

    lua_pushliteral(L, "source");
    lua_rawget(L, e);
    m->source = NULL;
    if (m->kind == INSIDE_BIND) {
        if (lua_isnil(L, -1))
            return bad_at(L, "missing", 0, i, "%s.source", prefix);
        if ((m->source = check_path(L, -1, &why)) == NULL)
            return bad_at(L, why, -1, i, "%s.source", prefix);
        anchor_top(L, anchor);
    } else if (!lua_isnil(L, -1)) {
        return bad_at(L, "not_allowed", -1, i, "%s.source", prefix);
    } else {
        lua_pop(L, 1);
    }

    lua_pushliteral(L, "readonly");
    lua_rawget(L, e);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return bad_at(L, "not_a_boolean", -1, i, "%s.readonly", prefix);
    m->readonly = lua_toboolean(L, -1);
    lua_pop(L, 1);

    lua_pushliteral(L, "options");
    lua_rawget(L, e);
    m->data = NULL;
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (m->kind != INSIDE_PROC && m->kind != INSIDE_TMPFS)
            return bad_at(L, "not_allowed", -1, i, "%s.options", prefix);
        if (lua_type(L, -1) != LUA_TSTRING)
            return bad_at(L, "not_a_string", -1, i, "%s.options", prefix);
        m->data = lua_tolstring(L, -1, &len);
        if (has_nul(m->data, len) || len >= 4096)
            return bad_at(L, "bad_value", -1, i, "%s.options", prefix);
        anchor_top(L, anchor);
    } else {
        lua_pop(L, 1);
    }
    return 0;
}

int linx_spawn_mounts(lua_State *L, int ms, size_t n, unsigned long flags, int anchor, struct inside *in)
{
    (void)flags;
    struct inside_mount *m = lua_newuserdata(L, n * sizeof *m + 1);
    anchor_top(L, anchor);
    size_t rlen = in->root != NULL ? strlen(in->root) : 0;
    while (rlen > 0 && in->root[rlen - 1] == '/')
        rlen--;
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, ms, (lua_Integer)i);
        if (get_mount(L, lua_gettop(L), (lua_Integer)i, in->root, rlen, anchor, &m[i - 1]))
            return 2;
        lua_pop(L, 1);
    }
    in->mounts = m;
    in->nmounts = (int32_t)n;
    return 0;
}
