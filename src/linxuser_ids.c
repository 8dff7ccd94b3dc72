/* linxuser beyond the single-line map: subordinate ids (/etc/subuid,
 * /etc/subgid), the newuidmap/newgidmap route of setup_maps, and id
 * translation through maps. Same conventions as linxuser.c: nil, err on
 * failure, never a raise on bad input, map lists read raw. */
/***
Beyond the single-line map: subordinate ids from `/etc/subuid` and
`/etc/subgid`, and id translation through maps. `setup_maps` uses
newuidmap/newgidmap for maps this process may not write itself (its
`helper` option).
@submodule linxuser
*/
#include "idhelper.h"
#include "idtrans.h"
#include "lerror.h"
#include "linxuser_int.h"
#include "subid.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SUBUID_PATH "/etc/subuid"
#define SUBGID_PATH "/etc/subgid"
/* Subordinate id files are small; anything bigger is not one. */
#define SUBID_FILE_MAX (64L * 1024 * 1024)
/* Translation lists need not fit a kernel write (a composed map can
 * exceed 340 entries), but stay bounded. */
#define TRANSLATE_MAX_ENTRIES (1L << 20)

/* ---- small helpers ---------------------------------------------------- */

static void set_value(lua_State *L, int idx, const char *field)
{
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, field);
}

/* A bad_setup error for option `field` (reason "not_a_table",
 * "not_a_string", "invalid"), carrying the offending value. */
static int bad_option(lua_State *L, const char *op, const char *reason, const char *field,
                      int value_idx)
{
    linx_error_new(L, "bad_setup", op);
    linx_error_setstr(L, "reason", reason);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    if (value_idx != 0)
        set_value(L, value_idx, "value");
    return linx_error_return(L);
}

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
    if (type == LUA_TNUMBER && linxuser_get_integral(L, idx, &n) && n >= 0 &&
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
    linx_error_new(L, "bad_user", op);
    set_value(L, idx, "value");
    linx_error_setstr(L, "message",
                      "expected a user name, an integral uid, or nil for the caller");
    return linx_error_return(L);
}

static void push_who(lua_State *L, const struct who *w)
{
    if (w->name != NULL)
        lua_pushstring(L, w->name);
    else
        linx_pushid(L, w->uid);
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
        linx_error_new(L, "no_subids", op);
        push_who(L, w);
        lua_setfield(L, -2, "user");
        if (w->uid >= 0)
            linx_error_setint(L, "uid", w->uid);
        linx_error_setstr(L, "path", path);
        linx_error_setstr(L, "field", field);
        lua_pushfstring(L, "no subordinate %s range for user ", field);
        push_who(L, w);
        lua_pushfstring(L, " in %s", path);
        lua_concat(L, 3);
        lua_setfield(L, -2, "message");
        linx_error_setstr(L, "hint",
                          "an administrator grants one, e.g. usermod --add-subuids "
                          "100000-165535 --add-subgids 100000-165535 <user>");
        return linx_error_return(L);
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
        return bad_option(L, op, "not_a_table", NULL, idx);
    static const char *const keys[] = {"subuid_path", "subgid_path"};
    const char **dst[] = {subuid, subgid};
    for (int i = 0; i < 2; i++) {
        int n = linxuser_get_option(L, idx, keys[i], op);
        if (n != 0)
            return n;
        if (lua_type(L, -1) == LUA_TSTRING)
            *dst[i] = lua_tostring(L, -1); /* stays on the stack */
        else if (!lua_isnil(L, -1))
            return bad_option(L, op, "not_a_string", keys[i], lua_gettop(L));
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
@treturn[1] table `{uid = {Map,...}, gid = {Map,...}}`, ready for `setup_maps`
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
        linx_error_new(L, "no_user", op);
        push_who(L, &w);
        lua_setfield(L, -2, "user");
        linx_error_setstr(L, "message",
                          "no passwd entry: the user's own uid and primary gid are unknown");
        return linx_error_return(L);
    }
    struct idmap_entry uid[IDMAP_MAX_ENTRIES], gid[IDMAP_MAX_ENTRIES];
    size_t nuid = rootless_layout(w.uid, o.uid, o.nuid, uid);
    size_t ngid = rootless_layout(w.gid, o.gid, o.ngid, gid);
    if (nuid < 2 || ngid < 2) { /* every range met the own id */
        linx_error_new(L, "no_subids", op);
        push_who(L, &w);
        lua_setfield(L, -2, "user");
        linx_error_setint(L, "uid", w.uid);
        linx_error_setstr(L, "field", nuid < 2 ? "uid" : "gid");
        linx_error_setstr(L, "reason", "overlap");
        linx_error_setstr(L, "message",
                          "every subordinate range contains the user's own id, so none can "
                          "be mapped next to it");
        return linx_error_return(L);
    }
    lua_createtable(L, 0, 2);
    linxuser_push_map_list(L, uid, nuid);
    lua_setfield(L, -2, "uid");
    linxuser_push_map_list(L, gid, ngid);
    lua_setfield(L, -2, "gid");
    return 1;
}

