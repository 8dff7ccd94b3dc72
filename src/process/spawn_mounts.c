/* spawn's inside.mounts (see spawn_mounts.h): each entry of the mount
 * plan read raw and checked in the host, before any child exists. */
#include "spawn_mounts.h"

#include "support/lerror.h"
#include "spawn_idmap.h"
#include "spawn_read.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Is the absolute path in normal form: no empty, "." or ".." component,
 * no trailing '/' (but "/" itself)? The workload resolves it inside the
 * root, where ".." could only mislead. */
static int is_normal(const char *s)
{
    for (const char *p = s; *p != '\0';) {
        p++; /* past '/' */
        const char *c = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t n = (size_t)(p - c);
        if ((n == 0 && !(c == s + 1 && *p == '\0')) || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
    }
    return 1;
}

/* An integral number at idx (any Lua version), into *out. */
static int get_int(lua_State *L, int idx, long long *out)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        return 0;
    lua_Number v = lua_tonumber(L, idx);
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0) || floor(v) != v)
        return 0;
    *out = (long long)v;
    return 1;
}

/* Has the absolute path a "." or ".." component? */
static int has_dots(const char *s)
{
    for (const char *p = s + 1; *p != '\0'; p++)
        if (p[0] == '.' && p[-1] == '/' && (p[1] == '/' || p[1] == '\0' || (p[1] == '.' && (p[2] == '/' || p[2] == '\0'))))
            return 1;
    return 0;
}

/* The keys of an entry; a bit each, in this order. */
static const char *const mount_keys[] = {"type", "source", "target", "readonly", "options", "mode", "size", "data",
                                         "try",  "dev",    "suid",   "lower",    "upper",   "work", "idmap", NULL};
enum { K_TYPE, K_SOURCE, K_TARGET, K_READONLY, K_OPTIONS, K_MODE, K_SIZE, K_DATA, K_TRY, K_DEV, K_SUID, K_LOWER,
       K_UPPER, K_WORK, K_COUNT }; /* "idmap" (after them) is read by spawn_idmap.c */
#define B(k) (1u << (k))
/* enum inside_mount_kind order; with the keys each type takes */
static const struct {
    const char *name;
    unsigned keys;
} mount_types[] = {
    {"proc", B(K_READONLY) | B(K_OPTIONS)},
    {"tmpfs", B(K_READONLY) | B(K_OPTIONS) | B(K_MODE) | B(K_SIZE)},
    {"bind", B(K_SOURCE) | B(K_READONLY) | B(K_TRY) | B(K_DEV) | B(K_SUID)},
    {"dev", B(K_READONLY)},
    {"dir", B(K_MODE)},
    {"symlink", B(K_SOURCE)},
    {"file", B(K_SOURCE) | B(K_DATA) | B(K_MODE)},
    {"remount", B(K_READONLY)},
    {"mqueue", B(K_READONLY)},
    {"devpts", B(K_READONLY) | B(K_OPTIONS)},
    {"overlay", B(K_READONLY) | B(K_LOWER) | B(K_UPPER) | B(K_WORK)},
};
#define NTYPES (sizeof mount_types / sizeof mount_types[0])
/* Most a "file" entry may hold (it is copied into the children's block). */
#define FILE_MAX (16u << 20)

/* A mode: an integer 0..07777, or a string of octal digits ("0755"). */
static int get_mode(lua_State *L, int idx, int32_t *out)
{
    long long v = -1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        if (!get_int(L, idx, &v))
            return 0;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (len == 0 || len > 5)
            return 0;
        v = 0;
        for (size_t i = 0; i < len; i++) {
            if (s[i] < '0' || s[i] > '7')
                return 0;
            v = v * 8 + (s[i] - '0');
        }
    }
    if (v < 0 || v > 07777)
        return 0;
    *out = (int32_t)v;
    return 1;
}

/* tmpfs size: bytes (an integer > 0) or a string of digits with an
 * optional k, m, g or % suffix, written into buf as "size=...". */
static int get_size(lua_State *L, int idx, char *buf, size_t len)
{
    long long v;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        if (!get_int(L, idx, &v) || v <= 0)
            return 0;
        snprintf(buf, len, "size=%lld", v);
        return 1;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return 0;
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    size_t d = strspn(s, "0123456789");
    if (d == 0 || d > 20 || n > d + 1 || (n == d + 1 && (s[d] == '\0' || strchr("kKmMgG%", s[d]) == NULL)))
        return 0;
    snprintf(buf, len, "size=%s", s);
    return 1;
}

