#include "idhelper.h"

#include "decimal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* What execvp searches when PATH is unset (glibc's default, with sbin
 * first: the helpers live in /usr/bin on Debian, /usr/sbin elsewhere). */
static const char default_path[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

int idhelper_find(const char *name, const char *path_env, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (nlen == 0)
        return ENOENT;
    if (strchr(name, '/') != NULL) {
        if (nlen >= cap)
            return ENAMETOOLONG;
        memcpy(out, name, nlen + 1);
        struct stat st;
        if (stat(out, &st) != 0)
            return errno == ENOENT || errno == ENOTDIR ? ENOENT : errno;
        if (!S_ISREG(st.st_mode) || access(out, X_OK) != 0)
            return EACCES;
        return 0;
    }
    const char *p = path_env != NULL && path_env[0] != '\0' ? path_env : default_path;
    int seen_eacces = 0;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        /* An empty PATH element means the current directory, as in execvp. */
        const char *dir = dlen > 0 ? p : ".";
        size_t use = dlen > 0 ? dlen : 1;
        if (use + 1 + nlen < cap) {
            memcpy(out, dir, use);
            out[use] = '/';
            memcpy(out + use + 1, name, nlen + 1);
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(out, X_OK) == 0)
                    return 0;
                seen_eacces = 1;
            }
        }
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return seen_eacces ? EACCES : ENOENT;
}

static char *put_decimal(char *out, int64_t v)
{
    out += linx_decimal(v < 0 ? 0 : (uint64_t)v, out);
    *out++ = '\0';
    return out;
}

void idhelper_argv(const char *helper, pid_t pid, const struct idmap_entry *entries,
                   size_t count, char **argv, char *buf)
{
    size_t a = 0;
    argv[a++] = (char *)helper;
    argv[a++] = buf;
    buf = put_decimal(buf, pid);
    for (size_t i = 0; i < count && i < IDMAP_MAX_ENTRIES; i++) {
        const int64_t f[3] = {entries[i].inside, entries[i].outside, entries[i].length};
        for (int k = 0; k < 3; k++) {
            argv[a++] = buf;
            buf = put_decimal(buf, f[k]);
        }
    }
    argv[a] = NULL;
}

/* Keep fd clear of 0..2, so the child's dup2 onto 0..2 never clobbers a
 * source it still needs (a host may run with stdin closed). */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    errno = err;
    return moved;
}

/* Records on the status pipe, from the two processes below. */
enum { REC_EXEC = 1, REC_WAIT, REC_CLONE };
struct record {
    int stage;
    int value; /* errno (exec, clone) or wait status */
};

static void send_record(int fd, int stage, int value)
{
    struct record rec = {stage, value};
    ssize_t n = write(fd, &rec, sizeof rec);
    (void)n;
}

/* Only async-signal-safe calls from here on: these run in copies of a
 * host process that may have other threads. */

/* The helper itself (grandchild): stdio in place, then execve. */
static _Noreturn void grandchild(const char *path, char *const argv[], int devnull, int out_w,
                                 int status_w)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(devnull, 0) >= 0 && dup2(out_w, 1) >= 0 && dup2(out_w, 2) >= 0) {
#ifdef SYS_close_range
        /* Whatever the host left without O_CLOEXEC stays out of a setuid
         * program (ours are all CLOEXEC already; old kernels: best effort). */
        syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
#endif
        execve(path, argv, environ);
    }
    send_record(status_w, REC_EXEC, errno);
    _exit(127);
}

/* The direct child. It never execs, so it keeps the exit signal 0 it
 * was cloned with (execve resets a process's exit signal to SIGCHLD):
 * only our waitpid(__WCLONE) can reap it, never a host's waitpid(-1).
 * It runs the helper as its own child, waits, and reports the status. */