/* ---- translation ------------------------------------------------------ */

struct list {
    struct idmap_entry *e;
    size_t *tmp;
    size_t n;
};

static int list_error(lua_State *L, const char *op, const char *field, const char *reason,
                      lua_Integer index, int entry_idx)
{
    int n = linxuser_bad_map(L, op, reason, index, entry_idx);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    return n;
}

/* Read and check a map list for translation: the kernel-map rules that
 * make a translation meaningful (entries, overlap on either side), not
 * the 340-entry / one-page limits of a single write. Arrays live in
 * userdata on the stack. Returns 0, or pushes nil, err and returns 2. */
static int read_list(lua_State *L, int idx, const char *op, const char *field, struct list *l)
{
    l->e = NULL; /* defined on every path, error returns included */
    l->tmp = NULL;
    l->n = 0;
    if (lua_type(L, idx) != LUA_TTABLE)
        return list_error(L, op, field, "not_a_list", 0, idx);
    size_t n = lua_rawlen(L, idx);
    if (n == 0) {
        lua_pushnil(L);
        if (lua_next(L, idx) != 0) { /* keys but no list: a lone entry? */
            lua_pop(L, 2);
            return list_error(L, op, field, "not_a_list", 0, idx);
        }
        return list_error(L, op, field, "empty", 0, 0);
    }
    if (n > (size_t)TRANSLATE_MAX_ENTRIES)
        return list_error(L, op, field, "too_many", 0, 0);
    luaL_checkstack(L, 4, NULL);
    l->e = lua_newuserdata(L, n * sizeof *l->e);
    l->tmp = lua_newuserdata(L, n * sizeof *l->tmp);
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)(i + 1));
        if (!linxuser_get_entry(L, lua_gettop(L), &l->e[i]))
            return list_error(L, op, field, "bad_entry", (lua_Integer)(i + 1), lua_gettop(L));
        lua_pop(L, 1);
    }
    struct idmap_problem p;
    if (idtrans_validate(l->e, n, l->tmp, &p) != IDMAP_OK) {
        lua_rawgeti(L, idx, (lua_Integer)(p.index + 1));
        list_error(L, op, field, idmap_reason_name(p.reason), (lua_Integer)(p.index + 1),
                   lua_gettop(L));
        if (p.reason == IDMAP_OVERLAP)
            linx_error_setint(L, "other", (long long)p.other + 1);
        return 2;
    }
    return 0;
}

static int get_id(lua_State *L, int idx, const char *op, int64_t *out)
{
    if (linxuser_get_integral(L, idx, out) && *out >= 0 && *out <= IDMAP_ID_MAX)
        return 0;
    linx_error_new(L, "bad_id", op);
    set_value(L, idx, "value");
    linx_error_setstr(L, "message", "expected an integral id from 0 to 4294967295");
    return linx_error_return(L);
}

