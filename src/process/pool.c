/* process.pool: children made ready before the request (child/protocol.h,
 * "Pools"). A fill spawns each child with the pool's options, writes its
 * maps (linxuser's setup_maps, called through Lua), and releases it into
 * every inside step but seccomp; the child then runs the park image and
 * waits. pool:spawn hands one over (handover.c): what the request brings
 * (argv, env, cwd, stdio, fds) and the pool's seccomp program; the result
 * is an ordinary running handle. */
#include "pool.h"

#include "support/handle.h"
#include "handover.h"
#include "keeper_host.h"
#include "output_limit.h"
#include "proceed.h"
#include "process_nb.h"
#include "spawn.h"
#include "spawn_opts.h"
#include "spawn_sandbox.h"

#include <errno.h>
#include <time.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MT "linx.process.pool"
#define POOL_MAX 4096
#define POOL_DEFAULT 4

/* What a request brings; every other spawn option is the pool's. */
static const char *const request_keys[] = {"argv",   "env", "cwd",        "stdin", "stdout",
                                           "stderr", "fds", "max_output", NULL};
/* The pool's own options besides spawn's. */
static const char *const pool_keys[] = {"maps", "size", NULL};

struct pool {
    /* registry: {opts = the fill's spawn table, maps = or nil, parked = {handle, ...} (ready),
     * starting = {handle, ...} (released, their MSG_READY not read yet; oldest first),
     * failed = the first error of a starting child since the last fill, or nil}; LUA_NOREF once closed */
    int ref;
    int size;
    unsigned char *seccomp; /* inside.seccomp, compiled once: loaded by each child after its hand-over */
    uint32_t seccomp_len;
};

static int in_list(const char *k, const char *const *names)
{
    for (int i = 0; k != NULL && names[i] != NULL; i++)
        if (strcmp(k, names[i]) == 0)
            return 1;
    return 0;
}

static struct pool *check_pool(lua_State *L)
{
    return luaL_checkudata(L, 1, POOL_MT);
}

/* Push the pool's table, or return 0 (nothing pushed) once closed. */
static int push_state(lua_State *L, const struct pool *p)
{
    if (p->ref == LUA_NOREF || p->ref == LUA_REFNIL)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, p->ref);
    return 1;
}

/* How many children the list ("parked" or "starting") holds. */
static int list_count(lua_State *L, const struct pool *p, const char *list)
{
    if (!push_state(L, p))
        return 0;
    lua_getfield(L, -1, list);
    int n = (int)lua_rawlen(L, -1);
    lua_pop(L, 2);
    return n;
}

/* A shallow copy of the table at idx without the keys in drop. */
static void copy_without(lua_State *L, int idx, const char *const *drop)
{
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (in_list(k, drop)) {
            lua_pop(L, 1);
            continue;
        }
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
}

/* ---- process.pool ---------------------------------------------------------- */

/* {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}: the caller's own ids as root inside. */
static void push_own_maps(lua_State *L)
{
    lua_createtable(L, 0, 2);
    for (int k = 0; k < 2; k++) {
        lua_createtable(L, 1, 0);
        lua_createtable(L, 3, 0);
        lua_pushinteger(L, 0);
        lua_rawseti(L, -2, 1);
        linx_pushid(L, k == 0 ? (long long)getuid() : (long long)getgid());
        lua_rawseti(L, -2, 2);
        lua_pushinteger(L, 1);
        lua_rawseti(L, -2, 3);
        lua_rawseti(L, -2, 1);
        lua_setfield(L, -2, k == 0 ? "uid" : "gid");
    }
}

/* Check the pool's options as spawn would (every bad_option comes now,
 * before any child), keep the compiled seccomp program, and push the
 * table the fills spawn from: the options without maps, size and
 * inside.seccomp, with a stand-in argv (the hand-over brings the real
 * one). Returns 0, or pushes nil, err and returns their count. */
static int prepare(lua_State *L, int opts, struct pool *p, unsigned long *flags)
{
    static const char *const drop[] = {"maps", "size", "argv", NULL};
    static const char *const no_seccomp[] = {"seccomp", NULL};
    copy_without(L, opts, drop);
    int t = lua_gettop(L);
    lua_createtable(L, 1, 0);
    lua_pushliteral(L, "linx-init");
    lua_rawseti(L, -2, 1);
    lua_setfield(L, t, "argv");
    int top = lua_gettop(L);
    struct spawn_opts o;
    int r = linx_spawn_opts_read(L, t, &o);
    if (r || (r = linx_spawn_sandbox_read(L, t, &o)))
        return r;
    *flags = o.flags;
    if (o.in.seccomp != NULL && o.in.seccomp_len > 0) {
        p->seccomp = malloc((size_t)o.in.seccomp_len * 8);
        if (p->seccomp == NULL)
            return linx_error_os_call(L, "pool", "malloc", NULL, ENOMEM, NULL);
        memcpy(p->seccomp, o.in.seccomp, (size_t)o.in.seccomp_len * 8);
        p->seccomp_len = o.in.seccomp_len;
    }
    lua_settop(L, top);
    lua_getfield(L, t, "inside");
    if (lua_istable(L, -1)) {
        copy_without(L, -1, no_seccomp);
        lua_setfield(L, t, "inside");
    }
    lua_settop(L, t);
    return 0;
}

