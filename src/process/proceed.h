/* proceed(), in its two halves (proceed.c): the release, and the child's
 * answer to it. proceed() runs both at once; a pool's fill (pool.c) sends
 * the release when it starts a child and takes the answer once it came. */
#ifndef LINX_PROCEED_H
#define LINX_PROCEED_H

#include "keeper_host.h"

#include <lua.h>

/* Release the parked child h: 0, or pushes nil, err[, errno] and returns
 * their count (the handle is then running or released, as proceed says). */
int linx_proceed_send(lua_State *L, struct handle *h);

/* The child's answer to the release: its exec (EOF), a pool child's
 * MSG_READY, or the stage it failed at. wait_ms: -1 blocks until it
 * comes, 0 never blocks, > 0 waits at most that long. Pushes true and
 * returns 1; returns 0 (nothing pushed) when no answer came in time;
 * pushes nil, err[, errno] and returns their count (2 or 3). */
int linx_proceed_reply(lua_State *L, struct handle *h, int wait_ms);

#endif
