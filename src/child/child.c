/* The keeper and the workload (see child.h and protocol.h).
 *
 *   keeper    the host's own child, cloned with no exit signal. It never
 *             execs, so it stays invisible to a host's waitpid(-1) reaper
 *             (nginx reaps every child of its workers that way); only the
 *             handle's waitid(__WALL) reaps it. It clones the workload,
 *             hands the host a pidfd and a /proc/<pid> fd for it, waits
 *             for it (WNOWAIT), reports its exit status, and reaps it only
 *             when the host waits for or closes the handle, so until then
 *             the workload's pid cannot be reused. It watches the host
 *             process with a pidfd and takes the workload along when the
 *             host dies; a host thread that ends takes nothing with it.
 *   workload  the keeper's child, in the namespaces asked for: parks, then
 *             execvpe. It cannot be the host's own child: execve resets a
 *             child's exit signal to SIGCHLD, and the host's reaper would
 *             take its status.
 *
 * Everything here runs in a child that may share the host's memory and the
 * host thread's TLS: raw system calls only, no errno, no locks, no heap,
 * no libc at all (this unit is built freestanding and checked for
 * undefined symbols). Each raw call returns the result or -errno. */
#include "child.h"

#include "child_exec.h"
#include "child_idmapped.h"
#include "child_clone3.h"
#include "child_inside.h"
#include "child_sys.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* ---- messages -------------------------------------------------------------- */

/* Send one message with up to two fds (-1: none). 0 or -1. */
static int send_msg(int sock, const struct msg *m, int fd1, int fd2)
{
    struct iovec iov = {(void *)m, sizeof *m};
    struct msghdr mh;
    union fd_cmsg u;
    int fds[2], n = 0;
    zero(&mh, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd1 >= 0)
        fds[n++] = fd1;
    if (fd2 >= 0)
        fds[n++] = fd2;
    if (n > 0) {
        zero(&u, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        copy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    }
    long r;
    while ((r = RSYS3(SYS_sendmsg, sock, &mh, MSG_NOSIGNAL)) == -E_INTR)
        ;
    return r == (long)sizeof *m ? 0 : -1;
}

/* Report a failed stage (step and detail: see protocol.h) and exit. */
static _Noreturn void fail_at(int sock, int stage, int err, int step, int detail)
{
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_FAILED;
    m.stage = stage;
    m.err = err;
    m.step = step;
    m.detail = detail;
    send_msg(sock, &m, -1, -1);
    rs_exit(127);
}

static _Noreturn void fail(int sock, int stage, int err)
{
    fail_at(sock, stage, err, 0, 0);
}

/* ---- the workload ---------------------------------------------------------------- */

/* Decimal digits of a non-negative fd into buf (room for 12). */
static void fd_text(char *buf, int fd)
{
    char d[12];
    int n = 0;
    unsigned v = (unsigned)fd;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < 11);
    for (int i = 0; i < n; i++)
        buf[i] = d[n - 1 - i];
    buf[n] = '\0';
}

/* inside.init: become the init (child_init.c), a program image of its
 * own run from the sealed memfd, which forks the real workload: from here
 * no process in the container shares or holds a copy of the host's
 * memory. The ctl socket and the status pipe cross this exec (not
 * close-on-exec); the init marks them again before the workload's exec.
 * Signals stay blocked across it: the init takes them with sigtimedwait.
 * The PATH snapshot goes as it is: the block has one exactly when argv[0]
 * has no '/', which the init sees too. */
