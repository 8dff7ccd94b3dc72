/* inside.seccomp in the host (see spawn_seccomp.h): reading the policy
 * table, the "default" deny list, compiling with libseccomp and exporting
 * the BPF program, reading a precompiled program from a file or an fd.
 * Nothing here runs in a child. */
#include "spawn_seccomp.h"

#include "support/lerror.h"
#include "spawn_read.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <math.h>
#include <stdarg.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

#define DEFAULT_KEY "linx.process.seccomp_default" /* the registry's compiled "default" */
#define MAX_RULES 1024                              /* per list */
#define PROG_MAX ((size_t)BPF_MAXINSNS * sizeof(struct sock_filter))

/* One rule: the syscall gets action; with an argument filter only when
 * (arg[argno] & mask) == value. */
struct rule {
    uint64_t mask, value;
    const char *list; /* "allow" or "deny", for errors */
    int nr;
    uint32_t action;
    int argno; /* -1: none */
    int index; /* 1-based in its list */
};

/* The "default" list (README, "Seccomp"): EPERM unless said; an argno
 * names an argument filter (arg & mask) == value. */
#define ALL ~(uint64_t)0
#define LOW32 (uint64_t)0xFFFFFFFFu
static const struct {
    const char *name;
    int err;
    int argno;
    uint64_t mask, value;
} default_rules[] = {
    {"ioctl", EPERM, 1, LOW32, TIOCSTI},   /* fake input on a terminal */
    {"ioctl", EPERM, 1, LOW32, TIOCLINUX}, /* a virtual console's copy/paste */
    {"unshare", EPERM, 0, CLONE_NEWUSER, CLONE_NEWUSER},
    {"clone", EPERM, 0, CLONE_NEWUSER, CLONE_NEWUSER},
    {"clone3", ENOSYS, -1, 0, 0}, /* its flags are out of a filter's reach: libc falls back to clone */
    {"keyctl", EPERM, -1, 0, 0},
    {"add_key", EPERM, -1, 0, 0},
    {"request_key", EPERM, -1, 0, 0},
    {"perf_event_open", EPERM, -1, 0, 0},
    {"bpf", EPERM, -1, 0, 0},
    {"userfaultfd", EPERM, -1, 0, 0},
    {"kexec_load", EPERM, -1, 0, 0},
    {"kexec_file_load", EPERM, -1, 0, 0},
    {"open_by_handle_at", EPERM, -1, 0, 0},
    {"init_module", EPERM, -1, 0, 0},
    {"finit_module", EPERM, -1, 0, 0},
    {"delete_module", EPERM, -1, 0, 0},
    {"ptrace", EPERM, -1, 0, 0},
    {"process_vm_readv", EPERM, -1, 0, 0},
    {"process_vm_writev", EPERM, -1, 0, 0},
    {"syslog", EPERM, -1, 0, 0},
    {"acct", EPERM, -1, 0, 0},
    {"quotactl", EPERM, -1, 0, 0},
    {"uselib", EPERM, -1, 0, 0},
    {"modify_ldt", EPERM, -1, 0, 0},
    {"move_pages", EPERM, -1, 0, 0},
    {"migrate_pages", EPERM, -1, 0, 0},
    {"mount", EPERM, -1, 0, 0},
    {"umount2", EPERM, -1, 0, 0},
    {"pivot_root", EPERM, -1, 0, 0},
    {"chroot", EPERM, -1, 0, 0},
    {"open_tree", ENOSYS, -1, 0, 0},
    {"move_mount", ENOSYS, -1, 0, 0},
    {"fsopen", ENOSYS, -1, 0, 0},
    {"fsconfig", ENOSYS, -1, 0, 0},
    {"fsmount", ENOSYS, -1, 0, 0},
    {"fspick", ENOSYS, -1, 0, 0},
    {"mount_setattr", ENOSYS, -1, 0, 0},
    {"io_uring_setup", ENOSYS, -1, 0, 0},
    {"io_uring_enter", ENOSYS, -1, 0, 0},
    {"io_uring_register", ENOSYS, -1, 0, 0},
};
#define NDEFAULT (sizeof default_rules / sizeof default_rules[0])

