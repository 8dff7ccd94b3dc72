/* A pool child's park mode (child_park.h, protocol.h "Pools"): linked into
 * the linx-init program only (x86-64, static, freestanding, raw system
 * calls), never into the host's child.o. By the time this runs the child
 * has been through every inside step but seccomp and runs its own image:
 * it holds the ctl socket (and the init's status pipe), nothing else. */
#include "child_park.h"

#include "child_exec.h"
#include "child_seccomp.h"
#include "child_sys.h"

#include <linux/filter.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* mmap(NULL, len, read|write, MAP_PRIVATE, fd, 0): six arguments, where
 * child_sys.h's rsys passes five. The address, or NULL with *err set. */
static char *map_private(int fd, unsigned long len, long *err)
{
    register long r10 __asm__("r10") = MAP_PRIVATE;
    register long r8 __asm__("r8") = fd;
    register long r9 __asm__("r9") = 0;
    char *ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"((long)SYS_mmap), "D"(0L), "S"(len), "d"((long)(PROT_READ | PROT_WRITE)), "r"(r10),
                       "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    unsigned long v = (unsigned long)ret;
    if (v == 0 || v > (unsigned long)-4096L) {
        *err = v == 0 ? -E_INVAL : (long)v;
        return 0;
    }
    return ret;
}

static _Noreturn void park_fail(int ctl, int stage, long err, int step)
{
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_FAILED;
    m.stage = stage;
    m.err = (int32_t)-err;
    m.step = step;
    while (RSYS4(SYS_sendto, ctl, &m, sizeof m, MSG_NOSIGNAL) == -E_INTR)
        ;
    rs_exit(127);
}

/* Room for the most fds one message carries (aligned as a cmsghdr). */
struct park_cmsg {
    char buf[CMSG_SPACE(HANDOVER_FDS_MAX * sizeof(int))] __attribute__((aligned(8)));
};

/* The payload when it comes in the hand-over's own message (protocol.h). */
static char inline_buf[HANDOVER_INLINE_MAX] __attribute__((aligned(16)));

/* One message of the hand-over: the header into *m, up to cap bytes after
 * it into buf (*len), and the fds it carries into fds[0..*nfds). They
 * arrive without close-on-exec: stdio is meant to stay; everything else
 * is closed before the exec. EOF (the pool closed us) ends the process;
 * an fd that did not fit (a low RLIMIT_NOFILE) is reported as EMFILE. */
static void recv_part(int ctl, struct msg *m, char *buf, size_t cap, size_t *len, int *fds, int *nfds,
                      struct park_cmsg *u)
{
    struct iovec iov[2] = {{m, sizeof *m}, {buf, cap}};
    struct msghdr mh;
    zero(&mh, sizeof mh);
    zero(m, sizeof *m);
    mh.msg_iov = iov;
    mh.msg_iovlen = buf != 0 ? 2 : 1;
    zero(u->buf, sizeof u->buf); /* what the kernel does not fill reads as no message */
    mh.msg_control = u->buf;
    mh.msg_controllen = sizeof u->buf;
    long r;
    while ((r = RSYS3(SYS_recvmsg, ctl, &mh, 0)) == -E_INTR)
        ;
    if (r == 0)
        rs_exit(127);
    if (r < 0)
        park_fail(ctl, STAGE_FDS, r, 0);
    *nfds = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        copy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
        *nfds = n;
    }
    if (mh.msg_flags & MSG_CTRUNC)
        park_fail(ctl, STAGE_FDS, -24 /* EMFILE */, 0);
    if (r < (long)sizeof *m || (mh.msg_flags & MSG_TRUNC))
        park_fail(ctl, STAGE_FDS, -71 /* EPROTO */, 0);
    if (len != 0)
        *len = (size_t)r - sizeof *m;
}

static int in_payload(uint64_t off, uint64_t bytes, uint32_t len)
{
    return off <= len && bytes <= len - off;
}

/* The offsets in an array of n + 1 slots become pointers into base. */
static char **relocate(char *base, uint64_t off, uint32_t n, uint32_t len)
{
    if (off == 0 || off % 8 != 0 || !in_payload(off, ((uint64_t)n + 1) * 8, len))
        return 0;
    uint64_t *v = (uint64_t *)(void *)(base + off);
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] == 0 || v[i] >= len)
            return 0;
        v[i] = (uint64_t)(unsigned long)(base + v[i]);
    }
    v[n] = 0;
    return (char **)(void *)v;
}

/* Map the payload (private: relocated in place) and check it. */
static char *map_payload(int ctl, int memfd, struct handover *h)
{
    zero(h, sizeof *h);
    long r = RSYS4(SYS_pread64, memfd, h, sizeof *h, 0);
    if (r != (long)sizeof *h || h->magic != HANDOVER_MAGIC || h->len < sizeof *h)
        park_fail(ctl, STAGE_SETUP, r < 0 ? r : -71, 0);
    long err = -71; /* EPROTO: the payload does not end with a NUL */
    char *base = map_private(memfd, h->len, &err);
    if (base != 0 && base[h->len - 1] == '\0') /* every string ends inside */
        return base;
    park_fail(ctl, STAGE_SETUP, err, 0);
}

/* The inline payload's header, checked as map_payload checks a memfd's. */
static char *inline_payload(int ctl, size_t got, struct handover *h)
{
    if (got < sizeof *h)
        park_fail(ctl, STAGE_SETUP, -71, 0);
    copy(h, inline_buf, sizeof *h);
    if (h->magic != HANDOVER_MAGIC || h->len != got || inline_buf[got - 1] != '\0')
        park_fail(ctl, STAGE_SETUP, -71, 0);
    return inline_buf;
}

