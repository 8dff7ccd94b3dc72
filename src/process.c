/* require "linx.process": clone a child into new namespaces, park it at a
 * checkpoint until the host says proceed, then execvpe the workload.
 *
 * Two processes per handle:
 *   keeper    the host's own child, cloned with no exit signal. It never
 *             execs, so it stays invisible to a host's waitpid(-1) reaper
 *             (nginx reaps every child of its workers that way); only
 *             this handle's waitid(__WALL) reaps it. It clones the
 *             workload, hands the host a pidfd and a /proc/<pid> fd for
 *             it, waits for it, reports its exit status and exits.
 *   workload  the keeper's child, in the namespaces asked for: parks, then
 *             execvpe. It cannot be the host's own child: execve resets a
 *             child's exit signal to SIGCHLD, and the host's reaper would
 *             take its status.
 * Until execve both run only async-signal-safe code on data the host
 * prepared (no malloc, no stdio, no locks).
 *
 * Two AF_UNIX SOCK_SEQPACKET socketpairs (CLOEXEC; MSG_NOSIGNAL, so a dead
 * peer is EPIPE, not SIGPIPE):
 *   ctl     workload <-> host. The workload sends "parked" (or "stage failed:
 *           errno"); one byte from the host releases it, EOF instead means
 *           the host is gone or closed the handle and it exits. After
 *           proceed, EOF on the host's side means execve succeeded (the
 *           workload's end is CLOEXEC); a message means it failed.
 *   keeper  keeper -> host: "started" (the workload's pid, its pidfd and
 *           /proc fd attached) or "clone failed: errno"; later "exited".
 * If the host dies, the keeper dies (PR_SET_PDEATHSIG) and so does the
 * workload (PR_SET_PDEATHSIG towards the keeper; parked, it also sees EOF). */
/***
Spawn a child into new namespaces, parked at a checkpoint until the host
has written its maps.

    local process, user = require "linx.process", require "linxuser"
    local c = assert(process.spawn{argv = {"id", "-u"}, namespaces = {"user"}, stdout = "pipe"})
    assert(user.setup_maps(c, {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}))
    assert(c:proceed())
    print(c:read("stdout"), c:wait().code)   --> 0   0

Failures return `nil, err` with an error table (see `linxuser.Error`; this
module adds the kinds `bad_option` and `bad_state`), plus the errno number
after a kernel refusal.
@module linx.process
*/
#include "compat.h"
#include "handle.h"
#include "lerror.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
/* idtype_t value of the kernel's P_PIDFD (5.4); older glibc lacks the name. */
#define LINX_P_PIDFD ((idtype_t)3)


/* ---- the handle ---------------------------------------------------------- */

enum state {
    ST_NEW,     /* being built by spawn: no child yet, or not yet parked */
    ST_PARKED,  /* waiting at the checkpoint */
    ST_RUNNING, /* released (proceed sent), not reaped */
    ST_REAPED,  /* exit status collected */
};

enum stream { S_STDIN, S_STDOUT, S_STDERR };

struct outbuf {
    char *p;
    size_t len, cap;
};

struct handle {
    struct linx_target_ref ref; /* the workload; must stay first: linxuser reads it */
    pid_t kpid;                 /* the keeper, 0 until cloned */
    int kpidfd;                 /* the keeper's pidfd, or -1 */
    int ctl;                    /* our end of the ctl socket; -1 after proceed */
    int keep;                   /* our end of the keeper socket; -1 once it reported */
    int in_fd;                  /* write end of a stdin pipe, or -1 */
    int out_fd[2];              /* read ends for stdout/stderr, -1 when not piped or at EOF */
    int piped[3];               /* which of stdin/stdout/stderr were "pipe" */
    struct outbuf pending[2];   /* output drained while waiting for something else */
    /* The keeper's and workload's fds, held here only between their creation
     * and the clone, so that an error (even a Lua error) closes them via __gc. */
    int child_ctl, child_keep, child_fd[3];
    enum state state;
    int closed;
    int signalled_parked; /* kill() reached a parked child: wait() may block */
    int have_status;      /* the keeper reported the workload's end */
    int newpid;           /* the workload is init of a new pid namespace */
    int exited, code, signaled, signal;
    char *argv0; /* for exec error messages */
    char *cwd;   /* for chdir error messages */
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void free_outbuf(struct outbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static int outbuf_append(struct outbuf *b, const char *data, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return ENOMEM;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

/* ---- messages ----------------------------------------------------------- */

enum msg_type { MSG_PARKED, MSG_FAILED, MSG_STARTED, MSG_EXITED };
enum stage { STAGE_SETUP, STAGE_STDIO, STAGE_CHDIR, STAGE_EXEC, STAGE_CLONE, STAGE_PROC };

static const char *stage_name(int stage)
{
    switch (stage) {
    case STAGE_SETUP: return "setup";
    case STAGE_STDIO: return "stdio";
    case STAGE_CHDIR: return "chdir";
    case STAGE_EXEC: return "exec";
    case STAGE_CLONE: return "clone";
    case STAGE_PROC: return "proc";
    default: return "spawn";
    }
}

#define HAS_PIDFD 1
#define HAS_PROCFD 2

struct msg {
    int32_t type;
    int32_t stage;  /* MSG_FAILED */
    int32_t err;    /* MSG_FAILED */
    int32_t pid;    /* MSG_STARTED: the workload, in the host's pid namespace */
    int32_t fds;    /* MSG_STARTED: HAS_PIDFD | HAS_PROCFD, attached in that order */
    int32_t code;   /* MSG_EXITED: si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED) */
    int32_t status; /* MSG_EXITED: exit code or signal */
};

union fd_cmsg {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
};

/* Send one message with up to two fds (-1: none). 0 or -1. Async-signal-safe. */
static int send_msg(int sock, const struct msg *m, int fd1, int fd2)
{
    struct iovec iov = {(void *)m, sizeof *m};
    struct msghdr mh;
    union fd_cmsg u;
    int fds[2], n = 0;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd1 >= 0)
        fds[n++] = fd1;
    if (fd2 >= 0)
        fds[n++] = fd2;
    if (n > 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    }
    ssize_t r;
    while ((r = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)sizeof *m ? 0 : -1;
}

/* Receive one message; attached fds (CLOEXEC) go to fds[0..1] (-1 where
 * none came), or are closed when fds is NULL. Returns 1, 0 on EOF, -errno. */
static int recv_msg(int sock, struct msg *m, int *fds)
{
    memset(m, 0, sizeof *m); /* the caller's struct is uninitialised */
    struct iovec iov = {m, sizeof *m};
    struct msghdr mh;
    union fd_cmsg u;
    int got[2] = {-1, -1}, ngot = 0;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    ssize_t r;
    while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (fds != NULL && ngot < 2)
                got[ngot++] = fd;
            else
                close(fd);
        }
    }
    if (fds != NULL) {
        fds[0] = got[0];
        fds[1] = got[1];
    }
    if (r == 0)
        return 0;
    if (r != (ssize_t)sizeof *m || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        for (int i = 0; i < ngot; i++)
            close(got[i]);
        if (fds != NULL)
            fds[0] = fds[1] = -1;
        return -EPROTO;
    }
    return 1;
}

/* ---- keeper and workload (async-signal-safe only) ----------------------- */

struct spawn_args {
    char *const *argv;
    char *const *envp;   /* NULL: inherit environ */
    const char *cwd;     /* NULL: stay */
    unsigned long flags; /* CLONE_NEW* for the workload */
    int ctl;             /* the workload's end of the ctl socket */
    int keep;            /* the keeper's end of the keeper socket */
    int stdio[3];        /* fd to install as 0/1/2, or -1 to inherit */
    pid_t host;          /* the keeper's expected getppid() */
    pid_t parent;        /* the workload's: set by the keeper (0 in a new pid namespace) */
};

static void send_failure(int sock, int stage, int err)
{
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_FAILED;
    m.stage = stage;
    m.err = err;
    send_msg(sock, &m, -1, -1);
}

static _Noreturn void fail(int sock, int stage, int err)
{
    send_failure(sock, stage, err);
    _exit(127);
}

static void close_from(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (syscall(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* Kernels before 5.9: close one by one up to the fd limit. */
    struct rlimit rl;
    unsigned max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20))
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
        close((int)fd);
}

/* Close every fd but keep[0..n) (a handful; -1 entries ignored). */
static void close_all_but(int *keep, int n)
{
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i;
        for (; j > 0 && keep[j - 1] > v; j--)
            keep[j] = keep[j - 1];
        keep[j] = v;
    }
    unsigned lo = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < lo)
            continue;
        if ((unsigned)keep[i] > lo)
            close_from(lo, (unsigned)keep[i] - 1);
        lo = (unsigned)keep[i] + 1;
    }
    close_from(lo, ~0U);
}

