/* pool:spawn's hand-over to a parked pool child (handover.c). */
#ifndef LINX_HANDOVER_H
#define LINX_HANDOVER_H

#include "keeper_host.h"
#include "spawn_opts.h"

#include <stdint.h>

/* Send the request (spawn's argv, env, cwd, stdin, stdout, stderr and
 * fds, read by linx_spawn_opts_read, whose anchors the caller keeps on
 * the stack; max_output as read by linx_output_opt_read), with the
 * pool's seccomp program, to
 * the parked pool child h, and wait until it has exec'd. Returns 0 (h is
 * an ordinary running handle), or pushes nil, err (and an errno) and
 * returns their count: then the child is gone or going, and h should be
 * closed. */
int linx_handover(lua_State *L, struct handle *h, const struct spawn_opts *req, unsigned long long max_output,
                  const void *seccomp, uint32_t seccomp_len);

#endif
