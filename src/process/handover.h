/* pool:spawn's hand-over to a parked pool child (handover.c). */
#ifndef LINX_HANDOVER_H
#define LINX_HANDOVER_H

#include "keeper_host.h"

#include <stdint.h>

/* Read the request table at req (spawn's argv, env, cwd, stdin, stdout,
 * stderr, fds, max_output), send it with the pool's seccomp program to
 * the parked pool child h, and wait until it has exec'd. Returns 0 (h is
 * an ordinary running handle), or pushes nil, err (and an errno) and
 * returns their count: then the child is gone or going, and h should be
 * closed. */
int linx_handover(lua_State *L, struct handle *h, int req, const void *seccomp, uint32_t seccomp_len);

#endif
