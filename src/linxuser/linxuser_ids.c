/* linxuser beyond the single-line map: subordinate ids (/etc/subuid,
 * /etc/subgid) and id translation through maps (the newuidmap/newgidmap
 * route of setup_maps is lroute.c). Same conventions as linxuser.c: nil, err on
 * failure, never a raise on bad input, map lists read raw. */
/***
Beyond the single-line map: subordinate ids from `/etc/subuid` and
`/etc/subgid`, and id translation through maps. `setup_maps` uses
newuidmap/newgidmap for maps this process may not write itself (its
`helper` option).
@submodule linxuser
*/
#include "core/idtrans.h"
#include "support/lerror.h"
#include "linxuser_int.h"
#include "support/lmaps.h"
#include "core/subid.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUBUID_PATH "/etc/subuid"
#define SUBGID_PATH "/etc/subgid"
/* Subordinate id files are small; anything bigger is not one. */
#define SUBID_FILE_MAX (64L * 1024 * 1024)

/* ---- reading files ---------------------------------------------------- */

/* Read a whole file into a userdata pushed on the stack (GC-owned, so
 * no Lua error can leak it). No Lua call runs while the fd is open.
 * Returns 0 with the text at *out (NUL-terminated), or an errno value
 * with nothing pushed. */
static int read_whole(lua_State *L, const char *path, const char **out, size_t *len)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno;
    size_t cap = (st.st_size > 0 && st.st_size < SUBID_FILE_MAX ? (size_t)st.st_size : 0) + 4096;
    for (;;) {
        char *buf = lua_newuserdata(L, cap + 1);
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            int err = errno;
            lua_pop(L, 1);
            return err;
        }
        size_t used = 0;
        int err = 0;
        while (used < cap) {
            ssize_t n = read(fd, buf + used, cap - used);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                err = errno;
            if (n <= 0)
                break;
            used += (size_t)n;
        }
        char probe;
        ssize_t more = 0;
        if (err == 0 && used == cap) { /* full: is there more? */
            do {
                more = read(fd, &probe, 1);
            } while (more < 0 && errno == EINTR);
        }
        close(fd);
        if (err != 0) {
            lua_pop(L, 1);
            return err;
        }
        if (more <= 0) {
            buf[used] = '\0';
            *out = buf;
            *len = used;
            return 0;
        }
        lua_pop(L, 1); /* the file grew under us: read it again, bigger */
        if (cap >= (size_t)SUBID_FILE_MAX)
            return EFBIG;
        cap *= 2;
    }
}

/* ---- users ------------------------------------------------------------ */

struct who {
    const char *name; /* NULL when unknown; points into a string on the stack */
    int64_t uid;      /* -1 when unknown */
    int64_t gid;      /* primary gid, -1 when unknown */
};

/* getpwnam_r / getpwuid_r with a stack-owned buffer that grows on
 * ERANGE. Returns 1 and leaves pw filled (its strings in a userdata
 * pushed on the stack), 0 when there is no such user (nothing pushed). */
static int lookup_pw(lua_State *L, const char *name, uid_t uid, struct passwd *pw)
{
    long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
    size_t size = hint > 0 ? (size_t)hint : 4096;
    for (;;) {
        char *buf = lua_newuserdata(L, size);
        struct passwd *res = NULL;
        int rc = name != NULL ? getpwnam_r(name, pw, buf, size, &res)
                              : getpwuid_r(uid, pw, buf, size, &res);
        if (rc == 0 && res != NULL)
            return 1;
        lua_pop(L, 1);
        if (rc != ERANGE || size >= (1u << 20))
            return 0;
        size *= 2;
    }
}

/* lua_pushstring returns nothing on 5.1: push, then point at the copy. */
static const char *push_name(lua_State *L, const char *name)
{
    lua_pushstring(L, name);
    return lua_tostring(L, -1);
}

