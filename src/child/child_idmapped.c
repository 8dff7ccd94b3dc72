/* The workload's side of idmapped binds (see child_idmapped.h and the
 * host's idmapped.c). Freestanding, as child.c: raw system calls only. */
#include "child_idmapped.h"

#include "child_sys.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#define LX_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define LX_MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#define LX_EBADF 9

union idmapped_cmsg {
    char buf[CMSG_SPACE(LINX_MAX_IDMAPS * sizeof(int))];
    struct cmsghdr align;
};

int linx_release_wait(int ctl, const struct inside *in)
{
    char go;
    struct iovec iov = {&go, 1};
    struct msghdr mh;
    union idmapped_cmsg u;
    zero(&mh, sizeof mh);
    zero(&u, sizeof u);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    long r;
    while ((r = RSYS3(SYS_recvmsg, ctl, &mh, MSG_CMSG_CLOEXEC)) == -E_INTR)
        ;
    if (r != 1)
        return 0;
    const int *fds = NULL;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            fds = (const int *)(const void *)CMSG_DATA(c);
            n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        }
    /* The mounts live in the block, this child's to write (a copy of the
     * host's, or with CLONE_VM the handle's own, which the host no longer
     * reads): each idmapped bind gets the next fd, in plan order. */
    union {
        const struct inside_mount *ro;
        struct inside_mount *rw;
    } mounts = {.ro = in->mounts}; /* the same pointer, writable, without a cast */
    struct inside_mount *m = mounts.rw;
    int k = 0;
    for (int32_t i = 0; i < in->nmounts; i++) {
        if (m[i].idmap == INSIDE_IDMAP_NONE)
            continue;
        int fd = -1;
        if (k < n)
            copy(&fd, fds + k, sizeof fd); /* CMSG_DATA need not be aligned for int */
        m[i].idmap_fd = fd;
        k++;
    }
    return 1;
}

long linx_idmapped_move(const struct inside_mount *m, int tfd)
{
    if (m->idmap_fd < 0)
        return -LX_EBADF; /*: the release brought no mount for it */
    long r = RSYS5(SYS_move_mount, m->idmap_fd, "", tfd, "", LX_MOVE_MOUNT_F_EMPTY_PATH | LX_MOVE_MOUNT_T_EMPTY_PATH);
    rs_close(m->idmap_fd);
    return r;
}
