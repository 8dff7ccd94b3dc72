/* The mount plan and the new root of a linx.process workload (spawn's
 * inside.mounts and inside.root): the first of the inside steps.
 * Freestanding code, run by the workload in the keeper's memory. */
#ifndef LINX_CHILD_MOUNTS_H
#define LINX_CHILD_MOUNTS_H

#include "protocol.h"

/* Which step failed: MSG_FAILED's stage, err, step and detail. */
struct mount_fail {
    int stage, err, step, detail;
};

/* Make "/" private, bind the root (when set), apply each mount with its
 * target resolved inside the root, pivot. 0, or -1 with *f filled. */
int linx_mounts_run(const struct inside *in, struct mount_fail *f);

#endif
