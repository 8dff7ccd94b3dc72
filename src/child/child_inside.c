/* The inside steps (see child_inside.h): what a workload does to itself
 * between the release and execve. Freestanding, as child.c: raw system
 * calls only, no libc, no errno. */
#include "child_inside.h"

#include "child_policy.h"
#include "child_idmapped.h"
#include "child_net.h"
#include "child_seccomp.h"
#include "child_sys.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/statvfs.h> /* ST_* flags only */

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define LINX_MOUNT_ATTR_RDONLY 0x00000001ULL
/* mount(2) flags and MNT_DETACH, as the kernel's uapi defines them (not
 * from <sys/mount.h>, whose MS_NOUSER is a signed 1 << 31). */
enum {
    LX_RDONLY = 1, LX_NOSUID = 2, LX_NODEV = 4, LX_NOEXEC = 8, LX_SYNCHRONOUS = 16, LX_REMOUNT = 32,
    LX_NOATIME = 1024, LX_NODIRATIME = 2048, LX_BIND = 4096, LX_REC = 16384, LX_PRIVATE = 1 << 18,
    LX_RELATIME = 1 << 21, LX_MNT_DETACH = 2,
};

/* Make a mount read-only (with its submounts when recursive). mount_setattr
 * (5.12) does the whole tree at once; before it, remount the top bind
 * read-only, keeping the flags the kernel locks in a user namespace
 * (dropping nosuid, nodev or noexec there is EPERM). */
static long make_readonly(const char *target, int recursive)
{
    /* struct mount_attr (5.12): attr_set, attr_clr, propagation, userns_fd */
    unsigned long long at[4];
    zero(at, sizeof at);
    at[0] = LINX_MOUNT_ATTR_RDONLY;
    long r = RSYS5(SYS_mount_setattr, AT_FDCWD, target, recursive ? AT_RECURSIVE : 0, at, sizeof at);
    if (r != -E_NOSYS)
        return r;
    struct statfs st;
    zero(&st, sizeof st);
    r = RSYS2(SYS_statfs, target, &st);
    if (r < 0)
        return r;
    static const unsigned long st_ms[][2] = {
        {ST_NOSUID, LX_NOSUID},         {ST_NODEV, LX_NODEV},           {ST_NOEXEC, LX_NOEXEC},
        {ST_NOATIME, LX_NOATIME},       {ST_NODIRATIME, LX_NODIRATIME}, {ST_RELATIME, LX_RELATIME},
        {ST_SYNCHRONOUS, LX_SYNCHRONOUS},
    };
    unsigned long flags = LX_BIND | LX_REMOUNT | LX_RDONLY;
    for (size_t i = 0; i < sizeof st_ms / sizeof st_ms[0]; i++)
        if ((unsigned long)st.f_flags & st_ms[i][0])
            flags |= st_ms[i][1];
    return RSYS5(SYS_mount, NULL, target, NULL, flags, NULL);
}

static long rs_mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data)
{
    return RSYS5(SYS_mount, src, target, type, flags, data);
}

/* A minimal /dev, as bwrap's --dev: a tmpfs with the host's harmless
 * devices bound on empty files, and the fd links. *detail says which
 * path failed. */