static int translate(lua_State *L, const char *op,
                     int (*fn)(const struct idmap_entry *, size_t, int64_t, int64_t *))
{
    struct list l;
    int64_t id, res;
    lua_settop(L, 2);
    int n = read_list(L, 1, op, NULL, &l);
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
    struct list outer, inner;
    lua_settop(L, 2);
    int n = read_list(L, 1, op, "outer", &outer);
    if (n == 0)
        n = read_list(L, 2, op, "inner", &inner);
    if (n != 0)
        return n;
    size_t cap = outer.n + inner.n;
    struct idmap_entry *out = lua_newuserdata(L, cap * sizeof *out);
    size_t count = idtrans_compose(outer.e, outer.n, inner.e, inner.n, outer.tmp, out, cap);
    if (count > cap) /* cannot happen: two families of disjoint ranges */
        count = cap;
    linxuser_push_map_list(L, out, count);
    return 1;
}

/* ---- setup_maps through newuidmap / newgidmap ------------------------- */

static int has_cap(int cap)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0)
        return 0;
    return (int)((data[cap / 32].effective >> (cap % 32)) & 1U);
}

/* May this process write the map itself? With CAP_SETUID/CAP_SETGID
 * (root), any map; without, only the one line the kernel allows: its
 * own effective id, length 1. Anything else would be EPERM. */
static int may_write(int cap, int64_t own, const struct idmap_entry *e, size_t n)
{
    /* The own-id line needs no capability: skip the capget for it. */
    if (n == 1 && e[0].length == 1 && e[0].outside == own)
        return 1;
    return has_cap(cap);
}

enum mode { MODE_AUTO, MODE_ALWAYS, MODE_NEVER };

static void helper_error(lua_State *L, const char *op, const char *helper, const char *reason)
{
    linx_error_new(L, "helper", op);
    linx_error_setstr(L, "helper", helper);
    linx_error_setstr(L, "reason", reason);
}

static int find_helper(lua_State *L, const char *op, const char *name, char *out)
{
    int err = idhelper_find(name, getenv("PATH"), out, PATH_MAX);
    if (err == 0)
        return 0;
    helper_error(L, op, name, "missing");
    linx_error_setstr(L, "errno", linx_errno_name(err));
    linx_error_setint(L, "code", err);
    const char *why = err == EACCES ? "is not executable" : "was not found";
    if (strchr(name, '/') != NULL)
        lua_pushfstring(L, "%s %s", name, why);
    else
        lua_pushfstring(L, "%s %s in PATH", name, why);
    lua_pushliteral(L, "; hint: install the uidmap package, or map only the caller's own id");
    lua_concat(L, 2);
    lua_setfield(L, -2, "message");
    linx_error_setstr(L, "hint",
                      "install the uidmap package (newuidmap, newgidmap), or map only the "
                      "caller's own id, which needs no helper");
    return linx_error_return(L);
}

int linxuser_route_plan(lua_State *L, int opts, const struct idmap_entry *uid, size_t nuid,
                        const struct idmap_entry *gid, size_t ngid, struct linxuser_route *route)
{
    static const char op[] = "setup_maps";
    static const char *const keys[] = {"helper", "newuidmap", "newgidmap"};
    int top = lua_gettop(L);
    int n;
    for (int i = 0; i < 3; i++)
        if ((n = linxuser_get_option(L, opts, keys[i], op)) != 0)
            return n;
    /* top+1 = helper, top+2 = newuidmap, top+3 = newgidmap */
    enum mode mode = MODE_AUTO;
    if (!lua_isnil(L, top + 1)) {
        const char *v = lua_type(L, top + 1) == LUA_TSTRING ? lua_tostring(L, top + 1) : "";
        if (strcmp(v, "auto") == 0)
            mode = MODE_AUTO;
        else if (strcmp(v, "always") == 0)
            mode = MODE_ALWAYS;
        else if (strcmp(v, "never") == 0)
            mode = MODE_NEVER;
        else
            return bad_option(L, op, "invalid", "helper", top + 1);
    }
    for (int i = 2; i <= 3; i++)
        if (!lua_isnil(L, top + i) && lua_type(L, top + i) != LUA_TSTRING)
            return bad_option(L, op, "not_a_string", keys[i - 1], top + i);
    const char *uname = lua_isnil(L, top + 2) ? "newuidmap" : lua_tostring(L, top + 2);
    const char *gname = lua_isnil(L, top + 3) ? "newgidmap" : lua_tostring(L, top + 3);
    route->uid_helper = mode == MODE_ALWAYS ||
                        (mode == MODE_AUTO && !may_write(CAP_SETUID, geteuid(), uid, nuid));
    route->gid_helper = mode == MODE_ALWAYS ||
                        (mode == MODE_AUTO && !may_write(CAP_SETGID, getegid(), gid, ngid));
    route->uid_path[0] = route->gid_path[0] = '\0';
    /* Find both helpers before the first write: a missing one leaves
     * nothing behind. */
    if (route->uid_helper && (n = find_helper(L, "set_uid_map", uname, route->uid_path)) != 0)
        return n;
    if (route->gid_helper && (n = find_helper(L, "set_gid_map", gname, route->gid_path)) != 0)
        return n;
    lua_settop(L, top);
    return 0;
}

