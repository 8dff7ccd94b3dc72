/* require "linx.process": clone a child into new namespaces, park it at a
 * checkpoint until the host says proceed, then execvpe the workload.
 *
 * Two processes per handle:
 *   keeper    the host's own child, cloned with no exit signal. It never
 *             execs, so it stays invisible to a host's waitpid(-1) reaper
 *             (nginx reaps every child of its workers that way); only
 *             this handle's waitid(__WALL) reaps it. It clones the
 *             workload, hands the host a pidfd and a /proc/<pid> fd for
 *             it, waits for it (WNOWAIT), reports its exit status, and
 *             reaps it only when the host waits for or closes the handle,
 *             so until then the workload's pid cannot be reused.
 *   workload  the keeper's child, in the namespaces asked for: parks, then
 *             execvpe. It cannot be the host's own child: execve resets a
 *             child's exit signal to SIGCHLD, and the host's reaper would
 *             take its status.
 * Both share the host's memory (CLONE_VM, each on a stack the handle
 * mapped), so a spawn copies no page tables and the host takes no
 * copy-on-write faults afterwards. They therefore run on the host thread's
 * TLS: raw system calls only (no errno, no locks, no malloc, no stdio), on
 * data copied into the handle's block (reused by the next spawn of the
 * same Lua state once no child can run on it). Valgrind (which refuses
 * CLONE_VM without CLONE_THREAD), sanitizer builds and non-x86-64 builds
 * use the copying path instead; LINX_PROCESS_NO_CLONE_VM=1 forces it.
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
 *           EOF (the host shut its end down: wait() or close()) tells the
 *           keeper to reap the workload once reported, and exit.
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
    /* What the children read (struct spawn_args and the strings), and with
     * CLONE_VM their stacks: unmapped only once neither can run on it. */
    void *blk;
    size_t blk_len;
    int vm;            /* the keeper and the workload share our memory */
    int wl_mm;         /* vm: the workload may still run in our memory (not exec'd, not exited) */
    int kreaped;       /* the keeper has been reaped */
    int keeper_failed; /* the keeper reported a failure and exits by itself, no workload */
    int blk_std;       /* blk has the standard (reusable) size */
    size_t page;
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

/* ---- raw system calls for the keeper and the workload ----------------------
 * Both may run in the host's own memory (CLONE_VM, below), on the host
 * thread's TLS: they must not write errno, take a lock or use the heap, so
 * they call the kernel directly. Each call returns the result or -errno. */

/* CLONE_VM needs the raw clone below (x86-64 only for now) and a build that
 * does not instrument the children: ASan/TSan keep per-thread state in the
 * TLS the children would share with the host, so those builds copy. */
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

#if defined(__x86_64__)
static long rsys(long n, long a1, long a2, long a3, long a4, long a5)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
/* Elsewhere the children always get a copy of the host's memory, so the
 * errno that syscall() writes is their own. */
static long rsys(long n, long a1, long a2, long a3, long a4, long a5)
{
    long r = syscall(n, a1, a2, a3, a4, a5);
    return r == -1 ? -errno : r;
}
#endif

#define RSYS1(n, a) rsys((n), (long)(a), 0, 0, 0, 0)
#define RSYS2(n, a, b) rsys((n), (long)(a), (long)(b), 0, 0, 0)
#define RSYS3(n, a, b, c) rsys((n), (long)(a), (long)(b), (long)(c), 0, 0)
#define RSYS4(n, a, b, c, d) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0)
#define RSYS5(n, a, b, c, d, e) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

static _Noreturn void rs_exit(int code)
{
    for (;;)
        RSYS1(SYS_exit_group, code);
}

static void rs_close(int fd)
{
    RSYS1(SYS_close, fd);
}