void linx_park_handover(int ctl, int status, int unblock, struct park_request *req)
{
    if (unblock) { /* done now, not on the request's path */
        unsigned long long none = 0;
        RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    }
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_READY;
    while (RSYS4(SYS_sendto, ctl, &m, sizeof m, MSG_NOSIGNAL) == -E_INTR)
        ;

    struct park_cmsg u;
    int got[HANDOVER_FDS_MAX], ngot;
    size_t inline_len = 0;
    recv_part(ctl, &m, inline_buf, sizeof inline_buf, &inline_len, got, &ngot, &u);
    int is_inline = m.detail == HANDOVER_INLINE, nstdio = 0;
    for (int i = 0; i < 3; i++)
        nstdio += (m.fds & (HANDOVER_STDIN << i)) != 0;
    if (m.type != MSG_HANDOVER || ngot != nstdio + !is_inline || m.step < 0 || m.step > LINX_MAX_FDS)
        park_fail(ctl, STAGE_FDS, -71, 0);
    int src[3] = {-1, -1, -1};
    for (int i = 0, k = 0; i < 3; i++)
        if (m.fds & (HANDOVER_STDIN << i))
            src[i] = got[k++];
    struct handover h;
    char *base;
    if (is_inline) {
        base = inline_payload(ctl, inline_len, &h);
    } else {
        base = map_payload(ctl, got[nstdio], &h);
        rs_close(got[nstdio]);
    }
    if ((int)h.nfds != m.step || !in_payload(h.fd_dst, (uint64_t)h.nfds * 4, h.len))
        park_fail(ctl, STAGE_SETUP, -71, 0);
    const int32_t *dst = (const int32_t *)(void *)(base + h.fd_dst);
    int xsrc[LINX_MAX_FDS];
    for (int n = 0; n < m.step;) {
        struct msg part;
        zero(&part, sizeof part);
        recv_part(ctl, &part, 0, 0, 0, got, &ngot, &u);
        if (part.type != MSG_HANDOVER_FDS || ngot != part.step || ngot == 0 || n + ngot > m.step)
            park_fail(ctl, STAGE_FDS, -71, 0);
        copy(xsrc + n, got, (size_t)ngot * sizeof(int));
        n += ngot;
    }

    /* The usual request: stdio landed on 0, 1 and 2 (free until now), no
     * extra fds, nothing else open but ctl and status (close-on-exec). */
    if (h.nfds == 0 && src[0] == 0 && src[1] == 1 && src[2] == 2)
        goto placed;
    /* As the workload does at spawn: everything we hold moves above every
     * number asked for, then stdio and the extra fds go in place. */
    int hi = 3;
    for (uint32_t i = 0; i < h.nfds; i++)
        if (dst[i] >= hi)
            hi = dst[i] + 1;
    int *mine[2 + 3 + LINX_MAX_FDS], nmine = 0;
    mine[nmine++] = &ctl;
    mine[nmine++] = &status;
    for (int i = 0; i < 3; i++)
        mine[nmine++] = &src[i];
    for (uint32_t i = 0; i < h.nfds; i++)
        mine[nmine++] = &xsrc[i];
    for (int i = 0; i < nmine; i++) {
        if (*mine[i] >= 0 && *mine[i] < hi) {
            long r = RSYS3(SYS_fcntl, *mine[i], F_DUPFD_CLOEXEC, hi);
            if (r < 0)
                park_fail(ctl, STAGE_FDS, r, 0);
            *mine[i] = (int)r;
        }
    }
    int keep[5 + LINX_MAX_FDS]; /* no initializer: no memset in freestanding code */
    int nkeep = 0;
    keep[nkeep++] = ctl;
    keep[nkeep++] = status;
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue; /* the host's slot was closed: so is the workload's */
        long r = RSYS3(SYS_dup3, src[i], i, 0);
        if (r < 0)
            park_fail(ctl, STAGE_STDIO, r, 0);
        keep[nkeep++] = i;
    }
    for (uint32_t i = 0; i < h.nfds; i++) {
        long r = RSYS3(SYS_dup3, xsrc[i], dst[i], 0); /* not close-on-exec */
        if (r < 0)
            park_fail(ctl, STAGE_FDS, r, dst[i]);
        keep[nkeep++] = dst[i];
    }
    close_all_but(keep, nkeep);
placed:
    req->argv = relocate(base, h.argv, h.argc, h.len);
    req->envp = relocate(base, h.envp, h.envc, h.len);
    if (req->argv == 0 || req->envp == 0 || h.argc == 0 || h.cwd >= h.len || h.path >= h.len)
        park_fail(ctl, STAGE_SETUP, -71, 0);
    req->argc = (int)h.argc;
    req->path = h.path != 0 ? base + h.path : 0;
    long r;
    if (h.cwd != 0 && (r = RSYS1(SYS_chdir, base + h.cwd)) < 0)
        park_fail(ctl, STAGE_CHDIR, r, 0);
    if (h.seccomp_len > 0) {
        if (h.seccomp % 8 != 0 || !in_payload(h.seccomp, (uint64_t)h.seccomp_len * 8, h.len))
            park_fail(ctl, STAGE_SETUP, -71, 0);
        struct inside in;
        zero(&in, sizeof in);
        in.seccomp = base + h.seccomp;
        in.seccomp_len = h.seccomp_len;
        int stage = STAGE_SECCOMP;
        if ((r = linx_child_seccomp(&in, &stage)) < 0)
            park_fail(ctl, stage, r, 0);
    }
}

_Noreturn void linx_park_exec(int ctl, const struct park_request *req)
{
    char *sh[req->argc + 2]; /* an ENOEXEC file runs through /bin/sh */
    struct exec_req x = {req->argv, req->envp, req->path, sh};
    long r = exec_search(&x);
    park_fail(ctl, STAGE_EXEC, r, 0);
}