/* Host handlers must never run here: reset every disposition (the host
 * blocked all signals around the clone, so none ran yet). */
static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* glibc-internal signals: EINVAL, fine */
    }
}

static _Noreturn void workload_main(const struct spawn_args *a)
{
    int ctl = a->ctl;
    reset_signals();
    /* Die with the keeper; if it died before prctl took effect, getppid()
     * has changed (in a new pid namespace it is always 0, and the ctl
     * socket's EOF covers that case). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        fail(ctl, STAGE_SETUP, errno);
    if (getppid() != a->parent)
        _exit(127);

    /* Move every fd we need above 2 (the host may run with stdio closed, so
     * one of ours could sit on 0..2), then install stdio. */
    int src[3];
    int low[3] = {0, 0, 0}; /* one of our fds occupies this stdio slot */
    if (a->keep >= 0 && a->keep < 3)
        low[a->keep] = 1;
    if (ctl < 3) {
        low[ctl] = 1;
        ctl = fcntl(ctl, F_DUPFD_CLOEXEC, 3);
        if (ctl < 0)
            _exit(127);
    }
    for (int i = 0; i < 3; i++) {
        src[i] = a->stdio[i];
        if (src[i] >= 0 && src[i] < 3) {
            low[src[i]] = 1;
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (src[i] < 0)
                fail(ctl, STAGE_STDIO, errno);
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0) {
            if (dup2(src[i], i) < 0)
                fail(ctl, STAGE_STDIO, errno);
        } else if (low[i]) {
            close(i); /* inherit a closed slot, not one of our fds */
        }
    }
    /* Keep 0, 1, 2 and the ctl socket: nothing else of the host's. */
    int keep[4] = {0, 1, 2, ctl};
    close_all_but(keep, 4);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Park. */
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_PARKED;
    send_msg(ctl, &m, -1, -1);
    char go;
    ssize_t n;
    while ((n = read(ctl, &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(127); /* EOF: the host is gone or closed the handle */

    if (a->cwd != NULL && chdir(a->cwd) != 0)
        fail(ctl, STAGE_CHDIR, errno);
    execvpe(a->argv[0], a->argv, a->envp != NULL ? a->envp : environ);
    fail(ctl, STAGE_EXEC, errno);
}

static int workload_trampoline(void *arg)
{
    workload_main(arg);
}

struct clone3_args { /* struct clone_args, version 0 (64 bytes) */
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* Clone a process (no CLONE_VM: it gets a copy of our memory) that runs
 * fn(arg) and never returns. Returns its pid or -errno; *pidfd gets a
 * pidfd or -1. Async-signal-safe (the keeper uses it too). */
static pid_t clone_proc(unsigned long flags, int exit_signal, int (*fn)(void *), void *arg, int *pidfd)
{
    int fd = -1;
    struct clone3_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags | CLONE_PIDFD;
    ca.pidfd = (uint64_t)(uintptr_t)&fd;
    ca.exit_signal = (uint64_t)exit_signal;
    /* With no stack given, the child continues on its copy of this stack. */
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0)
        _exit(fn(arg));
    if (r > 0) {
        *pidfd = fd;
        return (pid_t)r;
    }
    if (errno != ENOSYS)
        return -errno;

    /* No clone3 (kernel before 5.3, or a seccomp filter or valgrind that
     * hides it): clone() on a stack of our own; CLONE_PIDFD needs 5.2. */
    size_t size = (size_t)256 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    void *top = (char *)stack + size;
    int rc = clone(fn, top, (int)(flags | CLONE_PIDFD) | exit_signal, arg, &fd);
    if (rc < 0 && errno == EINVAL) {
        fd = -1;
        rc = clone(fn, top, (int)flags | exit_signal, arg);
    }
    int err = errno;
    munmap(stack, size); /* the child has its own copy */
    if (rc < 0)
        return -err;
    *pidfd = fd;
    return rc;
}

/* "/proc/<pid>" without stdio. */
static void proc_path(char *buf, pid_t pid)
{
    char digits[16];
    int n = 0;
    unsigned long v = (unsigned long)pid;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 && n < (int)sizeof digits);
    memcpy(buf, "/proc/", 6);
    for (int i = 0; i < n; i++)
        buf[6 + i] = digits[n - 1 - i];
    buf[6 + n] = '\0';
}

static void kill_and_reap(pid_t pid)
{
    siginfo_t si;
    kill(pid, SIGKILL); /* our unreaped child: the pid is still its */
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
        ;
}

static _Noreturn void keeper_main(struct spawn_args *a)
{
    int keep = a->keep;
    /* Every signal stays blocked: nothing but SIGKILL stops the keeper
     * (a terminal's ^C reaches the workload, whose end it then reports). */
    reset_signals();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        fail(keep, STAGE_SETUP, errno);
    if (getppid() != a->host)
        _exit(127);
    int all[8] = {0, 1, 2, a->ctl, keep, a->stdio[0], a->stdio[1], a->stdio[2]};
    close_all_but(all, 8);

    a->parent = (a->flags & CLONE_NEWPID) ? 0 : getpid();
    int wpidfd = -1;
    pid_t w = clone_proc(a->flags, SIGCHLD, workload_trampoline, a, &wpidfd);
    if (w < 0)
        fail(keep, STAGE_CLONE, (int)-w);
    close(a->ctl);
    for (int i = 0; i < 3; i++)
        if (a->stdio[i] >= 0)
            close(a->stdio[i]);

    /* The workload is our unreaped child: this directory is exactly its. */
    char path[32];
    proc_path(path, w);
    int procfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) {
        int err = errno;
        kill_and_reap(w);
        fail(keep, STAGE_PROC, err);
    }
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_STARTED;
    m.pid = (int32_t)w;
    m.fds = (wpidfd >= 0 ? HAS_PIDFD : 0) | HAS_PROCFD;
    if (send_msg(keep, &m, wpidfd, procfd) != 0) {
        kill_and_reap(w); /* the host is gone */
        _exit(127);
    }
    /* From here on the keeper holds nothing but its socket. */
    int only[1] = {keep};
    close_all_but(only, 1);

    siginfo_t si;
    memset(&si, 0, sizeof si);
    while (waitid(P_PID, (id_t)w, &si, WEXITED | __WALL) < 0 && errno == EINTR)
        ;
    memset(&m, 0, sizeof m);
    m.type = MSG_EXITED;
    m.code = si.si_code;
    m.status = si.si_status;
    send_msg(keep, &m, -1, -1);
    _exit(0);
}

static int keeper_trampoline(void *arg)
{
    keeper_main(arg);
}

/* ---- the host's side of the keeper --------------------------------------- */

static void set_status(struct handle *h, int si_code, int status)
{
    h->exited = h->signaled = 0;
    if (si_code == CLD_EXITED) {
        h->exited = 1;
        h->code = status;
    } else {
        h->signaled = 1;
        h->signal = status;
    }
    h->have_status = 1;
}

/* Reap the keeper (it exits right after its report, or has died). */
static int reap_keeper(struct handle *h, siginfo_t *si)
{
    memset(si, 0, sizeof *si);
    int opts = WEXITED | __WALL;
    int r;
    do {
        r = h->kpidfd >= 0 ? waitid(LINX_P_PIDFD, (id_t)h->kpidfd, si, opts)
                           : waitid(P_PID, (id_t)h->kpid, si, opts);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

/* Collect the workload's end from the keeper and reap the keeper. With
 * nohang, return 0 at once when the keeper has nothing to say yet.
 * Returns 1 when done, 0 (nohang: still going), -errno. */
static int collect(struct handle *h, int nohang)
{
    if (h->state == ST_REAPED)
        return 1;
    if (h->keep >= 0) {
        if (nohang) {
            struct pollfd pf = {h->keep, POLLIN, 0};
            int r;
            while ((r = poll(&pf, 1, 0)) < 0 && errno == EINTR)
                ;
            if (r < 0)
                return -errno;
            if (r == 0)
                return 0;
        }
        struct msg m;
        if (recv_msg(h->keep, &m, NULL) == 1 && m.type == MSG_EXITED)
            set_status(h, m.code, m.status);
        close_fd(&h->keep);
    }
    siginfo_t si;
    int r = reap_keeper(h, &si);
    if (!h->have_status) {
        /* The keeper died without a report (killed), and the workload with
         * it, by its parent-death SIGKILL. */
        set_status(h, CLD_KILLED, r == 0 && si.si_code != CLD_EXITED ? si.si_status : SIGKILL);
    }
    h->state = ST_REAPED;
    return r < 0 ? r : 1;
}

static int kill_keeper(struct handle *h)
{
    if (h->kpidfd >= 0 && syscall(SYS_pidfd_send_signal, h->kpidfd, SIGKILL, NULL, 0) == 0)
        return 0;
    return kill(h->kpid, SIGKILL) == 0 ? 0 : -errno; /* unreaped: still ours */
}

static int send_signal(struct handle *h, int sig)
{
    if (h->ref.pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, h->ref.pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ENOSYS)
            return -errno;
    }
    /* No pidfd signals (kernel before 5.1, or valgrind): by pid, which is
     * the workload's until the keeper reaps it; once it reported, never. */
    if (h->have_status)
        return -ESRCH;
    return kill(h->ref.pid, sig) == 0 ? 0 : -errno;
}

/* Kill (if needed) the workload, collect it, reap the keeper, close every
 * fd, free buffers. Used by close(), __gc, __close and spawn's errors. */
static void handle_release(struct handle *h)
{
    if (h->closed)
        return;
    if (h->kpid > 0 && h->state != ST_REAPED) {
        int r = h->ref.pid > 0 ? send_signal(h, SIGKILL) : -ESRCH;
        if (r < 0 && !(h->ref.pid > 0 && r == -ESRCH))
            kill_keeper(h); /* no workload to aim at: the keeper takes it along */
        collect(h, 0);
    }
    close_fd(&h->ctl);
    close_fd(&h->keep);
    close_fd(&h->in_fd);
    close_fd(&h->out_fd[0]);
    close_fd(&h->out_fd[1]);
    close_fd(&h->child_ctl);
    close_fd(&h->child_keep);
    for (int i = 0; i < 3; i++)
        close_fd(&h->child_fd[i]);
    close_fd(&h->ref.pidfd);
    close_fd(&h->kpidfd);
    close_fd(&h->ref.procfd);
    free_outbuf(&h->pending[0]);
    free_outbuf(&h->pending[1]);
    free(h->argv0);
    free(h->cwd);
    h->argv0 = h->cwd = NULL;
    h->closed = 1;
}

/* ---- errors -------------------------------------------------------------- */

/* nil, {kind="bad_option", operation=op, field=, reason=[, value=][, index=]} */
static int bad_option(lua_State *L, const char *op, const char *field, const char *reason,
                      int value_idx, lua_Integer index)
{
    if (value_idx < 0)
        value_idx = lua_gettop(L) + value_idx + 1; /* lua_absindex is 5.2+ */
    linx_error_new(L, "bad_option", op);
    linx_error_setstr(L, "field", field);
    linx_error_setstr(L, "reason", reason);
    if (value_idx != 0) {
        lua_pushvalue(L, value_idx);
        lua_setfield(L, -2, "value");
    }
    if (index > 0)
        linx_error_setint(L, "index", index);
    linx_error_return(L);
    return 2; /* nil, err: visibly non-zero, so callers' "r != 0" paths are clear to analyzers */
}

/* nil, {kind="bad_state", operation=op, state=, reason=, message=} */
static int bad_state(lua_State *L, const char *op, const char *state, const char *reason)
{
    const char *msg = "the handle cannot do that now";
    if (strcmp(reason, "closed") == 0)
        msg = "the handle is closed";
    else if (strcmp(reason, "parked") == 0)
        msg = "the child is parked at the checkpoint: proceed() or kill() it first";
    else if (strcmp(reason, "not_parked") == 0)
        msg = "the child is no longer parked (proceed() runs once)";
    else if (strcmp(reason, "stdin_closed") == 0)
        msg = "the child's stdin pipe is already closed";
    linx_error_new(L, "bad_state", op);
    linx_error_setstr(L, "state", state);
    linx_error_setstr(L, "reason", reason);
    linx_error_setstr(L, "message", msg);
    return linx_error_return(L);
}

/* ---- spawn --------------------------------------------------------------- */

#define NS_COUNT 7
static const struct {
    const char *name;
    unsigned long flag;
} namespaces[NS_COUNT] = {
    {"user", CLONE_NEWUSER}, {"mount", CLONE_NEWNS}, {"pid", CLONE_NEWPID},   {"uts", CLONE_NEWUTS},
    {"ipc", CLONE_NEWIPC},   {"net", CLONE_NEWNET},  {"cgroup", CLONE_NEWCGROUP},
};

static const char *const option_names[] = {"argv", "namespaces", "env", "cwd", "stdin", "stdout", "stderr", NULL};

enum { IO_INHERIT, IO_NULL, IO_PIPE };

static int gettable_k(lua_State *L)
{
    lua_gettable(L, 1);
    return 1;
}

/* opts[field], read normally (an __index of defaults works) but protected:
 * a metamethod that raises becomes bad_option "unreadable". Pushes the
 * value and returns 0, or pushes nil, err and returns 2. */
static int get_opt(lua_State *L, int opts, const char *field)
{
    lua_pushcfunction(L, gettable_k);
    lua_pushvalue(L, opts);
    lua_pushstring(L, field);
    if (lua_pcall(L, 2, 1, 0) != 0) {
        int r = bad_option(L, "spawn", field, "unreadable", -1, 0);
        /* the raised value, as text when it is text */
        lua_getfield(L, -1, "value");
        const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "an option's metamethod raised";
        lua_pushstring(L, msg);
        lua_setfield(L, -3, "message");
        lua_pop(L, 1);
        return r;
    }
    return 0;
}

/* Has the string a NUL inside? Execve would silently cut it. */
static int has_nul(const char *s, size_t len)
{
    return memchr(s, '\0', len) != NULL;
}

/* Read opts.argv (raw) into a NULL-terminated array in a userdata pushed
 * on the stack; the strings stay anchored by the argv table, which is
 * also left on the stack (below the array). Returns 0 or pushes nil, err
 * and returns 2. */
static int get_argv(lua_State *L, int opts, char ***out)
{
    if (get_opt(L, opts, "argv"))
        return 2;
    int t = lua_gettop(L);
    if (lua_isnil(L, t))
        return bad_option(L, "spawn", "argv", "missing", 0, 0);
    if (!lua_istable(L, t))
        return bad_option(L, "spawn", "argv", "not_a_list", t, 0);
    size_t n = (size_t)lua_rawlen(L, t);
    if (n == 0)
        return bad_option(L, "spawn", "argv", "empty", 0, 0);
    if (n > 1u << 20)
        return bad_option(L, "spawn", "argv", "too_many", 0, 0);
    char **v = lua_newuserdata(L, (n + 1) * sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, t, (lua_Integer)i);
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return bad_option(L, "spawn", "argv", "not_a_string", -1, (lua_Integer)i);
        const char *s = lua_tolstring(L, -1, &len);
        if (has_nul(s, len))
            return bad_option(L, "spawn", "argv", "contains_nul", -1, (lua_Integer)i);
        v[i - 1] = (char *)s; /* anchored by the argv table */
        lua_pop(L, 1);
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

/* opts.env: a table of NAME = value (strings or numbers), read raw.
 * Pushes a table anchoring the "NAME=value" strings and the array
 * userdata. Returns 0 or pushes nil, err and returns 2. */
static int get_env(lua_State *L, int opts, char ***out)
{
    if (get_opt(L, opts, "env"))
        return 2;
    int t = lua_gettop(L);
    *out = NULL;
    if (lua_isnil(L, t))
        return 0;
    if (!lua_istable(L, t))
        return bad_option(L, "spawn", "env", "not_a_table", t, 0);
    lua_newtable(L); /* anchor for the "NAME=value" strings */
    int anchor = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        /* key at -2, value at -1 */
        if (lua_type(L, -2) != LUA_TSTRING)
            return bad_option(L, "spawn", "env", "bad_name", -2, 0);
        size_t klen, vlen;
        const char *k = lua_tolstring(L, -2, &klen);
        if (klen == 0 || memchr(k, '=', klen) != NULL || has_nul(k, klen))
            return bad_option(L, "spawn", "env", "bad_name", -2, 0);
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER)
            return bad_option(L, "spawn", "env", "bad_value", -2, 0);
        lua_pushvalue(L, -1); /* convert a copy: never the table's value */
        const char *v = lua_tolstring(L, -1, &vlen);
        if (has_nul(v, vlen))
            return bad_option(L, "spawn", "env", "bad_value", -3, 0);
        lua_pushfstring(L, "%s=%s", k, v);
        lua_rawseti(L, anchor, (lua_Integer)++n);
        lua_pop(L, 2); /* the copy and the value; keep the key */
    }
    char **v = lua_newuserdata(L, (n + 1) * sizeof *v);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, anchor, (lua_Integer)i);
        v[i - 1] = (char *)lua_tostring(L, -1); /* anchored by the table */
        lua_pop(L, 1);
    }
    v[n] = NULL;
    *out = v;
    return 0;
}

