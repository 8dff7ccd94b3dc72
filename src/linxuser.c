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
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_MT "linxuser.Map"

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

/* Resolve argument idx into *t. Returns 0, or pushes nil, err and
 * returns the number of results. */
static int get_target(lua_State *L, int idx, const char *op, struct procfs_target *t)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, idx);
        if (n >= 1 && n <= INT_MAX && floor(n) == n) {
            t->pid = (pid_t)n;
            t->dirfd = -1;
            t->pidfd = -1;
            return 0;
        }
    } else if (lua_type(L, idx) == LUA_TUSERDATA) {
        const struct linx_target_ref *ref = luaL_testudata(L, idx, LINX_HANDLE_MT);
        if (ref != NULL && ref->procfd >= 0) {
            t->pid = ref->pid;
            t->dirfd = ref->procfd;
            t->pidfd = ref->pidfd;
            return 0;
        }
    }
    return bad_target(L, idx, op);
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

/* Explain the refusals people actually hit; NULL when we know no better. */
static const char *hint_for(const struct procfs_target *t, const char *file, int err)
{
    if (err == ENOENT || err == ESRCH)
        return "the target process has exited";
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
        return "an unprivileged writer must deny setgroups first (deny_setgroups or "
               "setup_maps)";
    return "an unprivileged writer may map only its own id, as one entry of length 1, "
           "from the parent namespace; ranges need CAP_SETUID/CAP_SETGID there "
           "(or newuidmap/newgidmap)";
}

static int os_error(lua_State *L, const char *op, const struct procfs_target *t,
                    const char *file, int err)
{
    char path[64];
    procfs_path(t, file, path, sizeof path);
    return linx_error_os(L, op, path, err, hint_for(t, file, err));
}

/* ---- reading map lists (raw access only) ------------------------------ */

static int bad_map(lua_State *L, const char *op, const char *reason, lua_Integer index,
                   int entry_idx)
{
    linx_error_new(L, "bad_map", op);
    linx_error_setstr(L, "reason", reason);
    if (index > 0)
        linx_error_setint(L, "index", index);
    if (entry_idx != 0) {
        lua_pushvalue(L, entry_idx);
        lua_setfield(L, -2, "entry");
    }
    return linx_error_return(L);
}

/* An integral Lua number as int64, clamped so that huge values still
 * read as out of range (or negative). Strings are not numbers here. */
static int get_integral(lua_State *L, int idx, int64_t *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    if (lua_isinteger(L, idx)) {
        lua_Integer i = lua_tointeger(L, idx);
        *out = (int64_t)i;
        return 1;
    }
    lua_Number n = lua_tonumber(L, idx);
    if (!isfinite(n) || floor(n) != n)
        return 0;
    if (n >= 9223372036854775807.0)
        *out = INT64_MAX;
    else if (n <= -9223372036854775807.0)
        *out = INT64_MIN;
    else
        *out = (int64_t)n;
    return 1;
}

/* One entry at stack index e: {inside, outside, length} or named fields. */
static int get_entry(lua_State *L, int e, struct idmap_entry *out)
{
    static const char *const names[3] = {"inside", "outside", "length"};
    int64_t f[3];
    if (lua_type(L, e) != LUA_TTABLE)
        return 0;
    lua_rawgeti(L, e, 1);
    int positional = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (positional) {
        lua_rawgeti(L, e, 4);
        int extra = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (extra)
            return 0;
    }
    for (int i = 0; i < 3; i++) {
        if (positional)
            lua_rawgeti(L, e, i + 1);
        else {
            lua_pushstring(L, names[i]);
            lua_rawget(L, e);
        }
        int ok = get_integral(L, -1, &f[i]);
        lua_pop(L, 1);
        if (!ok)
            return 0;
    }
    out->inside = f[0];
    out->outside = f[1];
    out->length = f[2];
    return 1;
}

/* Read and validate the list at idx into entries (IDMAP_MAX_ENTRIES
 * slots). Returns 0 with *count set, or pushes nil, err and returns 2. */
