/* spawn's inside.mounts[i].idmap (see spawn_idmap.h): `true`, or maps as
 * linxuser's setup_maps takes them ({inside, outside, length} entries,
 * positional or named), checked here and rendered as the kernel's map
 * text for the host's throw-away user namespace (idmapped.c). */
#include "spawn_idmap.h"

#include "core/idmap.h"
#include "support/lerror.h"
#include "support/lmaps.h"
#include "spawn_read.h"

#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* nil, {kind = "bad_option", operation = "spawn", field =, reason =[, value =], index = i};
 * returns 2. */
static int bad(lua_State *L, const char *reason, int value_idx, lua_Integer i, const char *field)
{
    return linx_bad_option(L, "spawn", field, reason, value_idx, i);
}

/* The list at idx (field names it) rendered and pushed (then anchored). */
static int get_maps(lua_State *L, int idx, lua_Integer i, const char *field, int anchor, const char **out)
{
    char efield[128];
    if (lua_isnil(L, idx))
        return bad(L, "missing", 0, i, field);
    if (!lua_istable(L, idx))
        return bad(L, "not_a_list", idx, i, field);
    size_t n = (size_t)lua_rawlen(L, idx);
    if (n == 0)
        return bad(L, "empty", idx, i, field);
    if (n > IDMAP_MAX_ENTRIES)
        return bad(L, "too_many", 0, i, field);
    struct idmap_entry e[IDMAP_MAX_ENTRIES];
    for (size_t k = 0; k < n; k++) {
        lua_rawgeti(L, idx, (lua_Integer)k + 1);
        if (!lmaps_get_entry(L, lua_gettop(L), &e[k])) { /* read as setup_maps reads an entry */
            snprintf(efield, sizeof efield, "%s[%zu]", field, k + 1);
            return bad(L, "bad_entry", -1, i, efield);
        }
        lua_pop(L, 1);
    }
    struct idmap_problem p;
    enum idmap_reason why = idmap_validate(e, n, &p);
    if (why != IDMAP_OK) {
        if (why == IDMAP_TOO_LONG || why == IDMAP_EMPTY || why == IDMAP_TOO_MANY)
            return bad(L, idmap_reason_name(why), 0, i, field);
        snprintf(efield, sizeof efield, "%s[%zu]", field, p.index + 1);
        return bad(L, idmap_reason_name(why), 0, i, efield);
    }
    char text[IDMAP_MAX_TEXT];
    long len = idmap_render(e, n, text, sizeof text);
    if (len < 0)
        return bad(L, "too_long", 0, i, field);
    lua_pushlstring(L, text, (size_t)len);
    *out = lua_tostring(L, -1);
    linx_spawn_anchor_top(L, anchor);
    return 0;
}

int linx_spawn_idmap(lua_State *L, int e, lua_Integer i, int anchor, struct inside_mount *m)
{
    static const char *const keys[] = {"uid", "gid", NULL};
    char field[96];
    m->idmap = INSIDE_IDMAP_NONE;
    m->idmap_fd = -1;
    m->idmap_uid = m->idmap_gid = NULL;
    snprintf(field, sizeof field, "inside.mounts[%lld].idmap", (long long)i);
    lua_pushliteral(L, "idmap");
    lua_rawget(L, e);
    int v = lua_gettop(L);
    if (lua_isnil(L, v) || (lua_isboolean(L, v) && !lua_toboolean(L, v))) {
        lua_pop(L, 1);
        return 0;
    }
    if (m->kind != INSIDE_BIND)
        return bad(L, "not_allowed", v, i, field);
    if (lua_isboolean(L, v)) {
        m->idmap = INSIDE_IDMAP_OWN;
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, v))
        return bad(L, "bad_value", v, i, field);
    if (linx_spawn_check_keys(L, v, keys, i, field))
        return 2;
    for (int k = 0; k < 2; k++) {
        char mf[112];
        snprintf(mf, sizeof mf, "%s.%s", field, keys[k]);
        lua_pushstring(L, keys[k]);
        lua_rawget(L, v);
        if (get_maps(L, lua_gettop(L), i, mf, anchor, k ? &m->idmap_gid : &m->idmap_uid))
            return 2;
        lua_pop(L, 1);
    }
    m->idmap = INSIDE_IDMAP_MAPS;
    lua_pop(L, 1);
    return 0;
}

int linx_spawn_idmap_check(lua_State *L, const struct inside_mount *m, size_t n, unsigned long flags)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].idmap == INSIDE_IDMAP_NONE)
            continue;
        char field[64];
        snprintf(field, sizeof field, "inside.mounts[%zu].idmap", i + 1);
        /* Without a user namespace of its own the container's is the
         * initial one, which the kernel never takes for an idmapping. */
        if (m[i].idmap == INSIDE_IDMAP_OWN && !(flags & CLONE_NEWUSER))
            return bad(L, "needs_user_namespace", 0, (lua_Integer)i + 1, field);
        if (++count > LINX_MAX_IDMAPS)
            return bad(L, "too_many", 0, (lua_Integer)i + 1, field);
    }
    return 0;
}