static int get_stdio(lua_State *L, int opts, const char *field, int *mode)
{
    *mode = IO_INHERIT;
    if (get_opt(L, opts, field))
        return 2;
    if (!lua_isnil(L, -1)) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        if (strcmp(s, "inherit") == 0)
            *mode = IO_INHERIT;
        else if (strcmp(s, "null") == 0)
            *mode = IO_NULL;
        else if (strcmp(s, "pipe") == 0)
            *mode = IO_PIPE;
        else
            return bad_option(L, "spawn", field, "unknown", -1, 0);
    }
    lua_pop(L, 1);
    return 0;
}

static int get_namespaces(lua_State *L, int opts, unsigned long *flags)
{
    *flags = 0;
    if (get_opt(L, opts, "namespaces"))
        return 2;
    int t = lua_gettop(L);
    if (!lua_isnil(L, t)) {
        if (!lua_istable(L, t))
            return bad_option(L, "spawn", "namespaces", "not_a_list", t, 0);
        size_t n = (size_t)lua_rawlen(L, t);
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, t, (lua_Integer)i);
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            int found = 0;
            for (int k = 0; s != NULL && k < NS_COUNT; k++) {
                if (strcmp(s, namespaces[k].name) == 0) {
                    *flags |= namespaces[k].flag;
                    found = 1;
                }
            }
            if (!found)
                return bad_option(L, "spawn", "namespaces", "unknown", -1, (lua_Integer)i);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return 0;
}

