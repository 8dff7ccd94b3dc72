/* The stage table: what each enum stage of child/protocol.h means to the
 * host - the operation its error names, which path it names, its hints -
 * and the one lookup that decodes a child's failure report with it.
 *
 * Why here and not in child/protocol.h: the children include protocol.h
 * and are freestanding (no libc, they run in the host's memory with
 * CLONE_VM); this table is host-only data (strings, snprintf), and a
 * static const table in that header would land (or warn as unused) in
 * every child object. A stage appended to enum stage gets its row here;
 * one without a row reads as operation "spawn", no path, no hint. */
#include "stages.h"
#include "spawn_cgroup.h"
#include "spawn_policy.h"
#include "spawn_sandbox.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

/* Which path a failed stage names. */
enum stage_path {
    SP_NONE,
    SP_CWD,      /* spawn's cwd */
    SP_ARGV0,    /* argv[1] as given */
    SP_PLAN,     /* msg.step's mount: its target, its source (FAIL_SOURCE), a device (FAIL_DEV + k), or "/" */
    SP_ROOT,     /* inside.root, or "/" (FAIL_SLASH) */
    SP_LANDLOCK, /* msg.step's Landlock rule */
};

/* A hint that needs more than the errno. */
enum stage_special {
    SH_NONE,
    SH_EXEC,     /* ENOENT: "no such file" or "not found in PATH", by argv[1] */
    SH_SOURCE,   /* ENOENT/ENOTDIR with FAIL_SOURCE: the bind's source */
    SH_PRLIMIT,  /* always: the resource (msg.step) and why */
    SH_INIT,     /* inside.init's (spawn_sandbox.c) */
};

struct stage_hint {
    int err;
    const char *text;
};

struct stage_row {
    const char *operation;
    unsigned char path;    /* enum stage_path */
    unsigned char step;    /* msg.step is an index in inside.mounts: the error carries it */
    unsigned char special; /* enum stage_special, tried before hints */
    struct stage_hint hints[4]; /* by errno, the first that matches */
};

#define PARENT_MISSING "the parent directory does not exist (looked up inside the new root)"
#define PATH_EXISTS "the path exists already (a \"file\" or \"symlink\" never replaces one)"
#define PARENT_RDONLY "the parent is read-only: create it on a tmpfs (or a writable root)"
#define NOT_MAPPED_ID "the id is not mapped in the child's user namespace (see setup_maps)"
#define CAP_EPERM(text) {{EPERM, text}}
#define PLAN_CREATE {{ENOENT, PARENT_MISSING}, {ENOTDIR, PARENT_MISSING}, {EEXIST, PATH_EXISTS}, {EROFS, PARENT_RDONLY}}
#define MOUNTPOINT_MISSING "the mount point does not exist (looked up inside the new root, as the container sees it)"
#define LANDLOCK_MISSING "the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK, and \"landlock\" in the lsm= boot " \
                         "list); without required = true it is skipped"
#define LANDLOCK_PATH "a Landlock path does not exist (it is looked up inside the new root)"

