/* spawn's inside.caps, inside.rlimits and inside.landlock (see
 * spawn_policy.h): checked and packed into one policy block before any
 * child exists, so a bad name is bad_option from spawn, never a step
 * error; and the host's side of their failures. */
#include "spawn_policy.h"

#include "child/child_policy.h"
#include "support/lerror.h"
#include "spawn_read.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

/* ---- reading ---------------------------------------------------------------------- */

/* The list at idx, read raw: its length, or -1 when it is not a list
 * (a map, a hole, or not a table). */
static long list_len(lua_State *L, int idx)
{
    if (!lua_istable(L, idx))
        return -1;
    size_t n = (size_t)lua_rawlen(L, idx);
    return linx_spawn_only_list_keys(L, idx, n) ? (long)n : -1;
}

/* Capability names as the kernel numbers them (capability.h). */
static const char *const cap_names[] = {
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
};
#define CAP_COUNT ((int)(sizeof cap_names / sizeof cap_names[0]))

static int cap_number(const char *s)
{
    if (strncasecmp(s, "CAP_", 4) == 0)
        s += 4;
    for (int i = 0; i < CAP_COUNT; i++)
        if (strcasecmp(s, cap_names[i]) == 0)
            return i;
    return -1;
}

/* inside.caps: a list of names; pushes nothing. */
static int read_caps(lua_State *L, int t, struct inside_policy *p)
{
    if (linx_spawn_get_field(L, t, "caps", "inside.caps"))
        return 2;
    int c = lua_gettop(L);
    if (lua_isnil(L, c)) {
        lua_pop(L, 1);
        return 0;
    }
    long n = list_len(L, c);
    if (n < 0)
        return linx_spawn_bad_at(L, "not_a_list", c, 0, "inside.caps");
    p->caps = 1;
    for (long i = 1; i <= n; i++) {
        lua_rawgeti(L, c, (lua_Integer)i);
        if (lua_type(L, -1) != LUA_TSTRING)
            return linx_spawn_bad_at(L, "not_a_string", -1, i, "inside.caps[%ld]", i);
        int cap = cap_number(lua_tostring(L, -1));
        if (cap < 0)
            return linx_spawn_bad_at(L, "unknown", -1, i, "inside.caps[%ld]", i);
        p->keep |= 1ULL << cap;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},       {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},       {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},       {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},
    {"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},     {"rttime", RLIMIT_RTTIME},
    {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};
#define RLIMIT_COUNT ((int)(sizeof rlimit_names / sizeof rlimit_names[0]))

/* One limit at idx: a whole number >= 0, math.huge or "unlimited"
 * (RLIM_INFINITY). 0 when it is none of those. */
static int limit_value(lua_State *L, int idx, uint64_t *out)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (strcmp(lua_tostring(L, idx), "unlimited") != 0)
            return 0;
        *out = RLIM_INFINITY;
        return 1;
    }
    if (lua_type(L, idx) == LUA_TNUMBER && lua_tonumber(L, idx) == HUGE_VAL) {
        *out = RLIM_INFINITY;
        return 1;
    }
    return linx_spawn_get_u64(L, idx, out);
}

/* inside.rlimits: {name = n | "unlimited" | {soft, hard}, ...}, read raw;
 * applied in the order of their resource numbers. */
static int read_rlimits(lua_State *L, int t, struct inside_policy *p)
{
    if (linx_spawn_get_field(L, t, "rlimits", "inside.rlimits"))
        return 2;
    int r = lua_gettop(L);
    if (lua_isnil(L, r)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, r))
        return linx_spawn_bad_at(L, "not_a_table", r, 0, "inside.rlimits");
    struct policy_rlimit by_res[POLICY_RLIMITS];
    int given[POLICY_RLIMITS] = {0};
    lua_pushnil(L);
    while (lua_next(L, r) != 0) {
        /* key at -2, value at -1 */
        const char *name = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        if (name != NULL && strncasecmp(name, "RLIMIT_", 7) == 0)
            name += 7;
        int k = 0;
        while (name != NULL && k < RLIMIT_COUNT && strcasecmp(name, rlimit_names[k].name) != 0)
            k++;
        if (name == NULL || k == RLIMIT_COUNT) {
            const char *plain = linx_plain_key(L, -2, 32);
            return linx_spawn_bad_at(L, "unknown", -2, 0, "inside.rlimits%s%s", plain != NULL ? "." : "", plain != NULL ? plain : "");
        }
        int res = rlimit_names[k].resource;
        if (res < 0 || res >= POLICY_RLIMITS)
            return linx_spawn_bad_at(L, "unknown", -2, 0, "inside.rlimits.%s", rlimit_names[k].name);
        if (given[res])
            return linx_spawn_bad_at(L, "duplicate", -2, 0, "inside.rlimits.%s", rlimit_names[k].name);
        uint64_t soft, hard;
        int ok;
        if (lua_istable(L, -1)) {
            int v = lua_gettop(L);
            ok = list_len(L, v) == 2;
            if (ok) {
                lua_rawgeti(L, v, 1);
                lua_rawgeti(L, v, 2);
                ok = limit_value(L, -2, &soft) && limit_value(L, -1, &hard);
                lua_pop(L, 2);
            }
        } else {
            ok = limit_value(L, -1, &soft);
            hard = soft;
        }
        if (!ok)
            return linx_spawn_bad_at(L, "bad_value", -1, 0, "inside.rlimits.%s", rlimit_names[k].name);
        if (soft > hard)
            return linx_spawn_bad_at(L, "soft_above_hard", -1, 0, "inside.rlimits.%s", rlimit_names[k].name);
        given[res] = 1;
        by_res[res].resource = (uint32_t)res;
        by_res[res].pad = 0;
        by_res[res].soft = soft;
        by_res[res].hard = hard;
        lua_pop(L, 1);
    }
    for (int res = 0; res < POLICY_RLIMITS; res++)
        if (given[res])
            p->rlimits[p->nrlimits++] = by_res[res];
    lua_pop(L, 1);
    return 0;
}