static int all_digits(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

/* The user at idx: nil (the caller, by real uid, as newuidmap sees it),
 * an integral uid, or a user name. Pushes values it points into.
 * Returns 0, or pushes nil, err and returns 2. */
static int get_who(lua_State *L, int idx, const char *op, struct who *w)
{
    struct passwd pw;
    w->name = NULL;
    w->uid = -1;
    w->gid = -1;
    int type = lua_type(L, idx);
    if (type == LUA_TNONE || type == LUA_TNIL) {
        w->uid = getuid();
        w->gid = getgid();
        if (lookup_pw(L, NULL, getuid(), &pw))
            w->name = push_name(L, pw.pw_name);
        return 0;
    }
    int64_t n;
    if (type == LUA_TNUMBER && lmaps_get_integral(L, idx, &n) && n >= 0 &&
        n < IDMAP_ID_MAX) {
        w->uid = n;
        if (lookup_pw(L, NULL, (uid_t)n, &pw)) {
            w->gid = pw.pw_gid;
            w->name = push_name(L, pw.pw_name);
        }
        return 0;
    }
    if (type == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len > 0 && strlen(s) == len) {
            w->name = s;
            if (lookup_pw(L, s, 0, &pw)) {
                w->uid = pw.pw_uid;
                w->gid = pw.pw_gid;
            } else if (all_digits(s) && len <= 10) {
                long long v = strtoll(s, NULL, 10);
                if (v < IDMAP_ID_MAX)
                    w->uid = v; /* a uid with no passwd entry */
            }
            return 0;
        }
    }
    return linx_bad_user(L, op, idx);
}

/* ---- subids ----------------------------------------------------------- */

struct owned {
    struct subid_range *uid, *gid;
    size_t nuid, ngid;
};

/* Parse one file for w; the ranges go into a userdata on the stack.
 * Returns 0, or pushes nil, err[, code] and returns their number. */
static int load_ranges(lua_State *L, const char *op, const char *path, const char *field,
                       const struct who *w, struct subid_range **out, size_t *count)
{
    *out = NULL; /* defined on every path, error returns included */
    *count = 0;
    const char *text = NULL;
    size_t len = 0;
    int err = read_whole(L, path, &text, &len);
    if (err != 0)
        return linx_error_os(L, op, path, err,
                             err == ENOENT ? "no subordinate ids are configured on this system "
                                             "(shadow's usermod --add-subuids/--add-subgids "
                                             "creates the files)"
                                           : NULL);
    struct subid_owner who = {w->name, w->uid};
    size_t n = subid_parse(text, len, &who, NULL, 0);
    if (n == 0) {
        return linx_no_subids(L, op, w->name, w->uid, field, path, NULL);
    }
    *out = lua_newuserdata(L, n * sizeof **out);
    *count = subid_parse(text, len, &who, *out, n);
    return 0;
}

/* Paths from opts at idx (nil or a table): subuid_path, subgid_path. */
static int get_paths(lua_State *L, int idx, const char *op, const char **subuid,
                     const char **subgid)
{
    *subuid = SUBUID_PATH;
    *subgid = SUBGID_PATH;
    if (lua_isnoneornil(L, idx))
        return 0;
    if (lua_type(L, idx) != LUA_TTABLE)
        return linx_bad_option(L, op, "opts", "not_a_table", idx, 0);
    static const char *const keys[] = {"subuid_path", "subgid_path"};
    const char **dst[] = {subuid, subgid};
    for (int i = 0; i < 2; i++) {
        int n = lmaps_get_option(L, idx, keys[i], op);
        if (n != 0)
            return n;
        size_t len;
        if (lua_type(L, -1) == LUA_TSTRING) {
            *dst[i] = lua_tolstring(L, -1, &len); /* stays on the stack */
            if (strlen(*dst[i]) != len) /* open() would read another file */
                return linx_bad_option(L, op, keys[i], "contains_nul", lua_gettop(L), 0);
        } else if (!lua_isnil(L, -1))
            return linx_bad_option(L, op, keys[i], "not_a_string", lua_gettop(L), 0);
    }
    return 0;
}

static int load_owned(lua_State *L, const char *op, struct who *w, struct owned *o)
{
    const char *subuid, *subgid;
    int n = get_who(L, 1, op, w);
    if (n == 0)
        n = get_paths(L, 2, op, &subuid, &subgid);
    if (n == 0)
        n = load_ranges(L, op, subuid, "uid", w, &o->uid, &o->nuid);
    if (n == 0)
        n = load_ranges(L, op, subgid, "gid", w, &o->gid, &o->ngid);
    return n;
}

