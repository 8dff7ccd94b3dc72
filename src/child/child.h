/* The keeper and the workload of a linx.process handle: freestanding code
 * (raw system calls, no libc, no errno, no TLS), because with CLONE_VM
 * they run in the host's memory on the host thread's TLS. Built with
 * -ffreestanding -fno-builtin; CI checks the object has no undefined
 * symbol. */
#ifndef LINX_CHILD_H
#define LINX_CHILD_H

#include "clonevm.h"
#include "protocol.h"

/* Clone the keeper, which runs on a (and, with a->vm, on the stack whose
 * top is ktop, in our memory; otherwise on a copy of it). It has no exit
 * signal. Returns its pid, or -errno; *pidfd gets its pidfd or -1. The
 * caller blocks every signal around the call. */
long linx_child_clone_keeper(struct spawn_args *a, char *ktop, int *pidfd);

#endif