/* Typos must not pass silently (a misspelt "namespaces" would run the
 * workload in the host's namespaces): reject unknown keys. */
static int check_option_names(lua_State *L, int opts)
{
    lua_pushnil(L);
    while (lua_next(L, opts) != 0) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING) {
            const char *k = lua_tostring(L, -1);
            for (int i = 0; option_names[i] != NULL; i++)
                known |= strcmp(k, option_names[i]) == 0;
        }
        if (!known) {
            /* name a short printable key as the field; anything else stays in value */
            size_t len = 0;
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            int plain = k != NULL && len > 0 && len <= 64;
            for (size_t i = 0; plain && i < len; i++)
                plain = k[i] > ' ' && k[i] < 127;
            return bad_option(L, "spawn", plain ? k : "opts", "unknown_option", -1, 0);
        }
    }
    return 0;
}

static const char *spawn_hint(int err, unsigned long flags)
{
    if (err == EPERM && (flags & ~(unsigned long)CLONE_NEWUSER) != 0 && !(flags & CLONE_NEWUSER))
        return "creating namespaces other than user needs CAP_SYS_ADMIN; add \"user\" to namespaces";
    if (err == EPERM && (flags & CLONE_NEWUSER))
        return "unprivileged user namespaces may be disabled (sysctl user.max_user_namespaces, "
               "kernel.unprivileged_userns_clone, or an AppArmor/seccomp policy)";
    if (err == ENOSPC || err == EUSERS)
        return "a namespace limit was reached (see /proc/sys/user/max_*_namespaces)";
    if (err == EINVAL && (flags & CLONE_NEWUSER))
        return "a multi-threaded caller or a chroot can prevent a new user namespace";
    return NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/***
Clone a child into the namespaces asked for and park it at the checkpoint.
Returns once the child is parked: it has not run any of the workload yet.
@function spawn
@tparam table opts
@tparam {string,...} opts.argv the command; `argv[1]` is searched in `PATH` (required)
@tparam[opt] {string,...} opts.namespaces any of `"user"`, `"mount"`, `"pid"`, `"uts"`, `"ipc"`, `"net"`, `"cgroup"` (default: none)
@tparam[opt] table opts.env `NAME = value` pairs, the child's whole environment (default: inherit)
@tparam[opt] string opts.cwd the child's working directory
@tparam[opt="inherit"] string opts.stdin `"inherit"`, `"null"` or `"pipe"`
@tparam[opt="inherit"] string opts.stdout `"inherit"`, `"null"` or `"pipe"`
@tparam[opt="inherit"] string opts.stderr `"inherit"`, `"null"` or `"pipe"`
@treturn[1] Handle the parked child
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option`, or `os` (operation `spawn`) when the kernel refused
@treturn[2] ?int errno, when the kernel refused
*/
static int l_spawn(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return bad_option(L, "spawn", "opts", "not_a_table", 1, 0);
    lua_settop(L, 1);
    luaL_checkstack(L, 32, NULL);
    int r = check_option_names(L, 1);
    if (r)
        return r;

    unsigned long flags = 0;
    char **argv = NULL, **envp = NULL;
    int mode[3];
    const char *cwd = NULL;
    static const char *const stdio_names[3] = {"stdin", "stdout", "stderr"};
    if ((r = get_argv(L, 1, &argv)) || (r = get_namespaces(L, 1, &flags)) || (r = get_env(L, 1, &envp)))
        return r;
    for (int i = 0; i < 3; i++)
        if ((r = get_stdio(L, 1, stdio_names[i], &mode[i])))
            return r;
    if ((r = get_opt(L, 1, "cwd")))
        return r;
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return bad_option(L, "spawn", "cwd", "not_a_string", -1, 0);
        cwd = lua_tolstring(L, -1, &len); /* anchored: stays on the stack */
        if (has_nul(cwd, len) || len == 0)
            return bad_option(L, "spawn", "cwd", "bad_path", -1, 0);
    }

    /* The handle exists before any fd, so __gc closes whatever an error
     * (even a Lua memory error) leaves behind. */
    struct handle *h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    h->ref.pid = 0;
    h->ref.procfd = -1;
    h->ref.pidfd = -1;
    h->kpidfd = h->ctl = h->keep = h->in_fd = h->child_ctl = h->child_keep = -1;
    h->out_fd[0] = h->out_fd[1] = -1;
    for (int i = 0; i < 3; i++)
        h->child_fd[i] = -1;
    h->state = ST_NEW;
    luaL_setmetatable(L, LINX_HANDLE_MT);
    int hidx = lua_gettop(L);

    h->argv0 = dup_str(argv[0]);
    h->cwd = cwd != NULL ? dup_str(cwd) : NULL;
    if (h->argv0 == NULL || (cwd != NULL && h->cwd == NULL)) {
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, ENOMEM, NULL);
    }

    int ctl[2], kp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
        int err = errno;
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, err, NULL);
    }
    h->ctl = ctl[0];
    h->child_ctl = ctl[1];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kp) != 0) {
        int err = errno;
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, err, NULL);
    }
    h->keep = kp[0];
    h->child_keep = kp[1];
    int nullfd = -1;
    for (int i = 0; i < 3; i++) {
        int err = 0;
        if (mode[i] == IO_PIPE) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0) {
                err = errno;
            } else if (i == S_STDIN) {
                h->child_fd[i] = p[0];
                h->in_fd = p[1];
            } else {
                h->child_fd[i] = p[1];
                h->out_fd[i - 1] = p[0];
            }
            h->piped[i] = 1;
        } else if (mode[i] == IO_NULL) {
            if (nullfd < 0) {
                nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (nullfd < 0)
                    err = errno;
                h->child_fd[i] = nullfd;
            } else {
                h->child_fd[i] = fcntl(nullfd, F_DUPFD_CLOEXEC, 0);
                if (h->child_fd[i] < 0)
                    err = errno;
            }
        }
        if (err) {
            handle_release(h);
            return linx_error_os(L, "spawn", mode[i] == IO_NULL ? "/dev/null" : NULL, err, NULL);
        }
    }

    struct spawn_args a;
    a.argv = argv;
    a.envp = envp;
    a.cwd = cwd;
    a.flags = flags;
    a.ctl = h->child_ctl;
    a.keep = h->child_keep;
    for (int i = 0; i < 3; i++)
        a.stdio[i] = h->child_fd[i];
    a.host = getpid();
    a.parent = 0; /* the keeper sets it */

    /* Block every signal across clone so no host handler runs in the
     * keeper before it resets dispositions. No exit signal: see the top. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int kpidfd = -1;
    pid_t kpid = clone_proc(0, 0, keeper_trampoline, &a, &kpidfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (kpid < 0) {
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, (int)-kpid, spawn_hint((int)-kpid, 0));
    }
    h->kpid = kpid;
    h->kpidfd = kpidfd;
    h->newpid = (flags & CLONE_NEWPID) != 0;
    h->state = ST_RUNNING; /* until parked: errors below collect and reap */
    close_fd(&h->child_ctl);
    close_fd(&h->child_keep);
    for (int i = 0; i < 3; i++)
        close_fd(&h->child_fd[i]);

    /* The keeper's first word: the workload's pid and fds, or why not. */
    struct msg m;
    int fds[2];
    int got = recv_msg(h->keep, &m, fds);
    if (got == 1 && m.type == MSG_STARTED && (m.fds & HAS_PROCFD)) {
        h->ref.pid = (pid_t)m.pid;
        int k = 0;
        if (m.fds & HAS_PIDFD)
            h->ref.pidfd = fds[k++];
        h->ref.procfd = fds[k];
        if (k == 0)
            close_fd(&fds[1]);
    } else {
        close_fd(&fds[0]);
        close_fd(&fds[1]);
    }
    if (h->ref.procfd < 0) {
        handle_release(h); /* reaps the keeper */
        if (got == 1 && m.type == MSG_FAILED) {
            const char *path = m.stage == STAGE_PROC ? "/proc" : NULL;
            const char *hint = m.stage == STAGE_PROC ? "linx.process needs procfs mounted on /proc"
                                                     : spawn_hint(m.err, flags);
            int n = linx_error_os(L, "spawn", path, m.err, hint);
            lua_pushstring(L, stage_name(m.stage));
            lua_setfield(L, -3, "stage");
            return n;
        }
        if (got < 0)
            return linx_error_os(L, "spawn", NULL, -got, NULL);
        linx_error_new(L, "child_died", "spawn");
        linx_error_setstr(L, "reason", "the keeper process ended before starting the child");
        return linx_error_return(L);
    }

    /* Then the workload's: parked, or why not. */
    got = recv_msg(h->ctl, &m, NULL);
    if (got == 1 && m.type == MSG_PARKED) {
        h->state = ST_PARKED;
        lua_pushvalue(L, hidx);
        return 1;
    }
    /* The workload failed during setup or died: collect it, then say why. */
    collect(h, 0);
    int exited = h->exited, code = h->code, sig = h->signal;
    handle_release(h);
    if (got == 1 && m.type == MSG_FAILED) {
        int n = linx_error_os(L, "spawn", NULL, m.err, NULL);
        lua_pushstring(L, stage_name(m.stage));
        lua_setfield(L, -3, "stage");
        return n;
    }
    if (got < 0)
        return linx_error_os(L, "spawn", NULL, -got, NULL);
    linx_error_new(L, "child_died", "spawn");
    linx_error_setstr(L, "reason", exited ? "exited before parking" : "killed before parking");
    linx_error_setint(L, exited ? "code" : "signal", exited ? code : sig);
    return linx_error_return(L);
}