static int get_maps(lua_State *L, int idx, const char *op, struct idmap_entry *entries,
                    size_t *count)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return bad_map(L, op, "not_a_list", 0, idx);
    size_t n = lua_rawlen(L, idx);
    if (n == 0) {
        lua_pushnil(L);
        if (lua_next(L, idx) != 0) { /* keys, but no list: a lone entry? */
            lua_pop(L, 2);
            return bad_map(L, op, "not_a_list", 0, idx);
        }
        return bad_map(L, op, "empty", 0, 0);
    }
    if (n > IDMAP_MAX_ENTRIES)
        return bad_map(L, op, "too_many", 0, 0);
    luaL_checkstack(L, 4, NULL);
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)(i + 1));
        int ok = get_entry(L, lua_gettop(L), &entries[i]);
        if (!ok)
            return bad_map(L, op, "bad_entry", (lua_Integer)(i + 1), lua_gettop(L));
        lua_pop(L, 1);
    }
    struct idmap_problem p;
    if (idmap_validate(entries, n, &p) != IDMAP_OK) {
        int has_index = p.reason != IDMAP_EMPTY && p.reason != IDMAP_TOO_MANY &&
                        p.reason != IDMAP_TOO_LONG;
        if (has_index)
            lua_rawgeti(L, idx, (lua_Integer)(p.index + 1));
        else
            lua_pushnil(L);
        int entry = lua_gettop(L);
        bad_map(L, op, idmap_reason_name(p.reason), has_index ? (lua_Integer)(p.index + 1) : 0,
                has_index ? entry : 0);
        if (p.reason == IDMAP_OVERLAP)
            linx_error_setint(L, "other", (long long)p.other + 1);
        return 2;
    }
    *count = n;
    return 0;
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
static void push_map(lua_State *L, const struct idmap_entry *e)
{
    lua_createtable(L, 0, 3);
    linx_pushid(L, e->inside);
    lua_setfield(L, -2, "inside");
    linx_pushid(L, e->outside);
    lua_setfield(L, -2, "outside");
    linx_pushid(L, e->length);
    lua_setfield(L, -2, "length");
    luaL_setmetatable(L, MAP_MT);
}

/* A list of Maps, as push_map makes them, with the metatable and the
 * three keys fetched once for the list rather than once per entry. */
static void push_map_list(lua_State *L, const struct idmap_entry *e, size_t count)
{
    static const char *const names[3] = {"inside", "outside", "length"};
    luaL_checkstack(L, 8, NULL);
    lua_createtable(L, count > INT_MAX ? INT_MAX : (int)count, 0);
    int list = lua_gettop(L);
    luaL_getmetatable(L, MAP_MT);
    for (int k = 0; k < 3; k++)
        lua_pushstring(L, names[k]);
    int mt = list + 1, keys = list + 2;
    for (size_t i = 0; i < count; i++) {
        const int64_t field[3] = {e[i].inside, e[i].outside, e[i].length};
        lua_createtable(L, 0, 3);
        for (int k = 0; k < 3; k++) {
            lua_pushvalue(L, keys + k);
            linx_pushid(L, field[k]);
            lua_rawset(L, -3);
        }
        lua_pushvalue(L, mt);
        lua_setmetatable(L, -2);
        lua_rawseti(L, list, (lua_Integer)(i + 1));
    }
    lua_settop(L, list);
}

static int map_tostring(lua_State *L)
{
    struct idmap_entry e;
    lua_settop(L, 1);
    if (!get_entry(L, 1, &e)) {
        lua_pushliteral(L, "Map(?)");
        return 1;
    }
    char buf[96];
    if (e.length == 1)
        snprintf(buf, sizeof buf, "%lld -> %lld", (long long)e.inside, (long long)e.outside);
    else
        snprintf(buf, sizeof buf, "%lld..%lld -> %lld..%lld", (long long)e.inside,
                 (long long)(e.inside + e.length - 1), (long long)e.outside,
                 (long long)(e.outside + e.length - 1));
    lua_pushstring(L, buf);
    return 1;
}