/* Named values an argument filter may compare with (numbers always work). */
static const struct {
    const char *name;
    uint64_t value;
} constants[] = {
    {"TIOCSTI", TIOCSTI},          {"TIOCLINUX", TIOCLINUX},         {"TIOCCONS", TIOCCONS},
    {"TIOCSETD", TIOCSETD},        {"CLONE_NEWUSER", CLONE_NEWUSER}, {"CLONE_NEWNS", CLONE_NEWNS},
    {"CLONE_NEWPID", CLONE_NEWPID}, {"CLONE_NEWNET", CLONE_NEWNET},  {"CLONE_NEWUTS", CLONE_NEWUTS},
    {"CLONE_NEWIPC", CLONE_NEWIPC}, {"CLONE_NEWCGROUP", CLONE_NEWCGROUP}, {"CLONE_NEWTIME", CLONE_NEWTIME},
};

/* ---- compiling -------------------------------------------------------------- */

/* Compile rules[0..n) over def into a program pushed as a string. Returns
 * 0, or an errno value with *bad the rule libseccomp refused (or -1).
 * No Lua call between seccomp_init and seccomp_release: nothing leaks. */
static int compile(lua_State *L, uint32_t def, const struct rule *rules, size_t n, long *bad)
{
    *bad = -1;
    /* Room for the largest program before anything is made. */
    char *buf = lua_newuserdata(L, PROG_MAX + 1);
    scmp_filter_ctx ctx = seccomp_init(def);
    if (ctx == NULL)
        return ENOMEM;
    int rc = 0;
    /* A process may always end: exit and exit_group stay allowed. */
    if (def != SCMP_ACT_ALLOW && ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit), 0)) != 0 ||
                                  (rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0)) != 0))
        *bad = -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct rule *r = &rules[i];
        if (r->action == def)
            continue; /* libseccomp refuses a rule that says what the default says */
        if (r->argno < 0) {
            rc = seccomp_rule_add(ctx, r->action, r->nr, 0);
        } else {
            struct scmp_arg_cmp c;
            memset(&c, 0, sizeof c);
            c.arg = (unsigned)r->argno;
            c.op = r->mask == ALL ? SCMP_CMP_EQ : SCMP_CMP_MASKED_EQ;
            c.datum_a = r->mask == ALL ? r->value : r->mask;
            c.datum_b = r->mask == ALL ? 0 : r->value;
            rc = seccomp_rule_add_array(ctx, r->action, r->nr, 1, &c);
        }
        if (rc != 0)
            *bad = (long)i;
    }
    int fd = -1;
    ssize_t len = 0;
    if (rc == 0 && (fd = memfd_create("linx-seccomp", MFD_CLOEXEC)) < 0)
        rc = -errno;
    if (rc == 0)
        rc = seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    if (rc == 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        if (end < 0 || (size_t)end > PROG_MAX)
            rc = end < 0 ? -errno : -E2BIG;
        else if ((len = pread(fd, buf, (size_t)end, 0)) != (ssize_t)end)
            rc = len < 0 ? -errno : -EIO;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        return -rc > 0 ? -rc : EINVAL;
    lua_pushlstring(L, buf, (size_t)len);
    lua_remove(L, -2); /* the buffer */
    return 0;
}

/* ---- reading the table ------------------------------------------------------ */

/* "EPERM" or a number 1..4095 at idx: *err. */
static int get_errno(lua_State *L, int idx, int *err)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v >= 1 && v <= 4095) || floor(v) != v)
            return 0;
        *err = (int)v;
        return 1;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return 0;
    const char *s = lua_tostring(L, idx);
    for (int e = 1; e < 4096; e++) {
        if (strcmp(linx_errno_name(e), s) == 0) {
            *err = e;
            return 1;
        }
    }
    return 0;
}

