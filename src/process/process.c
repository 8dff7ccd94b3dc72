/* require "linx.process": clone a child into new namespaces, park it at a
 * checkpoint until the host says proceed, then execvpe the workload.
 *
 * The rooms of this module, each one concern:
 *   process.c      the Lua face: spawn and the handle's methods (this file)
 *   process_nb.c   the methods that never block (for event loops), and
 *                  what process.c shares with them
 *   spawn_opts.c   reading spawn's options
 *   keeper_host.c  the host's side: start, collect, signal, release
 *   block.c        the memory the children read and run on
 *   child.c        the keeper and the workload (freestanding: no libc)
 *   child_inside.c the workload's inside steps: mounts, root, hostname,
 *                  groups and ids (freestanding)
 *   child_helper.c the go-between of a newuidmap/newgidmap run, linked
 *                  in with the other children (linxuser runs it)
 *   spawn_sandbox.c  session, inside.init and the init's sealed memfd
 *   child_init.c   linx-init, pid 1 of inside.init (a program of its own)
 *   protocol.h     what host and children say to each other
 *   stages.c       the stage table: what a child's failure report means
 *   lerror.c       the error tables (shared with linxuser)
 * Two processes per handle: the keeper (the host's own child, never
 * execs) and the workload (the keeper's child); protocol.h and child.c
 * say why. */
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
#include "support/compat.h"
#include "linx.h"
#include "support/handle.h"
#include "core/hostutil.h"
#include "idmapped.h"
#include "keeper_host.h"
#include "support/lerror.h"
#include "output_limit.h"
#include "process_nb.h"
#include "spawn_cgroup.h"
#include "spawn_opts.h"
#include "spawn_policy.h"
#include "spawn_seccomp.h"
#include "spawn_sandbox.h"
#include "pool.h"
#include "proceed.h"
#include "spawn.h"
#include "stages.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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
@tparam[opt] table opts.fds `{[3] = file_or_fd, ...}`: extra descriptors the child gets at those numbers (Lua files or fd numbers); every other fd above 2 is closed
@tparam[opt] table opts.inside steps the child takes on itself after `proceed()`, before `execve`, in this order:
`mounts = {{type = "proc"|"tmpfs"|"bind"|"dev", target =, source =, readonly =, options =, idmap =}, ...}` (needs `"mount"`;
`idmap = true|{uid =, gid =}` on a bind: idmapped, made by the host at `proceed()`, root only;
also `"dir"`, `"symlink"`, `"file"`, `"remount"`, `"mqueue"`, `"devpts"`, `"overlay"`: README "The mount plan"),
`root = path` or `{path =, readonly =, suid =, dev =}` (bind, `nosuid,nodev` by default, `pivot_root`, detach the
old root; needs `"mount"`), `hostname =` (needs `"uts"`),
`loopback = false` (with `"net"`, `lo` is up unless false),
`groups = {...}`, `gid =`, `uid =` (ids inside), `no_new_privs = true`; then `cwd`;
`init = true|false` (default: true with `"pid"`): pid 1 is linx-init, the workload its child;
and among them (README "Narrowing the workload") `caps = {"net_bind_service", ...}`,
`rlimits = {nofile = 64, ...}`, `landlock = {read =, write =, exec =, required =}`, `seccomp =` (a policy
table, `"default"` or a precompiled program: README, "Sandbox")
@tparam[opt] string|int|file opts.cgroup a cgroup v2 directory the child starts in (`clone3` `CLONE_INTO_CGROUP`)
@tparam[opt] number opts.max_output bytes per piped stream the host holds (default: no limit); past it the
workload is killed and the next `wait` or `read` returns kind `output_limit` (`stream`, `bytes`, `output`)
@tparam[opt="new"] string opts.session `"new"`: `setsid()` before `execve`; `"inherit"`: keep the caller's terminal
@treturn[1] Handle the parked child
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option`, or `os` (operation `spawn`) when the kernel refused
@treturn[2] ?int errno, when the kernel refused
*/
static int l_spawn(lua_State *L)
{
    lua_settop(L, 1);
    return linx_spawn(L, 1, 0);
}

/* ---- methods ------------------------------------------------------------- */

static struct handle *check_handle(lua_State *L)
{
    return luaL_checkudata(L, 1, LINX_HANDLE_MT);
}

/***
A spawned child. It targets the exact process it spawned, even after its pid
is reused, so it can be passed to every `linxuser` verb. Closing it, or
letting it be garbage-collected (or leaving a `<close>` scope, Lua 5.4),
kills and reaps a child that is still parked or running.
@type Handle
*/

/***
The child's pid in the host's view (with `inside.init`, the init's). Pinned (no
other process can get it) until the handle is waited for or closed; after
that it is `nil, err` (`bad_state`).
@function Handle:host_pid
@treturn[1] int
@return[2] `nil`
@treturn[2] linxuser.Error `bad_state` once reaped or closed
*/
static int m_host_pid(lua_State *L)
{
    struct handle *h = check_handle(L);
    /* Once reaped (or closed) the pid is no longer pinned: another process
     * may own it, and a caller must not aim anything at it. */
    if (h->closed || h->state == ST_REAPED)
        return linx_bad_state(L, "host_pid", linx_handle_state_name(h), h->closed ? "closed" : "reaped");
    lua_pushinteger(L, (lua_Integer)h->ref.pid);
    return 1;
}

/***
Release the parked child into its inside steps and `execve`. Runs once.
A step that fails stops the child there (exit code 127).
@function Handle:proceed
@treturn[1] boolean `true` once the exec has happened
@return[2] `nil`
@treturn[2] linxuser.Error `os` with `operation` the step that failed (`"mount"`, `"pivot_root"`, `"sethostname"`,
`"loopback"`, `"setgroups"`, `"setresgid"`, `"setresuid"`, `"prctl"`, `"capset"`, `"prlimit"`, `"landlock"`, `"chdir"`, `"exec"`; `"idmap"` when the host could not
make an idmapped bind, before the child ran anything), `path`, `step` (index in `inside.mounts`);
`bad_state` if not parked
@treturn[2] ?int errno
*/
static int m_proceed(lua_State *L)
{
    struct handle *h = check_handle(L);
    if (h->closed)
        return linx_bad_state(L, "proceed", "closed", "closed");
    if (h->state != ST_PARKED)
        return linx_bad_state(L, "proceed", linx_handle_state_name(h), "not_parked");
    int r = linx_proceed_send(L, h);
    return r ? r : linx_proceed_reply(L, h, -1);
}

/* Block until the handle's open pipes (or extra, when >= 0) have
 * something, then drain them (what wait and read do while they block).
 * Returns 0, with *extra_ready set when extra became readable, or pushes
 * nil, err, code (operation op) and returns 3. */
static int drain_blocking(lua_State *L, struct handle *h, const char *op, int extra, int *extra_ready)
{
    /* a slot of fd -1 is ignored by poll, its revents 0 */
    struct pollfd pf[3] = {{extra, POLLIN, 0}, {h->out_fd[0], POLLIN, 0}, {h->out_fd[1], POLLIN, 0}};
    static const int which[3] = {-1, 0, 1};
    while (poll(pf, 3, -1) < 0)
        if (errno != EINTR)
            return linx_error_os_call(L, op, "poll", NULL, errno, NULL);
    int err = linx_handle_drain(h, pf, which, 3);
    if (err)
        return linx_error_os_call(L, op, h->call, NULL, err, NULL);
    *extra_ready = pf[0].revents != 0;
    return 0;
}

static int status_table(lua_State *L, const struct handle *h)
{
    linx_push_status(L, h->exited, h->exited ? h->code : h->signal);
    return 1;
}

/***
Wait for the child to end and reap it (blocks). Piped output is collected
meanwhile, so a child that fills a pipe cannot deadlock the wait. With a
`timeout`, wait at most that many seconds: `wait(0)` never blocks. When
the time runs out the error is kind `timeout` (field `seconds`) and the
child is left as it was: still running, stdin still open, pid pinned.
Without a timeout it first closes a piped stdin.
@function Handle:wait
@tparam[opt] number timeout seconds (default: no limit)
@treturn[1] table `{exited = true, code = N}` or `{signaled = true, signal = N}`
@return[2] `nil`
@treturn[2] linxuser.Error `timeout`, `output_limit` (spawn's `max_output`), `bad_state` for a parked or
closed handle, or `os`
*/
static int m_wait(lua_State *L)
{
    struct handle *h = check_handle(L);
    double limit;
    int bad = linx_timeout_arg(L, 2, "wait", &limit);
    if (bad)
        return bad;
    if (h->state == ST_REAPED)
        return status_table(L, h);
    if (h->closed)
        return linx_bad_state(L, "wait", "closed", "closed");
    if (h->state == ST_PARKED && !h->signalled_parked) {
        /* Waiting for a child that waits for us would never end. */
        int r = linx_handle_collect(L, h, 1);
        if (r == 1)
            return status_table(L, h);
        if (r < 0)
            return linx_error_os_call(L, "wait", h->call, NULL, -r, NULL);
        return linx_bad_state(L, "wait", "parked", "parked");
    }
    if (limit >= 0) {
        int r = linx_handle_wait_for(h, limit);
        if (r > 0)
            r = linx_handle_collect(L, h, 1);
        if (r < 0)
            return linx_error_os_call(L, "wait", h->call, NULL, -r, NULL);
        int lim = linx_output_limit_error(L, h, "wait");
        if (lim)
            return lim;
        if (r == 0)
            return linx_timeout_error(L, "wait", limit);
        return status_table(L, h);
    }
    linx_close_fd(&h->in_fd); /* the child gets EOF on stdin: nothing more comes */
    linx_handle_unpin(h);     /* nothing aims at the pid while we block here */
    /* Drain piped output meanwhile, so a child that fills a pipe does not
     * block forever on a host that waits for its exit. */
    while (h->keep >= 0 && (h->out_fd[0] >= 0 || h->out_fd[1] >= 0)) {
        int ended; /* the keeper's socket is readable when it reports the end */
        int n = drain_blocking(L, h, "wait", h->keep, &ended);
        if (n)
            return n;
        if (ended)
            break;
    }
    int r = linx_handle_collect(L, h, 0);
    if (r < 0) /* nothing lost: waiting again (or closing) finishes it */
        return linx_error_os_call(L, "wait", h->call, NULL, -r, NULL);
    return (r = linx_output_limit_error(L, h, "wait")) ? r : status_table(L, h);
}

/***
Read a piped stream to its end (blocks until the child closes it). With
`timeout` 0 it never blocks: it returns what has arrived, `""` when
nothing has yet, and `nil` once the stream has ended and everything was
returned; it leaves stdin open.
@function Handle:read
@tparam[opt="stdout"] string stream `"stdout"` or `"stderr"`, spawned with `"pipe"`
@tparam[opt] number timeout `0`: do not block
@treturn[1] string everything the child wrote there (with timeout 0: what arrived, or nil at the end)
@return[2] `nil`
@treturn[2] linxuser.Error
*/
static int m_read(lua_State *L)
{
    struct handle *h = check_handle(L);
    int s, t = lua_type(L, 2);
    if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TSTRING)
        return linx_bad_option(L, "read", "stream", "unknown", 2, 0);
    const char *name = t == LUA_TSTRING ? lua_tostring(L, 2) : "stdout";
    if (strcmp(name, "stdout") == 0)
        s = 0;
    else if (strcmp(name, "stderr") == 0)
        s = 1;
    else
        return linx_bad_option(L, "read", "stream", "unknown", 2, 0);
    if (!h->piped[s + 1])
        return linx_bad_option(L, "read", "stream", "not_piped", 2, 0);
    int nowait = !lua_isnoneornil(L, 3);
    if (nowait && (lua_type(L, 3) != LUA_TNUMBER || lua_tonumber(L, 3) != 0))
        return linx_bad_option(L, "read", "timeout", "not_zero", 3, 0);
    if (h->closed)
        return linx_bad_state(L, "read", "closed", "closed");
    if (nowait)
        return linx_read_now(L, h, s);
    if (h->state == ST_PARKED)
        return linx_bad_state(L, "read", "parked", "parked");
    linx_close_fd(&h->in_fd); /* reading to EOF: the child's stdin must end too */
    while (h->out_fd[s] >= 0 && !h->over_limit) {
        int unused;
        int n = drain_blocking(L, h, "read", -1, &unused);
        if (n)
            return n;
    }
    int lim = linx_output_limit_error(L, h, "read");
    if (lim)
        return lim;
    struct outbuf *b = &h->pending[s];
    lua_pushlstring(L, b->p != NULL ? b->p : "", b->len);
    linx_outbuf_free(b);
    return 1;
}

/* Write what the stdin pipe takes (our end is non-blocking); while it is
 * full, drain the child's piped output into the pending buffers, so a
 * filter that writes as much as it reads can never deadlock us. Stop at
 * the deadline (at once with limit 0; never with limit < 0). Sets *done;
 * returns 0 or errno. */
static int feed_stdin(struct handle *h, const char *data, size_t len, double limit, size_t *done)
{
    struct timespec deadline;
    linx_deadline_set(&deadline, limit);
    *done = 0;
    while (*done < len) {
        ssize_t n = write(h->in_fd, data + *done, len - *done);
        if (n >= 0) {
            *done += (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        h->call = "write";
        if (errno != EAGAIN)
            return errno;
        int ms = linx_deadline_ms(&deadline);
        if (ms == 0)
            return 0;
        struct pollfd pf[3] = {{h->in_fd, POLLOUT, 0}, {-1, POLLIN, 0}, {-1, POLLIN, 0}};
        int which[3] = {-1, 0, 1};
        for (int k = 0; k < 2; k++)
            pf[k + 1].fd = h->out_fd[k]; /* -1 (ignored by poll) when not piped or at EOF */
        int r = poll(pf, 3, ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            h->call = "poll";
            return errno;
        }
        if (r == 0)
            return 0;
        if (pf[0].revents & (POLLERR | POLLHUP))
            continue; /* the next write says EPIPE */
        int err = linx_handle_drain(h, pf, which, 3);
        if (err)
            return err;
    }
    return 0;
}

/***
Write to the child's piped stdin. It blocks until all of `data` is in the
pipe, draining the child's piped stdout and stderr meanwhile (what it
drains, `read` returns later), so any amount can go through a filter such
as `cat`. With `timeout` 0 it never blocks: it writes what the pipe takes
now and returns how many bytes that was (possibly 0); with a `timeout` in
seconds it stops when that runs out, and returns the bytes written too
(the child is left as it was). A parked child
reads nothing before `proceed()`, so a write that would block on one
fails with EAGAIN instead. A child that closed its stdin gives an `os`
error (EPIPE), never a SIGPIPE in the host.
@function Handle:write
@string data
@tparam[opt] number timeout seconds; `0`: do not block
@treturn[1] boolean|int `true`, or with a timeout the number of bytes written
@return[2] `nil`
@treturn[2] linxuser.Error with `written`, the bytes that went in before the refusal
*/
static int m_write(lua_State *L)
{
    struct handle *h = check_handle(L);
    size_t len;
    if (lua_type(L, 2) != LUA_TSTRING)
        return linx_bad_option(L, "write", "data", "not_a_string", 2, 0);
    const char *data = lua_tolstring(L, 2, &len);
    double limit;
    int bad = linx_timeout_arg(L, 3, "write", &limit);
    if (bad)
        return bad;
    int nowait = !lua_isnoneornil(L, 3);
    if (!h->piped[S_STDIN])
        return linx_bad_option(L, "write", "stream", "not_piped", 0, 0);
    if (h->closed)
        return linx_bad_state(L, "write", "closed", "closed");
    if (h->in_fd < 0)
        return linx_bad_state(L, "write", linx_handle_state_name(h), "stdin_closed");
    /* A pipe whose reader is gone raises SIGPIPE, which would kill the
     * host: block it for this thread and swallow the one we caused. */
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    size_t done = 0;
    int err = 0;
    h->call = "sigpending";
    if (sigpending(&pending) != 0)
        err = errno;
    else if ((err = pthread_sigmask(SIG_BLOCK, &pipe_set, &old)) != 0)
        h->call = "pthread_sigmask";
    if (err) /* nothing written: without SIGPIPE blocked, a write could kill the host */
        return linx_error_os_call(L, "write", h->call, NULL, err, NULL);
    int was_pending = sigismember(&pending, SIGPIPE);
    int parked = h->state == ST_PARKED;
    err = feed_stdin(h, data, len, parked && limit < 0 ? 0 : limit, &done);
    if (!err && !nowait && done < len)
        err = EAGAIN; /* parked, and the pipe is full */
    if (err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        int r;
        while ((r = sigtimedwait(&pipe_set, NULL, &zero)) < 0 && errno == EINTR)
            ;
        if (r < 0 && errno != EAGAIN) /* still pending: unblocked, it would kill the host */
            sigaddset(&old, SIGPIPE);
    }
    int mask_err = pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (mask_err && !err) { /* written, but SIGPIPE stays blocked in this thread: say so */
        err = mask_err;
        h->call = "pthread_sigmask";
    }
    if (err) {
        const char *hint = err == EPIPE ? "the child closed its stdin"
                           : err == EAGAIN ? "the pipe is full and the parked child reads nothing before proceed()"
                                           : NULL;
        int n = linx_error_os_call(L, "write", h->call, NULL, err, hint);
        linx_pushid(L, (long long)done); /* what went in before the refusal */
        lua_setfield(L, -3, "written");
        return n;
    }
    if (nowait)
        linx_pushid(L, (long long)done);
    else
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
Send a signal to the workload alone (its pidfd; never its process group), forwarded by the init under `inside.init`.
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
        return linx_bad_option(L, "kill", "signal", "unknown", 2, 0);
    if (h->closed)
        return linx_bad_state(L, "kill", "closed", "closed");
    if (h->state == ST_REAPED)
        return linx_error_os(L, "kill", NULL, ESRCH, "the child has already been reaped");
    int r = linx_handle_signal(h, sig);
    if (r < 0)
        return linx_error_os_call(L, "kill", r == -ESRCH ? NULL : h->call, NULL, -r, NULL);
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
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] linxuser.Error `os` when the keeper could not be reaped (`syscall`
names the call); the handle stays open, and closing again (or its
collection) finishes the job
*/
static int m_close(lua_State *L)
{
    struct handle *h = check_handle(L);
    int r = linx_handle_release(L, h);
    if (r < 0)
        return linx_error_os_call(L, "close", h->call, NULL, -r, NULL);
    lua_pushboolean(L, 1);
    return 1;
}

static int m_gc(lua_State *L)
{
    struct handle *h = luaL_testudata(L, 1, LINX_HANDLE_MT);
    if (h != NULL)
        linx_handle_release(L, h);
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
        lua_pushfstring(L, "linx.process.handle (pid %d, %s)", (int)h->ref.pid, linx_handle_state_name(h));
    return 1;
}

static const luaL_Reg methods[] = {
    {"host_pid", m_host_pid}, {"proceed", m_proceed}, {"wait", m_wait},   {"kill", m_kill},
    {"read", m_read},         {"write", m_write},     {"close", m_close}, {"state", linx_m_state},
    {"fileno", linx_m_fileno}, {"shutdown", linx_m_shutdown}, {"landlock", linx_m_landlock}, {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"spawn", l_spawn},
    {"now", linx_l_now},
    {"seccomp_program", linx_l_seccomp_program},
    {NULL, NULL},
};

int luaopen_linx_process(lua_State *L)
{
    linx_newclass(L, LINX_HANDLE_MT, methods, m_gc, m_tostring);
    linx_block_register(L);
    luaL_newlib(L, funcs);
    lua_pushliteral(L, LINX_VERSION);
    lua_setfield(L, -2, "_VERSION");
    linx_spawn_push_names(L); /* what linx.run, linx.resty, linx.sandbox pass on */
    lua_setfield(L, -2, "options");
    linx_pool_open(L); /* pool.c: the pool metatable, and process.pool */
    lua_setfield(L, -2, "pool");
    return 1;
}