static const char *const landlock_keys[] = {"read", "write", "exec", "required", NULL};
static const uint32_t landlock_grants[3] = {POLICY_LL_READ, POLICY_LL_WRITE, POLICY_LL_EXEC};
#define LANDLOCK_MAX_RULES 4096

/* inside.landlock: {read = {...}, write = {...}, exec = {...}, required =},
 * read raw. Leaves the table (or nil) on the stack at *lt. Counts the
 * rules and the bytes of their paths. */
static int read_landlock(lua_State *L, int t, struct inside_policy *p, int *lt, size_t *nrules, size_t *bytes)
{
    *nrules = *bytes = 0;
    if (linx_spawn_get_field(L, t, "landlock", "inside.landlock"))
        return 2;
    *lt = lua_gettop(L);
    if (lua_isnil(L, *lt))
        return 0;
    if (!lua_istable(L, *lt))
        return linx_spawn_bad_at(L, "not_a_table", *lt, 0, "inside.landlock");
    if (linx_spawn_check_keys(L, *lt, landlock_keys, 0, "inside.landlock"))
        return 2;
    lua_pushliteral(L, "required");
    lua_rawget(L, *lt);
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
        return linx_spawn_bad_at(L, "not_a_boolean", -1, 0, "inside.landlock.required");
    p->landlock = lua_toboolean(L, -1) ? POLICY_LL_REQUIRED : POLICY_LL_WANTED;
    lua_pop(L, 1);
    for (int g = 0; g < 3; g++) {
        lua_pushstring(L, landlock_keys[g]);
        lua_rawget(L, *lt);
        int l = lua_gettop(L);
        if (!lua_isnil(L, l)) {
            long n = list_len(L, l);
            if (n < 0)
                return linx_spawn_bad_at(L, "not_a_list", l, 0, "inside.landlock.%s", landlock_keys[g]);
            for (long i = 1; i <= n; i++) {
                lua_rawgeti(L, l, (lua_Integer)i);
                const char *why;
                if (linx_spawn_check_path(L, -1, &why) == NULL)
                    return linx_spawn_bad_at(L, why, -1, i, "inside.landlock.%s", landlock_keys[g]);
                *bytes += lua_rawlen(L, -1) + 1;
                lua_pop(L, 1);
            }
            *nrules += (size_t)n;
            if (*nrules > LANDLOCK_MAX_RULES)
                return linx_spawn_bad_at(L, "too_many", 0, 0, "inside.landlock.%s", landlock_keys[g]);
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* The rules and their paths into p (room for them counted before). */
static void put_rules(lua_State *L, int lt, struct inside_policy *p, size_t nrules)
{
    char *base = (char *)p;
    size_t off = sizeof *p + nrules * sizeof(struct policy_rule);
    for (int g = 0; g < 3; g++) {
        lua_pushstring(L, landlock_keys[g]);
        lua_rawget(L, lt);
        size_t n = lua_istable(L, -1) ? (size_t)lua_rawlen(L, -1) : 0;
        for (size_t i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, (lua_Integer)i);
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            memcpy(base + off, s, len + 1);
            p->rules[p->nrules].grants = landlock_grants[g];
            p->rules[p->nrules].path = (uint32_t)off;
            p->nrules++;
            off += len + 1;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

int linx_policy_read(lua_State *L, int t, int anchor, struct inside *in)
{
    struct inside_policy head;
    memset(&head, 0, sizeof head);
    int top = lua_gettop(L), lt = 0;
    size_t nrules, bytes;
    if (read_caps(L, t, &head) || read_rlimits(L, t, &head) || read_landlock(L, t, &head, &lt, &nrules, &bytes))
        return 2;
    if (!head.caps && head.nrlimits == 0 && head.landlock == POLICY_LL_NONE) {
        lua_settop(L, top);
        return 0;
    }
    size_t size = sizeof head + nrules * sizeof(struct policy_rule) + bytes;
    struct inside_policy *p = lua_newuserdata(L, size);
    memcpy(p, &head, sizeof head);
    p->size = (uint32_t)size;
    if (lt != 0 && head.landlock != POLICY_LL_NONE)
        put_rules(L, lt, p, nrules);
    linx_spawn_anchor_top(L, anchor);
    in->policy = p;
    in->policy_len = (uint32_t)size;
    /* landlock_restrict_self needs it without CAP_SYS_ADMIN, and a caller
     * who asked for Landlock does not want a setuid program to escape. */
    if (head.landlock != POLICY_LL_NONE)
        in->no_new_privs = 1;
    lua_settop(L, top);
    return 0;
}

/* ---- failures ------------------------------------------------------------------------ */

const char *linx_policy_path(const struct inside *in, const struct msg *rep)
{
    if (rep->stage != STAGE_LANDLOCK || in == NULL || in->policy == NULL || rep->step < 1 ||
        rep->step > in->policy->nrules)
        return NULL;
    return linx_policy_rule_path(in->policy, rep->step - 1);
}

/* The name of an RLIMIT_* resource ("?" for one spawn does not know). */
const char *linx_policy_rlimit_name(int res)
{
    for (int k = 0; k < RLIMIT_COUNT; k++)
        if (rlimit_names[k].resource == res)
            return rlimit_names[k].name;
    return "?";
}