/***
A pool of children made ready before the request: spawned, mapped and
through every inside step but seccomp (README, "Pools").
@function pool
@tparam table opts spawn's options but the request's (`argv`, `env`, `cwd`, `stdin`, `stdout`, `stderr`, `fds`,
`max_output`), plus `maps` (setup_maps' options; default with `"user"`: the caller's own ids as 0) and `size`
(how many children `fill` keeps ready, 1..4096, default 4)
@treturn[1] Pool an empty pool (`fill` readies its children)
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option`
*/
static int l_pool(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE)
        return linx_bad_option(L, "pool", "opts", "not_a_table", 1, 0);
    lua_settop(L, 1);
    luaL_checkstack(L, 40, NULL);
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) { /* raw: no metamethod runs */
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (in_list(k, request_keys))
            return linx_bad_option(L, "pool", k, "per_request", 0, 0);
    }
    lua_getfield(L, 1, "size");
    int size = POOL_DEFAULT;
    if (!lua_isnil(L, -1)) {
        lua_Number n = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : -1;
        if (!(n >= 1 && n <= POOL_MAX) || (lua_Number)(int)n != n)
            return linx_bad_option(L, "pool", "size", "out_of_range", -1, 0);
        size = (int)n;
    }
    lua_getfield(L, 1, "maps");
    int maps = lua_gettop(L);
    if (!lua_isnil(L, maps) && !lua_istable(L, maps))
        return linx_bad_option(L, "pool", "maps", "not_a_table", maps, 0);

    struct pool *p = lua_newuserdata(L, sizeof *p); /* __gc frees what prepare() keeps */
    memset(p, 0, sizeof *p);
    p->ref = LUA_NOREF;
    p->size = size;
    luaL_setmetatable(L, POOL_MT);
    int pidx = lua_gettop(L);
    unsigned long flags = 0;
    int r = prepare(L, 1, p, &flags);
    if (r)
        return r;
    int opts = lua_gettop(L);
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, opts);
    lua_setfield(L, -2, "opts");
    if (!lua_isnil(L, maps))
        lua_pushvalue(L, maps);
    else if (flags & CLONE_NEWUSER)
        push_own_maps(L);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, "maps");
    lua_newtable(L);
    lua_setfield(L, -2, "parked");
    lua_newtable(L);
    lua_setfield(L, -2, "starting");
    p->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, pidx);
    return 1;
}

/* ---- fill ------------------------------------------------------------------ */

/* Call the function at -(nargs + 1) with nargs arguments; leaves its
 * first two results. 0 when the first is truthy, else 1. */
static int call2(lua_State *L, int nargs)
{
    lua_call(L, nargs, 2);
    return lua_toboolean(L, -2) ? 0 : 1;
}

/* Push linxuser's setup_maps, reached through Lua (a module of its own):
 * 1, or pushes nil, err and returns 2. */
