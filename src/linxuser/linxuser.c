/* require "linxuser": user-namespace maps and setgroups from Lua, the
 * single verbs (setup_maps, the whole sequence, is lroute.c; the target
 * prologue they all share is ltarget.c). Verbs return a value on success
 * and nil, err[, code] on failure; they never raise on bad input (map
 * lists are read raw). */
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
#include "support/compat.h"
#include "core/idmap.h"
#include "support/lerror.h"
#include "linxuser_int.h"
#include "support/lmaps.h"
#include "lroute.h"
#include "ltarget.h"
#include "os/procfs.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

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

/* The read verbs' one prologue: the target (argument 1) held, file read
 * whole into *text (free it), the target let go. Returns 0, or pushes
 * nil, err[, code] and returns their number. */
static int read_target_file(lua_State *L, const char *op, const char *file, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    lua_settop(L, 1);
    struct procfs_target *t;
    int n = ltarget_open(L, 1, op, op, file, &t);
    int err = n == 0 ? procfs_read_all(t, file, text, len) : 0;
    if (err != 0)
        n = ltarget_os_error(L, op, t, file, err);
    ltarget_drop(t);
    return n;
}

/* The write verbs' one epilogue: the target let go after the write, then
 * true, or the n values of the error the write pushed. */
static int write_done(lua_State *L, struct procfs_target *t, int n)
{
    ltarget_drop(t);
    if (n != 0)
        return n;
    lua_pushboolean(L, 1);
    return 1;
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
    struct procfs_target *t;
    int n = ltarget_open(L, 1, "deny_setgroups", "deny_setgroups", "setgroups", &t);
    if (n == 0)
        n = ltarget_deny_setgroups(L, t);
    return write_done(L, t, n);
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
    char *text;
    size_t len;
    int n = read_target_file(L, "read_setgroups", "setgroups", &text, &len);
    if (n != 0)
        return n;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

static int set_map(lua_State *L, enum map_kind kind)
{
    const char *op = ltarget_map_op(kind);
    struct lmaps_list m;
    lua_settop(L, 2);
    int n = ltarget_check(L, 1, op);
    if (n == 0)
        n = lmaps_read(L, 2, op, NULL, LMAPS_KERNEL, &m);
    if (n != 0)
        return n;
    struct procfs_target *t;
    n = ltarget_open(L, 1, op, op, ltarget_map_file(kind), &t);
    if (n == 0)
        n = ltarget_write_map(L, op, t, kind, m.e, m.n);
    return write_done(L, t, n);
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
    char *text;
    size_t len;
    int n = read_target_file(L, op, ltarget_map_file(kind), &text, &len);
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

/* ---- setup_maps: lroute.c ---------------------------------------------- */

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
/* ---- registration ----------------------------------------------------- */

static const luaL_Reg maps_verbs[] = {
    {"supported", l_supported},
    {"deny_setgroups", l_deny_setgroups},
    {"read_setgroups", l_read_setgroups},
    {"set_uid_map", l_set_uid_map},
    {"set_gid_map", l_set_gid_map},
    {"read_uid_map", l_read_uid_map},
    {"read_gid_map", l_read_gid_map},
    {"setup_maps", lroute_setup_maps},
    {"map", l_map},
    {NULL, NULL},
};

void linxuser_maps_register(lua_State *L)
{
    ltarget_register(L);
    luaL_setfuncs(L, maps_verbs, 0);
}