static _Noreturn void child(const char *path, char *const argv[], int devnull, int out_w,
                            int status_w)
{
    /* Host handlers must not run here, nor in the helper before its exec;
     * SIGCHLD back to default so an ignored SIGCHLD cannot auto-reap it. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, NULL, &sa) != 0)
            continue;
        if (sa.sa_handler == SIG_DFL || (sa.sa_handler == SIG_IGN && sig != SIGCHLD))
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        sigaction(sig, &sa, NULL);
    }
    long pid = syscall(SYS_clone, (unsigned long)SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0)
        grandchild(path, argv, devnull, out_w, status_w);
    if (pid < 0) {
        send_record(status_w, REC_CLONE, errno);
        _exit(1);
    }
    close(out_w); /* the caller sees EOF when the helper is done */
    int status = 0;
    long w;
    do {
        w = waitpid((pid_t)pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    if (w < 0)
        send_record(status_w, REC_CLONE, errno);
    else
        send_record(status_w, REC_WAIT, status);
    _exit(0);
}

static void capture(int fd, struct idhelper_result *r)
{
    char sink[512];
    for (;;) {
        char *dst = sink;
        size_t room = sizeof sink;
        if (r->out_len < IDHELPER_CAPTURE) {
            dst = r->out + r->out_len;
            room = IDHELPER_CAPTURE - r->out_len;
        }
        ssize_t n = read(fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (dst != sink)
            r->out_len += (size_t)n;
    }
    r->out[r->out_len] = '\0';
}

static int spawn_failed(struct idhelper_result *r, int err)
{
    r->outcome = IDHELPER_SPAWN;
    r->err = err;
    return -1;
}

int idhelper_run(const char *path, char *const argv[], struct idhelper_result *r)
{
    memset(r, 0, offsetof(struct idhelper_result, out));
    r->out[0] = '\0';
    int out[2] = {-1, -1}, st[2] = {-1, -1};
    int devnull = above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (devnull < 0)
        return spawn_failed(r, errno);
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(st, O_CLOEXEC) != 0) {
        int err = errno;
        for (int i = 0; i < 2; i++) {
            if (out[i] >= 0)
                close(out[i]);
        }
        close(devnull);
        return spawn_failed(r, err);
    }
    out[1] = above_stdio(out[1]);
    st[1] = above_stdio(st[1]);
    if (out[1] < 0 || st[1] < 0) {
        int err = errno;
        int fds[] = {out[0], out[1], st[0], st[1], devnull};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return spawn_failed(r, err);
    }
    /* Block every signal across the clone so no host handler runs in the
     * child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    /* fork() semantics, but exit signal 0: a "clone child", invisible to
     * a plain waitpid(-1) and reaped below with __WCLONE. */
    long pid = syscall(SYS_clone, 0UL, NULL, NULL, NULL, NULL);
    if (pid == 0)
        child(path, argv, devnull, out[1], st[1]);
    int clone_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(out[1]);
    close(st[1]);
    close(devnull);
    if (pid < 0) {
        close(out[0]);
        close(st[0]);
        return spawn_failed(r, clone_err);
    }
    /* Output first: EOF there means the helper is gone, so the status
     * records (small, they fit the pipe) are complete after it. */
    capture(out[0], r);
    close(out[0]);
    struct record rec[2];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(st[0], (char *)rec + got, sizeof rec - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == sizeof rec)
            break;
    }
    close(st[0]);
    int status = 0;
    long w;
    do {
        w = waitpid((pid_t)pid, &status, __WCLONE);
    } while (w < 0 && errno == EINTR);
    int wait_err = w < 0 ? errno : 0;
    int have_wait = 0, wait_status = 0;
    for (size_t i = 0; i < got / sizeof rec[0]; i++) {
        if (rec[i].stage == REC_EXEC) {
            r->outcome = IDHELPER_EXEC;
            r->err = rec[i].value;
            return -1;
        }
        if (rec[i].stage == REC_CLONE)
            return spawn_failed(r, rec[i].value);
        if (rec[i].stage == REC_WAIT) {
            have_wait = 1;
            wait_status = rec[i].value;
        }
    }
    if (!have_wait) /* the go-between died, or we could not reap it */
        return spawn_failed(r, wait_err != 0 ? wait_err : ECHILD);
    if (WIFEXITED(wait_status)) {
        r->status = WEXITSTATUS(wait_status);
        r->outcome = r->status == 0 ? IDHELPER_OK : IDHELPER_EXIT;
    } else {
        r->status = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
        r->outcome = IDHELPER_SIGNAL;
    }
    return r->outcome == IDHELPER_OK ? 0 : -1;
}
