/* The host's side of idmapped binds and of the release (see idmapped.h).
 * The kernel idmaps a mount only for a caller with CAP_SYS_ADMIN in the
 * initial user namespace (open_tree(OPEN_TREE_CLONE) wants it over the
 * host's mount namespace, mount_setattr over the filesystem's): a
 * rootless host gets EPERM here, before the workload runs anything. */
#include "idmapped.h"

#include "core/idmap.h"
#include "support/lerror.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
/* The kernel's uapi values (<linux/mount.h> is not everywhere). */
#define LX_OPEN_TREE_CLONE 1
#define LX_OPEN_TREE_CLOEXEC O_CLOEXEC
#define LX_MOUNT_ATTR_RDONLY 0x00000001ULL
#define LX_MOUNT_ATTR_IDMAP 0x00100000ULL
#define LX_MOUNT_ATTR_NOSUID 0x00000002ULL
#define LX_MOUNT_ATTR_NODEV 0x00000004ULL

struct lx_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

static int fail_with(struct idmapped_fail *f, const char *call, int err)
{
    f->call = call;
    f->err = err;
    return -1;
}

/* Write one rendered map into /proc/<pid>/<name> (dir: that directory). */
static int write_map(int dir, const char *name, const char *text)
{
    int fd = openat(dir, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int err = idmap_write_once(fd, text, strlen(text));
    close(fd);
    return err;
}

/* A user namespace holding m's maps: a throw-away child cloned into a new
 * one (no exit signal, so a host's waitpid(-1) reaper never sees it, every
 * signal blocked, dying with us), its maps written, its namespace opened,
 * then killed and reaped. The fd, or -1 with *f. */
static int maps_userns(const struct inside_mount *m, struct idmapped_fail *f)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = syscall(SYS_clone, (unsigned long)CLONE_NEWUSER, 0L, 0L, 0L, 0L);
    if (pid == 0) { /* a copy of our memory, one thread: raw calls only */
        syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
        for (;;)
            syscall(SYS_pause);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return fail_with(f, "clone", err);
    char path[32];
    snprintf(path, sizeof path, "/proc/%ld", pid);
    int ns = -1, dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *call = "open";
    err = dir < 0 ? errno : 0;
    if (!err && ((err = write_map(dir, "uid_map", m->idmap_uid)) != 0 ||
                 (err = write_map(dir, "gid_map", m->idmap_gid)) != 0))
        call = "write";
    else if (!err && (ns = openat(dir, "ns/user", O_RDONLY | O_CLOEXEC)) < 0)
        err = errno;
    if (dir >= 0)
        close(dir);
    kill((pid_t)pid, SIGKILL); /* our unreaped child: the pid is still its */
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
        ;
    return err ? fail_with(f, call, err) : ns;
}

/* One idmapped bind: a detached copy of the source's mount, idmapped (and
 * read-only when asked). The mount's fd, or -1 with *f. */
static int make_one(const struct handle *h, const struct inside_mount *m, struct idmapped_fail *f)
{
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, m->source, LX_OPEN_TREE_CLONE | LX_OPEN_TREE_CLOEXEC);
    if (tree < 0)
        return fail_with(f, "open_tree", errno);
    int userns;
    if (m->idmap == INSIDE_IDMAP_OWN) {
        userns = openat(h->ref.procfd, "ns/user", O_RDONLY | O_CLOEXEC);
        if (userns < 0)
            fail_with(f, "openat", errno);
    } else {
        userns = maps_userns(m, f);
    }
    if (userns < 0) {
        close(tree);
        return -1;
    }
    struct lx_mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = LX_MOUNT_ATTR_IDMAP | (m->readonly ? LX_MOUNT_ATTR_RDONLY : 0) |
                    (m->flags & INSIDE_F_SUID ? 0 : LX_MOUNT_ATTR_NOSUID) | /* as every bind (child_mounts.c) */
                    (m->flags & INSIDE_F_DEV ? 0 : LX_MOUNT_ATTR_NODEV);
    attr.userns_fd = (uint64_t)userns;
    long r = syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr);
    int err = errno;
    close(userns);
    if (r < 0) {
        close(tree);
        return fail_with(f, "mount_setattr", err);
    }
    return tree;
}

/* The release: one byte, with the idmapped mounts attached
 * (linx_send_fds; child.c's send_msg is its freestanding twin: the
 * children may not use libc). */
int linx_release_send(struct handle *h, struct idmapped_fail *f)
{
    int fds[LINX_MAX_IDMAPS] = {0}, n = 0;
    f->err = 0;
    f->step = 0;
    f->call = NULL;
    const struct inside *in = h->inside;
    for (int32_t i = 0; in != NULL && i < in->nmounts && n < LINX_MAX_IDMAPS; i++) {
        if (in->mounts[i].idmap == INSIDE_IDMAP_NONE)
            continue;
        int fd = make_one(h, &in->mounts[i], f);
        if (fd < 0) {
            f->step = (int)i + 1;
            while (n > 0)
                close(fds[--n]);
            return -1;
        }
        fds[n++] = fd;
    }
    char go = 'g';
    int err = linx_send_fds(h->ctl, &go, 1, fds, n); /* keeper_host.c */
    while (n > 0)
        close(fds[--n]);
    return err ? fail_with(f, "sendmsg", err) : 0;
}

static const char *idmap_hint(const struct idmapped_fail *f)
{
    switch (f->err) {
    case EPERM:
        return "idmapped mounts need CAP_SYS_ADMIN in the initial user namespace (a host run as root); "
               "a rootless caller cannot make them";
    case ENOENT:
    case ENOTDIR:
        return strcmp(f->call, "open_tree") == 0 ? "the bind's source does not exist" : NULL;
    case EINVAL:
        return strcmp(f->call, "mount_setattr") == 0
                   ? "the source's filesystem cannot be idmapped (it lacks idmap support, or belongs to a user namespace)"
                   : NULL;
    case ENOSYS:
        return "idmapped mounts need Linux 5.12 or later";
    default:
        return NULL;
    }
}

int linx_idmapped_error(lua_State *L, struct handle *h, const struct idmapped_fail *f)
{
    h->state = ST_RUNNING;   /* it is let go: wait() collects it */
    linx_close_fd(&h->ctl); /* EOF instead of the release: it exits, having run nothing */
    const struct inside_mount *m = &h->inside->mounts[f->step - 1];
    int r = linx_error_os_call(L, "idmap", f->call, m->source, f->err, idmap_hint(f));
    lua_pushliteral(L, "idmap");
    lua_setfield(L, -3, "stage");
    lua_pushinteger(L, f->step);
    lua_setfield(L, -3, "step");
    return r;
}