static void push_ranges(lua_State *L, const struct subid_range *r, size_t n)
{
    lua_createtable(L, (int)(n < INT_MAX ? n : INT_MAX), 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 2, 0);
        linx_pushid(L, r[i].start);
        lua_rawseti(L, -2, 1);
        linx_pushid(L, r[i].count);
        lua_rawseti(L, -2, 2);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
}

/***
A user's subordinate id ranges, from shadow's files. Lines match by name or
by numeric uid (as shadow's getsubids); comments and malformed lines are
skipped; numbers read as shadow reads them (decimal, `0x` hex, `0` octal).
@function subids
@tparam[opt] string|int user name or uid; nil for the caller (real uid)
@tparam[opt] table opts `subuid_path`, `subgid_path` (default `/etc/subuid`, `/etc/subgid`)
@treturn[1] table `{uid = {{start, count}, ...}, gid = {{start, count}, ...}}`
@return[2] `nil`
@treturn[2] Error `no_subids` (`user`, `uid`, `path`, `field`), `os` (a file missing or unreadable), `bad_user`, `bad_setup`
@usage local ids = assert(user.subids("alice"))
*/
static int l_subids(lua_State *L)
{
    struct who w;
    struct owned o;
    lua_settop(L, 2);
    int n = load_owned(L, "subids", &w, &o);
    if (n != 0)
        return n;
    lua_createtable(L, 0, 2);
    push_ranges(L, o.uid, o.nuid);
    lua_setfield(L, -2, "uid");
    push_ranges(L, o.gid, o.ngid);
    lua_setfield(L, -2, "gid");
    return 1;
}

static size_t digits(int64_t v)
{
    size_t n = 1;
    for (; v >= 10; v /= 10)
        n++;
    return n;
}

/* {0, own, 1} then the ranges one after another from inside id 1. A
 * range that meets the own id or an earlier range is left out (the
 * kernel would refuse the overlap); the list stops where one write
 * would no longer take it (340 entries, text under 4096 bytes). */
static size_t rootless_layout(int64_t own, const struct subid_range *r, size_t n,
                              struct idmap_entry *out)
{
    size_t count = 0;
    int64_t next = 1;
    out[count++] = (struct idmap_entry){0, own, 1};
    size_t text = digits(own) + 5; /* "0 own 1\n" */
    for (size_t i = 0; i < n && count < IDMAP_MAX_ENTRIES; i++) {
        struct idmap_entry e = {next, r[i].start, r[i].count};
        if (e.inside + e.length > IDMAP_ID_MAX)
            break;
        size_t line = digits(e.inside) + digits(e.outside) + digits(e.length) + 3;
        if (text + line >= IDMAP_MAX_TEXT)
            break;
        int clash = 0;
        for (size_t k = 0; k < count && !clash; k++)
            clash = e.outside < out[k].outside + out[k].length &&
                    out[k].outside < e.outside + e.length;
        if (clash)
            continue;
        out[count++] = e;
        text += line;
        next += e.length;
    }
    return count;
}

/***
The canonical rootless layout: inside 0 is the user's own id, inside 1..
its subordinate ranges one after another (a range holding the own id is
left out; the list stays within one kernel write).
@function rootless_maps
@tparam[opt] string|int user name or uid; nil for the caller (real uid and gid)
@tparam[opt] table opts as for `subids`
@treturn[1] table `{uid = {Map,...}, gid = {Map,...}, setgroups = "skip"}`, ready for
`setup_maps` (`setgroups = "skip"` since the gid map holds a subordinate range: newgidmap then
leaves setgroups allowed, as under podman)
@return[2] `nil`
@treturn[2] Error as `subids`, or `no_user` (no passwd entry)
@usage assert(user.setup_maps(child, assert(user.rootless_maps())))
*/
static int l_rootless_maps(lua_State *L)
{
    static const char op[] = "rootless_maps";
    struct who w;
    struct owned o;
    lua_settop(L, 2);
    int n = load_owned(L, op, &w, &o);
    if (n != 0)
        return n;
    if (w.uid < 0 || w.gid < 0) {
        return linx_no_user(L, op, w.name, w.uid);
    }
    struct idmap_entry uid[IDMAP_MAX_ENTRIES], gid[IDMAP_MAX_ENTRIES];
    size_t nuid = rootless_layout(w.uid, o.uid, o.nuid, uid);
    size_t ngid = rootless_layout(w.gid, o.gid, o.ngid, gid);
    if (nuid < 2 || ngid < 2) { /* every range met the own id */
        return linx_no_subids(L, op, w.name, w.uid, nuid < 2 ? "uid" : "gid", NULL, "overlap");
    }
    lua_createtable(L, 0, 3);
    lmaps_push_list(L, uid, nuid);
    lua_setfield(L, -2, "uid");
    lmaps_push_list(L, gid, ngid);
    lua_setfield(L, -2, "gid");
    /* A subordinate gid range is always mapped here (ngid >= 2): leave
     * setgroups to newgidmap, which keeps it allowed then (podman's
     * behaviour), so the workload may drop or set its groups. */
    lua_pushliteral(L, "skip");
    lua_setfield(L, -2, "setgroups");
    return 1;
}