static int push_setup_maps(lua_State *L)
{
    lua_getglobal(L, "require");
    if (lua_isfunction(L, -1)) {
        lua_pushliteral(L, "linxuser");
        if (lua_pcall(L, 1, 1, 0) == 0 && lua_istable(L, -1)) {
            lua_getfield(L, -1, "setup_maps");
            if (lua_isfunction(L, -1)) {
                lua_remove(L, -2);
                return 1;
            }
        }
    }
    const char *why = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "no global require";
    linx_error_new(L, "bad_setup", "fill");
    linx_error_setstr(L, "field", "maps");
    linx_error_setstr(L, "reason", "setup_maps unreachable: require \"linxuser\" failed");
    linx_error_setstr(L, "message", why);
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* Spawn one child, write its maps and release it into its inside steps
 * and the park image, without waiting for it to get there: push the
 * handle (1), or push nil, err and return 2. The pool's table is at st. */
static int start_one(lua_State *L, int st)
{
    int top = lua_gettop(L);
    lua_getfield(L, st, "opts");
    int n = linx_spawn(L, top + 1, 1);
    if (lua_isnil(L, -n)) { /* nil, err (an errno beyond them is dropped) */
        lua_pushvalue(L, -n + 1);
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
        lua_pushnil(L);
        lua_insert(L, top + 1);
        return 2;
    }
    int h = lua_gettop(L);
    lua_getfield(L, st, "maps");
    if (!lua_isnil(L, -1)) {
        int maps = lua_gettop(L);
        if (push_setup_maps(L) != 1)
            goto failed;
        lua_pushvalue(L, h);
        lua_pushvalue(L, maps);
        if (call2(L, 2))
            goto failed;
    }
    lua_settop(L, h);
    if (linx_proceed_send(L, lua_touserdata(L, h)) != 0) {
        lua_settop(L, h + 2); /* nil, err */
        goto failed;
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return 1;
failed:
    linx_handle_release(L, lua_touserdata(L, h)); /* kills and reaps it */
    lua_replace(L, top + 2); /* err */
    lua_pushnil(L);
    lua_replace(L, top + 1);
    lua_settop(L, top + 2);
    return 2;
}

/* The answer of the started child at the top (its MSG_READY) within
 * wait_ms (-1: blocks): 1 ready (the handle stays at the top), 0 not yet
 * (likewise), or the child is released and replaced by nil, err (2). */
static int settle_one(lua_State *L, int wait_ms)
{
    int h = lua_gettop(L);
    struct handle *c = lua_touserdata(L, h);
    int r = linx_proceed_reply(L, c, wait_ms);
    if (r == 0)
        return 0;
    if (r == 1) {
        lua_settop(L, h);
        return 1;
    }
    linx_handle_release(L, c);
    lua_settop(L, h + 2); /* nil, err (an errno beyond them is dropped) */
    lua_remove(L, h);
    return 2;
}

/* Ready one child and push it (1), or push nil, err and return 2. */
static int ready_one(lua_State *L, int st)
{
    int r = start_one(L, st);
    return r == 1 ? settle_one(L, -1) : r;
}

/* Keep the error at the top as the pool's first failure since the last
 * fill (st.failed), unless one is kept already; pops it either way. */
static void keep_first_failure(lua_State *L, int st)
{
    lua_getfield(L, st, "failed");
    int first = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (first)
        lua_setfield(L, st, "failed");
    else
        lua_pop(L, 1);
}

/* Read the answers of the starting children (each within what is left of
 * the deadline: NULL blocks, a past one only looks): the ready ones move
 * to parked, the failed ones are released, the first failure kept in the
 * pool's table (failed). The pool's table is at st. */
static void settle(lua_State *L, int st, const struct timespec *deadline)
{
    int top = lua_gettop(L);
    lua_getfield(L, st, "starting");
    int starting = top + 1;
    lua_getfield(L, st, "parked");
    int parked = top + 2;
    lua_newtable(L);
    int still = top + 3, nstill = 0;
    int n = (int)lua_rawlen(L, starting);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, starting, i);
        int r = settle_one(L, deadline != NULL ? linx_deadline_ms(deadline) : -1);
        if (r == 1) {
            lua_rawseti(L, parked, (int)lua_rawlen(L, parked) + 1);
        } else if (r == 0) {
            lua_rawseti(L, still, ++nstill);
        } else {
            keep_first_failure(L, st);
            lua_settop(L, still);
        }
    }
    lua_pushvalue(L, still);
    lua_setfield(L, st, "starting");
    lua_settop(L, top);
}

/* A deadline that has passed: settle() only looks. */
static const struct timespec *now_only(struct timespec *t)
{
    linx_deadline_set(t, 0);
    return t;
}

