/* The keeper and the workload of a linx.process handle: freestanding code
 * (raw system calls, no libc, no errno, no TLS), because with CLONE_VM
 * they run in the host's memory on the host thread's TLS. Built with
 * -ffreestanding -fno-builtin; CI checks the object has no undefined
 * symbol. */
#ifndef LINX_CHILD_H
#define LINX_CHILD_H

#include "protocol.h"

/* CLONE_VM needs the raw clone (x86-64 only for now) and a build that does
 * not instrument the children: ASan/TSan keep per-thread state in the TLS
 * the children would share with the host, so those builds copy. */
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define LINX_NO_CLONE_VM 1
#endif
#endif
#ifndef LINX_NO_CLONE_VM
#define LINX_CAN_CLONE_VM 1
#endif
#endif

/* Clone the keeper, which runs on a (and, with a->vm, on the stack whose
 * top is ktop, in our memory; otherwise on a copy of it). It has no exit
 * signal. Returns its pid, or -errno; *pidfd gets its pidfd or -1. The
 * caller blocks every signal around the call. */
long linx_child_clone_keeper(struct spawn_args *a, char *ktop, int *pidfd);

#endif
