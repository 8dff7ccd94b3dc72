/* The mount plan and the new root (spawn's inside.mounts and inside.root),
 * applied by the workload to itself (see child_mounts.h). Freestanding,
 * as child.c: raw system calls only, no libc, no errno.
 *
 * Every target is resolved inside the new root as the container sees it:
 * openat2(RESOLVE_IN_ROOT) from a descriptor of the root, so an absolute
 * symlink in the rootfs points into the root, never to the host, and
 * ".." stops at the root. Mounts are made with the descriptor-based mount
 * API (open_tree, fsopen/fsconfig/fsmount, move_mount, mount_setattr):
 * each entry costs a constant number of system calls, and nothing re-reads
 * /proc/self/mountinfo, so a plan of N entries costs O(N). */
#include "child_mounts.h"

#include "child_idmapped.h"
#include "child_sys.h"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>

enum { LX_REC = 16384, LX_PRIVATE = 1 << 18, LX_MNT_DETACH = 2, LX_EXIST = 17 /* EEXIST */ };

static long mount_attr(int fd, const char *path, unsigned flags, unsigned long long set)
{
    struct mount_attr at;
    zero(&at, sizeof at);
    at.attr_set = set;
    return RSYS5(SYS_mount_setattr, fd, path, flags, &at, sizeof at);
}

/* path (absolute, normal form) inside the root at rootfd, as O_PATH
 * (| extra); the descriptor or -errno. */
