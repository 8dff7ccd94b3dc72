/* clone3 for the keeper's workload when spawn{cgroup = ...} is set: the
 * child starts inside that cgroup v2 directory (CLONE_INTO_CGROUP, 5.7),
 * so not even its first instruction runs elsewhere. Freestanding, as
 * child_sys.h, which it builds on; only child.c includes it. */
#ifndef LINX_CHILD_CLONE3_H
#define LINX_CHILD_CLONE3_H

#include "child_sys.h"

#include <stdint.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The kernel's struct clone_args (CLONE_ARGS_SIZE_VER2: with cgroup). */
struct linx_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
};

#if defined(__x86_64__)
/* clone3 whose child runs fn(arg) and exits with its value: on the stack
 * ca names (CLONE_VM), or, with no stack, on a copy of ours. */
static inline long raw_clone3(struct linx_clone_args *ca, int (*fn)(void *), void *arg)
{
    return raw_clone_run(SYS_clone3, (unsigned long)ca, sizeof *ca, NULL, fn, arg);
}
#endif

/* clone_child (child_sys.h) into the cgroup whose directory fd is cgroup:
 * flags are CLONE_NEW* and an exit signal; with vm, the child runs on
 * stack_top in our memory. *pidfd gets its pidfd. Returns the pid or
 * -errno (the kernel's answer: EACCES when the caller may not write the
 * cgroup's cgroup.procs).
 * Apart from clone_child on purpose: CLONE_INTO_CGROUP exists only for
 * clone3, which clone_child must not depend on (kernels before 5.3, and
 * seccomp profiles of container runtimes, answer it ENOSYS), and
 * clone_child's retry without CLONE_PIDFD has no use here. The two share
 * the one trampoline, raw_clone_run (child_sys.h). */
static inline long clone_into_cgroup(unsigned long flags, int vm, void *stack_top, int cgroup, int *pidfd,
                                     int (*fn)(void *), void *arg)
{
    struct linx_clone_args ca;
    int fd = -1;
    zero(&ca, sizeof ca);
    ca.flags = (uint64_t)(flags & ~0xffUL) | CLONE_PIDFD | CLONE_INTO_CGROUP;
    ca.exit_signal = flags & 0xff;
    ca.pidfd = (uint64_t)(unsigned long)&fd;
    ca.cgroup = (uint64_t)cgroup;
    long r;
#if defined(__x86_64__)
    if (vm) {
        /* The kernel starts the child at stack + stack_size; the stack
         * itself is the block's (below it, a guard page). */
        ca.flags |= CLONE_VM;
        ca.stack = (uint64_t)(unsigned long)stack_top - 4096;
        ca.stack_size = 4096;
    }
    r = raw_clone3(&ca, fn, arg);
#else
    (void)vm;
    (void)stack_top;
    r = RSYS2(SYS_clone3, &ca, sizeof ca);
    if (r == 0)
        rs_exit(fn(arg));
#endif
    if (r >= 0)
        *pidfd = fd;
    return r;
}

#endif