/* A "file" entry's source: a host path, a Lua file or a descriptor, read
 * whole now; pushes the bytes. Returns the reason it cannot, or NULL. */
static const char *read_source(lua_State *L, int idx)
{
    int fd = -1, own = 0;
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *p = lua_tolstring(L, idx, &len);
        if (linx_has_nul(p, len))
            return "bad_path";
        if ((fd = open(p, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
            return "unreadable";
        own = 1;
    } else if (lua_type(L, idx) == LUA_TNUMBER) {
        long long v;
        if (!get_int(L, idx, &v) || v < 0 || v > 2147483647 || fcntl((int)v, F_GETFD) < 0)
            return "not_open";
        fd = (int)v;
    } else {
        const char *why;
        FILE *f = linx_spawn_lua_file(L, idx, &why);
        if (f == NULL)
            return why;
        fflush(f);
        fd = fileno(f);
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    size_t total = 0;
    const char *why = NULL;
    for (;;) {
        char chunk[8192];
        ssize_t r = read(fd, chunk, sizeof chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            why = "unreadable";
            break;
        }
        if (r == 0)
            break;
        if ((total += (size_t)r) > FILE_MAX) {
            why = "too_long";
            break;
        }
        luaL_addlstring(&b, chunk, (size_t)r);
    }
    if (own)
        close(fd);
    luaL_pushresult(&b);
    if (why != NULL)
        lua_pop(L, 1);
    return why;
}

/* overlay's options: "lowerdir=a:b[,upperdir=u,workdir=w][,userxattr]"
 * from the entry at e; pushes the string. Layer paths are the host's. */
static int get_overlay(lua_State *L, int e, const char *prefix, lua_Integer i, unsigned long flags)
{
    const char *why;
    luaL_Buffer b;
    lua_pushliteral(L, "lower");
    lua_rawget(L, e);
    int lo = lua_gettop(L);
    if (lua_isnil(L, lo))
        return linx_spawn_bad_at(L, "missing", 0, i, "%s.lower", prefix);
    if (!lua_istable(L, lo))
        return linx_spawn_bad_at(L, "not_a_list", lo, i, "%s.lower", prefix);
    size_t n = (size_t)lua_rawlen(L, lo);
    if (n == 0 || n > 500 || !linx_spawn_only_list_keys(L, lo, n))
        return linx_spawn_bad_at(L, n == 0 ? "empty" : n > 500 ? "too_many" : "not_a_list", lo, i, "%s.lower", prefix);
    lua_pushliteral(L, "upper");
    lua_rawget(L, e);
    lua_pushliteral(L, "work");
    lua_rawget(L, e);
    int up = lo + 1, wk = lo + 2;
    for (int k = 0; k < 2; k++) {
        int idx = k ? wk : up;
        const char *key = k ? "work" : "upper";
        if (lua_isnil(L, idx) && !lua_isnil(L, k ? up : wk))
            return linx_spawn_bad_at(L, "missing", 0, i, "%s.%s", prefix, key);
        if (!lua_isnil(L, idx) && (linx_spawn_check_path(L, idx, &why) == NULL || strpbrk(lua_tostring(L, idx), ",:\\") != NULL))
            return linx_spawn_bad_at(L, why != NULL ? why : "bad_path", idx, i, "%s.%s", prefix, key);
    }
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "lowerdir=");
    for (size_t k = 1; k <= n; k++) {
        lua_rawgeti(L, lo, (lua_Integer)k);
        why = NULL;
        if (linx_spawn_check_path(L, -1, &why) == NULL || strpbrk(lua_tostring(L, -1), ",:\\") != NULL)
            return linx_spawn_bad_at(L, why != NULL ? why : "bad_path", -1, i, "%s.lower[%zu]", prefix, k);
        if (k > 1)
            luaL_addchar(&b, ':');
        luaL_addvalue(&b); /* a path checked to be a string */
    }
    if (!lua_isnil(L, up)) {
        luaL_addstring(&b, ",upperdir=");
        luaL_addstring(&b, lua_tostring(L, up));
        luaL_addstring(&b, ",workdir=");
        luaL_addstring(&b, lua_tostring(L, wk));
    }
    if (flags & CLONE_NEWUSER) /* a rootless overlay keeps its metadata in user.* xattrs */
        luaL_addstring(&b, ",userxattr");
    luaL_pushresult(&b);
    if (lua_rawlen(L, -1) >= 4096)
        return linx_spawn_bad_at(L, "too_long", lo, i, "%s.lower", prefix);
    lua_replace(L, lo);
    lua_settop(L, lo);
    return 0;
}

/* Entry e (the i-th) into m; earlier: the entries before it (for
 * "remount"). Strings are anchored in the table at anchor. */
static int get_mount(lua_State *L, int e, lua_Integer i, const struct inside_mount *earlier, unsigned long flags,
                     int anchor, struct inside_mount *m)
{
    const char *why;
    if (!lua_istable(L, e))
        return linx_spawn_bad_at(L, "not_a_table", e, i, "inside.mounts[%lld]", (long long)i);
    char prefix[48];
    snprintf(prefix, sizeof prefix, "inside.mounts[%lld]", (long long)i);
    if (linx_spawn_check_keys(L, e, mount_keys, 0, prefix))
        return 2;
    lua_pushliteral(L, "type");
    lua_rawget(L, e);
    if (lua_isnil(L, -1))
        return linx_spawn_bad_at(L, "missing", 0, i, "%s.type", prefix);
    m->kind = -1;
    for (size_t k = 0; k < NTYPES && lua_type(L, -1) == LUA_TSTRING; k++)
        if (strcmp(lua_tostring(L, -1), mount_types[k].name) == 0)
            m->kind = (int32_t)k;
    if (m->kind < 0)
        return linx_spawn_bad_at(L, "unknown", -1, i, "%s.type", prefix);
    lua_pop(L, 1);
    unsigned allowed = mount_types[m->kind].keys | B(K_TYPE) | B(K_TARGET);
    for (int k = 0; k < K_COUNT; k++) { /* a key this type does not take */
        lua_pushstring(L, mount_keys[k]);
        lua_rawget(L, e);
        if (!lua_isnil(L, -1) && !(allowed & B(k)))
            return linx_spawn_bad_at(L, "not_allowed", -1, i, "%s.%s", prefix, mount_keys[k]);
        lua_pop(L, 1);
    }

    lua_pushliteral(L, "target");
    lua_rawget(L, e);
    if (lua_isnil(L, -1))
        return linx_spawn_bad_at(L, "missing", 0, i, "%s.target", prefix);
    if ((m->target = linx_spawn_check_path(L, -1, &why)) == NULL)
        return linx_spawn_bad_at(L, why, -1, i, "%s.target", prefix);
    if (!is_normal(m->target))
        return linx_spawn_bad_at(L, "not_normal", -1, i, "%s.target", prefix);
    int creates = m->kind == INSIDE_DIR || m->kind == INSIDE_SYMLINK || m->kind == INSIDE_FILE;
    if (creates && m->target[1] == '\0') /* "/" has no name to create */
        return linx_spawn_bad_at(L, "bad_path", -1, i, "%s.target", prefix);
    linx_spawn_anchor_top(L, anchor);

    lua_pushliteral(L, "readonly");
    lua_rawget(L, e);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return linx_spawn_bad_at(L, "not_a_boolean", -1, i, "%s.readonly", prefix);
    m->readonly = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (m->kind == INSIDE_REMOUNT) {
        if (!m->readonly)
            return linx_spawn_bad_at(L, "missing", 0, i, "%s.readonly", prefix);
        int found = 0;
        for (lua_Integer j = 0; j < i - 1 && !found; j++)
            found = earlier[j].kind != INSIDE_DIR && earlier[j].kind != INSIDE_SYMLINK && earlier[j].kind != INSIDE_FILE &&
                    strcmp(earlier[j].target, m->target) == 0;
        if (!found)
            return linx_spawn_bad_at(L, "not_mounted_earlier", 0, i, "%s.target", prefix);
    }

    static const struct {
        int key, flag;
    } bools[3] = {{K_TRY, INSIDE_F_TRY}, {K_DEV, INSIDE_F_DEV}, {K_SUID, INSIDE_F_SUID}};
    m->flags = 0;
    for (int k = 0; k < 3; k++) {
        lua_pushstring(L, mount_keys[bools[k].key]);
        lua_rawget(L, e);
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            return linx_spawn_bad_at(L, "not_a_boolean", -1, i, "%s.%s", prefix, mount_keys[bools[k].key]);
        if (lua_toboolean(L, -1))
            m->flags |= bools[k].flag;
        lua_pop(L, 1);
    }

    m->mode = m->kind == INSIDE_DIR ? 0755 : m->kind == INSIDE_FILE ? 0644 : -1;
    lua_pushliteral(L, "mode");
    lua_rawget(L, e);
    if (!lua_isnil(L, -1) && !get_mode(L, -1, &m->mode))
        return linx_spawn_bad_at(L, "bad_value", -1, i, "%s.mode", prefix);
    lua_pop(L, 1);

    lua_pushliteral(L, "source");
    lua_rawget(L, e);
    m->source = NULL;
    if (m->kind == INSIDE_BIND) {
        if (lua_isnil(L, -1))
            return linx_spawn_bad_at(L, "missing", 0, i, "%s.source", prefix);
        if ((m->source = linx_spawn_check_path(L, -1, &why)) == NULL)
            return linx_spawn_bad_at(L, why, -1, i, "%s.source", prefix);
        linx_spawn_anchor_top(L, anchor);
    } else if (m->kind == INSIDE_SYMLINK) {
        size_t len;
        if (lua_isnil(L, -1))
            return linx_spawn_bad_at(L, "missing", 0, i, "%s.source", prefix);
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_spawn_bad_at(L, "not_a_string", -1, i, "%s.source", prefix);
        m->source = lua_tolstring(L, -1, &len);
        if (len == 0 || len >= 4096 || linx_has_nul(m->source, len))
            return linx_spawn_bad_at(L, "bad_value", -1, i, "%s.source", prefix);
        linx_spawn_anchor_top(L, anchor);
    } else if (m->kind == INSIDE_FILE && !lua_isnil(L, -1)) {
        lua_pushliteral(L, "data");
        lua_rawget(L, e);
        if (!lua_isnil(L, -1))
            return linx_spawn_bad_at(L, "not_allowed", -1, i, "%s.data", prefix); /* one or the other */
        lua_pop(L, 1);
        if ((why = read_source(L, lua_gettop(L))) != NULL)
            return linx_spawn_bad_at(L, why, -1, i, "%s.source", prefix);
        lua_replace(L, -2);
    } else {
        lua_pop(L, 1);
    }

    m->data = NULL;
    m->len = 0;
    if (m->kind == INSIDE_FILE) {
        if (lua_gettop(L) == e) { /* no source: data */
            lua_pushliteral(L, "data");
            lua_rawget(L, e);
            if (lua_isnil(L, -1))
                return linx_spawn_bad_at(L, "missing", 0, i, "%s.data", prefix);
            if (lua_type(L, -1) != LUA_TSTRING)
                return linx_spawn_bad_at(L, "not_a_string", -1, i, "%s.data", prefix);
            if (lua_rawlen(L, -1) > FILE_MAX)
                return linx_spawn_bad_at(L, "too_long", 0, i, "%s.data", prefix);
        }
        size_t len;
        m->data = lua_tolstring(L, -1, &len);
        m->len = (uint32_t)len;
        linx_spawn_anchor_top(L, anchor);
        return 0;
    }
    if (m->kind == INSIDE_OVERLAY) {
        if (get_overlay(L, e, prefix, i, flags))
            return 2;
        m->data = lua_tostring(L, -1);
        linx_spawn_anchor_top(L, anchor);
        return 0;
    }

    /* options, with tmpfs's size and mode before them */
    char extra[64] = "";
    lua_pushliteral(L, "size");
    lua_rawget(L, e);
    if (!lua_isnil(L, -1) && !get_size(L, -1, extra, sizeof extra))
        return linx_spawn_bad_at(L, "bad_value", -1, i, "%s.size", prefix);
    lua_pop(L, 1);
    if (m->kind == INSIDE_TMPFS && m->mode >= 0) {
        size_t at = strlen(extra);
        snprintf(extra + at, sizeof extra - at, "%smode=0%o", at > 0 ? "," : "", (unsigned)m->mode);
    }
    lua_pushliteral(L, "options");
    lua_rawget(L, e);
    if (!lua_isnil(L, -1)) {
        size_t len;
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_spawn_bad_at(L, "not_a_string", -1, i, "%s.options", prefix);
        const char *o = lua_tolstring(L, -1, &len);
        if (linx_has_nul(o, len) || len >= 4000)
            return linx_spawn_bad_at(L, "bad_value", -1, i, "%s.options", prefix);
    }
    if (m->kind == INSIDE_DEVPTS) { /* an instance of its own, never the host's ptys */
        lua_pushfstring(L, "newinstance,ptmxmode=0666%s%s", lua_isnil(L, -1) ? "" : ",",
                        lua_isnil(L, -1) ? "" : lua_tostring(L, -1));
        lua_replace(L, -2);
    } else if (extra[0] != '\0') {
        lua_pushfstring(L, "%s%s%s", extra, lua_isnil(L, -1) ? "" : ",", lua_isnil(L, -1) ? "" : lua_tostring(L, -1));
        lua_replace(L, -2);
    }
    if (!lua_isnil(L, -1)) {
        m->data = lua_tostring(L, -1);
        linx_spawn_anchor_top(L, anchor);
    } else {
        lua_pop(L, 1);
    }
    return 0;
}

int linx_spawn_mounts(lua_State *L, int ms, size_t n, unsigned long flags, int anchor, struct inside *in)
{
    struct inside_mount *m = lua_newuserdata(L, n * sizeof *m + 1);
    linx_spawn_anchor_top(L, anchor);
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, ms, (lua_Integer)i);
        int e = lua_gettop(L);
        if (get_mount(L, e, (lua_Integer)i, m, flags, anchor, &m[i - 1]) ||
            linx_spawn_idmap(L, e, (lua_Integer)i, anchor, &m[i - 1]))
            return 2;
        lua_settop(L, e - 1);
    }
    if (linx_spawn_idmap_check(L, m, n, flags))
        return 2;
    in->mounts = m;
    in->nmounts = (int32_t)n;
    return 0;
}

