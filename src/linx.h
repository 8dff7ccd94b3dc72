/* The public face of the linx modules: their version and the entry
 * points Lua's require calls (luaopen_*), as hosts such as linx-lua
 * preload them. Built with -fvisibility=hidden, these are the only
 * symbols each module exports. */
#ifndef LINX_H
#define LINX_H

#include <lua.h>

#define LINX_VERSION "0.1.0"

/* Lua 5.1 and LuaJIT mark library entry points LUALIB_API only. */
#ifndef LUAMOD_API
#define LUAMOD_API LUALIB_API
#endif

/* Exported even under -fvisibility=hidden. */
#if defined(__GNUC__)
#define LINX_EXPORT __attribute__((visibility("default")))
#else
#define LINX_EXPORT
#endif

/* require "linxuser" */
LINX_EXPORT LUAMOD_API int luaopen_linxuser(lua_State *L);
/* require "linx.process" */
LINX_EXPORT LUAMOD_API int luaopen_linx_process(lua_State *L);

#endif