static _Noreturn void exec_init(const struct spawn_args *a, int ctl, int image, int status)
{
    char ctl_s[12], st_s[12], none[1] = {'\0'};
    fd_text(ctl_s, ctl);
    fd_text(st_s, status);
    char **v = a->sh_argv; /* room for argc + 2 + INIT_ARGS pointers (block.c) */
    v[0] = (char *)"linx-init";
    v[1] = ctl_s;
    v[2] = st_s;
    v[3] = a->path != NULL ? (char *)a->path : none;
    size_t i = 0;
    if (a->park != PARK_NONE) /* a pool child: no argv yet, the hand-over brings it (protocol.h) */
        v[3] = (char *)(a->park == PARK_INIT ? PARK_MODE_INIT : PARK_MODE_EXEC);
    else
        for (; a->argv[i] != NULL; i++)
            v[INIT_ARGS + i] = a->argv[i];
    v[INIT_ARGS + i] = NULL;
    long r = RSYS3(SYS_fcntl, ctl, F_SETFD, 0);
    if (r >= 0)
        r = RSYS3(SYS_fcntl, status, F_SETFD, 0);
    if (r >= 0) {
        unsigned long long all = ~0ULL;
        RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all);
        r = RSYS5(SYS_execveat, image, "", v, a->envp, AT_EMPTY_PATH);
        unsigned long long none_blocked = 0;
        RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none_blocked, NULL, sizeof none_blocked);
    }
    fail(ctl, STAGE_INIT, (int)-r);
}

/* The workload's fd (-1: none) moved to hi or above, close-on-exec, when
 * it sits below hi; a stdio slot it leaves is marked in low[]. A failure
 * is stage's. Returns the fd's number now. */
static int lift_fd(int ctl, int stage, int fd, int hi, int *low)
{
    if (fd < 0 || fd >= hi)
        return fd;
    if (fd < 3)
        low[fd] = 1;
    long r = RSYS3(SYS_fcntl, fd, F_DUPFD_CLOEXEC, hi);
    if (r < 0)
        fail(ctl, stage, (int)-r);
    return (int)r;
}

