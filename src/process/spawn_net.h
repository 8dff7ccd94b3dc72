/* spawn's inside.loopback (spawn_net.c): read and checked before any
 * child exists. */
#ifndef LINX_SPAWN_NET_H
#define LINX_SPAWN_NET_H

#include "support/compat.h"
#include "child/protocol.h"

/* inside.loopback's value at idx (popped) into in->loopback, which
 * starts as "flags has CLONE_NEWNET": false turns it off; true without
 * "net" is bad_option. 0, or pushes nil, err and returns 2. */
int linx_spawn_loopback(lua_State *L, int idx, unsigned long flags, struct inside *in);

#endif
