/* A pool child's park mode (protocol.h, "Pools"): part of the linx-init
 * program (child_init.c), never of the host's child.o. Freestanding. */
#ifndef LINX_CHILD_PARK_H
#define LINX_CHILD_PARK_H

#include "protocol.h"

/* What the hand-over brought: the workload's argv and environment, the
 * PATH to search argv[0] in (NULL when it has a '/'), all in the
 * payload's private mapping. */
struct park_request {
    char **argv, **envp;
    const char *path;
    int argc;
};

/* Tell the host we are ready (with unblock, every signal unblocked first:
 * the "exec" mode, whose workload starts with none blocked), wait for the
 * hand-over on ctl, then do
 * what a spawn does before its exec: install stdio and the extra fds
 * (closing everything else but ctl and status, which stay close-on-exec),
 * enter cwd and load the seccomp filter. A failure is reported on ctl
 * (MSG_FAILED) and ends the process, as does the host's EOF (the pool
 * closed it). */
void linx_park_handover(int ctl, int status, int unblock, struct park_request *req);

/* Exec the request ourselves (park mode "exec"): the PATH search, a
 * failure reported on ctl. */
_Noreturn void linx_park_exec(int ctl, const struct park_request *req);

#endif
