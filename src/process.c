/* require "linx.process": clone a child into new namespaces, park it at a
 * checkpoint until the host says proceed, then execvpe the workload.
 *
 * The child is cloned with no exit signal, so a host's waitpid(-1) reaper
 * (nginx reaps every child of its workers) never sees it: only this
 * handle's waitid(__WALL) through the pidfd can reap it. Between clone and
 * execve the child runs only async-signal-safe code on data prepared by the
 * parent (no malloc, no stdio, no locks).
 *
 * Parent and child talk over one AF_UNIX stream socketpair (CLOEXEC on both
 * sides; send() with MSG_NOSIGNAL, so a dead peer is EPIPE, not SIGPIPE):
 *   child -> parent  fixed-size records: "parked", or "stage failed: errno";
 *   parent -> child  one byte: proceed. EOF instead means the host is gone
 *                    (or closed the handle) and the parked child exits.
 * After proceed, EOF on the parent's side means execve succeeded (the
 * child's end is CLOEXEC); a record means it failed. */
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

extern char **environ;

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
    struct linx_target_ref ref; /* must stay first: linxuser reads it */
    int pidfd;                  /* -1 when the kernel gave none */
    int sock;                   /* our end of the control socketpair, or -1 */
    int in_fd;                  /* write end of a stdin pipe, or -1 */
    int out_fd[2];              /* read ends for stdout/stderr, -1 when not piped or at EOF */
    int piped[3];               /* which of stdin/stdout/stderr were "pipe" */
    struct outbuf pending[2];   /* output drained while waiting for something else */
    /* Child-side fds, held here only between their creation and the clone so
     * that an error (or a Lua error) on the way closes them via __gc. */
    int child_sock, child_fd[3];
    enum state state;
    int closed;
    int signalled_parked; /* kill() reached a parked child: wait() may block */
    int pidns_init;       /* the child is init of a new pid namespace */
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

/* ---- messages between child and parent ---------------------------------- */

enum stage { STAGE_PARKED, STAGE_SETUP, STAGE_STDIO, STAGE_CHDIR, STAGE_EXEC };

static const char *stage_name(int stage)
{
    switch (stage) {
    case STAGE_SETUP: return "setup";
    case STAGE_STDIO: return "stdio";
    case STAGE_CHDIR: return "chdir";
    case STAGE_EXEC: return "exec";
    default: return "spawn";
    }
}

struct report {
    int32_t stage;
    int32_t err;
};

/* Read one whole report. Returns 1 on a report, 0 on EOF, -errno. */
static int read_report(int fd, struct report *r)
{
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = read(fd, (char *)r + got, sizeof *r - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return got == 0 ? 0 : -EPROTO;
        got += (size_t)n;
    }
    return 1;
}

/* ---- the child (async-signal-safe only) --------------------------------- */

struct child_args {
    char *const *argv;
    char *const *envp; /* NULL: inherit environ */
    const char *cwd;   /* NULL: stay */
    int sock;          /* child end of the control socketpair */
    int stdio[3];      /* fd to install as 0/1/2, or -1 to inherit */
    pid_t parent;      /* expected getppid(): 0 in a new pid namespace */
};

