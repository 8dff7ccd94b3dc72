/* The fault shim of the specs (spec/inject_spec.lua, spec/helper_run_spec.lua):
 * an LD_PRELOAD shim that makes exactly one call of a named libc function
 * (or raw system call made through syscall(2)) fail with a chosen errno,
 * in the host process only. Built by make as $(BUILD)/inject.so.
 *
 * One control protocol, three commands:
 *   count              count every wrapped call
 *   fail:NAME:N:ERRNO  count, and fail the Nth call of NAME (errno by name
 *                      or number)
 *   stop               stop; the file read back is "NAME=count ...\nfired=0|1\n"
 * A script sends them through io.open (fopen) of magic paths, so no FFI is
 * needed and only the calls between arming and stopping count:
 *   io.open("/linx-inject/count"), io.open("/linx-inject/fail:NAME:N:ERRNO"),
 *   io.open("/linx-inject/stop")
 * or, to arm the process from its start (a program that cannot open the
 * path itself), one command in the environment: LINX_INJECT=fail:NAME:N:ERRNO.
 * NAME is a libc function (recvmsg, pthread_sigmask, ...) or a system
 * call made through syscall(2) (pidfd_open, pidfd_send_signal, capget,
 * clone, close_range); two names narrow a call down and are counted only
 * when they are the one to fail:
 *   waitpid_wclone     waitpid(..., __WCLONE)
 *   read_status        read() of one 8-byte status record from a pipe (the
 *                      helper route's status pipe)
 * Only the process that armed the shim is affected:
 * a fork-like child (the newuidmap go-between) runs unharmed, and the
 * keeper and workload make raw system calls that never come here. The
 * first command takes LD_PRELOAD out of the environment, so nothing the
 * armed process runs loads the shim again. Every failure follows its function's
 * convention (-1 and errno, MAP_FAILED, or the error number returned by
 * pthread_sigmask); a failing close() closes the fd first, as Linux does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXF 64

static struct {
    int armed;
    pid_t pid;
    char fail[32];
    long nth;
    int err;
    int fired;
    char names[MAXF][32];
    long counts[MAXF];
    int n;
    char report[8192];
} S;

static const struct {
    const char *name;
    int err;
} errnos[] = {
    {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"ESRCH", ESRCH},   {"EINTR", EINTR},   {"EIO", EIO},
    {"EBADF", EBADF}, {"ECHILD", ECHILD}, {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM}, {"EACCES", EACCES},
    {"EFAULT", EFAULT}, {"EINVAL", EINVAL}, {"ENFILE", ENFILE}, {"EMFILE", EMFILE}, {"ENOSPC", ENOSPC},
    {"EPIPE", EPIPE}, {"ENOSYS", ENOSYS}, {"EPROTO", EPROTO}, {"ENOBUFS", ENOBUFS}, {NULL, 0},
};

static int parse_errno(const char *s)
{
    for (int i = 0; errnos[i].name != NULL; i++)
        if (strcmp(s, errnos[i].name) == 0)
            return errnos[i].err;
    return atoi(s);
}

static void *real(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL) {
        fprintf(stderr, "inject: no %s\n", name);
        abort();
    }
    return f;
}

/* Count one call of name; 1 if this one must fail (errno is then set). */
static int hit(const char *name)
{
    if (!S.armed || getpid() != S.pid)
        return 0;
    int i;
    for (i = 0; i < S.n; i++)
        if (strcmp(S.names[i], name) == 0)
            break;
    if (i == S.n) {
        if (S.n == MAXF)
            return 0;
        snprintf(S.names[i], sizeof S.names[i], "%s", name);
        S.counts[i] = 0;
        S.n++;
    }
    S.counts[i]++;
    if (S.fail[0] != '\0' && strcmp(S.fail, name) == 0 && S.counts[i] == S.nth) {
        S.fired = 1;
        errno = S.err;
        return 1;
    }
    return 0;
}

#define REAL(ret, name, ...) static ret (*r_##name)(__VA_ARGS__); if (r_##name == NULL) r_##name = real(#name)

/* ---- control ---------------------------------------------------------------- */

