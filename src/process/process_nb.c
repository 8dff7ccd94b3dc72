/* The linx.process handle methods that never block (see process_nb.h). */
#include "process_nb.h"

#include "support/lerror.h"
#include "output_limit.h"
#include "spawn_opts.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *linx_handle_state_name(const struct handle *h)
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

int linx_handle_drain(struct handle *h, const struct pollfd *pf, const int *which, int n)
{
    char buf[16384];
    for (int i = 0; i < n; i++) {
        int s = which[i];
        if (s < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = read(h->out_fd[s], buf, sizeof buf);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        h->call = "read";
        if (got < 0)
            return errno;
        if (got == 0) {
            linx_close_fd(&h->out_fd[s]);
            continue;
        }
        int err = linx_outbuf_append(&h->pending[s], buf, (size_t)got);
        h->call = NULL;
        if (err)
            return err;
        linx_output_count(h, s, (size_t)got);
    }
    return 0;
}

int linx_timeout_arg(lua_State *L, int idx, const char *op, double *seconds)
{
    *seconds = -1;
    if (lua_isnoneornil(L, idx))
        return 0;
    if (lua_type(L, idx) != LUA_TNUMBER)
        return linx_bad_option(L, op, "timeout", "not_a_number", idx, 0);
    double t = (double)lua_tonumber(L, idx);
    if (isnan(t) || t < 0)
        return linx_bad_option(L, op, "timeout", "negative", idx, 0);
    *seconds = isinf(t) ? -1 : t;
    return 0;
}

void linx_deadline_set(struct timespec *deadline, double seconds)
{
    if (seconds < 0) {
        deadline->tv_sec = -1;
        deadline->tv_nsec = 0;
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, deadline);
    if (seconds > 1e9)
        seconds = 1e9; /* some thirty years: no overflow below */
    double whole = floor(seconds);
    deadline->tv_sec += (time_t)whole;
    deadline->tv_nsec += (long)((seconds - whole) * 1e9);
    if (deadline->tv_nsec >= 1000000000L) {
        deadline->tv_sec++;
        deadline->tv_nsec -= 1000000000L;
    }
}

int linx_deadline_ms(const struct timespec *deadline)
{
    if (deadline->tv_sec < 0)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double left = (double)(deadline->tv_sec - now.tv_sec) * 1e3 + (double)(deadline->tv_nsec - now.tv_nsec) / 1e6;
    if (left <= 0)
        return 0;
    left = ceil(left); /* never wake just before the deadline and spin */
    return left > INT_MAX ? INT_MAX : (int)left;
}

int linx_handle_wait_for(struct handle *h, double seconds)
{
    struct timespec deadline;
    linx_deadline_set(&deadline, seconds);
    while (h->keep >= 0) {
        struct pollfd pf[3];
        int which[3] = {-1, -1, -1};
        int n = 0;
        pf[n].fd = h->keep; /* readable when the keeper reports the end */
        pf[n].events = POLLIN;
        pf[n].revents = 0;
        n++;
        for (int s = 0; s < 2; s++) {
            if (h->out_fd[s] >= 0) {
                pf[n].fd = h->out_fd[s];
                pf[n].events = POLLIN;
                pf[n].revents = 0;
                which[n] = s;
                n++;
            }
        }
        int r = poll(pf, (nfds_t)n, linx_deadline_ms(&deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            h->call = "poll";
            return -errno;
        }
        if (pf[0].revents)
            return 1;
        if (r == 0)
            return 0;
        int err = linx_handle_drain(h, pf, which, n);
        if (err)
            return -err;
        if (h->over_limit && !h->limit_told)
            return 0; /* the caller says output_limit at once */
        /* A child that writes as fast as we read must not hold us past
         * the deadline (poll would find its pipe ready every time). */
        if (linx_deadline_ms(&deadline) == 0)
            return 0;
    }
    return 1;
}

static struct handle *check_handle(lua_State *L)
{
    return luaL_checkudata(L, 1, LINX_HANDLE_MT);
}

/***
@module linx.process
*/

/***
Where the child is, without blocking: `"parked"` (at the checkpoint),
`"running"` (released, still going), `"exited"` (it has ended, whether or
not `wait` has collected it yet), or `"closed"`.
@function Handle:state
@treturn string
*/
int linx_m_state(lua_State *L)
{
    struct handle *h = check_handle(L);
    const char *name = linx_handle_state_name(h);
    if (!h->closed && (h->state == ST_PARKED || h->state == ST_RUNNING) &&
        (linx_handle_workload_exited(h) || linx_fd_ready(h->keep) == 1))
        name = "exited";
    lua_pushstring(L, name);
    return 1;
}

/***
The descriptor an event loop watches for this handle (do not read, write
or close it yourself; the handle's methods do). `"status"` becomes
readable when the child's state changes (it ended: `wait(0)` then
collects it); `"stdin"` is writable when `write(data, 0)` can put
something in; `"stdout"`/`"stderr"` are readable when `read(stream, 0)`
has something, or the end of the stream, to return.
@function Handle:fileno
@tparam[opt="status"] string which `"status"`, `"stdin"`, `"stdout"` or `"stderr"`
@treturn[1] int the descriptor
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option` (unknown, not piped) or `bad_state`
(the status was collected, stdin was shut, the stream reached its end, or the handle is closed)
*/
int linx_m_fileno(lua_State *L)
{
    struct handle *h = check_handle(L);
    int t = lua_type(L, 2);
    if (t != LUA_TNONE && t != LUA_TNIL && t != LUA_TSTRING)
        return linx_bad_option(L, "fileno", "which", "unknown", 2, 0);
    const char *which = t == LUA_TSTRING ? lua_tostring(L, 2) : "status";
    int fd, s;
    if (strcmp(which, "status") == 0)
        s = -1;
    else if (strcmp(which, "stdin") == 0)
        s = S_STDIN;
    else if (strcmp(which, "stdout") == 0)
        s = S_STDOUT;
    else if (strcmp(which, "stderr") == 0)
        s = S_STDERR;
    else
        return linx_bad_option(L, "fileno", "which", "unknown", 2, 0);
    if (s >= 0 && !h->piped[s])
        return linx_bad_option(L, "fileno", "which", "not_piped", 2, 0);
    if (h->closed)
        return linx_bad_state(L, "fileno", "closed", "closed");
    if (s < 0) {
        fd = h->keep;
        if (fd < 0)
            return linx_bad_state(L, "fileno", linx_handle_state_name(h), "reaped");
    } else if (s == S_STDIN) {
        fd = h->in_fd;
        if (fd < 0)
            return linx_bad_state(L, "fileno", linx_handle_state_name(h), "stdin_closed");
    } else {
        fd = h->out_fd[s - 1];
        if (fd < 0)
            return linx_bad_state(L, "fileno", linx_handle_state_name(h), "eof");
    }
    lua_pushinteger(L, fd);
    return 1;
}

/***
Close the child's piped stdin, so it reads end of file once it has read
what is in the pipe (as `ngx.pipe`'s `shutdown("stdin")`). The child keeps
running. Shutting an already shut stdin is no error.
@function Handle:shutdown
@tparam string which `"stdin"`
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option` (not `"stdin"`, or stdin not piped) or `bad_state` (closed)
*/
int linx_m_shutdown(lua_State *L)
{
    struct handle *h = check_handle(L);
    if (lua_type(L, 2) != LUA_TSTRING || strcmp(lua_tostring(L, 2), "stdin") != 0)
        return linx_bad_option(L, "shutdown", "which", "unknown", 2, 0);
    if (!h->piped[S_STDIN])
        return linx_bad_option(L, "shutdown", "which", "not_piped", 2, 0);
    if (h->closed)
        return linx_bad_state(L, "shutdown", "closed", "closed");
    linx_close_fd(&h->in_fd);
    lua_pushboolean(L, 1);
    return 1;
}

int linx_read_now(lua_State *L, struct handle *h, int s)
{
    /* Take what the pipe holds now, bounded so that a child writing
     * without pause cannot keep us here. */
    struct outbuf *b = &h->pending[s];
    while (h->out_fd[s] >= 0 && b->len < (1u << 20) && !h->over_limit) {
        int r = linx_fd_ready(h->out_fd[s]);
        if (r < 0)
            return linx_error_os_call(L, "read", "poll", NULL, -r, NULL);
        if (r == 0)
            break;
        struct pollfd pf = {h->out_fd[s], POLLIN, POLLIN};
        int which = s;
        int err = linx_handle_drain(h, &pf, &which, 1);
        if (err)
            return linx_error_os_call(L, "read", h->call, NULL, err, NULL);
    }
    int lim = linx_output_limit_error(L, h, "read");
    if (lim)
        return lim;
    if (b->len == 0 && h->out_fd[s] < 0) {
        lua_pushnil(L); /* end of file, and everything returned */
        return 1;
    }
    lua_pushlstring(L, b->p != NULL ? b->p : "", b->len);
    linx_outbuf_free(b);
    return 1;
}

/***
The option names this build of `spawn` knows, for code that builds
option tables for it (`linx.run`, `linx.resty`, `linx.sandbox` read them
rather than keep copies): `spawn` (spawn's own keys), `inside` (the keys
of `opts.inside`), `mount_types` (the `type`s of `inside.mounts`), each a
list of strings. A name missing here is an option this build refuses.
@table options
*/

/***
Seconds on the monotonic clock (not the time of day): what a time limit
spanning several calls measures with, from pure Lua (`linx.run` does).
@function now
@treturn number
*/
int linx_l_now(lua_State *L)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    lua_pushnumber(L, (lua_Number)t.tv_sec + (lua_Number)t.tv_nsec / 1e9);
    return 1;
}

/***
The Landlock ABI the workload enforced on itself (`inside.landlock`),
reported by the workload before its `execve`: `0` when `inside.landlock`
was not given, or when the kernel has no Landlock and `required` was not
set.
@function Handle:landlock
@treturn[1] int the ABI (1, 2, ... 7 on Linux 6.15 and later), or 0
@return[2] `nil`
@treturn[2] linxuser.Error `bad_state` before `proceed()`
*/
int linx_m_landlock(lua_State *L)
{
    struct handle *h = luaL_checkudata(L, 1, LINX_HANDLE_MT);
    if (!h->proceeded) /* the workload has not run its steps yet */
        return linx_bad_state(L, "landlock", linx_handle_state_name(h), h->closed ? "closed" : "parked");
    lua_pushinteger(L, h->landlock);
    return 1;
}