static const struct stage_row stages[] = {
    [STAGE_SETUP] = {"setup", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_STDIO] = {"stdio", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_CHDIR] = {"chdir", SP_CWD, 0, SH_NONE, {{0}}},
    [STAGE_EXEC] = {"exec", SP_ARGV0, 0, SH_EXEC, {{0}}},
    [STAGE_CLONE] = {"clone", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_PROC] = {"proc", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_FDS] = {"fds", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_MOUNT] = {"mount", SP_PLAN, 1, SH_SOURCE,
        {{ENOENT, MOUNTPOINT_MISSING}, {ENOTDIR, MOUNTPOINT_MISSING},
         {EPERM, "mounting needs \"mount\" (and, unprivileged, \"user\") in namespaces; proc also \"pid\""},
         {ENOSYS, "the mount plan needs Linux 5.12 (open_tree, fsmount, mount_setattr; openat2 5.6)"}}},
    [STAGE_ROOT] = {"pivot_root", SP_ROOT, 0, SH_NONE,
        {{ENOENT, "root must be an existing directory"}, {ENOTDIR, "root must be an existing directory"}}},
    [STAGE_HOSTNAME] = {"sethostname", SP_NONE, 0, SH_NONE,
        CAP_EPERM("sethostname needs CAP_SYS_ADMIN over the child's uts namespace (\"user\" and \"uts\")")},
    [STAGE_SETGROUPS] = {"setgroups", SP_NONE, 0, SH_NONE,
        {{EPERM, "setgroups is denied in this user namespace (setup_maps writes \"deny\" unless setgroups = \"skip\" and "
                 "a gid range is mapped)"},
         {EINVAL, "a group is not mapped in the child's user namespace"}}},
    [STAGE_SETRESGID] = {"setresgid", SP_NONE, 0, SH_NONE, {{EINVAL, NOT_MAPPED_ID}}},
    [STAGE_SETRESUID] = {"setresuid", SP_NONE, 0, SH_NONE, {{EINVAL, NOT_MAPPED_ID}}},
    [STAGE_PRCTL] = {"prctl", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_CAPBSET] = {"prctl", SP_NONE, 0, SH_NONE,
        CAP_EPERM("dropping capabilities needs CAP_SETPCAP: add \"user\" to namespaces (or run as root)")},
    [STAGE_CAPSET] = {"capset", SP_NONE, 0, SH_NONE,
        CAP_EPERM("the workload lacks a capability it was asked to keep")},
    [STAGE_AMBIENT] = {"prctl", SP_NONE, 0, SH_NONE,
        CAP_EPERM("an ambient capability needs it permitted and inheritable, and securebits that allow it")},
    [STAGE_PRLIMIT] = {"prlimit", SP_NONE, 0, SH_PRLIMIT, {{0}}},
    [STAGE_LANDLOCK] = {"landlock", SP_LANDLOCK, 0, SH_NONE,
        {{ENOSYS, LANDLOCK_MISSING}, {EOPNOTSUPP, LANDLOCK_MISSING}, {ENOENT, LANDLOCK_PATH}, {ENOTDIR, LANDLOCK_PATH}}},
    [STAGE_LOOPBACK] = {"loopback", SP_NONE, 0, SH_NONE,
        CAP_EPERM("bringing lo up needs CAP_NET_ADMIN over the child's net namespace (\"user\" and \"net\")")},
    [STAGE_IDMAP] = {"idmap", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_SECCOMP] = {"seccomp", SP_NONE, 0, SH_NONE,
        {{EINVAL, "the kernel refused the seccomp program (not a valid classic BPF filter)"}}},
    [STAGE_CLONE3] = {"clone3", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_SETSID] = {"setsid", SP_NONE, 0, SH_NONE, {{0}}},
    [STAGE_INIT] = {"init", SP_NONE, 0, SH_INIT, {{0}}},
    [STAGE_MKDIR] = {"mkdir", SP_PLAN, 1, SH_NONE, PLAN_CREATE},
    [STAGE_SYMLINK] = {"symlink", SP_PLAN, 1, SH_NONE, PLAN_CREATE},
    [STAGE_OPEN] = {"open", SP_PLAN, 1, SH_NONE, PLAN_CREATE},
    [STAGE_WRITE] = {"write", SP_PLAN, 1, SH_NONE, {{0}}},
};

static const struct stage_row unknown = {"spawn", SP_NONE, 0, SH_NONE, {{0}}};

/* The one lookup. */
static const struct stage_row *stage_row(int stage)
{
    if (stage < 0 || (size_t)stage >= sizeof stages / sizeof stages[0] || stages[stage].operation == NULL)
        return &unknown;
    return &stages[stage];
}

const char *linx_stage_operation(int stage)
{
    return stage_row(stage)->operation;
}

static const char *plan_path(const struct handle *h, const struct msg *rep, int root, char *buf, size_t len)
{
    static const char *const dev_names[INSIDE_DEV_COUNT] = INSIDE_DEV_NAMES;
    const struct inside *in = h->inside;
    if (rep->detail == FAIL_SLASH)
        return "/";
    if (in == NULL)
        return NULL;
    if (root)
        return in->root;
    if (rep->step < 1 || rep->step > in->nmounts)
        return NULL;
    const struct inside_mount *m = &in->mounts[rep->step - 1];
    if (rep->detail == FAIL_SOURCE)
        return m->source;
    if (rep->detail >= FAIL_DEV && rep->detail < FAIL_DEV + INSIDE_DEV_COUNT) {
        snprintf(buf, len, "%s/%s", m->target, dev_names[rep->detail - FAIL_DEV]);
        return buf;
    }
    return m->target;
}