/* One command; 0, or -1 with errno set. The report is left in S.report. */
static int command(const char *cmd)
{
    unsetenv("LD_PRELOAD"); /* the armed process only: a wrapper (timeout) must pass it on */
    if (strcmp(cmd, "stop") == 0) {
        S.armed = 0;
        size_t used = 0;
        S.report[0] = '\0';
        for (int i = 0; i < S.n && used < sizeof S.report - 64; i++)
            used += (size_t)snprintf(S.report + used, sizeof S.report - used, "%s=%ld ", S.names[i],
                                     S.counts[i]);
        snprintf(S.report + used, sizeof S.report - used, "\nfired=%d\n", S.fired);
    } else {
        memset(S.fail, 0, sizeof S.fail);
        S.n = 0;
        S.fired = 0;
        S.nth = 0;
        if (strncmp(cmd, "fail:", 5) == 0) {
            char name[32], err[32];
            long nth;
            if (sscanf(cmd + 5, "%31[^:]:%ld:%31s", name, &nth, err) != 3) {
                errno = EINVAL;
                return -1;
            }
            snprintf(S.fail, sizeof S.fail, "%s", name);
            S.nth = nth;
            S.err = parse_errno(err);
        } else if (strcmp(cmd, "count") != 0) {
            errno = EINVAL;
            return -1;
        }
        S.pid = getpid();
        S.armed = 1;
        snprintf(S.report, sizeof S.report, "armed\n");
    }
    return 0;
}

static FILE *control(const char *cmd)
{
    if (command(cmd) != 0)
        return NULL;
    return fmemopen(S.report, strlen(S.report), "r");
}

/* LINX_INJECT=COMMAND: the same command, given before the program starts. */
__attribute__((constructor)) static void from_environment(void)
{
    const char *cmd = getenv("LINX_INJECT");
    if (cmd != NULL && command(cmd) != 0) {
        fprintf(stderr, "inject: bad LINX_INJECT=%s\n", cmd);
        abort();
    }
}

FILE *fopen(const char *path, const char *mode)
{
    REAL(FILE *, fopen, const char *, const char *);
    if (strncmp(path, "/linx-inject/", 13) == 0)
        return control(path + 13);
    return r_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
    return fopen(path, mode);
}

/* ---- the wrapped calls ---------------------------------------------------- */