static long resolve(int rootfd, const char *path, long extra)
{
    struct open_how how;
    zero(&how, sizeof how);
    how.flags = (unsigned long long)(O_PATH | O_CLOEXEC | extra);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    return RSYS4(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* The parent of path (resolved in the root, a directory) and where its
 * last component starts; -errno. */
static long resolve_parent(int rootfd, const char *path, const char **name)
{
    char buf[INSIDE_PATH_MAX];
    size_t len = str_len(path), cut = len;
    while (cut > 0 && path[cut - 1] != '/')
        cut--;
    *name = path + cut;
    if (cut >= sizeof buf)
        return -E_NAMETOOLONG;
    copy(buf, path, cut);
    buf[cut] = '\0';
    return resolve(rootfd, buf, O_DIRECTORY);
}

/* Move the detached mount mfd onto the target fd. */
static long attach(int mfd, int tfd)
{
    return RSYS5(SYS_move_mount, mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

/* A new filesystem of type fs, configured with opts ("a=b,c", or NULL),
 * as a detached mount with the MOUNT_ATTR_* attrs: its descriptor or
 * -errno. */
static long new_fs(const char *fs, const char *src, const char *opts, unsigned attrs)
{
    long fsfd = RSYS2(SYS_fsopen, fs, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return fsfd;
    long r = RSYS5(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "source", src, 0);
    char kv[4096];
    for (const char *p = opts; r >= 0 && p != NULL && *p != '\0';) {
        size_t n = 0, eq = 0;
        while (p[n] != '\0' && p[n] != ',' && n < sizeof kv - 1) {
            if (p[n] == '=' && eq == 0)
                eq = n;
            kv[n] = p[n];
            n++;
        }
        kv[n] = '\0';
        if (n > 0 && eq > 0) {
            kv[eq] = '\0';
            r = RSYS5(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, kv, kv + eq + 1, 0);
        } else if (n > 0) {
            r = RSYS5(SYS_fsconfig, fsfd, FSCONFIG_SET_FLAG, kv, NULL, 0);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (r >= 0)
        r = RSYS5(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    if (r >= 0)
        r = RSYS3(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, attrs);
    rs_close((int)fsfd);
    return r;
}

/* Mount the new filesystem onto the target tfd; the new mount's
 * descriptor (mfd, when asked for) or -errno. */
static long mount_fs(int tfd, const char *fs, const char *opts, unsigned attrs, long *mfd)
{
    long m = new_fs(fs, fs, opts, attrs);
    if (m < 0)
        return m;
    long r = attach((int)m, tfd);
    if (r < 0 || mfd == NULL)
        rs_close((int)m);
    else
        *mfd = m;
    return r;
}

/* A minimal /dev, as bwrap's --dev: a tmpfs with the host's harmless
 * devices bound on empty files, a devpts of its own (pts, ptmx), a tmpfs
 * at shm, and the fd links. The host's nodes are cloned before the tmpfs
 * covers anything, so a "dev" at /dev binds the host's devices, not its
 * own placeholders. *detail says which path failed. */
static long mount_dev(int tfd, int readonly, int *detail, long *top)
{
    static const char *const names[INSIDE_DEV_COUNT] = INSIDE_DEV_NAMES;
    static const char *const links[5][2] = {
        {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
        {"stderr", "/proc/self/fd/2"},   {"ptmx", "pts/ptmx"},
    };
    long nodes[INSIDE_DEV_NODES], r = 0, dfd = -1;
    int k = 0;
    for (; k < INSIDE_DEV_NODES; k++) {
        char from[16];
        size_t nl = str_len(names[k]);
        copy(from, "/dev/", 5);
        copy(from + 5, names[k], nl + 1);
        *detail = FAIL_DEV + k;
        nodes[k] = RSYS3(SYS_open_tree, AT_FDCWD, from, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if ((r = nodes[k]) < 0)
            goto out;
    }
    *detail = FAIL_TARGET;
    if ((r = mount_fs(tfd, "tmpfs", "mode=0755", MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &dfd)) < 0)
        goto out;
    for (int i = 0; i < INSIDE_DEV_NODES; i++) {
        *detail = FAIL_DEV + i;
        long f = RSYS4(SYS_openat, dfd, names[i], O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC | O_NOCTTY, 0666);
        if ((r = f) < 0)
            goto out;
        r = attach((int)nodes[i], (int)f);
        rs_close((int)f);
        if (r < 0)
            goto out;
    }
    /* pts (a devpts instance of its own: its ptmx opens ptys of this
     * instance only) and shm */
    static const struct {
        const char *name, *fs, *opts;
        unsigned mode, attrs;
    } subs[2] = {
        {"pts", "devpts", "newinstance,ptmxmode=0666,mode=0620", 0755, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC},
        {"shm", "tmpfs", "mode=1777", 01777, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV},
    };
    for (int i = 0; i < 2; i++) {
        *detail = FAIL_DEV + (i == 0 ? 6 : 8);
        long sub = 0;
        if ((r = RSYS3(SYS_mkdirat, dfd, subs[i].name, subs[i].mode)) < 0 ||
            (r = sub = RSYS4(SYS_openat, dfd, subs[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0)) < 0)
            goto out;
        r = mount_fs((int)sub, subs[i].fs, subs[i].opts, subs[i].attrs, NULL);
        rs_close((int)sub);
        if (r < 0)
            goto out;
    }
    for (int i = 0; i < 5; i++) {
        *detail = i == 4 ? FAIL_DEV + 7 : FAIL_TARGET;
        if ((r = RSYS3(SYS_symlinkat, links[i][1], dfd, links[i][0])) < 0)
            goto out;
    }
    *detail = FAIL_TARGET;
    if (readonly)
        r = mount_attr((int)dfd, "", AT_EMPTY_PATH, MOUNT_ATTR_RDONLY);
out:
    for (int i = 0; i < k; i++)
        rs_close((int)nodes[i]);
    if (dfd >= 0 && r >= 0 && top != NULL)
        *top = dfd;
    else if (dfd >= 0)
        rs_close((int)dfd);
    return r;
}

/* A bind: the source's tree cloned, its attributes set while it is still
 * detached (read-only, nosuid, nodev), then moved onto the target. */
static long mount_bind(const struct inside_mount *m, int tfd, int *detail, long *top)
{
    long tree = RSYS3(SYS_open_tree, AT_FDCWD, m->source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0) {
        *detail = FAIL_SOURCE;
        return tree;
    }
    unsigned long long set = (m->readonly ? MOUNT_ATTR_RDONLY : 0) | (m->flags & INSIDE_F_SUID ? 0 : MOUNT_ATTR_NOSUID) |
                             (m->flags & INSIDE_F_DEV ? 0 : MOUNT_ATTR_NODEV);
    long r = mount_attr((int)tree, "", AT_EMPTY_PATH | AT_RECURSIVE, set);
    if (r >= 0)
        r = attach((int)tree, tfd);
    if (r >= 0 && top != NULL)
        *top = tree; /* now the attached mount itself */
    else
        rs_close((int)tree);
    return r;
}

/* "dir": the directory and any missing parent (0755), resolved in the
 * root one component at a time; an existing directory is fine. */
static long make_dir(int rootfd, const char *path, int mode)
{
    char buf[INSIDE_PATH_MAX];
    size_t len = str_len(path);
    if (len >= sizeof buf)
        return -E_NAMETOOLONG;
    copy(buf, path, len + 1);
    for (size_t end = 1; end <= len; end++) {
        if (buf[end] != '/' && buf[end] != '\0')
            continue;
        char saved = buf[end];
        buf[end] = '\0';
        const char *name;
        long pfd = resolve_parent(rootfd, buf, &name), r = pfd;
        if (pfd >= 0) {
            r = RSYS3(SYS_mkdirat, pfd, name, saved == '\0' ? mode : 0755);
            if (r >= 0 && saved == '\0') /* the mode as asked, whatever the umask */
                r = RSYS4(SYS_fchmodat, pfd, name, mode, 0);
            rs_close((int)pfd);
        }
        if (r == -LX_EXIST) {
            long d = resolve(rootfd, buf, O_DIRECTORY); /* a directory (or a link to one, in the root)? */
            r = d;
            if (d >= 0)
                rs_close((int)d);
        }
        buf[end] = saved;
        if (r < 0)
            return r;
    }
    return 0;
}

/* "file": created (never an existing one replaced), its bytes written,
 * its mode set. *stage says which call failed. */
static long make_file(int rootfd, const struct inside_mount *m, int *stage)
{
    const char *name;
    *stage = STAGE_OPEN;
    long pfd = resolve_parent(rootfd, m->target, &name);
    if (pfd < 0)
        return pfd;
    long fd = RSYS4(SYS_openat, pfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    rs_close((int)pfd);
    if (fd < 0)
        return fd;
    long r = 0;
    *stage = STAGE_WRITE;
    for (uint32_t done = 0; done < m->len;) {
        r = RSYS3(SYS_write, fd, m->data + done, m->len - done);
        if (r == -E_INTR)
            continue;
        if (r < 0)
            break;
        done += (uint32_t)r;
        r = 0;
    }
    if (r >= 0)
        r = RSYS2(SYS_fchmod, fd, m->mode);
    rs_close((int)fd);
    return r;
}

/* One of inside.mounts, its target resolved from rootfd. top: NULL, or
 * where the new mount's descriptor goes (a mount on the root itself,
 * which later targets and the pivot must see). */
static long mount_one(int rootfd, const struct inside_mount *m, int *stage, int *detail, long *top)
{
    unsigned ro = m->readonly ? MOUNT_ATTR_RDONLY : 0;
    long r;
    *stage = STAGE_MOUNT;
    *detail = FAIL_TARGET;
    switch (m->kind) {
    case INSIDE_DIR:
        *stage = STAGE_MKDIR;
        return make_dir(rootfd, m->target, m->mode);
    case INSIDE_FILE:
        return make_file(rootfd, m, stage);
    case INSIDE_SYMLINK: {
        const char *name;
        *stage = STAGE_SYMLINK;
        long pfd = resolve_parent(rootfd, m->target, &name);
        if (pfd < 0)
            return pfd;
        r = RSYS3(SYS_symlinkat, m->source, pfd, name);
        rs_close((int)pfd);
        return r;
    }
    default:
        break;
    }
    long tfd = resolve(rootfd, m->target, 0);
    if (tfd < 0) {
        if (m->kind == INSIDE_BIND && (m->flags & INSIDE_F_TRY) && RSYS3(SYS_faccessat, AT_FDCWD, m->source, F_OK) < 0)
            return 0; /* try: the source is missing too; skipped */
        return tfd;
    }
    switch (m->kind) {
    case INSIDE_PROC:
        r = mount_fs((int)tfd, "proc", m->data, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | ro, top);
        break;
    case INSIDE_TMPFS:
        r = mount_fs((int)tfd, "tmpfs", m->data, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | ro, top);
        break;
    case INSIDE_MQUEUE:
        r = mount_fs((int)tfd, "mqueue", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | ro, top);
        break;
    case INSIDE_DEVPTS:
        r = mount_fs((int)tfd, "devpts", m->data, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | ro, top);
        break;
    case INSIDE_OVERLAY:
        r = mount_fs((int)tfd, "overlay", m->data, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | ro, top);
        break;
    case INSIDE_BIND:
        if (m->idmap != INSIDE_IDMAP_NONE) { /* made by the host (idmapped.c), moved into place here */
            long keep = top != NULL && m->idmap_fd >= 0 ? RSYS3(SYS_fcntl, m->idmap_fd, F_DUPFD_CLOEXEC, 0) : -1;
            r = linx_idmapped_move(m, (int)tfd); /* closes idmap_fd */
            if (r >= 0 && keep >= 0)
                *top = keep; /* the same mount, now attached on the root */
            else if (keep >= 0)
                rs_close((int)keep);
            break;
        }
        r = mount_bind(m, (int)tfd, detail, top);
        if (r == -E_NOENT && *detail == FAIL_SOURCE && (m->flags & INSIDE_F_TRY))
            r = 0; /* try: a missing source skips the entry */
        break;
    case INSIDE_DEV:
        r = mount_dev((int)tfd, m->readonly, detail, top);
        break;
    case INSIDE_REMOUNT:
        r = mount_attr((int)tfd, "", AT_EMPTY_PATH | AT_RECURSIVE, MOUNT_ATTR_RDONLY);
        break;
    default:
        r = -E_INVAL;
    }
    rs_close((int)tfd);
    return r;
}

static int failed(struct mount_fail *f, int stage, long r, int step, int detail)
{
    f->stage = stage;
    f->err = (int)-r;
    f->step = step;
    f->detail = detail;
    return -1;
}

/* The root's bind: the tree cloned with its attributes (nosuid, nodev
 * unless asked otherwise, read-only when asked) set before it is
 * attached onto itself. Its descriptor (the new root as the mounts see
 * it) or -errno. */
static long bind_root(const struct inside *in)
{
    long tree = RSYS3(SYS_open_tree, AT_FDCWD, in->root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (tree < 0)
        return tree;
    int fl = in->root_flags;
    unsigned long long set = (fl & INSIDE_F_RDONLY ? MOUNT_ATTR_RDONLY : 0) | (fl & INSIDE_F_SUID ? 0 : MOUNT_ATTR_NOSUID) |
                             (fl & INSIDE_F_DEV ? 0 : MOUNT_ATTR_NODEV);
    long r = mount_attr((int)tree, "", AT_EMPTY_PATH | AT_RECURSIVE, set);
    if (r >= 0)
        r = RSYS5(SYS_move_mount, tree, "", AT_FDCWD, in->root, MOVE_MOUNT_F_EMPTY_PATH);
    if (r < 0) {
        rs_close((int)tree);
        return r;
    }
    return tree; /* now the attached root bind itself, even for root "/" */
}

/* The mounts, then the new root: mounts go in below the root before the
 * pivot, as bwrap does, because a new proc mount in a user namespace needs
 * a fully visible proc already in the mount namespace (the host's, until
 * the old root is detached). The tree is made private first, so nothing
 * propagates to the mount namespace we came from. */
int linx_mounts_run(const struct inside *in, struct mount_fail *f)
{
    long r = RSYS5(SYS_mount, "none", "/", NULL, LX_REC | LX_PRIVATE, NULL);
    if (r < 0)
        return failed(f, in->root != NULL ? STAGE_ROOT : STAGE_MOUNT, r, 0, FAIL_SLASH);
    long rootfd = in->root != NULL ? bind_root(in) : RSYS4(SYS_openat, AT_FDCWD, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
    if (rootfd < 0)
        return failed(f, in->root != NULL ? STAGE_ROOT : STAGE_MOUNT, rootfd, 0, FAIL_TARGET);
    for (int32_t i = 0; i < in->nmounts; i++) {
        int stage, detail;
        const struct inside_mount *m = &in->mounts[i];
        /* A mount on the root itself (bwrap's --tmpfs /) covers it: later
         * targets are resolved in it, and the pivot enters it. Without a
         * root the workload keeps its own "/" whatever is stacked there. */
        long top = -1;
        int on_root = in->root != NULL && m->target[0] == '/' && m->target[1] == '\0';
        if ((r = mount_one((int)rootfd, m, &stage, &detail, on_root ? &top : NULL)) < 0) {
            rs_close((int)rootfd);
            return failed(f, stage, r, (int)i + 1, detail);
        }
        if (top >= 0) {
            rs_close((int)rootfd);
            rootfd = top;
        }
    }
    if (in->root == NULL) {
        rs_close((int)rootfd);
        return 0;
    }
    /* pivot_root(".", "."): the old root ends up on top of the new one and
     * is detached at once, so the root needs no directory to hold it. The
     * root bind is entered through its own descriptor, which also holds for
     * root "/" (a lookup of "/" would stay below the bind stacked on it). */
    r = RSYS1(SYS_fchdir, rootfd);
    rs_close((int)rootfd);
    if (r < 0 || (r = RSYS2(SYS_pivot_root, ".", ".")) < 0 || (r = RSYS2(SYS_umount2, ".", LX_MNT_DETACH)) < 0 ||
        (r = RSYS1(SYS_chdir, "/")) < 0)
        return failed(f, STAGE_ROOT, r, 0, FAIL_TARGET);
    return 0;
}
