/* Running newuidmap / newgidmap (idhelper.h): finding the helper in
 * PATH, its argument vector, starting it through the freestanding
 * go-between (child_helper.c), capturing its stderr, and its time limit. */
#include "idhelper.h"

#include "child/child_helper.h"
#include "child/clonevm.h"
#include "core/decimal.h"
#include "core/hostutil.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* What execvp skips on its way through PATH: the name is not there. */
static int not_here(int err)
{
    return err == ENOENT || err == ENOTDIR || err == ESTALE || err == ENODEV ||
           err == ETIMEDOUT;
}

int idhelper_find(const char *name, const char *path_env, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (nlen == 0)
        return ENOENT;
    struct stat st;
    if (strchr(name, '/') != NULL) {
        if (nlen >= cap)
            return ENAMETOOLONG;
        memcpy(out, name, nlen + 1);
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
            if (stat(out, &st) == 0) {
                if (S_ISREG(st.st_mode) && access(out, X_OK) == 0)
                    return 0;
                seen_eacces |= S_ISREG(st.st_mode);
            } else if (errno == EACCES) {
                /* A directory we may not search (a root-only one in the
                 * PATH of a dropped user): nothing found there, which is
                 * what the caller is told; "not executable" would send
                 * them after a file that may not exist. */
            } else if (!not_here(errno)) {
                return errno; /* ELOOP, EIO, ...: there, but unusable */
            }
        }
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return seen_eacces ? EACCES : ENOENT;
}

long idhelper_timeout_ms(const char *env)
{
    if (env == NULL)
        return IDHELPER_TIMEOUT_MS;
    long ms = 0;
    const char *s = env;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        if (ms > 86400L * 1000) /* a day is plenty; stop before overflow */
            return IDHELPER_TIMEOUT_MS;
        ms = ms * 10 + (*s - '0') * 1000L;
    }
    if (*s == '.') {
        long scale = 100;
        for (s++; *s >= '0' && *s <= '9'; s++, digits++) {
            ms += (*s - '0') * scale;
            scale /= 10;
        }
    }
    if (*s != '\0' || digits == 0 || ms <= 0)
        return IDHELPER_TIMEOUT_MS;
    return ms;
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

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(deadline->tv_sec - now.tv_sec) * 1000 +
              (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms;
}

/* Reap pid, retrying a failure other than "no such child"; 0 or errno. */
static int reap(pid_t pid, int *status, int flags)
{
    int err = 0;
    for (int tries = 0; tries < 100; tries++) {
        if (waitpid(pid, status, flags) == pid)
            return 0;
        err = errno;
        if (err == ECHILD)
            break;
    }
    return err;
}

/* Read what is there of the helper's output (non-blocking fd); 1 at
 * end of file or error (the fd is then closed), else 0. */
static int capture(struct idhelper_proc *p, struct idhelper_result *r)
{
    char sink[512];
    for (;;) {
        char *dst = sink;
        size_t room = sizeof sink;
        if (r->out_len < IDHELPER_CAPTURE) {
            dst = r->out + r->out_len;
            room = IDHELPER_CAPTURE - r->out_len;
        }
        ssize_t n = read(p->out_fd, dst, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0) {
            linx_close_fd(&p->out_fd);
            return 1;
        }
        if (dst != sink)
            r->out_len += (size_t)n;
    }
}

static int spawn_failed(struct idhelper_result *r, const char *call, int err)
{
    r->outcome = IDHELPER_SPAWN;
    r->call = call;
    r->err = err;
    return -1;
}

static void result_init(struct idhelper_result *r, long timeout_ms)
{
    memset(r, 0, offsetof(struct idhelper_result, out));
    r->timeout_ms = timeout_ms;
    r->out[0] = '\0';
}

/* Only once the go-between is reaped: until then it may run on them. */
static void unmap_stacks(struct idhelper_proc *p)
{
    if (p->map != NULL)
        munmap(p->map, p->map_len);
    p->map = NULL;
}

/* The go-between's and the helper's stacks, each above a guard page,
 * and the go-between's instructions on the page above: low to high,
 * guard, helper stack, guard, go-between stack, struct helper_spawn. */
#define STACK_SIZE ((size_t)16 * 1024)

/* The instructions' place, with *helper_top the top of the helper's
 * stack; NULL with errno and *call set when a call fails. */