/* ---- methods ------------------------------------------------------------- */

static struct handle *check_handle(lua_State *L)
{
    return luaL_checkudata(L, 1, LINX_HANDLE_MT);
}

static const char *state_name(const struct handle *h)
{
    if (h->closed)
        return "closed";
    switch (h->state) {
    case ST_PARKED: return "parked";
    case ST_RUNNING: return "running";
    case ST_REAPED: return "exited";
    default: return "new";
    }
}

/***
A spawned child. It targets the exact process it spawned, even after its pid
is reused, so it can be passed to every `linxuser` verb. Closing it, or
letting it be garbage-collected (or leaving a `<close>` scope, Lua 5.4),
kills and reaps a child that is still parked or running.
@type Handle
*/

/***
The child's pid in the host's view (what procfs paths need).
@function Handle:host_pid
@treturn int
*/
static int m_host_pid(lua_State *L)
{
    struct handle *h = check_handle(L);
    lua_pushinteger(L, (lua_Integer)h->ref.pid);
    return 1;
}

/***
Release the parked child into `execve`. Runs once.
@function Handle:proceed
@treturn[1] boolean `true` once the exec has happened
@return[2] `nil`
@treturn[2] linxuser.Error `os` with `operation = "exec"` (and `stage`) if it failed, e.g. ENOENT; `bad_state` if not parked
@treturn[2] ?int errno
*/
static int m_proceed(lua_State *L)
{
    struct handle *h = check_handle(L);
    if (h->closed)
        return bad_state(L, "proceed", "closed", "closed");
    if (h->state != ST_PARKED)
        return bad_state(L, "proceed", state_name(h), "not_parked");
    char go = 'g';
    ssize_t n;
    while ((n = send(h->ctl, &go, 1, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != 1) {
        int err = errno;
        h->state = ST_RUNNING; /* it is gone; wait() collects it */
        close_fd(&h->ctl);
        return linx_error_os(L, "proceed", NULL, err, err == EPIPE ? "the parked child is gone (was it killed?)" : NULL);
    }
    h->state = ST_RUNNING;
    struct msg rep;
    int got = recv_msg(h->ctl, &rep, NULL);
    close_fd(&h->ctl);
    if (got == 0) { /* EOF: CLOEXEC closed the workload's end in execve */
        lua_pushboolean(L, 1);
        return 1;
    }
    if (got < 0)
        return linx_error_os(L, "proceed", NULL, -got, NULL);
    const char *what = stage_name(rep.stage);
    const char *path = rep.stage == STAGE_CHDIR ? h->cwd : h->argv0;
    const char *hint = NULL;
    if (rep.stage == STAGE_EXEC && rep.err == ENOENT)
        hint = strchr(h->argv0 ? h->argv0 : "", '/') ? "no such file" : "not found in PATH";
    int r = linx_error_os(L, what, path, rep.err, hint);
    lua_pushstring(L, what);
    lua_setfield(L, -3, "stage");
    return r;
}

/* Read once from each readable output fd into its pending buffer;
 * a stream at EOF gets its fd closed (-1). Returns 0 or errno. */
static int drain_ready(struct handle *h, const struct pollfd *pf, const int *which, int n)
{
    char buf[16384];
    for (int i = 0; i < n; i++) {
        int s = which[i];
        if (s < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = read(h->out_fd[s], buf, sizeof buf);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got < 0)
            return errno;
        if (got == 0) {
            close_fd(&h->out_fd[s]);
            continue;
        }
        int err = outbuf_append(&h->pending[s], buf, (size_t)got);
        if (err)
            return err;
    }
    return 0;
}

static int status_table(lua_State *L, const struct handle *h)
{
    lua_createtable(L, 0, 2);
    if (h->exited) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "exited");
        lua_pushinteger(L, h->code);
        lua_setfield(L, -2, "code");
    } else {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "signaled");
        lua_pushinteger(L, h->signal);
        lua_setfield(L, -2, "signal");
    }
    return 1;
}