#ifdef LINX_CAN_CLONE_VM
/* clone(2) with a stack of our own: the child starts on stack_top and runs
 * fn(arg), then exits with its return value. Written out because libc's
 * clone() writes errno on failure, and the keeper must not. x86-64 clone
 * takes (flags, stack, parent_tid, child_tid, tls); with CLONE_PIDFD the
 * pidfd lands in parent_tid. stack_top must be 16-byte aligned. */
static long raw_clone(unsigned long flags, void *stack_top, int *pidfd, int (*fn)(void *), void *arg)
{
    register long r10 __asm__("r10") = 0; /* child_tid */
    register long r8 __asm__("r8") = 0;   /* tls */
    register void *r12 __asm__("r12") = (void *)fn;
    register void *r13 __asm__("r13") = arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     /* the child, on its own stack: only registers from here */
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov %[nr_exit], %%eax\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone), "D"(flags), "S"(stack_top), "d"(pidfd), "r"(r10), "r"(r8),
                       "r"(r12), "r"(r13), [nr_exit] "i"(SYS_exit_group)
                     : "rcx", "r11", "memory");
    return ret;
}
#endif

/* ---- keeper and workload (raw system calls only) -------------------------- */

/* Everything the children read lives in one mapping the handle owns (see
 * build_block): this struct, argv, the environment, cwd and PATH, copied,
 * and with CLONE_VM the two stacks. It outlives spawn, so a child never
 * reads the host's stack or a Lua string that may have been collected. */
struct spawn_args {
    char **argv;
    char **envp;         /* the whole environment for execve (copied) */
    char **sh_argv;      /* room for argc + 2 pointers: an ENOEXEC file runs through /bin/sh */
    const char *path;    /* PATH to search argv[0] in, or NULL when it has a '/' */
    const char *cwd;     /* NULL: stay */
    unsigned long flags; /* CLONE_NEW* for the workload */
    int vm;              /* clone the workload with CLONE_VM on wstack */
    char *wstack;        /* top of the workload's stack (vm) */
    int ctl;             /* the workload's end of the ctl socket */
    int keep;            /* the keeper's end of the keeper socket */
    int stdio[3];        /* fd to install as 0/1/2, or -1 to inherit */
    pid_t host;          /* the keeper's expected getppid() */
    pid_t parent;        /* the workload's: set by the keeper (0 in a new pid namespace) */
};

/* Send one message with up to two fds (-1: none). 0 or -1. */
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
    long r;
    while ((r = RSYS3(SYS_sendmsg, sock, &mh, MSG_NOSIGNAL)) == -EINTR)
        ;
    return r == (long)sizeof *m ? 0 : -1;
}

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
    rs_exit(127);
}

