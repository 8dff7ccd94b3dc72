/* The sandbox policy steps of a linx.process workload (see
 * child_policy.h): capabilities, resource limits, Landlock. Freestanding,
 * as child.c: raw system calls only, no libc, no errno, no memset. */
#include "child_policy.h"

#include "child_sys.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif

enum { E_OPNOTSUPP = 95 };

static long fail(struct policy_fail *f, int stage, long r, int step)
{
    f->stage = stage;
    f->step = step;
    return r;
}

/* ---- capabilities --------------------------------------------------------------- */

/* capget/capset's header and data, version 3 (two 32-bit halves). */
#define CAP_V3 0x20080522
struct cap_header {
    uint32_t version;
    int pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

long linx_policy_bounding(const struct inside_policy *p, struct policy_fail *f)
{
    if (!p->caps)
        return 0;
    /* Every capability the kernel knows but the kept ones: the first
     * number past its last one (cap_last_cap) is EINVAL, so a kernel
     * newer than this code loses its new capabilities too. */
    for (int cap = 0; cap < 64; cap++) {
        if (p->keep >> cap & 1)
            continue;
        long r = RSYS5(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (r == -E_INVAL)
            break;
        if (r < 0)
            return fail(f, STAGE_CAPBSET, r, cap);
    }
    /* A change of uid from 0 to non-zero empties the permitted set
     * unless asked to keep it (until execve, which resets the flag);
     * the effective set is emptied anyway and set again afterwards. */
    long r = RSYS5(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0);
    return r < 0 ? fail(f, STAGE_CAPBSET, r, 0) : 0;
}

/* The kept capabilities the kernel knows (a kept name newer than the
 * kernel is none of its sets, and capset would refuse it). */
static uint64_t known_kept(uint64_t keep)
{
    for (int cap = 0; cap < 64; cap++)
        if ((keep >> cap & 1) && RSYS5(SYS_prctl, PR_CAPBSET_READ, cap, 0, 0, 0) == -E_INVAL)
            keep &= ~(1ULL << cap);
    return keep;
}

static long caps_exact(const struct inside_policy *p, struct policy_fail *f)
{
    uint64_t keep = known_kept(p->keep);
    struct cap_header h;
    struct cap_data d[2];
    h.version = CAP_V3;
    h.pid = 0;
    for (int i = 0; i < 2; i++)
        d[i].effective = d[i].permitted = d[i].inheritable = (uint32_t)(keep >> (32 * i));
    long r = RSYS2(SYS_capset, &h, d);
    if (r < 0)
        return fail(f, STAGE_CAPSET, r, 0);
    /* Root inside keeps its permitted set through execve by the
     * bounding set; anyone else only by the ambient set. */
    if (RSYS1(SYS_geteuid, 0) == 0)
        return 0;
    for (int cap = 0; cap < 64; cap++) {
        if (!(keep >> cap & 1))
            continue;
        r = RSYS5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
        if (r < 0)
            return fail(f, STAGE_AMBIENT, r, cap);
    }
    return 0;
}

long linx_policy_caps_rlimits(const struct inside_policy *p, struct policy_fail *f)
{
    long r;
    if (p->caps && (r = caps_exact(p, f)) < 0)
        return r;
    for (int32_t i = 0; i < p->nrlimits; i++) {
        const struct policy_rlimit *l = &p->rlimits[i];
        unsigned long long rl[2];
        rl[0] = l->soft;
        rl[1] = l->hard;
        r = RSYS4(SYS_prlimit64, 0, l->resource, rl, NULL);
        if (r < 0)
            return fail(f, STAGE_PRLIMIT, r, (int)l->resource);
    }
    return 0;
}

/* ---- Landlock ------------------------------------------------------------------- */

#define LL_VERSION 1ULL /* LANDLOCK_CREATE_RULESET_VERSION */
#define LL_RULE_PATH_BENEATH 1
enum {
    LL_EXECUTE = 1 << 0, LL_WRITE_FILE = 1 << 1, LL_READ_FILE = 1 << 2, LL_READ_DIR = 1 << 3,
    LL_REMOVE_DIR = 1 << 4, LL_REMOVE_FILE = 1 << 5, LL_MAKE_CHAR = 1 << 6, LL_MAKE_DIR = 1 << 7,
    LL_MAKE_REG = 1 << 8, LL_MAKE_SOCK = 1 << 9, LL_MAKE_FIFO = 1 << 10, LL_MAKE_BLOCK = 1 << 11,
    LL_MAKE_SYM = 1 << 12,
    LL_REFER = 1 << 13,     /* ABI 2 */
    LL_TRUNCATE = 1 << 14,  /* ABI 3 */
    LL_IOCTL_DEV = 1 << 15, /* ABI 5 */
};
/* What may be granted on a file (not a directory) as a rule's parent. */
#define LL_FILE_RIGHTS (LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV)

/* struct landlock_path_beneath_attr (packed in the uapi) */
struct ll_path_beneath {
    uint64_t allowed;
    int32_t parent_fd;
} __attribute__((packed));

/* Every filesystem right of an ABI: all of them are handled, so what no
 * rule grants is denied. (ABI 4's network rights and ABI 6's scopes are
 * left alone: the sandbox option is about paths.) */
static uint64_t fs_rights(long abi)
{
    uint64_t r = (1ULL << 13) - 1; /* ABI 1: EXECUTE .. MAKE_SYM */
    if (abi >= 2)
        r |= LL_REFER;
    if (abi >= 3)
        r |= LL_TRUNCATE;
    if (abi >= 5)
        r |= LL_IOCTL_DEV;
    return r;
}

/* What a rule's lists grant, at most what the ABI handles. */
static uint64_t grants(uint32_t g, uint64_t handled)
{
    uint64_t r = 0;
    if (g & (POLICY_LL_READ | POLICY_LL_WRITE | POLICY_LL_EXEC))
        r |= LL_READ_FILE | LL_READ_DIR;
    if (g & POLICY_LL_EXEC)
        r |= LL_EXECUTE;
    if (g & POLICY_LL_WRITE)
        r |= LL_WRITE_FILE | LL_REMOVE_DIR | LL_REMOVE_FILE | LL_MAKE_CHAR | LL_MAKE_DIR | LL_MAKE_REG |
             LL_MAKE_SOCK | LL_MAKE_FIFO | LL_MAKE_BLOCK | LL_MAKE_SYM | LL_REFER | LL_TRUNCATE | LL_IOCTL_DEV;
    return r & handled;
}

/* One rule: the path opened O_PATH where the workload now stands (inside
 * its new root), then added beneath. 0 or -errno. */
static long add_rule(int ruleset, const char *path, uint32_t g, uint64_t handled)
{
    long fd = RSYS4(SYS_openat, AT_FDCWD, path, O_PATH | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    struct stat st;
    zero(&st, sizeof st);
    long r = RSYS2(SYS_fstat, fd, &st);
    if (r == 0) {
        struct ll_path_beneath pb;
        pb.allowed = grants(g, handled);
        if (!S_ISDIR(st.st_mode))
            pb.allowed &= LL_FILE_RIGHTS;
        pb.parent_fd = (int32_t)fd;
        r = RSYS4(SYS_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &pb, 0);
    }
    rs_close((int)fd);
    return r;
}

long linx_policy_landlock(const struct inside_policy *p, struct policy_fail *f, int *abi_out)
{
    if (p->landlock == POLICY_LL_NONE)
        return 0;
    long abi = RSYS3(SYS_landlock_create_ruleset, NULL, 0, LL_VERSION);
    if (abi == -E_NOSYS || abi == -E_OPNOTSUPP) { /* not built in, or not enabled at boot */
        if (p->landlock == POLICY_LL_REQUIRED)
            return fail(f, STAGE_LANDLOCK, abi, 0);
        *abi_out = 0;
        return 0;
    }
    if (abi < 0)
        return fail(f, STAGE_LANDLOCK, abi, 0);
    uint64_t handled = fs_rights(abi);
    /* struct landlock_ruleset_attr: only handled_access_fs (the kernel
     * takes a shorter struct than its own) */
    uint64_t attr = handled;
    long rs = RSYS3(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0)
        return fail(f, STAGE_LANDLOCK, rs, 0);
    long r = 0;
    int32_t i = 0;
    for (; i < p->nrules && r == 0; i++)
        r = add_rule((int)rs, linx_policy_rule_path(p, i), p->rules[i].grants, handled);
    if (r < 0) {
        rs_close((int)rs);
        return fail(f, STAGE_LANDLOCK, r, (int)i);
    }
    /* no_new_privs is on (landlock implies it), so this needs no privilege */
    r = RSYS2(SYS_landlock_restrict_self, rs, 0);
    rs_close((int)rs);
    if (r < 0)
        return fail(f, STAGE_LANDLOCK, r, 0);
    *abi_out = (int)abi;
    return 0;
}