/***
Wait for the child to end and reap it (blocks). Piped output is collected
meanwhile, so a child that fills a pipe cannot deadlock the wait.
@function Handle:wait
@treturn[1] table `{exited = true, code = N}` or `{signaled = true, signal = N}`
@return[2] `nil`
@treturn[2] linxuser.Error `bad_state` for a parked or closed handle, or `os`
*/
static int m_wait(lua_State *L)
{
    struct handle *h = check_handle(L);
    if (h->state == ST_REAPED)
        return status_table(L, h);
    if (h->closed)
        return bad_state(L, "wait", "closed", "closed");
    if (h->state == ST_PARKED && !h->signalled_parked) {
        /* Waiting for a child that waits for us would never end. */
        int r = collect(h, 1);
        if (r == 1)
            return status_table(L, h);
        if (r < 0)
            return linx_error_os(L, "wait", NULL, -r, NULL);
        return bad_state(L, "wait", "parked", "parked");
    }
    close_fd(&h->in_fd); /* the child gets EOF on stdin: nothing more comes */
    /* Drain piped output meanwhile, so a child that fills a pipe does not
     * block forever on a host that waits for its exit. */
    while (h->keep >= 0 && (h->out_fd[0] >= 0 || h->out_fd[1] >= 0)) {
        struct pollfd pf[3];
        int which[3] = {-1, -1, -1};
        int n = 0;
        pf[n].fd = h->keep; /* readable when the keeper reports the end */
        pf[n].events = POLLIN;
        n++;
        for (int s = 0; s < 2; s++) {
            if (h->out_fd[s] >= 0) {
                pf[n].fd = h->out_fd[s];
                pf[n].events = POLLIN;
                which[n] = s;
                n++;
            }
        }
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return linx_error_os(L, "wait", NULL, errno, NULL);
        }
        int err = drain_ready(h, pf, which, n);
        if (err)
            return linx_error_os(L, "wait", NULL, err, NULL);
        if (pf[0].revents)
            break;
    }
    int r = collect(h, 0);
    if (r < 0)
        return linx_error_os(L, "wait", NULL, -r, NULL);
    return status_table(L, h);
}