static void child_report(int sock, int stage, int err)
{
    struct report r = {stage, err};
    while (send(sock, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static _Noreturn void child_fail(int sock, int stage, int err)
{
    child_report(sock, stage, err);
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

static _Noreturn void child_main(const struct child_args *a)
{
    int sock = a->sock;

    /* Host handlers must never run here: every signal is still blocked
     * (the parent blocked them around clone); reset dispositions, so the
     * workload starts with defaults, then unblock. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* glibc-internal signals: EINVAL, fine */
    }

    /* Die with the host; if it already died before prctl took effect,
     * getppid() has changed (in a new pid namespace it is always 0, and
     * the socket's EOF covers that case). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail(sock, STAGE_SETUP, errno);
    if (getppid() != a->parent)
        _exit(127);

    /* Move every fd we need above 2 (the host may run with stdio closed, so
     * a pipe could sit on 0..2), then install stdio. */
    int src[3];
    int low[3] = {0, 0, 0}; /* one of our fds occupies this stdio slot */
    if (sock < 3) {
        low[sock] = 1;
        sock = fcntl(sock, F_DUPFD_CLOEXEC, 3);
        if (sock < 0)
            _exit(127);
    }
    for (int i = 0; i < 3; i++) {
        src[i] = a->stdio[i];
        if (src[i] >= 0 && src[i] < 3) {
            low[src[i]] = 1;
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (src[i] < 0)
                child_fail(sock, STAGE_STDIO, errno);
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0) {
            if (dup2(src[i], i) < 0)
                child_fail(sock, STAGE_STDIO, errno);
        } else if (low[i]) {
            close(i); /* inherit a closed slot, not our pipe */
        }
    }
    /* Keep 0, 1, 2 and the control socket; nothing else of the host's. */
    close_from(3, (unsigned)sock - 1);
    close_from((unsigned)sock + 1, ~0U);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    /* Park. */
    child_report(sock, STAGE_PARKED, 0);
    char go;
    ssize_t n;
    while ((n = read(sock, &go, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(127); /* EOF: the host is gone or closed the handle */

    if (a->cwd != NULL && chdir(a->cwd) != 0)
        child_fail(sock, STAGE_CHDIR, errno);
    execvpe(a->argv[0], a->argv, a->envp != NULL ? a->envp : environ);
    child_fail(sock, STAGE_EXEC, errno);
}

/* ---- clone --------------------------------------------------------------- */

struct clone3_args { /* struct clone_args, version 0 (64 bytes) */
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int child_trampoline(void *arg)
{
    child_main(arg);
}

/* Clone with no exit signal. Returns the pid (child never returns) or
 * -errno; *pidfd gets a pidfd or -1. */
static pid_t clone_child(unsigned long flags, const struct child_args *a, int *pidfd)
{
    int fd = -1;
    struct clone3_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = flags | CLONE_PIDFD;
    ca.pidfd = (uint64_t)(uintptr_t)&fd;
    ca.exit_signal = 0;
    /* Without CLONE_VM the child gets a copy of our memory and continues on
     * (its copy of) this stack, like fork. */
    long r = syscall(SYS_clone3, &ca, sizeof ca);
    if (r == 0)
        child_main(a);
    if (r > 0) {
        *pidfd = fd;
        return (pid_t)r;
    }
    if (errno != ENOSYS)
        return -errno;

    /* No clone3 (kernel before 5.3, or a seccomp filter that hides it):
     * clone() on a stack of our own; CLONE_PIDFD needs 5.2. */
    size_t size = 256 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return -errno;
    void *top = (char *)stack + size;
    int rc = clone(child_trampoline, top, (int)(flags | CLONE_PIDFD), (void *)a, &fd);
    if (rc < 0 && errno == EINVAL) {
        fd = -1;
        rc = clone(child_trampoline, top, (int)flags, (void *)a);
    }
    int err = errno;
    munmap(stack, size); /* the child has its own copy */
    if (rc < 0)
        return -err;
    *pidfd = fd;
    return rc;
}

/* ---- reaping ------------------------------------------------------------- */

/* Collect the exit status. Returns 1 when reaped, 0 when still running
 * (nohang), or -errno. */
static int reap(struct handle *h, int nohang)
{
    if (h->state == ST_REAPED)
        return 1;
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int opts = WEXITED | __WALL | (nohang ? WNOHANG : 0);
        int r = h->pidfd >= 0 ? waitid(LINX_P_PIDFD, (id_t)h->pidfd, &si, opts)
                              : waitid(P_PID, (id_t)h->ref.pid, &si, opts);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (si.si_pid == 0)
            return 0;
        if (si.si_code == CLD_EXITED) {
            h->exited = 1;
            h->code = si.si_status;
        } else {
            h->signaled = 1;
            h->signal = si.si_status;
        }
        h->state = ST_REAPED;
        return 1;
    }
}

static int send_signal(struct handle *h, int sig)
{
    if (h->pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, h->pidfd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ENOSYS)
            return -errno;
    }
    /* Not reaped yet, so the pid is still ours. */
    return kill(h->ref.pid, sig) == 0 ? 0 : -errno;
}

/* Kill (if needed) and reap the child, close every fd, free buffers.
 * Used by close(), __gc, __close and spawn's error paths. */
static void handle_release(struct handle *h)
{
    if (h->closed)
        return;
    if (h->ref.pid > 0 && h->state != ST_REAPED) {
        send_signal(h, SIGKILL);
        reap(h, 0);
    }
    close_fd(&h->sock);
    close_fd(&h->in_fd);
    close_fd(&h->out_fd[0]);
    close_fd(&h->out_fd[1]);
    close_fd(&h->child_sock);
    for (int i = 0; i < 3; i++)
        close_fd(&h->child_fd[i]);
    close_fd(&h->pidfd);
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
    return linx_error_return(L);
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
    lua_getfield(L, opts, "argv");
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
    lua_getfield(L, opts, "env");
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
    lua_getfield(L, opts, field);
    *mode = IO_INHERIT;
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
    lua_getfield(L, opts, "namespaces");
    int t = lua_gettop(L);
    *flags = 0;
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
            if (lua_type(L, -1) == LUA_TSTRING)
                return bad_option(L, "spawn", lua_tostring(L, -1), "unknown_option", -1, 0);
            return bad_option(L, "spawn", "opts", "unknown_option", -1, 0);
        }
    }
    return 0;
}

static int gettable(lua_State *L)
{
    lua_gettable(L, 1);
    return 1;
}

/* Replace the options table at index 1 with a plain copy of the known
 * options, each read normally (an __index of defaults works) but
 * protected: a raising metamethod becomes an error table, never a raise.
 * Returns 0, or pushes nil, err and returns 2. */
static int copy_options(lua_State *L)
{
    lua_createtable(L, 0, 8);
    for (int i = 0; option_names[i] != NULL; i++) {
        lua_pushcfunction(L, gettable);
        lua_pushvalue(L, 1);
        lua_pushstring(L, option_names[i]);
        if (lua_pcall(L, 2, 1, 0) != 0) {
            linx_error_new(L, "bad_option", "spawn");
            linx_error_setstr(L, "field", option_names[i]);
            linx_error_setstr(L, "reason", "unreadable");
            lua_pushvalue(L, -2);
            lua_setfield(L, -2, "message");
            return linx_error_return(L);
        }
        lua_setfield(L, -2, option_names[i]);
    }
    lua_replace(L, 1);
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
    if (r == 0)
        r = copy_options(L);
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
    lua_getfield(L, 1, "cwd");
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
    h->pidfd = h->sock = h->in_fd = h->child_sock = -1;
    h->out_fd[0] = h->out_fd[1] = -1;
    for (int i = 0; i < 3; i++)
        h->child_fd[i] = -1;
    h->state = ST_NEW;
    h->pidns_init = (flags & CLONE_NEWPID) != 0;
    luaL_setmetatable(L, LINX_HANDLE_MT);
    int hidx = lua_gettop(L);

    h->argv0 = dup_str(argv[0]);
    h->cwd = cwd != NULL ? dup_str(cwd) : NULL;
    if (h->argv0 == NULL || (cwd != NULL && h->cwd == NULL)) {
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, ENOMEM, NULL);
    }

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        int err = errno;
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, err, NULL);
    }
    h->sock = sv[0];
    h->child_sock = sv[1];
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

    struct child_args a;
    a.argv = argv;
    a.envp = envp;
    a.cwd = cwd;
    a.sock = h->child_sock;
    for (int i = 0; i < 3; i++)
        a.stdio[i] = h->child_fd[i];
    a.parent = (flags & CLONE_NEWPID) ? 0 : getpid();

    /* Block every signal across clone so no host handler runs in the child
     * before it resets dispositions. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int pidfd = -1;
    pid_t pid = clone_child(flags, &a, &pidfd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) {
        handle_release(h);
        return linx_error_os(L, "spawn", NULL, (int)-pid, spawn_hint((int)-pid, flags));
    }
    h->ref.pid = pid;
    h->pidfd = pidfd;
    close_fd(&h->child_sock);
    for (int i = 0; i < 3; i++)
        close_fd(&h->child_fd[i]);

    /* Our unreaped child's pid cannot be reused, so this directory is
     * exactly the child's. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    h->ref.procfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (h->ref.procfd < 0) {
        int err = errno;
        handle_release(h);
        return linx_error_os(L, "spawn", path, err, "linx.process needs procfs mounted on /proc");
    }

    struct report rep;
    int got = read_report(h->sock, &rep);
    if (got == 1 && rep.stage == STAGE_PARKED) {
        h->state = ST_PARKED;
        lua_pushvalue(L, hidx);
        return 1;
    }
    /* The child failed during setup or died: collect it, then say why. */
    h->state = ST_RUNNING;
    reap(h, 0);
    int exited = h->exited, code = h->code, sig = h->signal;
    handle_release(h);
    if (got == 1) {
        int n = linx_error_os(L, "spawn", NULL, rep.err, NULL);
        lua_pushstring(L, stage_name(rep.stage));
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
    while ((n = send(h->sock, &go, 1, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (n != 1) {
        int err = errno;
        h->state = ST_RUNNING; /* it is gone; wait() collects it */
        close_fd(&h->sock);
        return linx_error_os(L, "proceed", NULL, err, err == EPIPE ? "the parked child is gone (was it killed?)" : NULL);
    }
    h->state = ST_RUNNING;
    struct report rep;
    int got = read_report(h->sock, &rep);
    close_fd(&h->sock);
    if (got == 0) { /* EOF: CLOEXEC closed the child's end in execve */
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
 * set *eof_mask bits for streams that reached EOF. Returns 0 or errno. */
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
        int r = reap(h, 1);
        if (r == 1)
            return status_table(L, h);
        if (r < 0)
            return linx_error_os(L, "wait", NULL, -r, NULL);
        return bad_state(L, "wait", "parked", "parked");
    }
    close_fd(&h->in_fd); /* the child gets EOF on stdin: nothing more comes */
    /* Drain piped output meanwhile, so a child that fills a pipe does not
     * block forever on a host that waits for its exit. */
    while (h->pidfd >= 0 && (h->out_fd[0] >= 0 || h->out_fd[1] >= 0)) {
        struct pollfd pf[3];
        int which[3] = {-1, -1, -1};
        int n = 0;
        pf[n].fd = h->pidfd;
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
    int r = reap(h, 0);
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
    /* Check the type first: luaL_optstring would raise on a table. */
    if (lua_type(L, 2) != LUA_TNONE && lua_type(L, 2) != LUA_TNIL && lua_type(L, 2) != LUA_TSTRING)
        return bad_option(L, "read", "stream", "unknown", 2, 0);
    const char *name = luaL_optstring(L, 2, "stdout");
    int s;
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
    /* A parked child reads nothing before proceed(): a write that fills the
     * pipe would block the host for good, so while parked it must not
     * block (the flag is on our end's file description only). */
    int fl = h->state == ST_PARKED ? fcntl(h->in_fd, F_GETFL) : -1;
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
    if (err)
        return linx_error_os(L, "write", NULL, err,
                             err == EPIPE    ? "the child closed its stdin"
                             : err == EAGAIN ? "the parked child reads stdin only after proceed(), "
                                               "and the pipe is full: write the rest after proceed()"
                                             : NULL);
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
    /* From outside, the kernel drops every signal but KILL and STOP that a
     * pid namespace's init has no handler for, and the parked child has
     * none: there only KILL ends it. */
    if (h->state == ST_PARKED && (h->pidns_init ? sig == SIGKILL : kills_by_default(sig)))
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