static int map_eq(lua_State *L)
{
    struct idmap_entry a, b;
    int same = get_entry(L, 1, &a) && get_entry(L, 2, &b) && a.inside == b.inside &&
               a.outside == b.outside && a.length == b.length;
    lua_pushboolean(L, same);
    return 1;
}

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
        if (!get_integral(L, i + 1, &f[i])) {
            lua_createtable(L, 3, 0);
            for (int k = 1; k <= 3; k++) {
                lua_pushvalue(L, k);
                lua_rawseti(L, -2, k);
            }
            return bad_map(L, "map", "bad_entry", 1, lua_gettop(L));
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
        return bad_map(L, "map", idmap_reason_name(p.reason), 1, lua_gettop(L));
    }
    push_map(L, &e);
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
    struct procfs_target t;
    int n = get_target(L, 1, "deny_setgroups", &t);
    if (n == 0)
        n = check_alive(L, "deny_setgroups", &t, "setgroups");
    if (n == 0)
        n = write_setgroups(L, &t);
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
    struct procfs_target t;
    int n = get_target(L, 1, "read_setgroups", &t);
    if (n == 0)
        n = check_alive(L, "read_setgroups", &t, "setgroups");
    if (n != 0)
        return n;
    char *text;
    size_t len;
    int err = procfs_read_all(&t, "setgroups", &text, &len);
    if (err != 0)
        return os_error(L, "read_setgroups", &t, "setgroups", err);
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
        return bad_map(L, op, "too_long", 0, 0);
    int err = procfs_write_once(t, map_file(kind), text, (size_t)len);
    if (err != 0)
        return os_error(L, op, t, map_file(kind), err);
    return 0;
}

static int set_map(lua_State *L, enum map_kind kind)
{
    const char *op = kind == UID_MAP ? "set_uid_map" : "set_gid_map";
    struct idmap_entry entries[IDMAP_MAX_ENTRIES];
    size_t count = 0;
    struct procfs_target t;
    lua_settop(L, 2);
    int n = get_target(L, 1, op, &t);
    if (n == 0)
        n = get_maps(L, 2, op, entries, &count);
    if (n == 0)
        n = check_alive(L, op, &t, map_file(kind));
    if (n == 0)
        n = write_map(L, op, &t, kind, entries, count);
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
    struct procfs_target t;
    int n = get_target(L, 1, op, &t);
    if (n == 0)
        n = check_alive(L, op, &t, map_file(kind));
    if (n != 0)
        return n;
    char *text;
    size_t len;
    int err = procfs_read_all(&t, map_file(kind), &text, &len);
    if (err != 0)
        return os_error(L, op, &t, map_file(kind), err);
    struct idmap_entry small[IDMAP_MAX_ENTRIES];
    struct idmap_entry *entries = small;
    size_t count = idmap_parse(text, len, small, IDMAP_MAX_ENTRIES);
    if (count > IDMAP_MAX_ENTRIES) { /* not from this kernel, but stay whole */
        entries = malloc(count * sizeof *entries);
        if (entries == NULL) {
            free(text);
            return os_error(L, op, &t, map_file(kind), ENOMEM);
        }
        idmap_parse(text, len, entries, count);
    }
    free(text);
    push_map_list(L, entries, count);
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

static int do_gettable(lua_State *L)
{
    lua_gettable(L, 1);
    return 1;
}

/* opts[key], read normally (an __index of defaults works) but protected:
 * a raising metamethod becomes an error table, never a raise. */
static int get_option(lua_State *L, int opts, const char *key, const char *op)
{
    lua_pushcfunction(L, do_gettable);
    lua_pushvalue(L, opts);
    lua_pushstring(L, key);
    if (lua_pcall(L, 2, 1, 0) == 0)
        return 0;
    linx_error_new(L, "bad_setup", op);
    linx_error_setstr(L, "reason", "unreadable");
    linx_error_setstr(L, "field", key);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, "message");
    return linx_error_return(L);
}