/* A value to compare an argument with: a number 0..2^64-1 or a name. */
static int get_value(lua_State *L, int idx, uint64_t *out)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return linx_spawn_get_u64(L, idx, out);
    if (lua_type(L, idx) != LUA_TSTRING)
        return 0;
    const char *s = lua_tostring(L, idx);
    for (size_t k = 0; k < sizeof constants / sizeof constants[0]; k++) {
        if (strcmp(constants[k].name, s) == 0) {
            *out = constants[k].value;
            return 1;
        }
    }
    return 0;
}

struct ctx {
    const char *op;     /* "spawn" or "seccomp_program" */
    const char *prefix; /* "inside.seccomp" or "seccomp" */
};

static int bad(lua_State *L, const struct ctx *c, const char *reason, int value_idx, lua_Integer index,
               const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int bad(lua_State *L, const struct ctx *c, const char *reason, int value_idx, lua_Integer index,
               const char *fmt, ...)
{
    char tail[64], field[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    snprintf(field, sizeof field, "%s%s", c->prefix, tail);
    return linx_bad_option(L, c->op, field, reason, value_idx, index);
}

static const char *const entry_keys[] = {"name", "arg", "equals", "mask", "errno", NULL};

/* Entry i of list (at index e) into r. */
static int get_entry(lua_State *L, const struct ctx *c, int e, const char *list, int i, uint32_t action,
                     struct rule *r)
{
    r->argno = -1;
    r->mask = ALL;
    r->value = 0;
    r->list = list;
    r->index = i;
    r->action = action;
    int name = e;
    if (lua_istable(L, e)) {
        if (linx_unknown_key(L, e, entry_keys)) {
            const char *k = linx_plain_key(L, -1, 24);
            return bad(L, c, "unknown_option", -1, i, ".%s[%d].%s", list, i, k != NULL ? k : "?");
        }
        lua_pushliteral(L, "name");
        lua_rawget(L, e);
        name = lua_gettop(L);
        static const char *const sub[3] = {"arg", "equals", "mask"};
        int have[3];
        for (int k = 0; k < 3; k++) {
            lua_pushstring(L, sub[k]);
            lua_rawget(L, e);
            have[k] = !lua_isnil(L, -1);
        }
        /* name, arg, equals, mask on the stack */
        if (have[0] != have[1] || (have[2] && !have[0]))
            return bad(L, c, "needs_arg_and_equals", e, i, ".%s[%d]", list, i);
        if (have[0]) {
            lua_Number a = lua_type(L, -3) == LUA_TNUMBER ? lua_tonumber(L, -3) : -1;
            if (!(a >= 0 && a <= 5) || floor(a) != a)
                return bad(L, c, "bad_arg", -3, i, ".%s[%d].arg", list, i);
            r->argno = (int)a;
            if (!get_value(L, -2, &r->value))
                return bad(L, c, "bad_value", -2, i, ".%s[%d].equals", list, i);
            if (have[2] && !get_value(L, -1, &r->mask))
                return bad(L, c, "bad_value", -1, i, ".%s[%d].mask", list, i);
        }
        lua_pop(L, 3);
        lua_pushliteral(L, "errno");
        lua_rawget(L, e);
        if (!lua_isnil(L, -1)) {
            int err;
            if (action == SCMP_ACT_ALLOW)
                return bad(L, c, "not_allowed", -1, i, ".%s[%d].errno", list, i);
            if (!get_errno(L, -1, &err))
                return bad(L, c, "bad_errno", -1, i, ".%s[%d].errno", list, i);
            r->action = SCMP_ACT_ERRNO((uint32_t)err);
        }
        lua_pop(L, 1);
    }
    if (lua_type(L, name) != LUA_TSTRING)
        return bad(L, c, lua_istable(L, e) ? "missing_name" : "not_a_string", e, i, ".%s[%d]", list, i);
    r->nr = seccomp_syscall_resolve_name(lua_tostring(L, name));
    if (r->nr == __NR_SCMP_ERROR)
        return bad(L, c, "unknown_syscall", name, i, ".%s[%d]", list, i);
    if (r->argno == 1 && r->mask == ALL && strcmp(lua_tostring(L, name), "ioctl") == 0)
        r->mask = LOW32; /* the kernel reads ioctl's request as 32 bits: high bits must not slip past */
    if (name != e)
        lua_pop(L, 1);
    return 0;
}

static const char *const table_keys[] = {"default", "allow", "deny", "errno", NULL};

/* The policy table at t compiled and pushed as a string. */
static int compile_table(lua_State *L, const struct ctx *c, int t)
{
    if (linx_unknown_key(L, t, table_keys)) {
        const char *k = linx_plain_key(L, -1, 24);
        return bad(L, c, "unknown_option", -1, 0, ".%s", k != NULL ? k : "?");
    }
    int err = EPERM;
    lua_pushliteral(L, "errno");
    lua_rawget(L, t);
    if (!lua_isnil(L, -1) && !get_errno(L, -1, &err))
        return bad(L, c, "bad_errno", -1, 0, ".errno");
    lua_pop(L, 1);
    uint32_t deny = SCMP_ACT_ERRNO((uint32_t)err), def = SCMP_ACT_ALLOW;
    lua_pushliteral(L, "default");
    lua_rawget(L, t);
    const char *d = lua_isnil(L, -1) ? "allow" : lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    if (strcmp(d, "allow") == 0)
        def = SCMP_ACT_ALLOW;
    else if (strcmp(d, "errno") == 0)
        def = deny;
    else if (strcmp(d, "kill") == 0)
        def = SCMP_ACT_KILL_PROCESS;
    else
        return bad(L, c, "unknown", -1, 0, ".default");
    lua_pop(L, 1);

    static const char *const lists[2] = {"allow", "deny"};
    size_t n[2];
    int lt = lua_gettop(L) + 1; /* the allow list, then the deny list */
    for (int k = 0; k < 2; k++) {
        lua_pushstring(L, lists[k]);
        lua_rawget(L, t);
        n[k] = lua_istable(L, -1) ? (size_t)lua_rawlen(L, -1) : 0;
        if (!lua_isnil(L, -1) && !lua_istable(L, -1))
            return bad(L, c, "not_a_list", -1, 0, ".%s", lists[k]);
        if (n[k] > MAX_RULES)
            return bad(L, c, "too_many", 0, 0, ".%s", lists[k]);
    }
    if (n[0] > 0 && def == SCMP_ACT_ALLOW)
        return bad(L, c, "needs_default", 0, 0, ".allow"); /* allowing what is allowed: a policy mistake */
    struct rule *rules = lua_newuserdata(L, (n[0] + n[1]) * sizeof *rules + 1);
    size_t m = 0;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 1; i <= n[k]; i++) {
            lua_rawgeti(L, lt + k, (lua_Integer)i);
            if (get_entry(L, c, lua_gettop(L), lists[k], (int)i, k == 0 ? SCMP_ACT_ALLOW : deny, &rules[m]))
                return 2;
            lua_pop(L, 1);
            m++;
        }
    }
    /* The same call twice without an argument filter and with two
     * answers: libseccomp keeps one of them in silence; say so instead.
     * exit and exit_group are always allowed (compile). */
    int exit_nr = SCMP_SYS(exit), exit_group_nr = SCMP_SYS(exit_group);
    for (size_t j = 0; j < m; j++) {
        const struct rule *r = &rules[j];
        int clash = def != SCMP_ACT_ALLOW && r->action != SCMP_ACT_ALLOW && (r->nr == exit_nr || r->nr == exit_group_nr);
        for (size_t i = 0; i < j && !clash && r->argno < 0; i++)
            clash = rules[i].nr == r->nr && rules[i].argno < 0 && rules[i].action != r->action;
        if (clash)
            return bad(L, c, "conflict", 0, r->index, ".%s[%d]", r->list, r->index);
    }
    long bad_rule;
    int e = compile(L, def, rules, m, &bad_rule);
    if (e != 0 && bad_rule >= 0) {
        const struct rule *r = &rules[bad_rule];
        return bad(L, c, e == EEXIST ? "conflict" : "rejected", 0, r->index, ".%s[%d]", r->list, r->index);
    }
    if (e != 0)
        return linx_error_os_call(L, c->op, "seccomp_export_bpf", NULL, e, NULL);
    lua_replace(L, t); /* the program where the table was */
    lua_settop(L, t);
    return 0;
}