/***
Read a piped stream to its end (blocks until the child closes it).
@function Handle:read
@tparam[opt="stdout"] string stream `"stdout"` or `"stderr"`, spawned with `"pipe"`
@treturn[1] string everything the child wrote there
@return[2] `nil`
@treturn[2] linxuser.Error
*/
static int m_read(lua_State *L)
{
    struct handle *h = check_handle(L);
    int s, t = lua_type(L, 2);
    if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TSTRING)
        return bad_option(L, "read", "stream", "unknown", 2, 0);
    const char *name = t == LUA_TSTRING ? lua_tostring(L, 2) : "stdout";
    if (strcmp(name, "stdout") == 0)
        s = 0;
    else if (strcmp(name, "stderr") == 0)
        s = 1;
    else
        return bad_option(L, "read", "stream", "unknown", 2, 0);
    if (!h->piped[s + 1])
        return bad_option(L, "read", "stream", "not_piped", 2, 0);
    if (h->closed)
        return bad_state(L, "read", "closed", "closed");
    if (h->state == ST_PARKED)
        return bad_state(L, "read", "parked", "parked");
    close_fd(&h->in_fd); /* reading to EOF: the child's stdin must end too */
    while (h->out_fd[s] >= 0) {
        struct pollfd pf[2];
        int which[2] = {-1, -1};
        int n = 0;
        for (int k = 0; k < 2; k++) {
            if (h->out_fd[k] >= 0) {
                pf[n].fd = h->out_fd[k];
                pf[n].events = POLLIN;
                which[n] = k;
                n++;
            }
        }
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            return linx_error_os(L, "read", NULL, errno, NULL);
        }
        int err = drain_ready(h, pf, which, n);
        if (err)
            return linx_error_os(L, "read", NULL, err, NULL);
    }
    struct outbuf *b = &h->pending[s];
    lua_pushlstring(L, b->p != NULL ? b->p : "", b->len);
    free_outbuf(b);
    return 1;
}

