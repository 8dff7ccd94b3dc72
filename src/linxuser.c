/* require "linxuser": user-namespace maps and setgroups from Lua.
 * Verbs return a value on success and nil, err[, code] on failure; they
 * never raise on bad input (map lists are read raw). */
/***
User-namespace identity from Lua: write and read a process's `uid_map`,
`gid_map` and `setgroups` files, with every kernel rule checked before the
kernel's one-shot write.

    local user = require "linxuser"
    assert(user.setup_maps(pid, {uid = {{0, 1000, 1}}, gid = {{0, 1000, 1}}}))
    print(user.read_uid_map(pid)[1])   --> 0 -> 1000

A `target` is a positive integer host pid or a `linx.process` handle (which
reaches the very process it spawned, never a later owner of its pid).
`maps` is a non-empty array of `{inside, outside, length}` triples or
`{inside=, outside=, length=}` tables (`Map`s work), read with raw access.
Verbs never raise on bad input or a kernel refusal: they return `nil, err`,
where `err` is an `Error`, plus the numeric errno when the kernel refused.
@module linxuser
*/
#include "compat.h"
#include "handle.h"
#include "idmap.h"
#include "lerror.h"
#include "linxuser_int.h"
#include "lmaps.h"
#include "lroute.h"
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum map_kind { UID_MAP, GID_MAP };

static const char *map_file(enum map_kind k)
{
    return k == UID_MAP ? "uid_map" : "gid_map";
}

/* ---- targets ---------------------------------------------------------- */

static int bad_target(lua_State *L, int idx, const char *op)
{
    linx_error_new(L, "bad_target", op);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "value");
    return linx_error_return(L);
}

/* Is argument idx a target (a positive integral pid, or a handle that is
 * not closed)? Returns 0, or pushes nil, err and returns 2. Nothing is
 * kept: a verb checks first (so that a bad target is named before a bad
 * map), reads every Lua value, and only then resolves. */
static int check_target(lua_State *L, int idx, const char *op)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (n >= 1 && n <= INT_MAX && floor(n) == n)
            return 0;
    } else if (lua_type(L, idx) == LUA_TUSERDATA) {
        const struct linx_target_ref *ref = luaL_testudata(L, idx, LINX_HANDLE_MT);
        if (ref != NULL && ref->procfd >= 0)
            return 0;
    }
    return bad_target(L, idx, op);
}

#define TARGET_MT "linxuser.target"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Let the fds go (on every return path; __gc when a Lua error unwinds). */
static void target_drop(struct procfs_target *t)
{
    close_fd(&t->dirfd);
    close_fd(&t->pidfd);
}

static int target_gc(lua_State *L)
{
    target_drop(lua_touserdata(L, 1));
    return 0;
}

/* A target held for one call: a userdata pushed on the stack, empty
 * until target_resolve. Made before the handle is resolved, as is every
 * other allocation of the call: an allocation may run a finalizer (Lua
 * code) that closes the handle. */
static struct procfs_target *target_new(lua_State *L)
{
    struct held {
        struct procfs_target t; /* first: target_gc reads it */
        const char *failed;     /* the call behind an error, for err.syscall */
    } *h = lua_newuserdata(L, sizeof *h);
    struct procfs_target *t = &h->t;
    t->pid = 0;
    t->dirfd = -1;
    t->pidfd = -1;
    h->failed = NULL;
    t->failed = &h->failed;
    luaL_setmetatable(L, TARGET_MT);
    return t;
}

/* Resolve argument idx into *t, with our own duplicates of a handle's
 * /proc/<pid> fd and pidfd: from here to the last write no Lua code may
 * run, and even if some did, closing the handle could not make a write
 * land in another process. A handle closed since check_target is
 * bad_target. Returns 0, or pushes nil, err and returns 2. */
static int target_resolve(lua_State *L, int idx, const char *op, struct procfs_target *t)
{
    if (check_target(L, idx, op) != 0)
        return 2;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        t->pid = (pid_t)lua_tonumber(L, idx);
        return 0;
    }
    const struct linx_target_ref *ref = lua_touserdata(L, idx);
    t->pid = ref->pid;
    t->dirfd = fcntl(ref->procfd, F_DUPFD_CLOEXEC, 3);
    if (t->dirfd >= 0 && ref->pidfd >= 0)
        t->pidfd = fcntl(ref->pidfd, F_DUPFD_CLOEXEC, 3);
    if (t->dirfd < 0 || (ref->pidfd >= 0 && t->pidfd < 0)) {
        int err = errno;
        target_drop(t);
        return linx_error_os_call(L, op, "fcntl", NULL, err, NULL);
    }
    return 0;
}

