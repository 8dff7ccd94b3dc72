/* The go-between and the helper of one newuidmap/newgidmap run
 * (idhelper.c): freestanding code like the keeper's (child.h), because
 * with CLONE_VM they run in the host's memory on the host thread's TLS.
 * Sharing the memory spares a copy of the host's page tables per helper
 * run, which is most of what a fork costs an nginx worker. */
#ifndef LINX_CHILD_HELPER_H
#define LINX_CHILD_HELPER_H

#include <time.h>

/* What the go-between reads. It must outlive the caller's frame: the
 * host keeps it in the mapping that holds the stacks. */
struct helper_spawn {
    const char *path;
    char *const *argv;
    char *const *envp;
    int devnull, out_w, status_w; /* all above 2; status_w close-on-exec */
    struct timespec deadline;     /* CLOCK_MONOTONIC */
    char *helper_stack;           /* top of the helper's stack (vm) */
    /* How a go-between on a copy of the host starts the helper: the copy
     * has libc to itself, so the host's side passes a vfork, which spares
     * a second copy of the page tables. Returns the pid or -errno. */
    long (*start_copied)(struct helper_spawn *s);
};

/* Records on the status pipe, one packet each (O_DIRECT). */
enum {
    HELPER_REC_EXEC = 1, /* helper: execve failed (errno) */
    HELPER_REC_WAIT,     /* go-between: the helper's wait status */
    HELPER_REC_TIMEOUT,  /* go-between: time limit reached, killed and reaped (status) */
    HELPER_REC_CLONE,    /* go-between: could not clone the helper (errno) */
    HELPER_REC_REAP,     /* go-between: could not reap the helper (errno) */
};
struct helper_record {
    int stage;
    int value;
};

/* Clone the go-between with no exit signal: in our memory on stack_top
 * (vm, x86-64), otherwise on a copy of it. It runs the helper as its own
 * child with stdin from devnull and stdout and stderr into out_w, waits
 * for it until the deadline (SIGKILL and reap when the time is up) and
 * reports on status_w. The caller blocks every signal around the call.
 * Returns the go-between's pid or -errno. */
long linx_helper_clone(struct helper_spawn *s, char *stack_top, int vm);

/* The helper's own part: stdio in place, every other fd closed but the
 * status pipe, signals unblocked, execve; on failure a record and exit
 * 127. For start_copied's child. */
_Noreturn void linx_helper_exec(struct helper_spawn *s);

#endif