static long mount_dev(const char *target, int readonly, int *detail)
{
    static const char *const names[INSIDE_DEV_COUNT] = INSIDE_DEV_NAMES;
    static const char *const links[4][2] = {
        {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"},
    };
    *detail = FAIL_TARGET;
    long r = rs_mount("tmpfs", target, "tmpfs", LX_NOSUID | LX_NOEXEC, "mode=0755");
    if (r < 0)
        return r;
    char path[INSIDE_PATH_MAX + 16], from[16];
    size_t tl = str_len(target);
    copy(path, target, tl);
    path[tl] = '/';
    for (int k = 0; k < INSIDE_DEV_COUNT; k++) {
        size_t nl = str_len(names[k]);
        copy(path + tl + 1, names[k], nl + 1);
        copy(from, "/dev/", 5);
        copy(from + 5, names[k], nl + 1);
        *detail = FAIL_DEV + k;
        r = RSYS4(SYS_openat, AT_FDCWD, path, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC | O_NOCTTY, 0666);
        if (r < 0)
            return r;
        rs_close((int)r);
        if ((r = rs_mount(from, path, NULL, LX_BIND, NULL)) < 0)
            return r;
    }
    *detail = FAIL_TARGET;
    for (int k = 0; k < 4; k++) {
        copy(path + tl + 1, links[k][0], str_len(links[k][0]) + 1);
        if ((r = RSYS3(SYS_symlinkat, links[k][1], AT_FDCWD, path)) < 0)
            return r;
    }
    return readonly ? make_readonly(target, 0) : 0;
}

/* One of inside.mounts. */
static long mount_one(const struct inside_mount *m, int *detail)
{
    unsigned long ro = m->readonly ? LX_RDONLY : 0;
    long r;
    *detail = FAIL_TARGET;
    switch (m->kind) {
    case INSIDE_PROC:
        return rs_mount("proc", m->target, "proc", LX_NOSUID | LX_NODEV | LX_NOEXEC | ro, m->data);
    case INSIDE_TMPFS:
        return rs_mount("tmpfs", m->target, "tmpfs", LX_NOSUID | LX_NODEV | ro, m->data);
    case INSIDE_BIND:
        if (m->idmap != INSIDE_IDMAP_NONE)
            return linx_idmapped_move(m); /* made by the host, read-only there too */
        r = rs_mount(m->source, m->target, NULL, LX_BIND | LX_REC, NULL);
        if (r < 0) {
            /* ENOENT and friends: say which end is missing */
            if (RSYS3(SYS_faccessat, AT_FDCWD, m->source, F_OK) < 0)
                *detail = FAIL_SOURCE;
            return r;
        }
        return m->readonly ? make_readonly(m->target, 1) : 0;
    case INSIDE_DEV:
        return mount_dev(m->target, m->readonly, detail);
    default:
        return -E_INVAL;
    }
}

/* The mounts, then the new root: mounts go in below the root before the
 * pivot, as bwrap does, because a new proc mount in a user namespace needs
 * a fully visible proc already in the mount namespace (the host's, until
 * the old root is detached). The tree is made private first, so nothing
 * propagates to the mount namespace we came from. */
static int failed(struct inside_fail *f, int stage, long r, int step, int detail)
{
    f->stage = stage;
    f->err = (int)-r;
    f->step = step;
    f->detail = detail;
    return -1;
}

static int mounts_and_root(const struct inside *in, struct inside_fail *f)
{
    long r = rs_mount("none", "/", NULL, LX_REC | LX_PRIVATE, NULL);
    if (r < 0)
        return failed(f, in->root != NULL ? STAGE_ROOT : STAGE_MOUNT, r, 0, FAIL_SLASH);
    if (in->root != NULL && (r = rs_mount(in->root, in->root, NULL, LX_BIND | LX_REC, NULL)) < 0)
        return failed(f, STAGE_ROOT, r, 0, FAIL_TARGET);
    for (int32_t i = 0; i < in->nmounts; i++) {
        int detail;
        if ((r = mount_one(&in->mounts[i], &detail)) < 0)
            return failed(f, STAGE_MOUNT, r, (int)i + 1, detail);
    }
    if (in->root == NULL)
        return 0;
    /* pivot_root(".", "."): the old root ends up on top of the new one and
     * is detached at once, so the root needs no directory to hold it.
     * root "/": a lookup of "/" stays below the bind just stacked on it,
     * and pivoting into the current root is EINVAL; ".." from the root
     * is the root again, but steps onto what is mounted on it. */
    int slash = 1;
    for (const char *p = in->root; *p != '\0'; p++)
        slash &= *p == '/';
    if ((r = RSYS1(SYS_chdir, in->root)) < 0 || (slash && (r = RSYS1(SYS_chdir, "..")) < 0) ||
        (r = RSYS2(SYS_pivot_root, ".", ".")) < 0 ||
        (r = RSYS2(SYS_umount2, ".", LX_MNT_DETACH)) < 0 || (r = RSYS1(SYS_chdir, "/")) < 0)
        return failed(f, STAGE_ROOT, r, 0, FAIL_TARGET);
    return 0;
}

int linx_inside_run(const struct inside *in, pid_t parent, struct inside_fail *f)
{
    long r;
    struct policy_fail pf;
    f->landlock = -1;
    if ((in->nmounts > 0 || in->root != NULL) && mounts_and_root(in, f) < 0)
        return -1;
    if (in->hostname != NULL && (r = RSYS2(SYS_sethostname, in->hostname, str_len(in->hostname))) < 0)
        return failed(f, STAGE_HOSTNAME, r, 0, 0);
    if (in->loopback && (r = linx_loopback_up()) < 0)
        return failed(f, STAGE_LOOPBACK, r, 0, 0);
    if (in->policy != NULL && (r = linx_policy_bounding(in->policy, &pf)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    if (in->ngroups >= 0 && (r = RSYS2(SYS_setgroups, in->ngroups, in->groups)) < 0)
        return failed(f, STAGE_SETGROUPS, r, 0, 0);
    if (in->gid >= 0 && (r = RSYS3(SYS_setresgid, in->gid, in->gid, in->gid)) < 0)
        return failed(f, STAGE_SETRESGID, r, 0, 0);
    if (in->uid >= 0 && (r = RSYS3(SYS_setresuid, in->uid, in->uid, in->uid)) < 0)
        return failed(f, STAGE_SETRESUID, r, 0, 0);
    if (in->gid >= 0 || in->uid >= 0) {
        /* A change of effective id clears the parent-death signal: arm it
         * again, and make sure the keeper did not go meanwhile. */
        RSYS2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
        if (RSYS1(SYS_getppid, 0) != parent)
            rs_exit(127);
    }
    if (in->policy != NULL && (r = linx_policy_caps_rlimits(in->policy, &pf)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    if (in->no_new_privs && (r = RSYS5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
        return failed(f, STAGE_PRCTL, r, 0, 0);
    if (in->policy != NULL && (r = linx_policy_landlock(in->policy, &pf, &f->landlock)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    int stage; /* the last step: child_seccomp.c */
    if (in->seccomp_len > 0 && (r = linx_child_seccomp(in, &stage)) < 0)
        return failed(f, stage, r, 0, 0);
    return 0;
}