static _Noreturn void workload_main(const struct spawn_args *a)
{
    int ctl = a->ctl;
    /* Die with the keeper (single-threaded, so its death is the thread's);
     * if it went before prctl took effect, getppid() no longer names it
     * (in a new pid namespace getppid() is always 0, and the ctl socket's
     * EOF covers a keeper gone before prctl). */
    long r = RSYS2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    if (r < 0)
        fail(ctl, STAGE_SETUP, (int)-r);
    if (RSYS1(SYS_getppid, 0) != a->parent)
        rs_exit(127);

    /* Move every fd we need above 2 and above every number opts.fds asks
     * for (the host may run with stdio closed, so one of ours could sit on
     * 0..2; a source may sit on another's target), then install stdio and
     * the extra fds: no source can be overwritten before it is used. */
    int hi = 3;
    for (int i = 0; i < a->nfds; i++)
        if (a->fd_dst[i] >= hi)
            hi = a->fd_dst[i] + 1;
    int src[3], xsrc[LINX_MAX_FDS];
    int low[3] = {0, 0, 0}; /* one of our fds occupies this stdio slot */
    if (a->keep >= 0 && a->keep < 3)
        low[a->keep] = 1;
    if (ctl < hi) {
        if (ctl < 3)
            low[ctl] = 1;
        ctl = (int)RSYS3(SYS_fcntl, ctl, F_DUPFD_CLOEXEC, hi);
        if (ctl < 0)
            rs_exit(127);
    }
    /* inside.init: the init image and the status pipe, moved the same way */
    int ifd[2] = {a->init_fd, a->init_fd >= 0 ? a->status_w : -1};
    for (int i = 0; i < 2; i++)
        ifd[i] = lift_fd(ctl, STAGE_INIT, ifd[i], hi, low);
    for (int i = 0; i < 3; i++)
        src[i] = lift_fd(ctl, STAGE_STDIO, a->stdio[i], hi, low);
    for (int i = 0; i < a->nfds; i++) {
        xsrc[i] = a->fd_src[i]; /* the host's own fd: a stdio slot it sits on is no fd of ours */
        if (xsrc[i] < hi) {
            r = RSYS3(SYS_fcntl, xsrc[i], F_DUPFD_CLOEXEC, hi);
            if (r < 0)
                fail_at(ctl, STAGE_FDS, (int)-r, a->fd_dst[i], 0);
            xsrc[i] = (int)r;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0) {
            r = RSYS3(SYS_dup3, src[i], i, 0); /* src[i] >= hi: never equal */
            if (r < 0)
                fail(ctl, STAGE_STDIO, (int)-r);
        } else if (low[i]) {
            rs_close(i); /* inherit a closed slot, not one of our fds */
        }
    }
    int keep[6 + LINX_MAX_FDS]; /* no initializer: the compiler would zero the rest with memset */
    keep[0] = a->park != PARK_NONE ? -1 : 0; /* a pool child holds no stdio until its hand-over */
    keep[1] = a->park != PARK_NONE ? -1 : 1;
    keep[2] = a->park != PARK_NONE ? -1 : 2;
    keep[3] = ctl;
    keep[4] = ifd[0];
    keep[5] = ifd[1];
    for (int i = 0; i < a->nfds; i++) {
        r = RSYS3(SYS_dup3, xsrc[i], a->fd_dst[i], 0); /* not close-on-exec */
        if (r < 0)
            fail_at(ctl, STAGE_FDS, (int)-r, a->fd_dst[i], 0);
        keep[6 + i] = a->fd_dst[i];
    }
    /* Keep 0, 1, 2, the extra fds, the ctl socket (and the init's two):
     * nothing else of the host's. */
    close_all_but(keep, 6 + a->nfds);

    /* Park. */
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_PARKED;
    send_msg(ctl, &m, -1, -1);
    /* Every signal is still blocked (the host blocked them all around the
     * keeper's clone). Defaults first, then unblock: done after the report,
     * so it overlaps with the host's map writes; a signal sent meanwhile
     * stays pending and meets the default disposition at the unblock. */
    default_signals();
    unblock_signals();
    if (!linx_release_wait(ctl, &a->in)) /* with the idmapped binds the host made */
        rs_exit(127); /* EOF: the host is gone or closed the handle */

    /* session = "new" first: setsid() changes nothing the inside steps
     * use, and done before them it needs no room in an inside.seccomp
     * allow list (the filter is the last step). */
    if (a->session_new && (r = RSYS1(SYS_setsid, 0)) < 0)
        fail(ctl, STAGE_SETSID, (int)-r);
    struct inside_fail f;
    if (linx_inside_run(&a->in, a->parent, &f) < 0)
        fail_at(ctl, f.stage, f.err, f.step, f.detail);
    if (f.landlock >= 0) { /* inside.landlock: tell the host what is enforced */
        m.type = MSG_POLICY;
        m.landlock = f.landlock;
        send_msg(ctl, &m, -1, -1);
    }
    if (a->cwd != NULL && (r = RSYS1(SYS_chdir, a->cwd)) < 0)
        fail(ctl, STAGE_CHDIR, (int)-r);
    if (ifd[0] >= 0)
        exec_init(a, ctl, ifd[0], ifd[1]);
    struct exec_req req = {a->argv, a->envp, a->path, a->sh_argv};
    r = exec_search(&req);
    fail(ctl, STAGE_EXEC, (int)-r);
}

static int workload_trampoline(void *arg)
{
    workload_main(arg);
}

/* ---- the keeper -------------------------------------------------------------------- */

/* "/proc/<pid>" without stdio. */
static void proc_path(char *buf, long pid)
{
    char digits[24];
    int n = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < (int)sizeof digits);
    copy(buf, "/proc/", 6);
    for (int i = 0; i < n; i++)
        buf[6 + i] = digits[n - 1 - i];
    buf[6 + n] = '\0';
}

static long rs_waitid(long pid, siginfo_t *si, int options)
{
    long r;
    while ((r = RSYS5(SYS_waitid, P_PID, pid, si, options, NULL)) == -E_INTR)
        ;
    return r;
}