static struct helper_spawn *map_stacks(struct idhelper_proc *p, const char **call,
                                       char **helper_top)
{
    long sys_page = sysconf(_SC_PAGESIZE);
    size_t page = sys_page > 0 ? (size_t)sys_page : 4096;
    size_t len = 3 * page + 2 * STACK_SIZE;
    *call = "mmap";
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    p->map = m;
    p->map_len = len;
    *helper_top = p->map + page + STACK_SIZE;
    *call = "mprotect";
    if (mprotect(p->map, page, PROT_NONE) != 0 || mprotect(*helper_top, page, PROT_NONE) != 0) {
        int err = errno;
        unmap_stacks(p);
        errno = err;
        return NULL;
    }
    return (struct helper_spawn *)(p->map + len - page);
}

/* The go-between's way to start the helper when it runs on a copy of us
 * (with libc of its own there): vfork, as the copy's page tables need no
 * copy of their own. */
static long vfork_helper(struct helper_spawn *s)
{
    pid_t pid = vfork(); // NOLINT(clang-analyzer-security.insecureAPI.vfork): the stall is the point
    if (pid == 0) /* raw system calls only, then execve or exit */
        linx_helper_exec(s); // NOLINT(clang-analyzer-unix.Vfork)
    return pid < 0 ? -errno : pid;
}