void linx_spawn_push_mount_types(lua_State *L)
{
    lua_createtable(L, (int)NTYPES, 0);
    for (size_t k = 0; k < NTYPES; k++) {
        lua_pushstring(L, mount_types[k].name);
        lua_rawseti(L, -2, (lua_Integer)k + 1);
    }
}

static const char *const root_keys[] = {"path", "readonly", "suid", "dev", NULL};

int linx_spawn_root(lua_State *L, unsigned long flags, int anchor, struct inside *in)
{
    const char *why;
    int v = lua_gettop(L);
    const char *field = lua_istable(L, v) ? "inside.root.path" : "inside.root";
    in->root_flags = 0;
    if (lua_istable(L, v)) {
        if (linx_spawn_check_keys(L, v, root_keys, 0, "inside.root"))
            return 2;
        static const int bits[3] = {INSIDE_F_RDONLY, INSIDE_F_SUID, INSIDE_F_DEV};
        for (int k = 0; k < 3; k++) {
            lua_getfield(L, v, root_keys[k + 1]);
            if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
                return linx_spawn_bad_at(L, "not_a_boolean", -1, 0, "inside.root.%s", root_keys[k + 1]);
            if (lua_toboolean(L, -1))
                in->root_flags |= bits[k];
            lua_pop(L, 1);
        }
        lua_getfield(L, v, "path");
        if (lua_isnil(L, -1))
            return linx_bad_option(L, "spawn", field, "missing", 0, 0);
        lua_replace(L, v);
    }
    if ((in->root = linx_spawn_check_path(L, v, &why)) == NULL)
        return linx_bad_option(L, "spawn", field, why, v, 0);
    if (has_dots(in->root)) /* "/srv/../etc": no "." nor ".." components */
        return linx_bad_option(L, "spawn", field, "not_normal", v, 0);
    if (!(flags & CLONE_NEWNS))
        return linx_bad_option(L, "spawn", field, "needs_mount_namespace", 0, 0);
    linx_spawn_anchor_top(L, anchor);
    return 0;
}