#define FAIL_INT(name) \
    if (hit(#name))    \
    return -1

int socketpair(int d, int t, int p, int sv[2])
{
    REAL(int, socketpair, int, int, int, int *);
    FAIL_INT(socketpair);
    return r_socketpair(d, t, p, sv);
}

int pipe2(int fds[2], int flags)
{
    REAL(int, pipe2, int *, int);
    FAIL_INT(pipe2);
    return r_pipe2(fds, flags);
}

int fcntl(int fd, int cmd, ...)
{
    REAL(int, fcntl, int, int, ...);
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    FAIL_INT(fcntl);
    return r_fcntl(fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
    REAL(int, fcntl64, int, int, ...);
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (hit("fcntl"))
        return -1;
    return r_fcntl64(fd, cmd, arg);
}

int open(const char *path, int flags, ...)
{
    REAL(int, open, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    FAIL_INT(open);
    return r_open(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...)
{
    REAL(int, openat, int, const char *, int, ...);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = va_arg(ap, mode_t);
    va_end(ap);
    FAIL_INT(openat);
    return r_openat(dir, path, flags, mode);
}

int close(int fd)
{
    REAL(int, close, int);
    if (hit("close")) {
        int err = errno;
        r_close(fd); /* Linux releases the fd whatever close() says */
        errno = err;
        return -1;
    }
    return r_close(fd);
}

void *mmap(void *a, size_t l, int p, int f, int fd, off_t o)
{
    REAL(void *, mmap, void *, size_t, int, int, int, off_t);
    if (hit("mmap"))
        return MAP_FAILED;
    return r_mmap(a, l, p, f, fd, o);
}

int mprotect(void *a, size_t l, int p)
{
    REAL(int, mprotect, void *, size_t, int);
    FAIL_INT(mprotect);
    return r_mprotect(a, l, p);
}

int munmap(void *a, size_t l)
{
    REAL(int, munmap, void *, size_t);
    FAIL_INT(munmap);
    return r_munmap(a, l);
}

ssize_t recvmsg(int s, struct msghdr *m, int f)
{
    REAL(ssize_t, recvmsg, int, struct msghdr *, int);
    FAIL_INT(recvmsg);
    return r_recvmsg(s, m, f);
}

ssize_t send(int s, const void *b, size_t n, int f)
{
    REAL(ssize_t, send, int, const void *, size_t, int);
    FAIL_INT(send);
    return r_send(s, b, n, f);
}

ssize_t sendmsg(int s, const struct msghdr *m, int f)
{
    REAL(ssize_t, sendmsg, int, const struct msghdr *, int);
    FAIL_INT(sendmsg);
    return r_sendmsg(s, m, f);
}

int poll(struct pollfd *p, nfds_t n, int t)
{
    REAL(int, poll, struct pollfd *, nfds_t, int);
    FAIL_INT(poll);
    return r_poll(p, n, t);
}

/* Is fd a pipe? Through the real fstat: this check is not a call to count. */
static int is_fifo(int fd)
{
    REAL(int, fstat, int, struct stat *);
    struct stat st;
    return r_fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

ssize_t read(int fd, void *b, size_t n)
{
    REAL(ssize_t, read, int, void *, size_t);
    if (n == 8 && strcmp(S.fail, "read_status") == 0 && is_fifo(fd) && hit("read_status"))
        return -1;
    FAIL_INT(read);
    return r_read(fd, b, n);
}

ssize_t write(int fd, const void *b, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    FAIL_INT(write);
    return r_write(fd, b, n);
}

int waitid(idtype_t t, id_t id, siginfo_t *si, int o)
{
    REAL(int, waitid, idtype_t, id_t, siginfo_t *, int);
    FAIL_INT(waitid);
    return r_waitid(t, id, si, o);
}

pid_t waitpid(pid_t p, int *st, int o)
{
    REAL(pid_t, waitpid, pid_t, int *, int);
    if ((o & __WCLONE) && strcmp(S.fail, "waitpid_wclone") == 0 && hit("waitpid_wclone"))
        return -1;
    FAIL_INT(waitpid);
    return r_waitpid(p, st, o);
}

int kill(pid_t p, int sig)
{
    REAL(int, kill, pid_t, int);
    FAIL_INT(kill);
    return r_kill(p, sig);
}

int shutdown(int s, int how)
{
    REAL(int, shutdown, int, int);
    FAIL_INT(shutdown);
    return r_shutdown(s, how);
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    REAL(int, pthread_sigmask, int, const sigset_t *, sigset_t *);
    if (hit("pthread_sigmask"))
        return errno; /* returns the error number, errno untouched by contract */
    return r_pthread_sigmask(how, set, old);
}

int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    REAL(int, sigprocmask, int, const sigset_t *, sigset_t *);
    FAIL_INT(sigprocmask);
    return r_sigprocmask(how, set, old);
}

int sigpending(sigset_t *set)
{
    REAL(int, sigpending, sigset_t *);
    FAIL_INT(sigpending);
    return r_sigpending(set);
}

int sigtimedwait(const sigset_t *set, siginfo_t *si, const struct timespec *t)
{
    REAL(int, sigtimedwait, const sigset_t *, siginfo_t *, const struct timespec *);
    FAIL_INT(sigtimedwait);
    return r_sigtimedwait(set, si, t);
}

int sigaction(int sig, const struct sigaction *sa, struct sigaction *old)
{
    REAL(int, sigaction, int, const struct sigaction *, struct sigaction *);
    FAIL_INT(sigaction);
    return r_sigaction(sig, sa, old);
}

long sysconf(int name)
{
    REAL(long, sysconf, int);
    FAIL_INT(sysconf);
    return r_sysconf(name);
}

int stat(const char *path, struct stat *st)
{
    REAL(int, stat, const char *, struct stat *);
    FAIL_INT(stat);
    return r_stat(path, st);
}

int fstat(int fd, struct stat *st)
{
    REAL(int, fstat, int, struct stat *);
    FAIL_INT(fstat);
    return r_fstat(fd, st);
}

int access(const char *path, int mode)
{
    REAL(int, access, const char *, int);
    FAIL_INT(access);
    return r_access(path, mode);
}

int dup2(int a, int b)
{
    REAL(int, dup2, int, int);
    FAIL_INT(dup2);
    return r_dup2(a, b);
}

static const char *syscall_name(long n)
{
    switch (n) {
    case SYS_pidfd_open: return "pidfd_open";
    case SYS_pidfd_send_signal: return "pidfd_send_signal";
    case SYS_capget: return "capget";
    case SYS_clone: return "clone";
#ifdef SYS_clone3
    case SYS_clone3: return "clone3";
#endif
#ifdef SYS_close_range
    case SYS_close_range: return "close_range";
#endif
    default: return NULL;
    }
}

long syscall(long n, ...)
{
    REAL(long, syscall, long, ...);
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    const char *name = syscall_name(n);
    char other[32];
    if (name == NULL) {
        snprintf(other, sizeof other, "syscall_%ld", n);
        name = other;
    }
    if (hit(name))
        return -1;
    return r_syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