int idhelper_start(const char *path, char *const argv[], long timeout_ms,
                   struct idhelper_proc *p, struct idhelper_result *r)
{
    result_init(r, timeout_ms);
    p->pid = -1;
    p->out_fd = p->st_fd = -1;
    p->map = NULL;
    int out[2] = {-1, -1}, st[2] = {-1, -1};
    int devnull = above_stdio(open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY));
    if (devnull < 0)
        return spawn_failed(r, "open", errno);
    /* The status pipe in packet mode: one record per read, never half. */
    const char *call = "pipe2";
    int ok = pipe2(out, O_CLOEXEC) == 0 && pipe2(st, O_CLOEXEC | O_DIRECT) == 0;
    if (ok) {
        call = "fcntl";
        ok = fcntl(out[0], F_SETFL, O_NONBLOCK) == 0 && (out[1] = above_stdio(out[1])) >= 0 &&
             (st[1] = above_stdio(st[1])) >= 0;
    }
    char *helper_top = NULL;
    struct helper_spawn *s = ok ? map_stacks(p, &call, &helper_top) : NULL;
    sigset_t all, old;
    sigfillset(&all);
    /* Block every signal across the clone so no host handler runs in the
     * child before it resets them. */
    int err = 0;
    if (s == NULL)
        err = errno != 0 ? errno : EIO;
    else if ((err = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
        call = "pthread_sigmask";
    if (s == NULL || err != 0) {
        int fds[] = {out[0], out[1], st[0], st[1], devnull};
        for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
            linx_close_fd(&fds[i]);
        unmap_stacks(p);
        return spawn_failed(r, call, err);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    p->deadline = deadline;
    *s = (struct helper_spawn){.path = path,
                               .argv = argv,
                               .envp = environ,
                               .devnull = devnull,
                               .out_w = out[1],
                               .status_w = st[1],
                               .deadline = deadline,
                               .helper_stack = helper_top,
                               .start_copied = vfork_helper};
    /* Sharing our memory first when wanted; where that clone is refused
     * (a seccomp filter, say) the copying path may still work. */
    long pid = -1;
    for (int vm = linx_clone_vm_wanted(); vm >= 0 && pid < 0; vm--)
        pid = linx_helper_clone(s, (char *)s, vm);
    int mask_err = pthread_sigmask(SIG_SETMASK, &old, NULL);
    linx_close_fd(&out[1]);
    linx_close_fd(&st[1]);
    linx_close_fd(&devnull);
    p->out_fd = out[0];
    p->st_fd = st[0];
    if (pid < 0) {
        linx_close_fd(&p->out_fd);
        linx_close_fd(&p->st_fd);
        unmap_stacks(p);
        return spawn_failed(r, "clone", (int)-pid);
    }
    p->pid = (pid_t)pid;
    if (mask_err != 0) {
        /* Cannot happen with a mask pthread_sigmask just returned; if it
         * does, the helper must not outlive the failure. */
        kill(p->pid, SIGKILL);
        idhelper_finish(p, r);
        return spawn_failed(r, "pthread_sigmask", mask_err);
    }
    return 0;
}

/* How long the caller waits past the go-between's deadline before it
 * gives up on it (it reports within moments of the deadline). */
enum { GRACE_MS = 2000 };

int idhelper_finish(struct idhelper_proc *p, struct idhelper_result *r)
{
    /* Until the status pipe's end of file: the go-between has reported
     * and exited, and the helper's exec closed its copy (CLOEXEC). The
     * output meanwhile; a process the helper left behind may hold the
     * output pipe open for ever, so its end of file is not waited for. */
    struct helper_record rec[3];
    size_t got = 0;
    int read_err = 0, timed_out = 0;
    while (p->st_fd >= 0) {
        struct pollfd pf[2] = {{p->st_fd, POLLIN, 0}, {p->out_fd, POLLIN, 0}};
        long ms = ms_left(&p->deadline) + GRACE_MS;
        if (ms <= 0) {
            timed_out = 1;
            break;
        }
        int n = poll(pf, p->out_fd >= 0 ? 2 : 1, (int)(ms > 60000 ? 60000 : ms));
        if (n < 0 && errno != EINTR) {
            read_err = errno;
            r->call = "poll";
            break;
        }
        if (n <= 0)
            continue;
        if (p->out_fd >= 0 && pf[1].revents != 0)
            capture(p, r);
        if (pf[0].revents == 0)
            continue;
        struct helper_record one;
        ssize_t k = read(p->st_fd, &one, sizeof one);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0) {
            read_err = errno;
            r->call = "read";
            break;
        }
        if (k == 0)
            break;
        if ((size_t)k == sizeof one && got < sizeof rec / sizeof rec[0])
            rec[got++] = one;
    }
    linx_close_fd(&p->st_fd);
    if (p->out_fd >= 0)
        capture(p, r);
    linx_close_fd(&p->out_fd);
    r->out[r->out_len] = '\0';
    /* The go-between ends by its deadline on its own (it reaps the
     * helper first), so the wait below is bounded; past the grace it is
     * stuck: it is ours and unreaped, so its pid cannot be reused, and a
     * SIGKILL ends it. */
    if (timed_out)
        kill(p->pid, SIGKILL);
    int status = 0;
    int wait_err = reap(p->pid, &status, __WCLONE);
    if (wait_err != 0 && wait_err != ECHILD) {
        /* Still there: make sure it ends, and try once more. */
        kill(p->pid, SIGKILL);
        wait_err = reap(p->pid, &status, __WCLONE);
    }
    p->pid = -1;
    /* Reaped (or gone: ECHILD), it runs on them no more; a go-between
     * that could not be reaped keeps them, leaked rather than pulled from
     * under a live process. */
    if (wait_err == 0 || wait_err == ECHILD)
        unmap_stacks(p);
    if (read_err != 0)
        return spawn_failed(r, r->call, read_err);
    if (wait_err != 0 && wait_err != ECHILD) /* ECHILD: reaped by another */
        return spawn_failed(r, "waitpid", wait_err);
    if (timed_out) {
        r->outcome = IDHELPER_TIMEOUT;
        return -1;
    }
    int have_wait = 0, wait_status = 0;
    for (size_t i = 0; i < got; i++) {
        switch (rec[i].stage) {
        case HELPER_REC_EXEC:
            r->outcome = IDHELPER_EXEC;
            r->err = rec[i].value;
            return -1;
        case HELPER_REC_CLONE:
            return spawn_failed(r, "clone", rec[i].value);
        case HELPER_REC_REAP:
            return spawn_failed(r, "waitpid", rec[i].value);
        case HELPER_REC_TIMEOUT:
            r->outcome = IDHELPER_TIMEOUT;
            r->status = rec[i].value;
            return -1;
        case HELPER_REC_WAIT:
            have_wait = 1;
            wait_status = rec[i].value;
            break;
        default:
            break;
        }
    }
    if (!have_wait) /* the go-between died without a word */
        return spawn_failed(r, "waitpid", wait_err != 0 ? wait_err : ECHILD);
    if (WIFEXITED(wait_status)) {
        r->status = WEXITSTATUS(wait_status);
        r->outcome = r->status == 0 ? IDHELPER_OK : IDHELPER_EXIT;
    } else {
        r->status = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
        r->outcome = IDHELPER_SIGNAL;
    }
    return r->outcome == IDHELPER_OK ? 0 : -1;
}

int idhelper_run(const char *path, char *const argv[], long timeout_ms,
                 struct idhelper_result *r)
{
    struct idhelper_proc p;
    if (idhelper_start(path, argv, timeout_ms, &p, r) != 0)
        return -1;
    return idhelper_finish(&p, r);
}