/* ---- kernel refusals -------------------------------------------------- */

/* Read a target's map file just to decide whether it was already written. */
static int map_written(const struct procfs_target *t, const char *file)
{
    char *text;
    size_t len;
    if (procfs_read_all(t, file, &text, &len) != 0)
        return 0;
    size_t found = idmap_parse(text, len, NULL, 0);
    free(text);
    return found > 0;
}

static int setgroups_allowed(const struct procfs_target *t)
{
    char *text;
    size_t len;
    if (procfs_read_all(t, "setgroups", &text, &len) != 0)
        return 0;
    int allow = strncmp(text, "allow", 5) == 0;
    free(text);
    return allow;
}

/* Does the target share this process's user namespace (a child spawned
 * without "user")? Its maps are then the ones this process lives under. */
static int in_own_userns(const struct procfs_target *t)
{
    struct stat mine, its;
    int fd = procfs_open(t, "ns/user", O_RDONLY);
    if (fd < 0)
        return 0;
    int ok = fstat(fd, &its) == 0 && stat("/proc/self/ns/user", &mine) == 0;
    close(fd);
    return ok && mine.st_dev == its.st_dev && mine.st_ino == its.st_ino;
}

/* Explain the refusals people actually hit; NULL when we know no better. */
static const char *hint_for(const struct procfs_target *t, const char *file, int err)
{
    if (err == ENOENT || err == ESRCH)
        return "the target process has exited";
    if ((err == EPERM || err == EACCES) && in_own_userns(t))
        return "the target shares this process's user namespace, whose maps were written when "
               "it was made: the likely mistake is a spawn without namespaces = {\"user\"}";
    if (err == EACCES)
        return "the target's /proc files belong to another user";
    if (err != EPERM)
        return NULL;
    if (strcmp(file, "setgroups") == 0)
        return map_written(t, "gid_map")
                   ? "setgroups cannot change once gid_map has been written"
                   : "only a writer with CAP_SYS_ADMIN over the target's user namespace "
                     "may change setgroups";
    if (map_written(t, file))
        return "maps are write-once: this map was already written";
    if (strcmp(file, "gid_map") == 0 && geteuid() != 0 && setgroups_allowed(t))
        return "an unprivileged writer must deny setgroups first (deny_setgroups, or "
               "setup_maps without setgroups = \"skip\"), or write through newgidmap";
    return "an unprivileged writer may map only its own id, as one entry of length 1, "
           "from the parent namespace; ranges need CAP_SETUID/CAP_SETGID there "
           "(or newuidmap/newgidmap)";
}

static int os_error(lua_State *L, const char *op, const struct procfs_target *t,
                    const char *file, int err)
{
    const char *call = t->failed != NULL ? *t->failed : NULL; /* before hint_for reads more */
    char path[64];
    procfs_path(t, file, path, sizeof path);
    return linx_error_os_call(L, op, call, path, err, hint_for(t, file, err));
}

/* ---- Maps ------------------------------------------------------------- */

/***
One entry of an id map, as `read_uid_map` returns it and `map` makes it.
Maps share a metatable (`__name` is `linxuser.Map`): `tostring` gives
`0 -> 1000` for one id and `0..65535 -> 100000..165535` (inclusive ends)
for a range, and two Maps with equal fields are `==`. Ids are exact up to
4294967295 on every Lua (integers where `lua_Integer` is wide enough,
otherwise doubles).
@table Map
@field inside first id inside the namespace
@field outside first id in the parent namespace (the host, for a child of the host)
@field length how many consecutive ids
*/
/***
Make a validated `Map`.
@function map
@int inside first id inside
@int outside first id outside
@int length number of ids (at least 1)
@treturn[1] Map the entry
@return[2] `nil`
@treturn[2] Error a `bad_map` error (`index` 1)
@usage print(user.map(0, 100000, 65536))  --> 0..65535 -> 100000..165535
*/
static int l_map(lua_State *L)
{
    struct idmap_entry e;
    int64_t f[3];
    lua_settop(L, 3);
    for (int i = 0; i < 3; i++) {
        if (!lmaps_get_integral(L, i + 1, &f[i])) {
            lua_createtable(L, 3, 0);
            for (int k = 1; k <= 3; k++) {
                lua_pushvalue(L, k);
                lua_rawseti(L, -2, k);
            }
            return linx_bad_map(L, "map", "bad_entry", 1, lua_gettop(L));
        }
    }
    e.inside = f[0];
    e.outside = f[1];
    e.length = f[2];
    struct idmap_problem p;
    if (idmap_validate(&e, 1, &p) != IDMAP_OK) {
        lua_createtable(L, 3, 0);
        for (int k = 1; k <= 3; k++) {
            lua_pushvalue(L, k);
            lua_rawseti(L, -2, k);
        }
        return linx_bad_map(L, "map", idmap_reason_name(p.reason), 1, lua_gettop(L));
    }
    lmaps_push_map(L, &e);
    return 1;
}