/* The "default" list, compiled once per Lua state (the registry keeps it). */
static int push_default(lua_State *L, const struct ctx *c)
{
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    if (lua_type(L, -1) == LUA_TSTRING)
        return 0;
    lua_pop(L, 1);
    struct rule rules[NDEFAULT];
    for (size_t i = 0; i < NDEFAULT; i++) {
        rules[i].nr = seccomp_syscall_resolve_name(default_rules[i].name);
        rules[i].action = SCMP_ACT_ERRNO((uint32_t)default_rules[i].err);
        rules[i].argno = default_rules[i].argno;
        rules[i].mask = default_rules[i].mask;
        rules[i].value = default_rules[i].value;
        rules[i].list = "default";
        rules[i].index = (int)i + 1;
    }
    long bad_rule;
    int e = compile(L, SCMP_ACT_ALLOW, rules, NDEFAULT, &bad_rule);
    if (e != 0)
        return linx_error_os_call(L, c->op, "seccomp_export_bpf", NULL, e, NULL);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    return 0;
}

/* ---- a precompiled program ----------------------------------------------------- */

/* Read fd to its end (from where it is, as bwrap does) into a string. */
static int read_program(lua_State *L, const struct ctx *c, int fd, const char *path)
{
    char *buf = lua_newuserdata(L, PROG_MAX + 1);
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, PROG_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int err = errno;
            if (path != NULL)
                close(fd);
            return linx_error_os_call(L, c->op, "read", path, err, NULL);
        }
        len += (size_t)r;
        if (r == 0 || len > PROG_MAX)
            break;
    }
    if (path != NULL)
        close(fd);
    if (len == 0 || len % sizeof(struct sock_filter) != 0 || len > PROG_MAX)
        return bad(L, c, len > PROG_MAX ? "too_long" : "bad_program", 0, 0, "%s", "");
    lua_pushlstring(L, buf, len);
    lua_remove(L, -2);
    return 0;
}