static void close_from(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (RSYS3(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* Kernels before 5.9: close one by one up to the fd limit. */
    struct rlimit rl = {0, 0}; /* filled by the kernel on success */
    unsigned max = 65536;
    if (RSYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (1u << 20))
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
        rs_close((int)fd);
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

#if defined(__x86_64__)
/* The x86-64 kernel's struct sigaction (64 signals, an 8-byte mask). */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/* Default disposition for every signal, so no host handler can ever run
 * in the workload and it starts as a fresh process would; then unblock
 * them all. */
static void reset_signals(void)
{
    struct k_sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.handler = SIG_DFL;
    for (int sig = 1; sig <= 64; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            RSYS4(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
    unsigned long none = 0;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}
#else
/* Layouts differ between architectures; these run only on the copying
 * path, where libc (and errno) are the child's own. */
static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* glibc-internal signals: EINVAL, fine */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}
#endif

static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

/* execve, and for a file the kernel cannot run (ENOEXEC: a script without
 * #!), /bin/sh with it, as execvp does. Returns -errno. */
static long exec_file(const struct spawn_args *a, const char *file)
{
    long r = RSYS3(SYS_execve, file, a->argv, a->envp);
    if (r != -ENOEXEC)
        return r;
    char **v = a->sh_argv;
    size_t n = 0;
    v[n++] = (char *)"/bin/sh";
    v[n++] = (char *)file;
    for (size_t i = 1; a->argv[0] != NULL && a->argv[i] != NULL; i++)
        v[n++] = a->argv[i];
    v[n] = NULL;
    return RSYS3(SYS_execve, "/bin/sh", v, a->envp);
}

/* execvpe(argv[0]) with the PATH snapshot taken at spawn: each directory
 * in turn; EACCES from any of them wins over ENOENT at the end, and an
 * error that says the file is there but cannot run stops the search. */
static long exec_search(const struct spawn_args *a)
{
    const char *file = a->argv[0];
    if (a->path == NULL)
        return exec_file(a, file);
    size_t flen = str_len(file);
    if (flen == 0)
        return -ENOENT;
    if (flen > NAME_MAX)
        return -ENAMETOOLONG;
    char buf[PATH_MAX + NAME_MAX + 2];
    int eacces = 0;
    long r = -ENOENT;
    const char *p = a->path;
    for (;;) {
        const char *end = p;
        while (*end != '\0' && *end != ':')
            end++;
        size_t dlen = (size_t)(end - p);
        if (dlen > PATH_MAX)
            return -ENAMETOOLONG;
        size_t k = 0;
        for (size_t i = 0; i < dlen; i++)
            buf[k++] = p[i];
        if (dlen > 0) /* an empty element is the current directory */
            buf[k++] = '/';
        for (size_t i = 0; i <= flen; i++)
            buf[k++] = file[i];
        r = exec_file(a, buf);
        switch (r) {
        case -EACCES:
            eacces = 1;
            break;
        case -ENOENT:
        case -ESTALE:
        case -ENOTDIR:
        case -ENODEV:
        case -ETIMEDOUT:
            break;
        default:
            return r;
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return eacces ? -EACCES : r;
}

/* SIGKILL when the parent goes; if it went before prctl took effect,
 * getppid() no longer names it. A prctl failure is reported on sock. */
static void die_with_parent(int sock, pid_t parent)
{
    long r = RSYS2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
    if (r < 0)
        fail(sock, STAGE_SETUP, (int)-r);
    if (RSYS1(SYS_getppid, 0) != parent)
        rs_exit(127);
}

static _Noreturn void workload_main(const struct spawn_args *a)
{
    int ctl = a->ctl;
    /* Die with the keeper (in a new pid namespace getppid() is always 0,
     * and the ctl socket's EOF covers a keeper gone before prctl). */
    die_with_parent(ctl, a->parent);
    long r;

    /* Move every fd we need above 2 (the host may run with stdio closed, so
     * one of ours could sit on 0..2), then install stdio. */
    int src[3];
    int low[3] = {0, 0, 0}; /* one of our fds occupies this stdio slot */
    if (a->keep >= 0 && a->keep < 3)
        low[a->keep] = 1;
    if (ctl < 3) {
        low[ctl] = 1;
        ctl = (int)RSYS3(SYS_fcntl, ctl, F_DUPFD_CLOEXEC, 3);
        if (ctl < 0)
            rs_exit(127);
    }
    for (int i = 0; i < 3; i++) {
        src[i] = a->stdio[i];
        if (src[i] >= 0 && src[i] < 3) {
            low[src[i]] = 1;
            r = RSYS3(SYS_fcntl, src[i], F_DUPFD_CLOEXEC, 3);
            if (r < 0)
                fail(ctl, STAGE_STDIO, (int)-r);
            src[i] = (int)r;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0) {
            r = RSYS3(SYS_dup3, src[i], i, 0); /* src[i] > 2: never equal */
            if (r < 0)
                fail(ctl, STAGE_STDIO, (int)-r);
        } else if (low[i]) {
            rs_close(i); /* inherit a closed slot, not one of our fds */
        }
    }
    /* Keep 0, 1, 2 and the ctl socket: nothing else of the host's. */
    int keep[4] = {0, 1, 2, ctl};
    close_all_but(keep, 4);

    /* Park. */
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_PARKED;
    send_msg(ctl, &m, -1, -1);
    /* Every signal is still blocked (the host blocked them all around the
     * keeper's clone). Defaults first, then unblock: done after the report,
     * so it overlaps with the host's map writes; a signal sent meanwhile
     * stays pending and meets the default disposition at the unblock. */
    reset_signals();
    char go;
    while ((r = RSYS3(SYS_read, ctl, &go, 1)) == -EINTR)
        ;
    if (r != 1)
        rs_exit(127); /* EOF: the host is gone or closed the handle */

    if (a->cwd != NULL && (r = RSYS1(SYS_chdir, a->cwd)) < 0)
        fail(ctl, STAGE_CHDIR, (int)-r);
    r = exec_search(a);
    fail(ctl, STAGE_EXEC, (int)-r);
}

static int workload_trampoline(void *arg)
{
    workload_main(arg);
}

struct clone3_args { /* struct clone_args, version 0 (64 bytes) */
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

/* Clone a process with a copy of our memory (no CLONE_VM) that runs
 * fn(arg) and never returns. Returns its pid or -errno; *pidfd gets a
 * pidfd or -1. Uses libc: only for the copying path, where a child's errno
 * is its own. */
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

static long rs_waitid(pid_t pid, siginfo_t *si, int options)
{
    long r;
    while ((r = RSYS5(SYS_waitid, P_PID, pid, si, options, NULL)) == -EINTR)
        ;
    return r;
}

static void kill_and_reap(pid_t pid)
{
    siginfo_t si;
    RSYS2(SYS_kill, pid, SIGKILL); /* our unreaped child: the pid is still its */
    rs_waitid(pid, &si, WEXITED | __WALL);
}

static _Noreturn void keeper_main(struct spawn_args *a)
{
    int keep = a->keep;
    /* Every signal stays blocked for the keeper's whole life (the host
     * blocked them all around the clone), so no host handler can run here
     * and no disposition needs resetting; nothing but SIGKILL stops it (a
     * terminal's ^C reaches the workload, whose end it then reports). */
    die_with_parent(keep, a->host);
    int all[8] = {0, 1, 2, a->ctl, keep, a->stdio[0], a->stdio[1], a->stdio[2]};
    close_all_but(all, 8);

    a->parent = (a->flags & CLONE_NEWPID) ? 0 : (pid_t)RSYS1(SYS_getpid, 0);
    int wpidfd = -1;
    long w;
#ifdef LINX_CAN_CLONE_VM
    if (a->vm)
        w = raw_clone(a->flags | CLONE_VM | CLONE_PIDFD | SIGCHLD, a->wstack, &wpidfd, workload_trampoline, a);
    else
#endif
        w = clone_proc(a->flags, SIGCHLD, workload_trampoline, a, &wpidfd);
    if (w < 0)
        fail(keep, STAGE_CLONE, (int)-w);
    rs_close(a->ctl);
    for (int i = 0; i < 3; i++)
        if (a->stdio[i] >= 0)
            rs_close(a->stdio[i]);

    /* The workload is our unreaped child: this directory is exactly its. */
    char path[32];
    proc_path(path, (pid_t)w);
    long procfd = RSYS4(SYS_openat, AT_FDCWD, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (procfd < 0) {
        kill_and_reap((pid_t)w);
        fail(keep, STAGE_PROC, (int)-procfd);
    }
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_STARTED;
    m.pid = (int32_t)w;
    m.fds = (wpidfd >= 0 ? HAS_PIDFD : 0) | HAS_PROCFD;
    if (send_msg(keep, &m, wpidfd, (int)procfd) != 0) {
        kill_and_reap((pid_t)w); /* the host is gone */
        rs_exit(127);
    }
    /* From here on the keeper holds nothing but its socket. */
    int only[1] = {keep};
    close_all_but(only, 1);

    /* Report the workload's end but leave it a zombie: while it is our
     * unreaped child its pid is its own, so the handle's pid (which the
     * newuidmap route passes by number) names no other process until the
     * host waits for or closes the handle. It says so by closing (or
     * writing to) its end of our socket; then we reap and go. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    rs_waitid((pid_t)w, &si, WEXITED | WNOWAIT | __WALL);
    memset(&m, 0, sizeof m);
    m.type = MSG_EXITED;
    m.code = si.si_code;
    m.status = si.si_status;
    send_msg(keep, &m, -1, -1);
    char byte;
    while (RSYS3(SYS_read, keep, &byte, 1) == -EINTR)
        ;
    rs_waitid((pid_t)w, &si, WEXITED | __WALL);
    rs_exit(0);
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

/* ---- the spare block ------------------------------------------------------
 * Back-to-back spawns reuse one block per Lua state (held in the registry),
 * its pages already faulted in: mapping, guarding, faulting in and
 * unmapping a fresh one costs about 20 us a spawn. Only a block no child
 * can run on any more is kept; the holder's __gc unmaps it. */
#define SPARE_MT "linx.process.spare"
#define SPARE_KEY "linx.process.spare_block"
#define BLOCK_DATA ((size_t)16 * 1024) /* the data part of a reusable block */

struct spare {
    void *blk; /* a standard block, or NULL */
    size_t len;
    int closed; /* finalized (lua_close): keep nothing more */
};

static int spare_gc(lua_State *L)
{
    struct spare *sp = luaL_testudata(L, 1, SPARE_MT);
    if (sp != NULL) {
        if (sp->blk != NULL)
            munmap(sp->blk, sp->len);
        sp->blk = NULL;
        sp->closed = 1;
    }
    return 0;
}

/* This state's holder, or NULL. The registry keeps it alive. */
static struct spare *spare_get(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SPARE_KEY);
    struct spare *sp = luaL_testudata(L, -1, SPARE_MT);
    lua_pop(L, 1);
    return sp;
}

/* Make the holder if there is none (spawn, before any other resource). */
static void spare_init(lua_State *L)
{
    if (spare_get(L) != NULL)
        return;
    struct spare *sp = lua_newuserdata(L, sizeof *sp);
    sp->blk = NULL;
    sp->len = 0;
    sp->closed = 0;
    luaL_setmetatable(L, SPARE_MT);
    lua_setfield(L, LUA_REGISTRYINDEX, SPARE_KEY);
}

/* Unmap the children's block once no child can run on it: the keeper has
 * been reaped and the workload has exec'd or exited. A workload that may
 * still be in our memory (its keeper was killed) is killed and awaited
 * through its pidfd. When that cannot be known (no pidfd, keeper not
 * reaped) and this is the last chance, the mapping is left in place: a
 * straggler must never write into memory we have reused. */
static void release_block(lua_State *L, struct handle *h, int last)
{
    if (h->blk == NULL)
        return;
    int safe = !h->vm || ((h->kpid <= 0 || h->kreaped) && !h->wl_mm);
    if (!safe && (h->kpid <= 0 || h->kreaped) && h->ref.pidfd >= 0 &&
        syscall(SYS_pidfd_send_signal, h->ref.pidfd, SIGKILL, NULL, 0) == 0) {
        struct pollfd pf = {h->ref.pidfd, POLLIN, 0};
        int r;
        while ((r = poll(&pf, 1, -1)) < 0 && errno == EINTR)
            ;
        safe = r == 1; /* readable: it has exited, so it has left our memory */
        if (safe)
            h->wl_mm = 0;
    }
    if (safe) {
        struct spare *sp = L != NULL && h->blk_std ? spare_get(L) : NULL;
        if (sp != NULL && !sp->closed && sp->blk == NULL) {
            sp->blk = h->blk;
            sp->len = h->blk_len;
        } else {
            munmap(h->blk, h->blk_len);
        }
    }
    if (safe || last)
        h->blk = NULL;
}

/* The handle is being waited for or closed: from now on the keeper may
 * reap the workload as soon as it has reported its end (it reads EOF),
 * instead of waiting for us to say so after we have read the report. We
 * can still read what it sends. */
static void unpin(struct handle *h)
{
    if (h->keep >= 0)
        shutdown(h->keep, SHUT_WR);
}

/* Reap the keeper (it exits once the workload is reaped, or has died). */
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
static int collect(lua_State *L, struct handle *h, int nohang)
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
        } else {
            unpin(h); /* it may reap right after its report */
        }
        struct msg m;
        if (recv_msg(h->keep, &m, NULL) == 1 && m.type == MSG_EXITED) {
            set_status(h, m.code, m.status);
            h->wl_mm = 0; /* a zombie: it has left our memory */
        }
        close_fd(&h->keep); /* the keeper reaps the workload now, then exits */
    }
    siginfo_t si;
    int r = reap_keeper(h, &si);
    if (r == 0) {
        h->kreaped = 1;
        if (si.si_code == CLD_EXITED) /* it exits only after reaping the workload, if any */
            h->wl_mm = 0;
    }
    release_block(L, h, 0);
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

/* Has the workload exited (a zombie the keeper keeps, or gone)? Its
 * pidfd polls readable then. 0 when unknown. */
static int workload_exited(const struct handle *h)
{
    if (h->have_status)
        return 1;
    if (h->ref.pidfd < 0)
        return 0;
    struct pollfd pf = {h->ref.pidfd, POLLIN, 0};
    int r;
    while ((r = poll(&pf, 1, 0)) < 0 && errno == EINTR)
        ;
    return r == 1;
}

static int send_signal(struct handle *h, int sig)
{
    /* The keeper keeps an exited workload unreaped, where a signal would
     * "succeed": it is gone all the same. */
    if (workload_exited(h))
        return -ESRCH;
    if (h->ref.pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, h->ref.pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ENOSYS)
            return -errno;
    }
    /* No pidfd signals (kernel before 5.1, or valgrind): by pid, which is
     * the workload's until the handle is waited for or closed. */
    return kill(h->ref.pid, sig) == 0 ? 0 : -errno;
}

/* Kill (if needed) the workload, collect it, reap the keeper, close every
 * fd, free buffers. Used by close(), __gc, __close and spawn's errors. */
static void handle_release(lua_State *L, struct handle *h)
{
    if (h->closed)
        return;
    if (h->kpid > 0 && h->state != ST_REAPED) {
        int r = h->ref.pid > 0 ? send_signal(h, SIGKILL) : -ESRCH;
        if (r < 0 && !(h->ref.pid > 0 && r == -ESRCH) && !h->keeper_failed)
            kill_keeper(h); /* no workload to aim at: the keeper takes it along */
        collect(L, h, 0);
    }
    release_block(L, h, 1); /* before the pidfd goes: it may need it */
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

/* Stack of the keeper and of the workload when they share our memory:
 * they run a few frames of plain C (the PATH search's buffer is the
 * largest thing on it). */
#define CHILD_STACK ((size_t)64 * 1024)

/* LINX_PROCESS_NO_CLONE_VM=1: copy the host's memory for the keeper and
 * the workload instead of sharing it. Valgrind refuses CLONE_VM without
 * CLONE_THREAD and exits, so a host that runs under it (its preload
 * libraries are in LD_PRELOAD) copies too, without being told. */
static int want_clone_vm(void)
{
#ifdef LINX_CAN_CLONE_VM
    const char *no = getenv("LINX_PROCESS_NO_CLONE_VM");
    if (no != NULL && no[0] != '\0' && strcmp(no, "0") != 0)
        return 0;
    const char *pre = getenv("LD_PRELOAD");
    return pre == NULL || strstr(pre, "/vgpreload_") == NULL;
#else
    return 0;
#endif
}

static size_t add_len(size_t total, const char *s, int *err)
{
    size_t n = strlen(s) + 1;
    if (total > SIZE_MAX / 4 - n)
        *err = E2BIG;
    return total + n;
}

static char *put_str(char **dst, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = *dst;
    memcpy(p, s, n);
    *dst = p + n;
    return p;
}

/* Map the block the children read (see struct spawn_args): the struct,
 * argv, the environment (envp, or ours now), cwd and PATH copied, and with
 * vm the two stacks, each above a guard page. Returns 0 or errno. */
static int build_block(lua_State *L, struct handle *h, char **argv, char **envp, const char *cwd, int vm,
                       struct spawn_args **out)
{
    char **env = envp != NULL ? envp : environ;
    const char *path = NULL;
    if (strchr(argv[0], '/') == NULL) {
        path = getenv("PATH"); /* execvp searches the caller's PATH, not envp's */
        if (path == NULL)
            path = "/bin:/usr/bin";
    }
    size_t argc = 0, envc = 0, strs = 0;
    int err = 0;
    for (; argv[argc] != NULL; argc++)
        strs = add_len(strs, argv[argc], &err);
    for (; env != NULL && env[envc] != NULL; envc++)
        strs = add_len(strs, env[envc], &err);
    if (path != NULL)
        strs = add_len(strs, path, &err);
    if (cwd != NULL)
        strs = add_len(strs, cwd, &err);
    if (err || envc > SIZE_MAX / 64 || argc > SIZE_MAX / 64)
        return E2BIG;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t head = (sizeof(struct spawn_args) + 15) & ~(size_t)15;
    size_t data = head + (2 * argc + 3 + envc + 1) * sizeof(char *) + strs;
    data = (data + page - 1) / page * page;
    int std = vm && data <= BLOCK_DATA && BLOCK_DATA % page == 0;
    if (std)
        data = BLOCK_DATA;
    size_t len = data + (vm ? 2 * (page + CHILD_STACK) : 0);
    struct spare *spare = std ? spare_get(L) : NULL;
    void *blk;
    if (spare != NULL && spare->blk != NULL && spare->len == len) {
        blk = spare->blk; /* guards in place, pages faulted in */
        spare->blk = NULL;
    } else {
        blk = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (blk == MAP_FAILED)
            return errno > 0 ? errno : ENOMEM;
        spare = NULL;
    }
    h->blk = blk;
    h->blk_len = len;
    h->blk_std = std;
    h->vm = vm;
    h->page = page;
    char *base = blk;
    if (vm && spare == NULL &&
        (mprotect(base + data, page, PROT_NONE) != 0 ||
         mprotect(base + data + page + CHILD_STACK, page, PROT_NONE) != 0))
        return errno > 0 ? errno : ENOMEM;
    struct spawn_args *a = blk;
    memset(a, 0, sizeof *a);
    char **p = (char **)(void *)(base + head);
    char *sp = (char *)(p + 2 * argc + 3 + envc + 1);
    a->argv = p;
    a->sh_argv = p + argc + 1;
    a->envp = p + 2 * argc + 3;
    for (size_t i = 0; i < argc; i++)
        a->argv[i] = put_str(&sp, argv[i]);
    a->argv[argc] = NULL;
    for (size_t i = 0; i < envc; i++)
        a->envp[i] = put_str(&sp, env[i]);
    a->envp[envc] = NULL;
    a->path = path != NULL ? put_str(&sp, path) : NULL;
    a->cwd = cwd != NULL ? put_str(&sp, cwd) : NULL;
    a->vm = vm;
    a->wstack = vm ? base + len : NULL;
    *out = a;
    return 0;
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

    spare_init(L);
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
        handle_release(L, h);
        return linx_error_os(L, "spawn", NULL, ENOMEM, NULL);
    }

    int ctl[2], kp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0) {
        int err = errno;
        handle_release(L, h);
        return linx_error_os(L, "spawn", NULL, err, NULL);
    }
    h->ctl = ctl[0];
    h->child_ctl = ctl[1];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kp) != 0) {
        int err = errno;
        handle_release(L, h);
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
            handle_release(L, h);
            return linx_error_os(L, "spawn", mode[i] == IO_NULL ? "/dev/null" : NULL, err, NULL);
        }
    }

    struct spawn_args *a = NULL;
    int err = build_block(L, h, argv, envp, cwd, want_clone_vm(), &a);
    if (err || a == NULL) {
        handle_release(L, h);
        return linx_error_os(L, "spawn", NULL, err ? err : ENOMEM, NULL);
    }
    a->flags = flags;
    a->ctl = h->child_ctl;
    a->keep = h->child_keep;
    for (int i = 0; i < 3; i++)
        a->stdio[i] = h->child_fd[i];
    a->host = getpid();
    a->parent = 0; /* the keeper sets it */

    /* Block every signal across clone: the keeper keeps them all blocked
     * for good, and the workload until it has reset every disposition, so
     * no host handler ever runs in either. No exit signal: see the top. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int kpidfd = -1;
    pid_t kpid = -ENOSYS;
#ifdef LINX_CAN_CLONE_VM
    if (h->vm) {
        /* The keeper's stack sits below the workload's, past a guard page. */
        char *ktop = (char *)a->wstack - CHILD_STACK - h->page;
        long kr = raw_clone(CLONE_VM | CLONE_PIDFD, ktop, &kpidfd, keeper_trampoline, a);
        kpid = kr < 0 ? -ENOSYS : (pid_t)kr;
        if (kr < 0) { /* e.g. a seccomp filter: the copying path may still work */
            kpidfd = -1;
            h->vm = a->vm = 0;
        }
    }
#endif
    if (!h->vm)
        kpid = clone_proc(0, 0, keeper_trampoline, a, &kpidfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->vm)
        release_block(L, h, 1); /* the keeper has its own copy */
    else
        h->wl_mm = 1;
    if (kpid < 0) {
        handle_release(L, h);
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

    /* The workload's word first: parked, or why not. By then the keeper's
     * (the workload's pid and fds, or why not) is normally queued already,
     * so the host wakes once. This cannot hang: the keeper closes its copy
     * of the ctl socket right after the clone, or exits. */
    struct msg wm;
    int wgot = recv_msg(h->ctl, &wm, NULL);

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
        if (got == 1 && m.type == MSG_FAILED) {
            h->keeper_failed = 1; /* it exits by itself, and no workload runs */
            h->wl_mm = 0;
        }
    }
    if (h->ref.procfd < 0) {
        handle_release(L, h); /* reaps the keeper */
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

    got = wgot;
    m = wm;
    if (got == 1 && m.type == MSG_PARKED) {
        h->state = ST_PARKED;
        lua_pushvalue(L, hidx);
        return 1;
    }
    /* The workload failed during setup or died: collect it, then say why. */
    collect(L, h, 0);
    int exited = h->exited, code = h->code, sig = h->signal;
    handle_release(L, h);
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
        h->wl_mm = 0;  /* execve replaced its memory before closing CLOEXEC fds */
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
        int r = collect(L, h, 1);
        if (r == 1)
            return status_table(L, h);
        if (r < 0)
            return linx_error_os(L, "wait", NULL, -r, NULL);
        return bad_state(L, "wait", "parked", "parked");
    }
    close_fd(&h->in_fd); /* the child gets EOF on stdin: nothing more comes */
    unpin(h);            /* nothing aims at the pid while we block here */
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
    int r = collect(L, h, 0);
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
    handle_release(L, h);
    lua_pushboolean(L, 1);
    return 1;
}

static int m_gc(lua_State *L)
{
    struct handle *h = luaL_testudata(L, 1, LINX_HANDLE_MT);
    if (h != NULL)
        handle_release(L, h);
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
    if (luaL_newmetatable(L, SPARE_MT)) {
        lua_pushcfunction(L, spare_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