/***
Write to the child's piped stdin. A child that closed its stdin gives an
`os` error (EPIPE), never a SIGPIPE in the host.
@function Handle:write
@string data
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] linxuser.Error
*/
static int m_write(lua_State *L)
{
    struct handle *h = check_handle(L);
    size_t len;
    if (lua_type(L, 2) != LUA_TSTRING)
        return bad_option(L, "write", "data", "not_a_string", 2, 0);
    const char *data = lua_tolstring(L, 2, &len);
    if (!h->piped[S_STDIN])
        return bad_option(L, "write", "stream", "not_piped", 0, 0);
    if (h->closed)
        return bad_state(L, "write", "closed", "closed");
    if (h->in_fd < 0)
        return bad_state(L, "write", state_name(h), "stdin_closed");
    /* A pipe whose reader is gone raises SIGPIPE, which would kill the
     * host: block it for this thread and swallow the one we caused. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    /* A parked child reads nothing until proceed(): a write that fills the
     * pipe would block the host for good, so it fails with EAGAIN. */
    int parked = h->state == ST_PARKED;
    int fl = parked ? fcntl(h->in_fd, F_GETFL) : -1;
    if (fl >= 0)
        fcntl(h->in_fd, F_SETFL, fl | O_NONBLOCK);
    size_t done = 0;
    int err = 0;
    while (done < len) {
        ssize_t n = write(h->in_fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            break;
        }
        done += (size_t)n;
    }
    if (err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    if (fl >= 0)
        fcntl(h->in_fd, F_SETFL, fl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        const char *hint = err == EPIPE ? "the child closed its stdin"
                           : err == EAGAIN ? "the pipe is full and the parked child reads nothing before proceed()"
                                           : NULL;
        int n = linx_error_os(L, "write", NULL, err, hint);
        linx_pushid(L, (long long)done); /* what went in before the refusal */
        lua_setfield(L, -3, "written");
        return n;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static const struct {
    const char *name;
    int sig;
} signal_names[] = {
    {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
    {"ABRT", SIGABRT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},   {"KILL", SIGKILL},   {"USR1", SIGUSR1},
    {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU}, {"URG", SIGURG},   {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},   {"VTALRM", SIGVTALRM},
    {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},   {"PWR", SIGPWR},     {"SYS", SIGSYS},
    {NULL, 0},
};

/* Signal from a number or a name ("TERM", "SIGTERM", any case). -1 if bad. */
static int parse_signal(lua_State *L, int idx)
{
    int t = lua_type(L, idx);
    if (t == LUA_TNONE || t == LUA_TNIL)
        return SIGTERM;
    if (t == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (n >= 0 && n < NSIG && floor(n) == n)
            return (int)n;
        return -1;
    }
    if (t != LUA_TSTRING)
        return -1;
    const char *s = lua_tostring(L, idx);
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int i = 0; signal_names[i].name != NULL; i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].sig;
    return -1;
}

/* The parked child runs with default dispositions: does sig end it? A
 * signal that is ignored (CHLD, CONT, URG, WINCH) or stops it leaves it
 * parked, and wait() must then not block on a child that waits for us. */
static int kills_by_default(int sig)
{
    switch (sig) {
    case 0:
    case SIGCHLD:
    case SIGCONT:
    case SIGURG:
    case SIGWINCH:
    case SIGSTOP:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
        return 0;
    default:
        return 1;
    }
}

/***
Send a signal to the child (through its pidfd).
@function Handle:kill
@tparam[opt="TERM"] int|string sig a number or a name (`"TERM"`, `"SIGKILL"`, any case)
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] linxuser.Error
*/
static int m_kill(lua_State *L)
{
    struct handle *h = check_handle(L);
    int sig = parse_signal(L, 2);
    if (sig < 0)
        return bad_option(L, "kill", "signal", "unknown", 2, 0);
    if (h->closed)
        return bad_state(L, "kill", "closed", "closed");
    if (h->state == ST_REAPED)
        return linx_error_os(L, "kill", NULL, ESRCH, "the child has already been reaped");
    int r = send_signal(h, sig);
    if (r < 0)
        return linx_error_os(L, "kill", NULL, -r, NULL);
    /* A pid namespace's init without handlers (the parked child has none)
     * gets nothing from outside but KILL and STOP. */
    if (h->state == ST_PARKED && (h->newpid ? sig == SIGKILL : kills_by_default(sig)))
        h->signalled_parked = 1;
    lua_pushboolean(L, 1);
    return 1;
}

/***
Kill (if still parked or running) and reap the child, and close every fd.
@function Handle:close
@treturn boolean `true`
*/
static int m_close(lua_State *L)
{
    struct handle *h = check_handle(L);
    handle_release(h);
    lua_pushboolean(L, 1);
    return 1;
}

static int m_gc(lua_State *L)
{
    struct handle *h = luaL_testudata(L, 1, LINX_HANDLE_MT);
    if (h != NULL)
        handle_release(h);
    return 0;
}

static int m_tostring(lua_State *L)
{
    struct handle *h = check_handle(L);
    if (h->state == ST_REAPED && h->exited)
        lua_pushfstring(L, "linx.process.handle (pid %d, exited %d)", (int)h->ref.pid, h->code);
    else if (h->state == ST_REAPED)
        lua_pushfstring(L, "linx.process.handle (pid %d, killed by signal %d)", (int)h->ref.pid, h->signal);
    else
        lua_pushfstring(L, "linx.process.handle (pid %d, %s)", (int)h->ref.pid, state_name(h));
    return 1;
}

static const luaL_Reg methods[] = {
    {"host_pid", m_host_pid}, {"proceed", m_proceed}, {"wait", m_wait},   {"kill", m_kill},
    {"read", m_read},         {"write", m_write},     {"close", m_close}, {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {NULL, NULL},
};

int luaopen_linx_process(lua_State *L)
{
    if (luaL_newmetatable(L, LINX_HANDLE_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__gc");
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__close");
#endif
        lua_pushcfunction(L, m_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, LINX_HANDLE_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