/* The value at idx as a program string pushed on the stack. */
static int push_program(lua_State *L, const struct ctx *c, int idx)
{
    if (lua_istable(L, idx)) {
        lua_pushvalue(L, idx);
        return compile_table(L, c, lua_gettop(L));
    }
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strcmp(s, "default") == 0)
            return push_default(L, c);
        if (s[0] != '/' || linx_has_nul(s, len))
            return bad(L, c, "unknown", idx, 0, "%s", "");
        int fd = open(s, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return linx_error_os_call(L, c->op, "open", s, errno, "inside.seccomp names a program file");
        return read_program(L, c, fd, s);
    }
    int fd = -1;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Number v = lua_tonumber(L, idx);
        if (!(v >= 0 && v <= 2147483647.0) || floor(v) != v)
            return bad(L, c, "bad_fd", idx, 0, "%s", "");
        fd = (int)v;
    } else {
        const char *why;
        FILE *f = linx_spawn_lua_file(L, idx, &why);
        if (f == NULL) /* not_a_file: no policy, path nor fd either */
            return bad(L, c, strcmp(why, "closed") == 0 ? why : "unknown", idx, 0, "%s", "");
        fd = fileno(f);
    }
    return read_program(L, c, fd, NULL);
}

int linx_seccomp_opt(lua_State *L, int idx, int anchor, struct inside *in)
{
    struct ctx c = {"spawn", "inside.seccomp"};
    int r = push_program(L, &c, idx);
    if (r)
        return r;
    size_t len;
    in->seccomp = lua_tolstring(L, -1, &len);
    in->seccomp_len = (uint32_t)(len / sizeof(struct sock_filter));
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return 0;
}

int linx_l_seccomp_program(lua_State *L)
{
    struct ctx c = {"seccomp_program", "seccomp"};
    lua_settop(L, 1);
    luaL_checkstack(L, 16, NULL);
    int r = push_program(L, &c, 1);
    if (r)
        return r;
    return 1;
}