/* ---- verbs ------------------------------------------------------------ */

/***
Does this kernel have user namespaces?
@function supported
@treturn boolean `true` iff `/proc/self/uid_map` exists
*/
static int l_supported(lua_State *L)
{
    lua_pushboolean(L, access("/proc/self/uid_map", F_OK) == 0);
    return 1;
}

/* Once per verb call, before its first read or write. */
static int check_alive(lua_State *L, const char *op, const struct procfs_target *t,
                       const char *file)
{
    int err = procfs_alive(t);
    return err != 0 ? os_error(L, op, t, file, err) : 0;
}

static int write_setgroups(lua_State *L, const struct procfs_target *t)
{
    static const char deny[] = "deny";
    int err = procfs_write_once(t, "setgroups", deny, sizeof deny - 1);
    if (err != 0)
        return os_error(L, "deny_setgroups", t, "setgroups", err);
    return 0;
}

/***
Write `deny` to the target's `setgroups`.
An unprivileged writer must do this before writing the gid map. Harmless
to repeat until the gid map is written; after that it is EPERM.
@function deny_setgroups
@tparam int|userdata target host pid or `linx.process` handle
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
*/
static int l_deny_setgroups(lua_State *L)
{
    lua_settop(L, 1);
    struct procfs_target *t = target_new(L);
    int n = target_resolve(L, 1, "deny_setgroups", t);
    if (n == 0)
        n = check_alive(L, "deny_setgroups", t, "setgroups");
    if (n == 0)
        n = write_setgroups(L, t);
    target_drop(t);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}

