/* One source for Lua 5.1 (and LuaJIT), 5.2, 5.3 and 5.4. Only what the
 * linx modules use; every shim is static inline, so no state is shared. */
#ifndef LINX_COMPAT_H
#define LINX_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT. LuaJIT 2.1 already has some 5.2 functions; ours are
 * renamed so the two never clash. */
#define lua_rawlen(L, i) lua_objlen((L), (i))

static inline void linx_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name != NULL; l++) {
        for (int i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
#undef luaL_setfuncs
#define luaL_setfuncs(L, l, n) linx_compat_setfuncs((L), (l), (n))

static inline void *linx_compat_testudata(lua_State *L, int idx, const char *tname)
{
    void *p = lua_touserdata(L, idx);
    if (p == NULL || !lua_getmetatable(L, idx))
        return NULL;
    luaL_getmetatable(L, tname);
    int same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same ? p : NULL;
}
#undef luaL_testudata
#define luaL_testudata(L, i, t) linx_compat_testudata((L), (i), (t))

static inline void linx_compat_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
#undef luaL_setmetatable
#define luaL_setmetatable(L, t) linx_compat_setmetatable((L), (t))

static inline int linx_compat_absindex(lua_State *L, int idx)
{
    return idx > 0 || idx <= LUA_REGISTRYINDEX ? idx : lua_gettop(L) + idx + 1;
}
#undef lua_absindex
#define lua_absindex(L, i) linx_compat_absindex((L), (i))

#undef luaL_newlibtable
#undef luaL_newlib
#define luaL_newlibtable(L, l) lua_createtable((L), 0, (int)(sizeof(l) / sizeof((l)[0]) - 1))
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))
#endif

#if !defined(LUA_VERSION_NUM) || LUA_VERSION_NUM < 503
#define lua_isinteger(L, i) 0
#endif

/* Push an id (0..2^32-1 or a little beyond) exactly on every version:
 * a lua_Integer where it is wide enough, else a double, which holds
 * every integer below 2^53 exactly. */
static inline void linx_pushid(lua_State *L, long long v)
{
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 503
    if (sizeof(lua_Integer) >= 8 || (v >= -2147483647LL - 1 && v <= 2147483647LL)) {
        lua_pushinteger(L, (lua_Integer)v);
        return;
    }
#endif
    lua_pushnumber(L, (lua_Number)v);
}

/* The named metatable of a module's userdata, made once: methods as
 * __index, gc as __gc (and __close on 5.4), tostring, and __name. Leaves
 * the stack as it was. */
static inline void linx_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc,
                                 lua_CFunction tostring)
{
    if (luaL_newmetatable(L, name)) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
#endif
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushstring(L, name);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
}

#endif