static const char *row_path(const struct stage_row *r, const struct handle *h, const struct msg *rep, char *buf, size_t len)
{
    switch (r->path) {
    case SP_CWD: return h->cwd;
    case SP_ARGV0: return h->argv0;
    case SP_PLAN: return plan_path(h, rep, 0, buf, len);
    case SP_ROOT: return plan_path(h, rep, 1, buf, len);
    case SP_LANDLOCK: return linx_policy_path(h->inside, rep);
    default: return NULL;
    }
}

static const char *row_hint(const struct stage_row *r, const struct handle *h, const struct msg *rep, char *buf, size_t len)
{
    int e = rep->err;
    switch (r->special) {
    case SH_EXEC:
        if (e == ENOENT)
            return strchr(h->argv0 ? h->argv0 : "", '/') ? "no such file" : "not found in PATH";
        break;
    case SH_SOURCE:
        if ((e == ENOENT || e == ENOTDIR) && rep->detail == FAIL_SOURCE)
            return "the bind's source does not exist";
        break;
    case SH_PRLIMIT:
        snprintf(buf, len, "inside.rlimits.%s: %s", linx_policy_rlimit_name(rep->step),
                 e == EPERM ? "raising a hard limit needs CAP_SYS_RESOURCE in the host's user namespace "
                              "(nofile: at most fs.nr_open)"
                 : e == EINVAL ? "the kernel refused the value"
                               : "the kernel refused it");
        return buf;
    case SH_INIT: return linx_init_hint(e);
    default: break;
    }
    for (size_t k = 0; k < sizeof r->hints / sizeof r->hints[0] && r->hints[k].text != NULL; k++)
        if (r->hints[k].err == e)
            return r->hints[k].text;
    return NULL;
}

void linx_stage_decode(const struct handle *h, const struct msg *rep, struct stage_report *out)
{
    const struct stage_row *r = stage_row(rep->stage);
    out->operation = r->operation;
    out->path = row_path(r, h, rep, out->path_buf, sizeof out->path_buf);
    out->hint = row_hint(r, h, rep, out->hint_buf, sizeof out->hint_buf);
    out->step = r->step && rep->step > 0 ? rep->step : 0;
}

/* Before the park: the keeper's clone (of the workload, into spawn's
 * cgroup) and the workload's setup. */
const char *linx_stage_spawn_hint(int stage, int err, unsigned long flags)
{
    if (stage == STAGE_PROC)
        return "linx.process needs procfs mounted on /proc";
    if (stage == STAGE_CLONE3) /* into spawn's cgroup (spawn_cgroup.c) */
        return linx_cgroup_hint(err);
    if (stage != STAGE_CLONE)
        flags = 0;
    if (err == EPERM && (flags & ~(unsigned long)CLONE_NEWUSER) != 0 && !(flags & CLONE_NEWUSER))
        return "creating namespaces other than user needs CAP_SYS_ADMIN; add \"user\" to namespaces";
    if (err == EPERM && (flags & CLONE_NEWUSER))
        return "unprivileged user namespaces may be disabled (sysctl user.max_user_namespaces, "
               "kernel.unprivileged_userns_clone, or an AppArmor/seccomp policy)";
    if (err == ENOSPC || err == EUSERS)
        return "a namespace limit was reached (see /proc/sys/user/max_*_namespaces)";
    if (err == EINVAL && (flags & CLONE_NEWUSER))
        return "a multi-threaded caller or a chroot can prevent a new user namespace";
    return NULL;
}

int linx_stage_error(lua_State *L, const struct handle *h, const struct msg *rep)
{
    struct stage_report sr;
    linx_stage_decode(h, rep, &sr);
    int r = linx_error_os(L, sr.operation, sr.path, rep->err, sr.hint);
    lua_pushstring(L, sr.operation);
    lua_setfield(L, -3, "stage");
    if (sr.step > 0) {
        lua_pushinteger(L, sr.step);
        lua_setfield(L, -3, "step");
    }
    return r;
}
