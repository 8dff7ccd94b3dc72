/* pool:spawn's hand-over (child/protocol.h, "Pools"): a request's argv,
 * environment, cwd, PATH and the pool's seccomp program go to a parked
 * pool child in a memfd, its stdio and extra descriptors over the ctl
 * socket (SCM_RIGHTS); the child's answer is read as proceed()'s is. */
#include "handover.h"

#include "core/hostutil.h"
#include "output_limit.h"
#include "spawn_opts.h"
#include "stages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif
#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 8U
#endif

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

/* The payload, laid out as struct handover says, *len bytes, after head
 * bytes of room (for the message header when it goes inline); malloc'd. */
static char *build_payload(const struct spawn_opts *o, const void *seccomp, uint32_t seccomp_len, size_t head,
                           size_t *len)
{
    char **env = o->envp != NULL ? o->envp : environ;
    const char *path = linx_exec_path(o->argv[0]); /* as spawn's */
    size_t argc = 0, envc = 0, strs = 0;
    for (; o->argv[argc] != NULL; argc++)
        strs += strlen(o->argv[argc]) + 1;
    for (; env != NULL && env[envc] != NULL; envc++)
        strs += strlen(env[envc]) + 1;
    strs += (o->cwd != NULL ? strlen(o->cwd) + 1 : 0) + (path != NULL ? strlen(path) + 1 : 0);
    size_t off_argv = ALIGN8(sizeof(struct handover));
    size_t off_envp = off_argv + (argc + 1) * 8;
    size_t off_fds = off_envp + (envc + 1) * 8;
    size_t off_seccomp = ALIGN8(off_fds + (size_t)o->nfds * 4);
    size_t off_strs = off_seccomp + (size_t)seccomp_len * 8;
    size_t total = off_strs + strs + 1; /* the last byte is a NUL: every string ends inside */
    if (total > UINT32_MAX) {
        errno = E2BIG;
        return NULL;
    }
    char *mem = calloc(1, head + total);
    if (mem == NULL)
        return NULL;
    char *p = mem + head;
    struct handover h;
    memset(&h, 0, sizeof h);
    h.magic = HANDOVER_MAGIC;
    h.len = (uint32_t)total;
    h.argc = (uint32_t)argc;
    h.envc = (uint32_t)envc;
    h.nfds = (uint32_t)o->nfds;
    h.seccomp_len = seccomp_len;
    h.argv = off_argv;
    h.envp = off_envp;
    h.fd_dst = off_fds;
    h.seccomp = seccomp_len > 0 ? off_seccomp : 0;
    size_t at = off_strs;
    uint64_t off;
    for (size_t i = 0; i < argc; i++) {
        off = at;
        memcpy(p + off_argv + i * 8, &off, 8);
        at += (size_t)(stpcpy(p + at, o->argv[i]) - (p + at)) + 1;
    }
    for (size_t i = 0; i < envc; i++) {
        off = at;
        memcpy(p + off_envp + i * 8, &off, 8);
        at += (size_t)(stpcpy(p + at, env[i]) - (p + at)) + 1;
    }
    if (o->cwd != NULL) {
        h.cwd = at;
        at += (size_t)(stpcpy(p + at, o->cwd) - (p + at)) + 1;
    }
    if (path != NULL) {
        h.path = at;
        memcpy(p + at, path, strlen(path) + 1); /* the last string; the byte after it ends the payload */
    }
    for (int i = 0; i < o->nfds; i++) {
        int32_t d = o->fd_dst[i];
        memcpy(p + off_fds + (size_t)i * 4, &d, 4);
    }
    if (seccomp_len > 0)
        memcpy(p + off_seccomp, seccomp, (size_t)seccomp_len * 8);
    memcpy(p, &h, sizeof h);
    *len = total;
    return mem;
}

/* Send the request: stdio first (it lands on 0, 1 and 2 in the child),
 * the payload inline after the header (buf holds both; len is the
 * payload's size) or as a memfd (memfd >= 0), then the extra fds. 0, or
 * an errno value (*call names the system call). */