/***
Read the target's `setgroups`.
@function read_setgroups
@tparam int|userdata target host pid or `linx.process` handle
@treturn[1] string `"allow"` or `"deny"`
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
*/
static int l_read_setgroups(lua_State *L)
{
    lua_settop(L, 1);
    struct procfs_target *t = target_new(L);
    int n = target_resolve(L, 1, "read_setgroups", t);
    if (n == 0)
        n = check_alive(L, "read_setgroups", t, "setgroups");
    char *text = NULL;
    size_t len = 0;
    int err = n == 0 ? procfs_read_all(t, "setgroups", &text, &len) : 0;
    if (err != 0)
        n = os_error(L, "read_setgroups", t, "setgroups", err);
    target_drop(t);
    if (n != 0)
        return n;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

/* Render validated entries and write them in one write(). */
static int write_map(lua_State *L, const char *op, const struct procfs_target *t,
                     enum map_kind kind, const struct idmap_entry *entries, size_t count)
{
    char text[IDMAP_MAX_TEXT];
    long len = idmap_render(entries, count, text, sizeof text);
    if (len < 0) /* validated already: cannot happen, but never write half */
        return linx_bad_map(L, op, "too_long", 0, 0);
    int err = procfs_write_once(t, map_file(kind), text, (size_t)len);
    if (err != 0)
        return os_error(L, op, t, map_file(kind), err);
    return 0;
}

static int set_map(lua_State *L, enum map_kind kind)
{
    const char *op = kind == UID_MAP ? "set_uid_map" : "set_gid_map";
    struct lmaps_list m;
    lua_settop(L, 2);
    int n = check_target(L, 1, op);
    if (n == 0)
        n = lmaps_read(L, 2, op, NULL, LMAPS_KERNEL, &m);
    if (n != 0)
        return n;
    struct procfs_target *t = target_new(L);
    n = target_resolve(L, 1, op, t);
    if (n == 0)
        n = check_alive(L, op, t, map_file(kind));
    if (n == 0)
        n = write_map(L, op, t, kind, m.e, m.n);
    target_drop(t);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}

/***
Write the target's uid map, in one `write()`.
The list is validated first (empty, over 340 entries, 4096 bytes of text or
more, negative, zero length, past 4294967295, overlap): those mistakes come
back as `bad_map` errors naming the entry, and nothing is written.
Maps are write-once.
@function set_uid_map
@tparam int|userdata target host pid or `linx.process` handle
@tparam {Map,...} maps entries `{inside, outside, length}` or `{inside=, outside=, length=}`
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
@usage assert(user.set_uid_map(pid, {{0, 100000, 65536}}))
*/

/***
Write the target's gid map, in one `write()`; as `set_uid_map`.
An unprivileged writer must call `deny_setgroups` first.
@function set_gid_map
@tparam int|userdata target host pid or `linx.process` handle
@tparam {Map,...} maps entries `{inside, outside, length}` or `{inside=, outside=, length=}`
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
*/
static int l_set_uid_map(lua_State *L) { return set_map(L, UID_MAP); }
static int l_set_gid_map(lua_State *L) { return set_map(L, GID_MAP); }

static int read_map(lua_State *L, enum map_kind kind)
{
    const char *op = kind == UID_MAP ? "read_uid_map" : "read_gid_map";
    lua_settop(L, 1);
    struct procfs_target *t = target_new(L);
    int n = target_resolve(L, 1, op, t);
    if (n == 0)
        n = check_alive(L, op, t, map_file(kind));
    char *text = NULL;
    size_t len = 0;
    int err = n == 0 ? procfs_read_all(t, map_file(kind), &text, &len) : 0;
    if (err != 0)
        n = os_error(L, op, t, map_file(kind), err);
    target_drop(t);
    if (n != 0)
        return n;
    struct idmap_entry small[IDMAP_MAX_ENTRIES];
    struct idmap_entry *entries = small;
    size_t count = idmap_parse(text, len, small, IDMAP_MAX_ENTRIES);
    if (count > IDMAP_MAX_ENTRIES) { /* not from this kernel, but stay whole */
        entries = malloc(count * sizeof *entries);
        if (entries == NULL) {
            free(text);
            return linx_error_os(L, op, NULL, ENOMEM, NULL);
        }
        idmap_parse(text, len, entries, count);
    }
    free(text);
    lmaps_push_list(L, entries, count);
    if (entries != small)
        free(entries);
    return 1;
}

/***
Read the target's uid map.
The whole file is read (a 340-line map is larger than a page); a
malformed line is skipped.
@function read_uid_map
@tparam int|userdata target host pid or `linx.process` handle
@treturn[1] {Map,...} the entries, empty when the map is not written yet
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
@usage for _, m in ipairs(assert(user.read_uid_map(1))) do print(m) end
*/

/***
Read the target's gid map; as `read_uid_map`.
@function read_gid_map
@tparam int|userdata target host pid or `linx.process` handle
@treturn[1] {Map,...} the entries, empty when the map is not written yet
@return[2] `nil`
@treturn[2] Error what went wrong
@treturn[2] ?int errno, when the kernel refused
*/
static int l_read_uid_map(lua_State *L) { return read_map(L, UID_MAP); }
static int l_read_gid_map(lua_State *L) { return read_map(L, GID_MAP); }

/* ---- setup_maps ------------------------------------------------------- */

static int bad_setup(lua_State *L, const char *reason, const char *field)
{
    linx_error_new(L, "bad_setup", "setup_maps");
    linx_error_setstr(L, "reason", reason);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    return linx_error_return(L);
}

/* A key setup_maps does not know, such as the typo "setgroup", would
 * otherwise leave setgroups at its default unnoticed. */
static int unknown_setup_key(lua_State *L, int opts)
{
    static const char *const known[] = {"uid",    "gid",       "setgroups", "helper",
                                        "newuidmap", "newgidmap", NULL};
    if (!linx_unknown_key(L, opts, known))
        return 0;
    const char *k = linx_plain_key(L, -1, 40);
    return bad_setup(L, "unknown_option", k != NULL ? k : "opts");
}

/***
The whole sequence: `deny_setgroups`, `set_uid_map`, `set_gid_map`.
Both maps and the options are checked before the first write, so a bad gid
map never leaves a written uid map behind. On a kernel refusal it stops and
returns that step's error (earlier steps cannot be undone: write-once).
The options table is read normally, so an `__index` of defaults works.
@function setup_maps
@tparam int|userdata target host pid or `linx.process` handle
@tparam table opts
@tparam {Map,...} opts.uid the uid map (required)
@tparam {Map,...} opts.gid the gid map (required)
@tparam[opt="deny"] string opts.setgroups `"deny"`, or `"skip"` to leave setgroups alone
(through newgidmap, `"skip"` lets the helper decide: it denies unless a subgid range is mapped)
@tparam[opt="auto"] string opts.helper `"auto"`: write procfs directly when the kernel will
take it from this process (CAP_SETUID/CAP_SETGID, or the one own-id line of length 1, for
the gid map once setgroups is deny), else run newuidmap/newgidmap;
`"always"`: always the helpers; `"never"`: always procfs (a gid map the kernel would refuse
after the uid map is written is refused before the first write, kind `helper`, reason `never`)
@tparam[opt="newuidmap"] string opts.newuidmap helper name (searched in PATH) or path
@tparam[opt="newgidmap"] string opts.newgidmap helper name (searched in PATH) or path
@treturn[1] boolean `true`
@return[2] `nil`
@treturn[2] Error what went wrong (`field` says which map, for `bad_map`)
@treturn[2] ?int errno, when the kernel refused
@usage assert(user.setup_maps(child, {uid = {{0, uid, 1}}, gid = {{0, gid, 1}}}))
*/
static int l_setup_maps(lua_State *L)
{
    static const char op[] = "setup_maps";
    struct lmaps_list uid, gid;
    lua_settop(L, 2);
    int n = check_target(L, 1, op);
    if (n != 0)
        return n;
    if (lua_type(L, 2) != LUA_TTABLE)
        return bad_setup(L, "not_a_table", "opts");
    if ((n = unknown_setup_key(L, 2)) != 0)
        return n;
    /* Every Lua value is read first (options may run metamethods), then
     * the handle is resolved, then nothing but C runs until the last
     * write. Stack: 3 = uid, 4 = gid, 5 = setgroups. */
    static const char *const keys[] = {"uid", "gid", "setgroups"};
    for (int i = 0; i < 3; i++)
        if ((n = lmaps_get_option(L, 2, keys[i], op)) != 0)
            return n;
    if (lua_isnil(L, 3))
        return bad_setup(L, "missing", "uid");
    if (lua_isnil(L, 4))
        return bad_setup(L, "missing", "gid");
    /* field says which of the two maps was bad */
    if ((n = lmaps_read(L, 3, op, "uid", LMAPS_KERNEL, &uid)) != 0 ||
        (n = lmaps_read(L, 4, op, "gid", LMAPS_KERNEL, &gid)) != 0)
        return n;
    int deny = 1;
    if (!lua_isnil(L, 5)) {
        const char *v = lua_type(L, 5) == LUA_TSTRING ? lua_tostring(L, 5) : NULL;
        if (v != NULL && strcmp(v, "skip") == 0)
            deny = 0;
        else if (v == NULL || strcmp(v, "deny") != 0) {
            linx_error_new(L, "bad_setgroups", op);
            lua_pushvalue(L, 5);
            lua_setfield(L, -2, "value");
            return linx_error_return(L);
        }
    }
    struct lroute route;
    if ((n = lroute_read(L, 2, &route)) != 0)
        return n;
    lroute_reserve(L, &route, uid.e, uid.n, gid.e, gid.n, !deny);
    struct procfs_target *t = target_new(L);
    n = target_resolve(L, 1, op, t);
    if (n == 0)
        n = check_alive(L, deny ? "deny_setgroups" : "set_uid_map", t,
                        deny ? "setgroups" : "uid_map");
    /* Direct or through newuidmap/newgidmap: decided from what the
     * kernel will take, and the helpers found, before the first write. */
    if (n == 0)
        n = lroute_plan(L, &route, uid.e, uid.n, gid.e, gid.n, !deny && setgroups_allowed(t));
    if (n == 0 && deny)
        n = write_setgroups(L, t);
    /* Both through the helpers: side by side, one wait for the two. */
    int both = route.uid_helper && route.gid_helper;
    if (n == 0 && both)
        n = lroute_write_both(L, &route, t, uid.e, uid.n, gid.e, gid.n);
    if (n == 0 && !both)
        n = route.uid_helper ? lroute_write(L, &route, 0, t, uid.e, uid.n)
                             : write_map(L, "set_uid_map", t, UID_MAP, uid.e, uid.n);
    if (n == 0 && !both)
        n = route.gid_helper ? lroute_write(L, &route, 1, t, gid.e, gid.n)
                             : write_map(L, "set_gid_map", t, GID_MAP, gid.e, gid.n);
    target_drop(t);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- registration ----------------------------------------------------- */

static const luaL_Reg maps_verbs[] = {
    {"supported", l_supported},
    {"deny_setgroups", l_deny_setgroups},
    {"read_setgroups", l_read_setgroups},
    {"set_uid_map", l_set_uid_map},
    {"set_gid_map", l_set_gid_map},
    {"read_uid_map", l_read_uid_map},
    {"read_gid_map", l_read_gid_map},
    {"setup_maps", l_setup_maps},
    {"map", l_map},
    {NULL, NULL},
};

void linxuser_maps_register(lua_State *L)
{
    if (luaL_newmetatable(L, TARGET_MT)) {
        lua_pushcfunction(L, target_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, maps_verbs, 0);
}