static int bad_setup(lua_State *L, const char *reason, const char *field)
{
    linx_error_new(L, "bad_setup", "setup_maps");
    linx_error_setstr(L, "reason", reason);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    return linx_error_return(L);
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
@tparam[opt="auto"] string opts.helper `"auto"`: write procfs directly when this process may
(CAP_SETUID/CAP_SETGID, or the one own-id line of length 1), else run newuidmap/newgidmap;
`"always"`: always the helpers; `"never"`: always procfs
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
    struct idmap_entry uid[IDMAP_MAX_ENTRIES], gid[IDMAP_MAX_ENTRIES];
    size_t nuid = 0, ngid = 0;
    struct procfs_target t;
    lua_settop(L, 2);
    int n = get_target(L, 1, op, &t);
    if (n != 0)
        return n;
    if (lua_type(L, 2) != LUA_TTABLE)
        return bad_setup(L, "not_a_table", NULL);
    /* Stack: 3 = uid, 4 = gid, 5 = setgroups. Everything is checked
     * before the first write, so a bad gid map leaves nothing behind. */
    static const char *const keys[] = {"uid", "gid", "setgroups"};
    for (int i = 0; i < 3; i++)
        if ((n = get_option(L, 2, keys[i], op)) != 0)
            return n;
    if (lua_isnil(L, 3))
        return bad_setup(L, "missing", "uid");
    if (lua_isnil(L, 4))
        return bad_setup(L, "missing", "gid");
    const char *bad_field = "uid";
    n = get_maps(L, 3, op, uid, &nuid);
    if (n == 0) {
        bad_field = "gid";
        n = get_maps(L, 4, op, gid, &ngid);
    }
    if (n != 0) { /* say which of the two maps was bad */
        linx_error_setstr(L, "field", bad_field);
        return n;
    }
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
    /* Direct or through newuidmap/newgidmap: decided, and the helpers
     * found, before the first write. */
    struct linxuser_route route;
    if ((n = linxuser_route_plan(L, 2, uid, nuid, gid, ngid, &route)) != 0)
        return n;
    if ((n = check_alive(L, deny ? "deny_setgroups" : "set_uid_map", &t,
                         deny ? "setgroups" : "uid_map")) != 0)
        return n;
    if (deny && (n = write_setgroups(L, &t)) != 0)
        return n;
    n = route.uid_helper ? linxuser_route_write(L, "set_uid_map", route.uid_path, &t, uid, nuid)
                         : write_map(L, "set_uid_map", &t, UID_MAP, uid, nuid);
    if (n != 0)
        return n;
    n = route.gid_helper ? linxuser_route_write(L, "set_gid_map", route.gid_path, &t, gid, ngid)
                         : write_map(L, "set_gid_map", &t, GID_MAP, gid, ngid);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- shared with linxuser_ids.c (linxuser_int.h) ---------------------- */

int linxuser_get_integral(lua_State *L, int idx, int64_t *out)
{
    return get_integral(L, idx, out);
}

int linxuser_get_entry(lua_State *L, int e, struct idmap_entry *out)
{
    return get_entry(L, e, out);
}

int linxuser_bad_map(lua_State *L, const char *op, const char *reason, lua_Integer index,
                     int entry_idx)
{
    return bad_map(L, op, reason, index, entry_idx);
}

void linxuser_push_map_list(lua_State *L, const struct idmap_entry *e, size_t count)
{
    push_map_list(L, e, count);
}

int linxuser_get_option(lua_State *L, int opts, const char *key, const char *op)
{
    return get_option(L, opts, key, op);
}

/* ---- module ----------------------------------------------------------- */

static const luaL_Reg verbs[] = {
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

static const luaL_Reg map_meta[] = {
    {"__tostring", map_tostring},
    {"__eq", map_eq},
    {NULL, NULL},
};

int luaopen_linxuser(lua_State *L)
{
    if (luaL_newmetatable(L, MAP_MT)) {
        luaL_setfuncs(L, map_meta, 0);
        lua_pushliteral(L, MAP_MT);
        lua_setfield(L, -2, "__name");
    }
    lua_pop(L, 1);
    luaL_newlib(L, verbs);
    linxuser_ids_register(L);
    lua_pushliteral(L, "0.1.0");
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