/***
Top the pool up to its size (or by at most `n` more children). Without a
`timeout` it blocks while each child is spawned, mapped and taken through
its inside steps: the only place a pool pays for set-up. With a `timeout`
(seconds) it spawns and maps each child, releases it, and waits at most
that long for the children to get ready: `fill(n, 0)` never waits for one
(the spawns and map writes are still paid here; the children's inside
steps and park image run meanwhile, and `size`, `spawn` and the next
`fill` collect them).
@function Pool:fill
@tparam[opt] int n at most this many more (ready or starting)
@tparam[opt] number timeout seconds to wait for the started children (default: until they are ready)
@treturn[1] int how many children are ready now
@treturn[1] int how many are still starting
@return[2] `nil`
@treturn[2] linxuser.Error what spawn, setup_maps or proceed said, for this call's children or a
starting child that failed since the last `fill` (the children readied before it stay)
*/
static int m_fill(lua_State *L)
{
    struct pool *p = check_pool(L);
    int want = -1;
    if (!lua_isnoneornil(L, 2)) {
        lua_Number n = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) : -1;
        if (!(n >= 0 && n <= POOL_MAX) || (lua_Number)(int)n != n)
            return linx_bad_option(L, "fill", "n", "out_of_range", 2, 0);
        want = (int)n;
    }
    double seconds;
    int r = linx_timeout_arg(L, 3, "fill", &seconds);
    if (r)
        return r;
    int blocking = seconds < 0;
    lua_settop(L, 1);
    luaL_checkstack(L, 40, NULL);
    if (!push_state(L, p))
        return linx_bad_state(L, "fill", "closed", "closed");
    int st = lua_gettop(L);
    struct timespec t;
    settle(L, st, blocking ? NULL : now_only(&t));
    lua_getfield(L, st, "parked");
    int parked = lua_gettop(L);
    lua_getfield(L, st, "starting");
    int starting = lua_gettop(L);
    for (int added = 0; want < 0 || added < want; added++) {
        if ((int)(lua_rawlen(L, parked) + lua_rawlen(L, starting)) >= p->size || p->ref == LUA_NOREF)
            break; /* full, or closed meanwhile (by a metamethod in the maps) */
        if ((blocking ? ready_one(L, st) : start_one(L, st)) != 1)
            return 2;
        int list = blocking ? parked : starting;
        lua_rawseti(L, list, (int)lua_rawlen(L, list) + 1);
    }
    if (!blocking) {
        linx_deadline_set(&t, seconds);
        settle(L, st, &t);
    }
    lua_getfield(L, st, "failed");
    if (!lua_isnil(L, -1)) { /* a starting child failed: said once */
        lua_pushnil(L);
        lua_setfield(L, st, "failed");
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    lua_getfield(L, st, "parked");
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    lua_getfield(L, st, "starting");
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, -1));
    lua_replace(L, -2);
    return 2;
}

/* ---- spawn ------------------------------------------------------------------ */

/* Take a live parked child onto the stack (1), or ready a fresh one (1),
 * or push nil, err (2). */
static int take(lua_State *L, struct pool *p)
{
    if (!push_state(L, p))
        return linx_bad_state(L, "spawn", "closed", "closed");
    int st = lua_gettop(L);
    struct timespec t;
    settle(L, st, now_only(&t)); /* who got ready meanwhile */
    lua_getfield(L, st, "parked");
    int parked = lua_gettop(L);
    for (int n = (int)lua_rawlen(L, parked); n > 0; n = (int)lua_rawlen(L, parked)) {
        lua_rawgeti(L, parked, n);
        lua_pushnil(L);
        lua_rawseti(L, parked, n);
        struct handle *h = luaL_testudata(L, -1, LINX_HANDLE_MT);
        if (h != NULL && !h->closed && h->ctl >= 0 && !linx_handle_workload_exited(h)) {
            lua_replace(L, st);
            lua_settop(L, st);
            return 1;
        }
        if (h != NULL)
            linx_handle_release(L, h); /* died while parked (killed from outside): reap it */
        lua_pop(L, 1);
    }
    lua_getfield(L, st, "starting"); /* the oldest starting child is the nearest to ready */
    int starting = lua_gettop(L);
    while (lua_rawlen(L, starting) > 0) {
        lua_rawgeti(L, starting, 1);
        int n = (int)lua_rawlen(L, starting);
        for (int i = 1; i < n; i++) {
            lua_rawgeti(L, starting, i + 1);
            lua_rawseti(L, starting, i);
        }
        lua_pushnil(L);
        lua_rawseti(L, starting, n);
        if (settle_one(L, -1) == 1) {
            lua_replace(L, st);
            lua_settop(L, st);
            return 1;
        }
        keep_first_failure(L, st); /* it failed (released): the next fill says so; try the next */
        lua_settop(L, starting);
    }
    int r = ready_one(L, st); /* an empty pool spawns fresh, with the same options */
    if (r == 1) {
        lua_replace(L, st);
        lua_settop(L, st);
        return 1;
    }
    lua_replace(L, st + 1);
    lua_replace(L, st);
    lua_settop(L, st + 1);
    return 2;
}

