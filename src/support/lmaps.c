/* Lua support for the linxuser verbs: map lists in and out, options,
 * and the errors they make (lmaps.h). */
#include "lmaps.h"

#include "core/idtrans.h"
#include "lerror.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Translation lists need not fit a kernel write (a composed map can
 * exceed 340 entries), but stay bounded. */
#define TRANSLATE_MAX_ENTRIES (1L << 20)

/* ---- reading map lists (raw access only) ------------------------------ */

int lmaps_get_integral(lua_State *L, int idx, int64_t *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        *out = (int64_t)i;
        return 1;
    }
    lua_Number n = lua_tonumber(L, idx);
    if (!isfinite(n) || floor(n) != n)
        return 0;
    if (n >= 9223372036854775807.0)
        *out = INT64_MAX;
    else if (n <= -9223372036854775807.0)
        *out = INT64_MIN;
    else
        *out = (int64_t)n;
    return 1;
}

int lmaps_get_entry(lua_State *L, int e, struct idmap_entry *out)
{
    static const char *const names[3] = {"inside", "outside", "length"};
    int64_t f[3];
    if (lua_type(L, e) != LUA_TTABLE)
        return 0;
    lua_rawgeti(L, e, 1);
    int positional = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (positional) {
        lua_rawgeti(L, e, 4);
        int extra = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (extra)
            return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (positional)
            lua_rawgeti(L, e, i + 1);
        else {
            lua_pushstring(L, names[i]);
            lua_rawget(L, e);
        }
        int ok = lmaps_get_integral(L, -1, &f[i]);
        lua_pop(L, 1);
        if (!ok)
            return 0;
    }
    out->inside = f[0];
    out->outside = f[1];
    out->length = f[2];
    return 1;
}

static int list_error(lua_State *L, const char *op, const char *field, const char *reason,
                      lua_Integer index, int entry_idx)
{
    int n = linx_bad_map(L, op, reason, index, entry_idx);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    return n;
}

int lmaps_read(lua_State *L, int idx, const char *op, const char *field, enum lmaps_rules rules,
               struct lmaps_list *l)
{
    l->e = NULL; /* defined on every path, error returns included */
    l->tmp = NULL;
    l->n = 0;
    if (lua_type(L, idx) != LUA_TTABLE)
        return list_error(L, op, field, "not_a_list", 0, idx);
    size_t n = lua_rawlen(L, idx);
    if (n == 0) {
        lua_pushnil(L);
        if (lua_next(L, idx) != 0) { /* keys, but no list: a lone entry? */
            lua_pop(L, 2);
            return list_error(L, op, field, "not_a_list", 0, idx);
        }
        return list_error(L, op, field, "empty", 0, 0);
    }
    size_t max = rules == LMAPS_KERNEL ? IDMAP_MAX_ENTRIES : (size_t)TRANSLATE_MAX_ENTRIES;
    if (n > max)
        return list_error(L, op, field, "too_many", 0, 0);
    luaL_checkstack(L, 4, NULL);
    l->e = lua_newuserdata(L, n * sizeof *l->e);
    if (rules == LMAPS_TRANSLATE)
        l->tmp = lua_newuserdata(L, n * sizeof *l->tmp);
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)(i + 1));
        if (!lmaps_get_entry(L, lua_gettop(L), &l->e[i]))
            return list_error(L, op, field, "bad_entry", (lua_Integer)(i + 1), lua_gettop(L));
        lua_pop(L, 1);
    }
    struct idmap_problem p;
    enum idmap_reason r = rules == LMAPS_KERNEL ? idmap_validate(l->e, n, &p)
                                                : idtrans_validate(l->e, n, l->tmp, &p);
    if (r == IDMAP_OK)
        return 0;
    int has_index = r != IDMAP_EMPTY && r != IDMAP_TOO_MANY && r != IDMAP_TOO_LONG;
    if (has_index)
        lua_rawgeti(L, idx, (lua_Integer)(p.index + 1));
    else
        lua_pushnil(L);
    int entry = lua_gettop(L);
    list_error(L, op, field, idmap_reason_name(r), has_index ? (lua_Integer)(p.index + 1) : 0,
               has_index ? entry : 0);
    if (r == IDMAP_OVERLAP)
        linx_error_setint(L, "other", (long long)p.other + 1);
    return 2;
}

