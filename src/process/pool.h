/* process.pool: children made ready before the request (pool.c). */
#ifndef LINX_POOL_H
#define LINX_POOL_H

#include "support/compat.h"

/* Register the pool metatable and push the process.pool function. */
void linx_pool_open(lua_State *L);

#endif
