/* The inside steps of a linx.process workload (spawn's opts.inside):
 * mounts, root, hostname, loopback, groups, gid, uid, no_new_privs, in that order,
 * with inside.caps, .rlimits and .landlock's steps (child_policy.h) among them.
 * Freestanding code, run by the workload in the keeper's memory. */
#ifndef LINX_CHILD_INSIDE_H
#define LINX_CHILD_INSIDE_H

#include "protocol.h"

/* Which step failed: MSG_FAILED's stage, err, step and detail. */
struct inside_fail {
    int stage, err, step, detail;
    int landlock; /* out even on success: the Landlock ABI enforced (0: none), -1 when not asked for */
};

/* Run the steps; 0, or -1 with *f filled (no later step ran). parent is
 * the workload's getppid() (the keeper, or 0 in a new pid namespace): a
 * workload whose keeper went while it changed ids exits. */
int linx_inside_run(const struct inside *in, pid_t parent, struct inside_fail *f);

#endif