/***
Hand a ready child the request and let it exec (a fresh one when the pool
is empty). The request is spawn's `argv`, `env`, `cwd`, `stdin`, `stdout`,
`stderr`, `fds`, `max_output`; any other option is the pool's
(`bad_option`, reason `fixed_by_pool`).
@function Pool:spawn
@tparam table req
@treturn[1] Handle a running handle, as after `spawn` and `proceed`
@return[2] `nil`
@treturn[2] linxuser.Error `bad_option`, `bad_state` (closed pool), or `os` with the step that failed
(`"chdir"`, `"seccomp"`, `"exec"`, ...)
*/
static int m_spawn(lua_State *L)
{
    struct pool *p = check_pool(L);
    if (lua_type(L, 2) != LUA_TTABLE)
        return linx_bad_option(L, "spawn", "req", "not_a_table", 2, 0);
    lua_settop(L, 2);
    luaL_checkstack(L, 40, NULL);
    lua_pushnil(L);
    while (lua_next(L, 2) != 0) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (in_list(k, request_keys))
            continue;
        if (in_list(k, pool_keys) || linx_spawn_option_known(k))
            return linx_bad_option(L, "spawn", k, "fixed_by_pool", 0, 0);
        const char *plain = linx_plain_key(L, -1, 40);
        return linx_bad_option(L, "spawn", plain != NULL ? plain : "req", "unknown_option", -1, 0);
    }
    /* Read and check the request once, before a child is taken for it:
     * what anchors its strings stays on the stack below the child. */
    struct spawn_opts o;
    unsigned long long max_output;
    int r = linx_spawn_opts_read(L, 2, &o);
    if (r || (r = linx_output_opt_read(L, 2, &max_output)))
        return r;
    luaL_checkstack(L, 40, NULL);
    if ((r = take(L, p)) != 1)
        return r;
    int hidx = lua_gettop(L);
    struct handle *h = lua_touserdata(L, hidx);
    h->park = 0; /* an ordinary running handle from here on */
    r = linx_handover(L, h, &o, max_output, p->seccomp, p->seccomp_len);
    if (r) {
        linx_handle_release(L, h); /* the child is gone or going: nothing to hand back */
        return r;
    }
    lua_pushvalue(L, hidx);
    return 1;
}

/* ---- the rest ----------------------------------------------------------------- */

/***
How many children are ready. Never blocks: it looks whether children
started by `fill(n, timeout)` got ready meanwhile (`fill(0, 0)` also says
how many are still starting).
@function Pool:size
@treturn int
*/
static int m_size(lua_State *L)
{
    struct pool *p = check_pool(L);
    lua_settop(L, 1);
    if (push_state(L, p)) {
        struct timespec t;
        settle(L, 2, now_only(&t));
        lua_pop(L, 1);
    }
    lua_pushinteger(L, list_count(L, p, "parked"));
    return 1;
}

/* Kill and reap every child of the list at the top. */
static void release_all(lua_State *L)
{
    for (int i = (int)lua_rawlen(L, -1); i > 0; i--) {
        lua_rawgeti(L, -1, i);
        struct handle *h = luaL_testudata(L, -1, LINX_HANDLE_MT);
        if (h != NULL)
            linx_handle_release(L, h);
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_rawseti(L, -2, i);
    }
}

/* Kill and reap every parked and starting child, drop the pool's table. */
static void pool_close(lua_State *L, struct pool *p)
{
    if (push_state(L, p)) {
        lua_getfield(L, -1, "parked");
        release_all(L);
        lua_getfield(L, -2, "starting");
        release_all(L);
        lua_pop(L, 3);
        luaL_unref(L, LUA_REGISTRYINDEX, p->ref);
        p->ref = LUA_NOREF;
    }
    free(p->seccomp);
    p->seccomp = NULL;
    p->seccomp_len = 0;
}

/***
Kill and reap the ready and the starting children; the pool can no longer be used. A
collected pool does the same.
@function Pool:close
@treturn boolean `true`
*/
static int m_close(lua_State *L)
{
    pool_close(L, check_pool(L));
    lua_pushboolean(L, 1);
    return 1;
}

static int m_gc(lua_State *L)
{
    struct pool *p = luaL_testudata(L, 1, POOL_MT);
    if (p != NULL)
        pool_close(L, p);
    return 0;
}

static int m_tostring(lua_State *L)
{
    struct pool *p = check_pool(L);
    if (p->ref == LUA_NOREF)
        lua_pushliteral(L, "linx.process.pool (closed)");
    else
        lua_pushfstring(L, "linx.process.pool (%d of %d ready, %d starting)", list_count(L, p, "parked"), p->size,
                        list_count(L, p, "starting"));
    return 1;
}

void linx_pool_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"spawn", m_spawn}, {"fill", m_fill}, {"size", m_size}, {"close", m_close}, {NULL, NULL},
    };
    linx_newclass(L, POOL_MT, methods, m_gc, m_tostring);
    lua_pushcfunction(L, l_pool);
}