static void kill_and_reap(long pid)
{
    siginfo_t si;
    RSYS2(SYS_kill, pid, SIGKILL); /* our unreaped child: the pid is still its */
    rs_waitid(pid, &si, WEXITED | __WALL);
}

/* Poll fds[0..n) for input (fd -1: skipped). Returns the poll result;
 * revents filled. */
static long poll_in(struct pollfd *pf, int n)
{
    for (int i = 0; i < n; i++) {
        pf[i].events = POLLIN;
        pf[i].revents = 0;
    }
    long r;
    while ((r = RSYS5(SYS_ppoll, pf, n, NULL, NULL, 0)) == -E_INTR)
        ;
    return r;
}

/* The host shut its end of our socket (or is gone): read until then. */
static int saw_eof(int keep)
{
    char byte;
    long r;
    while ((r = RSYS3(SYS_read, keep, &byte, 1)) == -E_INTR)
        ;
    return r != -E_AGAIN;
}

static _Noreturn void keeper_main(struct spawn_args *a)
{
    /* glibc's pthread_sigmask keeps its own signals 32 and 33 deliverable,
     * with glibc's handlers, which must never run here: the kernel lets us
     * block them. */
    unsigned long long all_signals = ~0ULL;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &all_signals, NULL, sizeof all_signals);
    int keep = a->keep;
    /* Every signal stays blocked for the keeper's whole life (the host
     * blocked them all around the clone), so no host handler can run here
     * and no disposition needs resetting; nothing but SIGKILL stops it (a
     * terminal's ^C reaches the workload, whose end it then reports).
     *
     * The host process, not the thread that cloned us: PR_SET_PDEATHSIG
     * fires when that thread ends, so it is the fallback only for kernels
     * without pidfd_open (before 5.3). Our parent is the host's thread
     * group, so getppid() names the host for as long as it lives. */
    long hostfd = RSYS2(SYS_pidfd_open, a->host, 0);
    if (hostfd < 0) {
        long r = RSYS2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
        if (r < 0)
            fail(keep, STAGE_SETUP, (int)-r);
    }
    if (RSYS1(SYS_getppid, 0) != a->host)
        rs_exit(127); /* the host died before we could watch it */
    int all[11 + LINX_MAX_FDS]; /* no initializer: no memset in freestanding code */
    all[0] = 0;
    all[1] = 1;
    all[2] = 2;
    all[3] = a->ctl;
    all[4] = keep;
    for (int i = 0; i < 3; i++)
        all[5 + i] = a->stdio[i];
    all[8] = (int)hostfd;
    for (int i = 0; i < a->nfds; i++)
        all[9 + i] = a->fd_src[i];
    all[9 + a->nfds] = a->cgroup; /* spawn's cgroup, or -1 */
    all[10 + a->nfds] = a->init_fd;
    close_all_but(all, 11 + a->nfds);
    /* inside.init: the init writes the workload's end here (protocol.h) */
    int status_r = -1;
    a->status_w = -1;
    if (a->init_fd >= 0) {
        int sp[2] = {-1, -1}; /* filled by the kernel (two ints: no memset) */
        long r = RSYS2(SYS_pipe2, sp, O_CLOEXEC | O_NONBLOCK);
        if (r < 0)
            fail(keep, STAGE_INIT, (int)-r);
        status_r = sp[0];
        a->status_w = sp[1];
    }

    a->parent = (a->flags & CLONE_NEWPID) ? 0 : (pid_t)RSYS1(SYS_getpid, 0);
    int wpidfd = -1;
    /* A workload that changes its ids must not share the host's memory:
     * a change of effective id makes the kernel set the memory's dumpable
     * flag to suid_dumpable (0), and with CLONE_VM that is the host's
     * memory: its /proc files, and those of every child it spawns later,
     * would then belong to root. It gets a copy instead. */
    int wvm = a->vm && a->in.uid < 0 && a->in.gid < 0;
    long w = a->cgroup >= 0 /* child_clone3.h */
                 ? clone_into_cgroup(a->flags | SIGCHLD, wvm, a->wstack, a->cgroup, &wpidfd, workload_trampoline, a)
                 : clone_child(a->flags | SIGCHLD, wvm, a->wstack, &wpidfd, workload_trampoline, a);
    if (w < 0)
        fail(keep, a->cgroup >= 0 ? STAGE_CLONE3 : STAGE_CLONE, (int)-w);
    rs_close(a->ctl);
    for (int i = 0; i < 3; i++)
        if (a->stdio[i] >= 0)
            rs_close(a->stdio[i]);
    if (a->init_fd >= 0) {
        rs_close(a->init_fd);
        rs_close(a->status_w);
    }

    /* The workload is our unreaped child: this directory is exactly its. */
    char path[40];
    proc_path(path, w);
    long procfd = RSYS4(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (procfd < 0) {
        kill_and_reap(w);
        fail(keep, STAGE_PROC, (int)-procfd);
    }
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_STARTED;
    m.pid = (int32_t)w;
    m.fds = (wpidfd >= 0 ? HAS_PIDFD : 0) | HAS_PROCFD;
    if (send_msg(keep, &m, wpidfd, (int)procfd) != 0) {
        kill_and_reap(w); /* the host is gone */
        rs_exit(127);
    }
    /* From here on the keeper holds nothing but its socket and the pidfds
     * of the host and the workload. */
    int only[4] = {keep, (int)hostfd, wpidfd, status_r};
    close_all_but(only, 4);
    /* Nonblocking reads of our socket: EOF (the host unpinned) vs nothing. */
    RSYS3(SYS_fcntl, keep, F_SETFL, O_NONBLOCK);

    /* Wait for the workload's end or the host's death. Whether the host
     * has unpinned (its EOF: it waits for or closes the handle, so reap as
     * soon as reported) is asked only then: watching for the EOF would
     * cost a wakeup while the workload runs. */
    if (hostfd >= 0 && wpidfd >= 0) {
        for (;;) {
            struct pollfd pf[2] = {{(int)hostfd, 0, 0}, {wpidfd, 0, 0}};
            if (poll_in(pf, 2) < 0)
                break; /* cannot watch: wait for the workload below */
            if (pf[0].revents) {
                kill_and_reap(w); /* the host process is gone */
                rs_exit(127);
            }
            if (pf[1].revents)
                break;
        }
    }
    /* Report the workload's end but leave it a zombie: while it is our
     * unreaped child its pid is its own, so the handle's pid (which the
     * newuidmap route passes by number) names no other process until the
     * host waits for or closes the handle. */
    siginfo_t si;
    zero(&si, sizeof si);
    rs_waitid(w, &si, WEXITED | WNOWAIT | __WALL);
    zero(&m, sizeof m);
    m.type = MSG_EXITED;
    m.code = si.si_code;
    m.status = si.si_status;
    if (status_r >= 0) {
        /* The init's report of the workload's end; none (the init was
         * killed, or never forked): the init's own end stands. */
        struct init_status is;
        if (RSYS3(SYS_read, status_r, &is, sizeof is) == (long)sizeof is) {
            m.code = is.code;
            m.status = is.status;
        }
    }
    if (send_msg(keep, &m, -1, -1) == 0) {
        int unpinned = saw_eof(keep);
        while (!unpinned) {
            struct pollfd pf[2] = {{(int)hostfd, 0, 0}, {keep, 0, 0}};
            if (poll_in(pf, 2) < 0 || pf[0].revents || (pf[1].revents && saw_eof(keep)))
                unpinned = 1;
        }
    }
    rs_waitid(w, &si, WEXITED | __WALL);
    rs_exit(0);
}

static int keeper_trampoline(void *arg)
{
    keeper_main(arg);
}

long linx_child_clone_keeper(struct spawn_args *a, char *ktop, int *pidfd)
{
    return clone_child(0, a->vm, ktop, pidfd, keeper_trampoline, a);
}