/* ---- Maps ------------------------------------------------------------- */

void lmaps_push_map(lua_State *L, const struct idmap_entry *e)
{
    lua_createtable(L, 0, 3);
    linx_pushid(L, e->inside);
    lua_setfield(L, -2, "inside");
    linx_pushid(L, e->outside);
    lua_setfield(L, -2, "outside");
    linx_pushid(L, e->length);
    lua_setfield(L, -2, "length");
    luaL_setmetatable(L, LMAPS_MAP_MT);
}

/* As lmaps_push_map for each, with the metatable and the three keys
 * fetched once for the list rather than once per entry. */
void lmaps_push_list(lua_State *L, const struct idmap_entry *e, size_t count)
{
    static const char *const names[3] = {"inside", "outside", "length"};
    luaL_checkstack(L, 8, NULL);
    lua_createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0);
    int list = lua_gettop(L);
    luaL_getmetatable(L, LMAPS_MAP_MT);
    for (int k = 0; k < 3; k++)
        lua_pushstring(L, names[k]);
    int mt = list + 1, keys = list + 2;
    for (size_t i = 0; i < count; i++) {
        const int64_t field[3] = {e[i].inside, e[i].outside, e[i].length};
        lua_createtable(L, 0, 3);
        for (int k = 0; k < 3; k++) {
            lua_pushvalue(L, keys + k);
            linx_pushid(L, field[k]);
            lua_rawset(L, -3);
        }
        lua_pushvalue(L, mt);
        lua_setmetatable(L, -2);
        lua_rawseti(L, list, (lua_Integer)(i + 1));
    }
    lua_settop(L, list);
}

static int map_tostring(lua_State *L)
{
    struct idmap_entry e;
    lua_settop(L, 1);
    if (!lmaps_get_entry(L, 1, &e)) {
        lua_pushliteral(L, "Map(?)");
        return 1;
    }
    char buf[128];
    int64_t last_in, last_out;
    if (e.length == 1)
        snprintf(buf, sizeof buf, "%lld -> %lld", (long long)e.inside, (long long)e.outside);
    else if (e.length > 1 && !__builtin_add_overflow(e.inside, e.length - 1, &last_in) &&
             !__builtin_add_overflow(e.outside, e.length - 1, &last_out))
        snprintf(buf, sizeof buf, "%lld..%lld -> %lld..%lld", (long long)e.inside,
                 (long long)last_in, (long long)e.outside, (long long)last_out);
    else /* fields a caller put there: no range to show, and no overflow */
        snprintf(buf, sizeof buf, "%lld -> %lld (length %lld)", (long long)e.inside,
                 (long long)e.outside, (long long)e.length);
    lua_pushstring(L, buf);
    return 1;
}

static int map_eq(lua_State *L)
{
    struct idmap_entry a, b;
    int same = lmaps_get_entry(L, 1, &a) && lmaps_get_entry(L, 2, &b) && a.inside == b.inside &&
               a.outside == b.outside && a.length == b.length;
    lua_pushboolean(L, same);
    return 1;
}

static const luaL_Reg map_meta[] = {
    {"__tostring", map_tostring},
    {"__eq", map_eq},
    {NULL, NULL},
};

void lmaps_open(lua_State *L)
{
    if (luaL_newmetatable(L, LMAPS_MAP_MT)) {
        luaL_setfuncs(L, map_meta, 0);
        lua_pushliteral(L, LMAPS_MAP_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

/* ---- options ---------------------------------------------------------- */

int lmaps_get_option(lua_State *L, int opts, const char *key, const char *op)
{
    if (linx_get_protected(L, opts, key) == 0)
        return 0;
    int n = linx_bad_option(L, op, key, "unreadable", 0, 0);
    lua_pushvalue(L, -3); /* what the metamethod raised */
    lua_setfield(L, -2, "message");
    return n;
}