/* ---- translation ------------------------------------------------------ */

static int get_id(lua_State *L, int idx, const char *op, int64_t *out)
{
    if (lmaps_get_integral(L, idx, out) && *out >= 0 && *out <= IDMAP_ID_MAX)
        return 0;
    return linx_bad_id(L, op, idx);
}

static int translate(lua_State *L, const char *op,
                     int (*fn)(const struct idmap_entry *, size_t, int64_t, int64_t *))
{
    struct lmaps_list l;
    int64_t id, res;
    lua_settop(L, 2);
    int n = lmaps_read(L, 1, op, NULL, LMAPS_TRANSLATE, &l);
    if (n == 0)
        n = get_id(L, 2, op, &id);
    if (n != 0)
        return n;
    if (fn(l.e, l.n, id, &res))
        linx_pushid(L, res);
    else
        lua_pushnil(L);
    return 1;
}

/***
The host (outside) id of an inside id.
@function to_host
@tparam {Map,...} maps any number of entries, checked like a kernel map except for its size
@int id inside id, 0..4294967295
@treturn[1] ?int the outside id, or `nil` when unmapped (shown as 65534 inside)
@return[2] `nil`
@treturn[2] Error `bad_map` or `bad_id`
*/
/***
The inside id of a host (outside) id.
@function to_inside
@tparam {Map,...} maps as for `to_host`
@int id outside id, 0..4294967295
@treturn[1] ?int the inside id, or `nil` when unmapped
@return[2] `nil`
@treturn[2] Error `bad_map` or `bad_id`
*/
static int l_to_host(lua_State *L) { return translate(L, "to_host", idtrans_to_host); }
static int l_to_inside(lua_State *L) { return translate(L, "to_inside", idtrans_to_inside); }

/***
The maps of a namespace nested in another, expressed against the host.
Inner ranges are split where outer ranges begin and end; ids that reach no
outer range are dropped; pieces continuing each other are merged.
@function compose
@tparam {Map,...} outer the middle namespace's map (inside -> host)
@tparam {Map,...} inner the nested namespace's map (inside -> middle)
@treturn[1] {Map,...} nested inside -> host (empty when nothing maps)
@return[2] `nil`
@treturn[2] Error `bad_map` with `field` `"outer"` or `"inner"`
*/
static int l_compose(lua_State *L)
{
    static const char op[] = "compose";
    struct lmaps_list outer, inner;
    lua_settop(L, 2);
    int n = lmaps_read(L, 1, op, "outer", LMAPS_TRANSLATE, &outer);
    if (n == 0)
        n = lmaps_read(L, 2, op, "inner", LMAPS_TRANSLATE, &inner);
    if (n != 0)
        return n;
    size_t cap = outer.n + inner.n;
    struct idmap_entry *out = lua_newuserdata(L, cap * sizeof *out);
    size_t count = idtrans_compose(outer.e, outer.n, inner.e, inner.n, outer.tmp, out, cap);
    if (count > cap) /* cannot happen: two families of disjoint ranges */
        count = cap;
    lmaps_push_list(L, out, count);
    return 1;
}

/* ---- registration ----------------------------------------------------- */

static const luaL_Reg ids_verbs[] = {
    {"subids", l_subids},
    {"rootless_maps", l_rootless_maps},
    {"to_host", l_to_host},
    {"to_inside", l_to_inside},
    {"compose", l_compose},
    {NULL, NULL},
};

void linxuser_ids_register(lua_State *L)
{
    luaL_setfuncs(L, ids_verbs, 0);
}