static int send_request(struct handle *h, const struct spawn_opts *o, char *buf, size_t len, int memfd,
                        const char **call)
{
    struct msg m;
    memset(&m, 0, sizeof m);
    m.type = MSG_HANDOVER;
    m.step = o->nfds;
    m.detail = memfd < 0 ? HANDOVER_INLINE : 0;
    int fds[4], n = 0;
    for (int i = 0; i < 3; i++) {
        /* "inherit": our own fd i, when we have one open */
        int fd = o->stdio[i] == IO_INHERIT ? (fcntl(i, F_GETFD) >= 0 ? i : -1) : h->child_fd[i];
        if (fd >= 0) {
            fds[n++] = fd;
            m.fds |= HANDOVER_STDIN << i;
        }
    }
    if (memfd >= 0)
        fds[n++] = memfd;
    memcpy(buf, &m, sizeof m);
    *call = "sendmsg";
    int r = linx_send_fds(h->ctl, buf, sizeof m + (memfd < 0 ? len : 0), fds, n);
    for (int i = 0; r == 0 && i < o->nfds; i += HANDOVER_FDS_MAX) {
        int k = o->nfds - i < HANDOVER_FDS_MAX ? o->nfds - i : HANDOVER_FDS_MAX;
        memset(&m, 0, sizeof m);
        m.type = MSG_HANDOVER_FDS;
        m.step = k;
        r = linx_send_fds(h->ctl, &m, sizeof m, o->fd_src + i, k);
    }
    return r;
}

int linx_handover(lua_State *L, struct handle *h, const struct spawn_opts *req, unsigned long long max_output,
                  const void *seccomp, uint32_t seccomp_len)
{
    const struct spawn_opts o = *req;
    /* What error messages name from here on is the request's. */
    char *argv0 = linx_dup_str(o.argv[0]), *cwd = o.cwd != NULL ? linx_dup_str(o.cwd) : NULL;
    if (argv0 == NULL || (o.cwd != NULL && cwd == NULL)) {
        free(argv0);
        free(cwd);
        return linx_error_os(L, "spawn", NULL, ENOMEM, NULL);
    }
    free(h->argv0);
    free(h->cwd);
    h->argv0 = argv0;
    h->cwd = cwd;
    h->has_max = max_output != LINX_OUTPUT_UNLIMITED;
    h->max_output = max_output;

    size_t len = 0;
    char *buf = build_payload(&o, seccomp, seccomp_len, sizeof(struct msg), &len);
    if (buf == NULL)
        return linx_error_os_call(L, "spawn", "malloc", NULL, errno, NULL);
    const char *call = NULL;
    int memfd = -1; /* a payload too big for one message goes in a memfd: data, never run */
    if (len > HANDOVER_INLINE_MAX &&
        (memfd = linx_memfd_data("linx-handover", MFD_CLOEXEC, MFD_NOEXEC_SEAL, buf + sizeof(struct msg), len,
                                 &call)) < 0) {
        free(buf);
        return linx_error_os_call(L, "spawn", call, NULL, -memfd, NULL);
    }
    struct spawn_failure f;
    if (linx_handle_make_stdio(L, h, o.stdio, &f) != 0) { /* releases the handle */
        free(buf);
        if (memfd >= 0)
            close(memfd);
        return linx_error_os_call(L, "spawn", f.call, f.path, f.err, NULL);
    }
    int err = send_request(h, &o, buf, len, memfd, &call);
    free(buf);
    if (memfd >= 0)
        close(memfd);
    for (int i = 0; i < 3; i++)
        linx_close_fd(&h->child_fd[i]); /* the child has its copies now */
    if (err) {
        linx_close_fd(&h->ctl);
        return linx_error_os_call(L, "spawn", call, NULL, err,
                                  err == EPIPE ? "the pool child is gone (was it killed?)" : NULL);
    }
    h->proceeded = 1;
    struct msg rep;
    int got = linx_recv_msg(h->ctl, &rep, NULL);
    linx_close_fd(&h->ctl);
    if (got == 0) /* EOF: the workload's exec closed the last copy of the socket */
        return 0;
    if (got < 0)
        return linx_error_os_call(L, "spawn", "recvmsg", NULL, -got, NULL);
    return linx_stage_error(L, h, &rep);
}
