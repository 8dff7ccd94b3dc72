/* The go-between and the helper (child_helper.h). Raw system calls only,
 * no errno, no heap, no libc: with CLONE_VM both run in the host's
 * memory, and the host thread may be running beside them. */
#include "child_helper.h"

#include "child_sys.h"

#include <sys/wait.h>

/* The helper: stdio in place, nothing else of the host's open (the
 * status pipe is close-on-exec), signals as a fresh process has them,
 * then execve. The go-between reset the dispositions already. */
_Noreturn void linx_helper_exec(struct helper_spawn *s)
{
    unblock_signals();
    long r = RSYS3(SYS_dup3, s->devnull, 0, 0);
    if (r >= 0)
        r = RSYS3(SYS_dup3, s->out_w, 1, 0);
    if (r >= 0)
        r = RSYS3(SYS_dup3, s->out_w, 2, 0);
    if (r >= 0) {
        int keep[4] = {0, 1, 2, s->status_w};
        close_all_but(keep, 4);
        r = RSYS3(SYS_execve, s->path, s->argv, s->envp);
    }
    struct helper_record rec = {HELPER_REC_EXEC, (int)-r};
    RSYS3(SYS_write, s->status_w, &rec, sizeof rec);
    rs_exit(127);
}

static int helper_trampoline(void *arg)
{
    linx_helper_exec(arg);
}

static void report(int fd, int stage, int value)
{
    struct helper_record rec = {stage, value};
    RSYS3(SYS_write, fd, &rec, sizeof rec);
}

/* Milliseconds until the deadline (negative once past it). A twin of
 * idhelper.c's, kept apart: this one runs freestanding (raw clock_gettime,
 * no libc), see child_sys.h. */
static long ms_left(const struct timespec *deadline)
{
    struct timespec now = {0, 0};
    RSYS2(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Reap pid, retrying a failure other than "no such child": 0 or -errno. */
static long reap(long pid, int *status, int flags)
{
    long r = 0;
    for (int tries = 0; tries < 100; tries++) {
        r = RSYS4(SYS_wait4, pid, status, flags, NULL);
        if (r == pid)
            return 0;
        if (r == -E_CHILD)
            break;
    }
    return r;
}

/* The go-between never execs, so it keeps the exit signal 0 it was
 * cloned with (execve would reset it to SIGCHLD): a host's waitpid(-1)
 * cannot take it, only idhelper's waitpid(__WCLONE). Every signal stays
 * blocked here; sigtimedwait takes SIGCHLD. */
static _Noreturn void go_between_main(struct helper_spawn *s, int vm)
{
    /* glibc's pthread_sigmask leaves its own signals 32 and 33 open: the
     * kernel lets us block them too. */
    unsigned long long all = ~0ULL;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all);
    /* No host handler may run in the helper before its exec; SIGCHLD
     * back to default so an ignored SIGCHLD cannot auto-reap it. */
    default_signals();
    /* vfork-like with vm: the helper runs on its own stack in this memory
     * and we wait until its execve; no page table is copied. */
    long pid = vm ? clone_child(CLONE_VM | CLONE_VFORK | SIGCHLD, 1, s->helper_stack, NULL,
                                helper_trampoline, s)
                  : s->start_copied(s);
    if (pid < 0) {
        report(s->status_w, HELPER_REC_CLONE, (int)-pid);
        rs_exit(1);
    }
    rs_close(s->out_w); /* the caller sees EOF when the helper is done */
    unsigned long long chld = 1ULL << (SIGCHLD - 1);
    int status = 0;
    long r;
    for (;;) {
        r = RSYS4(SYS_wait4, pid, &status, WNOHANG, NULL);
        if (r == pid) {
            report(s->status_w, HELPER_REC_WAIT, status);
            rs_exit(0);
        }
        if (r < 0 && r != -E_INTR)
            break;
        long ms = ms_left(&s->deadline);
        if (ms <= 0) {
            /* Still ours (unreaped), so the pid is the helper's. */
            RSYS2(SYS_kill, pid, SIGKILL);
            long err = reap(pid, &status, 0);
            report(s->status_w, err == 0 ? HELPER_REC_TIMEOUT : HELPER_REC_REAP,
                   err == 0 ? status : (int)-err);
            rs_exit(0);
        }
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        RSYS4(SYS_rt_sigtimedwait, &chld, NULL, &ts, sizeof chld);
    }
    /* wait4 failed for good: kill, reap if the kernel lets us, report. */
    RSYS2(SYS_kill, pid, SIGKILL);
    reap(pid, &status, 0);
    report(s->status_w, HELPER_REC_REAP, (int)-r);
    rs_exit(0);
}

static int go_between_vm(void *arg)
{
    go_between_main(arg, 1);
}

static int go_between_copy(void *arg)
{
    go_between_main(arg, 0);
}

long linx_helper_clone(struct helper_spawn *s, char *stack_top, int vm)
{
    return clone_child(0, vm, stack_top, NULL, vm ? go_between_vm : go_between_copy, s);
}