static void trim_end(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == ' ' || s[*len - 1] == '\r'))
        s[--*len] = '\0';
}

static const char *helper_hint(const char *out)
{
    if (strstr(out, "not allowed") != NULL)
        return "the caller owns no such subordinate range: compare the map with "
               "linxuser.subids() (/etc/subuid, /etc/subgid)";
    if (strstr(out, "owned by a different user") != NULL)
        return "the helpers only map a process whose uid and gid are the caller's real uid "
               "and primary gid";
    if (strstr(out, "user name") != NULL)
        return "the caller's uid has no passwd entry";
    return NULL;
}

int linxuser_route_write(lua_State *L, const char *op, const char *path,
                         const struct procfs_target *t, const struct idmap_entry *entries,
                         size_t count)
{
    /* The helper names the target by pid. A handle's child is unreaped
     * until wait(), so its pid cannot have been reused; check that it
     * still runs, as the procfs path does, right before the helper. */
    const char *map_file = strcmp(op, "set_uid_map") == 0 ? "uid_map" : "gid_map";
    int gone = procfs_alive(t);
    if (gone != 0) {
        char file[64];
        procfs_path(t, map_file, file, sizeof file);
        return linx_error_os(L, op, file, gone,
                             gone == ENOENT || gone == ESRCH ? "the target process has exited"
                                                             : NULL);
    }
    char *argv[IDHELPER_MAX_ARGS];
    char text[IDHELPER_ARGTEXT];
    struct idhelper_result *res = lua_newuserdata(L, sizeof *res);
    idhelper_argv(path, t->pid, entries, count, argv, text);
    if (idhelper_run(path, argv, res) == 0)
        return 0;
    trim_end(res->out, &res->out_len);
    static const char *const reasons[] = {"ok", "exit", "signal", "exec", "spawn"};
    helper_error(L, op, path, reasons[res->outcome]);
    lua_createtable(L, (int)(2 + 3 * count), 0);
    for (size_t i = 0; argv[i] != NULL; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    lua_setfield(L, -2, "argv");
    lua_pushlstring(L, res->out, res->out_len);
    lua_setfield(L, -2, "stderr");
    const char *hint = helper_hint(res->out);
    if (hint != NULL)
        linx_error_setstr(L, "hint", hint);
    switch (res->outcome) {
    case IDHELPER_EXIT:
        linx_error_setint(L, "status", res->status);
        lua_pushfstring(L, "%s exited with status %d", path, res->status);
        break;
    case IDHELPER_SIGNAL:
        linx_error_setint(L, "signal", res->status);
        lua_pushfstring(L, "%s was killed by signal %d", path, res->status);
        break;
    default: /* exec, spawn */
        linx_error_setstr(L, "errno", linx_errno_name(res->err));
        linx_error_setint(L, "code", res->err);
        lua_pushfstring(L, "cannot %s %s: %s", res->outcome == IDHELPER_EXEC ? "run" : "start",
                        path, strerror(res->err));
        break;
    }
    /* One line for tostring: the helper's own words, then the hint. */
    if (res->out_len > 0) {
        lua_pushliteral(L, ": ");
        luaL_gsub(L, res->out, "\n", "; ");
        lua_concat(L, 3);
    }
    if (hint != NULL) {
        lua_pushfstring(L, "; hint: %s", hint);
        lua_concat(L, 2);
    }
    lua_setfield(L, -2, "message");
    return linx_error_return(L);
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
