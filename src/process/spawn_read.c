/* How spawn reads its options (see spawn_read.h): the one copy of the
 * readers spawn_opts.c, spawn_mounts.c, spawn_idmap.c, spawn_policy.c,
 * spawn_sandbox.c, spawn_cgroup.c, spawn_seccomp.c and output_limit.c
 * share. */
#include "spawn_read.h"

#include "child/protocol.h"
#include "support/lerror.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

int linx_spawn_get_field(lua_State *L, int t, const char *key, const char *field)
{
    if (linx_get_protected(L, t, key) != 0) {
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

int linx_spawn_bad_at(lua_State *L, const char *reason, int value_idx, lua_Integer index, const char *fmt, ...)
{
    char field[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(field, sizeof field, fmt, ap);
    va_end(ap);
    return linx_bad_option(L, "spawn", field, reason, value_idx, index);
}

int linx_spawn_check_keys(lua_State *L, int t, const char *const *names, lua_Integer index, const char *prefix)
{
    if (!linx_unknown_key(L, t, names))
        return 0;
    const char *k = linx_plain_key(L, -1, 32);
    return linx_spawn_bad_at(L, "unknown_option", -1, index, "%s%s%s", prefix, k != NULL ? "." : "",
                             k != NULL ? k : "");
}

int linx_has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

const char *linx_spawn_check_path(lua_State *L, int idx, const char **reason)
{
    if (lua_type(L, idx) != LUA_TSTRING) {
        *reason = "not_a_string";
        return NULL;
    }
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    *reason = linx_has_nul(s, len)      ? "bad_path"
              : s[0] != '/'             ? "not_absolute"
              : len >= INSIDE_PATH_MAX  ? "too_long"
                                        : NULL;
    return *reason != NULL ? NULL : s;
}

int linx_spawn_only_list_keys(lua_State *L, int t, size_t n)
{
    size_t keys = 0;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        lua_pop(L, 1);
        int isnum = lua_type(L, -1) == LUA_TNUMBER;
        lua_Number k = isnum ? lua_tonumber(L, -1) : 0;
        if (!isnum || !(k >= 1 && k <= (lua_Number)n) || floor(k) != k || ++keys > n) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return keys == n;
}

void linx_spawn_anchor_top(lua_State *L, int anchor)
{
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
}

int linx_spawn_get_u64(lua_State *L, int idx, uint64_t *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        if (i < 0)
            return 0;
        *out = (uint64_t)i;
        return 1;
    }
#endif
    lua_Number v = lua_tonumber(L, idx);
    if (!(v >= 0 && v < 18446744073709551616.0) || floor(v) != v)
        return 0;
    *out = (uint64_t)v;
    return 1;
}

FILE *linx_spawn_lua_file(lua_State *L, int idx, const char **why)
{
    void *ud = luaL_testudata(L, idx, LUA_FILEHANDLE);
    if (ud == NULL) {
        *why = "not_a_file";
        return NULL;
    }
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 502
    luaL_Stream *st = ud;
    FILE *f = st->closef != NULL ? st->f : NULL;
#else
    FILE *f = *(FILE **)ud; /* Lua 5.1 and LuaJIT: the FILE * first, NULL once closed */
#endif
    *why = f == NULL ? "closed" : NULL;
    return f;
}
