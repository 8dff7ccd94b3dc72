/* The host's side of a handle's keeper and workload (see keeper_host.h
 * and protocol.h). */
#include "keeper_host.h"

#include "child/child.h"
#include "spawn_cgroup.h"
#include "spawn_sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* idtype_t value of the kernel's P_PIDFD (5.4); older glibc lacks the name. */
#define LINX_P_PIDFD ((idtype_t)3)

int linx_fd_ready(int fd)
{
    if (fd < 0)
        return 0;
    struct pollfd pf = {fd, POLLIN, 0};
    int r;
    while ((r = poll(&pf, 1, 0)) < 0 && errno == EINTR)
        ;
    return r < 0 ? -errno : r;
}

void linx_outbuf_free(struct outbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int linx_outbuf_append(struct outbuf *b, const char *data, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2)
                return ENOMEM;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

int linx_send_fds(int sock, const void *data, size_t len, const int *fds, int n)
{
    struct {
        char buf[CMSG_SPACE(HANDOVER_FDS_MAX * sizeof(int))] __attribute__((aligned(8))); /* as a cmsghdr */
    } u;
    struct iovec iov = {(void *)data, len};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (n > HANDOVER_FDS_MAX)
        return EINVAL;
    if (n > 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
    }
    ssize_t r;
    while ((r = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)len ? 0 : r < 0 ? errno : EIO;
}

int linx_recv_msg(int sock, struct msg *m, int *fds)
{
    memset(m, 0, sizeof *m); /* the caller's struct is uninitialised */
    if (fds != NULL)
        fds[0] = fds[1] = -1; /* whatever happens below, the caller closes these */
    struct iovec iov = {m, sizeof *m};
    struct msghdr mh;
    union fd_cmsg u;
    int got[2] = {-1, -1}, ngot = 0;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    ssize_t r;
    while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return -errno;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (fds != NULL && ngot < 2)
                got[ngot++] = fd;
            else
                close(fd);
        }
    }
    if (r != 0 && (r != (ssize_t)sizeof *m || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))) {
        for (int i = 0; i < ngot; i++)
            close(got[i]);
        return -EPROTO;
    }
    if (fds != NULL) {
        fds[0] = got[0];
        fds[1] = got[1];
    }
    return r == 0 ? 0 : 1;
}

void linx_handle_init(struct handle *h)
{
    memset(h, 0, sizeof *h);
    h->ref.pid = 0;
    h->ref.procfd = -1;
    h->ref.pidfd = -1;
    h->kpidfd = h->ctl = h->keep = h->in_fd = h->child_ctl = h->child_keep = -1;
    h->out_fd[0] = h->out_fd[1] = -1;
    for (int i = 0; i < 3; i++)
        h->child_fd[i] = -1;
    h->blk.base = NULL;
    h->state = ST_NEW;
}

static void set_status(struct handle *h, int si_code, int status)
{
    h->exited = h->signaled = 0;
    if (si_code == CLD_EXITED) {
        h->exited = 1;
        h->code = status;
    } else {
        h->signaled = 1;
        h->signal = status;
    }
    h->have_status = 1;
}

void linx_handle_left_memory(struct handle *h)
{
    h->wl_mm = 0;
}

/* Unmap the children's block once no child can run on it: the keeper has
 * been reaped and the workload has exec'd or exited. A workload that may
 * still be in our memory (its keeper was killed) is killed and awaited
 * through its pidfd. When that cannot be known (no pidfd, keeper not
 * reaped) and this is the last chance, the mapping is left in place: a
 * straggler must never write into memory we have reused. */
static void release_block(lua_State *L, struct handle *h, int last)
{
    if (h->blk.base == NULL)
        return;
    int safe = !h->blk.vm || ((h->kpid <= 0 || h->kreaped) && !h->wl_mm);
    if (!safe && (h->kpid <= 0 || h->kreaped) && h->ref.pidfd >= 0 &&
        syscall(SYS_pidfd_send_signal, h->ref.pidfd, SIGKILL, NULL, 0) == 0) {
        struct pollfd pf = {h->ref.pidfd, POLLIN, 0};
        int r;
        while ((r = poll(&pf, 1, -1)) < 0 && errno == EINTR)
            ;
        safe = r == 1; /* readable: it has exited, so it has left our memory */
        if (safe)
            h->wl_mm = 0;
    }
    if (safe)
        linx_block_free(L, &h->blk);
    else if (last)
        h->blk.base = NULL; /* leaked on purpose, see above */
}

void linx_handle_unpin(struct handle *h)
{
    if (h->keep >= 0)
        shutdown(h->keep, SHUT_WR);
    h->unpinned = 1;
}

int linx_handle_kill_group(struct handle *h)
{
    /* The group's id is the workload's pid. While the keeper holds the
     * workload (running, or exited but unreaped: it does until we unpin
     * it) no other process can have that pid, so no other group can
     * have that id: it was made by the workload's setsid(), and holds
     * only the workload and what it started. Once the keeper is gone or
     * unpinned, the number may name a stranger's group: no signal then. */
    if (!h->own_group || h->unpinned || h->keep < 0 || h->ref.pid <= 0 || h->kreaped)
        return -ESRCH;
    if (h->kpidfd >= 0 && linx_fd_ready(h->kpidfd) != 0)
        return -ESRCH; /* the keeper has died (or cannot be watched): not pinned */
    return kill(-h->ref.pid, SIGKILL) == 0 ? 0 : -errno;
}

/* Reap the keeper (it exits once the workload is reaped, or has died). */
static int reap_keeper(struct handle *h, siginfo_t *si)
{
    memset(si, 0, sizeof *si);
    int opts = WEXITED | __WALL;
    int r;
    do {
        r = h->kpidfd >= 0 ? waitid(LINX_P_PIDFD, (id_t)h->kpidfd, si, opts)
                           : waitid(P_PID, (id_t)h->kpid, si, opts);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int linx_handle_collect(lua_State *L, struct handle *h, int nohang)
{
    if (h->state == ST_REAPED)
        return 1;
    if (h->keep >= 0) {
        if (nohang) {
            int r = linx_fd_ready(h->keep);
            if (r < 0) {
                h->call = "poll";
                return r;
            }
            if (r == 0)
                return 0;
        } else {
            linx_handle_unpin(h); /* it may reap right after its report */
        }
        struct msg m;
        int got = linx_recv_msg(h->keep, &m, NULL);
        if (got < 0 && got != -EPROTO) {
            /* The report (if any) is still queued: keep the socket, so a
             * later call reads it instead of losing the status. */
            h->call = "recvmsg";
            return got;
        }
        if (got == 1 && m.type == MSG_EXITED) {
            set_status(h, m.code, m.status);
            h->wl_mm = 0; /* a zombie: it has left our memory */
        }
        linx_close_fd(&h->keep); /* the keeper reaps the workload now, then exits */
    }
    siginfo_t si;
    int r = reap_keeper(h, &si);
    if (r < 0) {
        h->call = "waitid"; /* still ours, unreaped: a later call tries again */
        return r;
    }
    h->kreaped = 1;
    if (si.si_code == CLD_EXITED) /* it exits only after reaping the workload, if any */
        h->wl_mm = 0;
    release_block(L, h, 0);
    if (!h->have_status) {
        /* The keeper died without a report (killed), and the workload with
         * it, by its parent-death SIGKILL. */
        set_status(h, CLD_KILLED, si.si_code != CLD_EXITED ? si.si_status : SIGKILL);
    }
    h->state = ST_REAPED;
    return 1;
}

static int kill_keeper(struct handle *h)
{
    if (h->kpidfd >= 0 && syscall(SYS_pidfd_send_signal, h->kpidfd, SIGKILL, NULL, 0) == 0)
        return 0;
    return kill(h->kpid, SIGKILL) == 0 ? 0 : -errno; /* unreaped: still ours */
}

int linx_handle_workload_exited(const struct handle *h)
{
    if (h->have_status)
        return 1;
    return linx_fd_ready(h->ref.pidfd) == 1;
}

int linx_handle_signal(struct handle *h, int sig)
{
    /* The keeper keeps an exited workload unreaped, where a signal would
     * "succeed": it is gone all the same. */
    if (linx_handle_workload_exited(h))
        return -ESRCH;
    if (h->ref.pidfd >= 0) {
        if (syscall(SYS_pidfd_send_signal, h->ref.pidfd, sig, NULL, 0) == 0)
            return 0;
        h->call = "pidfd_send_signal";
        if (errno != ENOSYS)
            return -errno;
    }
    /* No pidfd signals (kernel before 5.1, or valgrind): by pid, which is
     * the workload's until the handle is waited for or closed. */
    h->call = "kill";
    return kill(h->ref.pid, sig) == 0 ? 0 : -errno;
}

int linx_handle_release(lua_State *L, struct handle *h)
{
    if (h->closed)
        return 0;
    if (h->kpid > 0 && h->state != ST_REAPED) {
        linx_handle_kill_group(h); /* session "new" without "pid": what the workload started too */
        int r = h->ref.pid > 0 ? linx_handle_signal(h, SIGKILL) : -ESRCH;
        if (r < 0 && !(h->ref.pid > 0 && r == -ESRCH) && !h->keeper_failed)
            kill_keeper(h); /* no workload to aim at: the keeper takes it along */
        r = linx_handle_collect(L, h, 0);
        if (r < 0 && h->keep >= 0) { /* its report is not wanted any more */
            linx_close_fd(&h->keep);
            r = linx_handle_collect(L, h, 0);
        }
        if (r < 0)
            return r; /* the keeper is unreaped: stay open, a later close reaps it */
    }
    release_block(L, h, 1); /* before the pidfd goes: it may need it */
    linx_close_fd(&h->ctl);
    linx_close_fd(&h->keep);
    linx_close_fd(&h->in_fd);
    linx_close_fd(&h->out_fd[0]);
    linx_close_fd(&h->out_fd[1]);
    linx_close_fd(&h->child_ctl);
    linx_close_fd(&h->child_keep);
    for (int i = 0; i < 3; i++)
        linx_close_fd(&h->child_fd[i]);
    linx_close_fd(&h->ref.pidfd);
    linx_close_fd(&h->kpidfd);
    linx_close_fd(&h->ref.procfd);
    linx_outbuf_free(&h->pending[0]);
    linx_outbuf_free(&h->pending[1]);
    free(h->argv0);
    free(h->cwd);
    free(h->inside);
    h->argv0 = h->cwd = NULL;
    h->inside = NULL;
    h->closed = 1;
    return 0;
}

/* ---- start ----------------------------------------------------------------- */

static int os_failure(lua_State *L, struct handle *h, struct spawn_failure *f, int err, const char *path,
                      const char *call)
{
    linx_handle_release(L, h); /* a keeper it could not reap goes with the handle's __gc */
    f->err = err;
    f->path = path;
    f->call = call;
    return -1;
}

/* The fds the workload gets as stdin/stdout/stderr. 0 or -1 (f filled). */
int linx_handle_make_stdio(lua_State *L, struct handle *h, const int stdio[3], struct spawn_failure *f)
{
    int nullfd = -1;
    for (int i = 0; i < 3; i++) {
        int err = 0;
        const char *call = NULL;
        if (stdio[i] == IO_PIPE) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0) {
                err = errno;
                call = "pipe2";
            } else if (i == S_STDIN) {
                h->child_fd[i] = p[0];
                h->in_fd = p[1];
                /* our end only: write() drains output while the pipe is full */
                if (fcntl(p[1], F_SETFL, O_NONBLOCK) != 0) {
                    err = errno;
                    call = "fcntl";
                }
            } else {
                h->child_fd[i] = p[1];
                h->out_fd[i - 1] = p[0];
            }
            h->piped[i] = 1;
        } else if (stdio[i] == IO_NULL) {
            if (nullfd < 0) {
                nullfd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (nullfd < 0) {
                    err = errno;
                    call = "open";
                }
                h->child_fd[i] = nullfd;
            } else {
                h->child_fd[i] = fcntl(nullfd, F_DUPFD_CLOEXEC, 0);
                if (h->child_fd[i] < 0) {
                    err = errno;
                    call = "fcntl";
                }
            }
        }
        if (err)
            return os_failure(L, h, f, err, stdio[i] == IO_NULL ? "/dev/null" : NULL, call);
    }
    return 0;
}

/* Clone the keeper with every signal blocked: the keeper keeps them all
 * blocked for good, and the workload until it has reset every
 * disposition, so no host handler ever runs in either. */
static long clone_keeper(struct handle *h, struct spawn_args *a, int *kpidfd, int *mask_err)
{
    sigset_t all, old;
    sigfillset(&all);
    *mask_err = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (*mask_err != 0)
        return 0; /* nothing cloned: a host handler could run in the children */
    long kpid = -ENOSYS;
    if (h->blk.vm) {
        kpid = linx_child_clone_keeper(a, linx_block_keeper_stack(&h->blk), kpidfd);
        if (kpid < 0) /* e.g. a seccomp filter: the copying path may still work */
            h->blk.vm = a->vm = 0;
    }
    if (!h->blk.vm)
        kpid = linx_child_clone_keeper(a, NULL, kpidfd);
    /* A host thread left with every signal blocked would be worse than a
     * failed spawn: try twice, then say so (the caller undoes the clone). */
    if ((*mask_err = pthread_sigmask(SIG_SETMASK, &old, NULL)) != 0)
        *mask_err = pthread_sigmask(SIG_SETMASK, &old, NULL);
    return kpid;
}

int linx_handle_start(lua_State *L, struct handle *h, const struct spawn_opts *o, struct spawn_failure *f)
{
    memset(f, 0, sizeof *f);
    f->stage = -1;
    int ctl[2], kp[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0)
        return os_failure(L, h, f, errno, NULL, "socketpair");
    h->ctl = ctl[0];
    h->child_ctl = ctl[1];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, kp) != 0)
        return os_failure(L, h, f, errno, NULL, "socketpair");
    h->keep = kp[0];
    h->child_keep = kp[1];
    if (linx_handle_make_stdio(L, h, o->stdio, f))
        return -1;

    struct spawn_args *a = NULL;
    struct linx_block_src src = {o->argv, o->envp, o->cwd, o->in, o->nfds, o->fd_src, o->fd_dst};
    int err = linx_block_build(L, &h->blk, &src, linx_clone_vm_wanted(), &a);
    if (err || a == NULL)
        return os_failure(L, h, f, err ? err : ENOMEM, NULL, h->blk.call);
    a->flags = o->flags;
    a->ctl = h->child_ctl;
    a->keep = h->child_keep;
    for (int i = 0; i < 3; i++)
        a->stdio[i] = h->child_fd[i];
    a->host = getpid();
    a->parent = 0; /* the keeper sets it */
    a->session_new = o->session_new;
    a->init_fd = -1;
    a->park = !o->park ? PARK_NONE : o->init ? PARK_INIT : PARK_EXEC;
    h->park = o->park;
    if (o->init || o->park) { /* a pool child runs the init image in park mode either way */
        const char *call = NULL;
        int fd = linx_init_image_fd(L, &call);
        if (fd < 0) {
            linx_block_free(L, &h->blk);
            return os_failure(L, h, f, -fd, NULL, call);
        }
        a->init_fd = fd; /* the state's own: closed with the state, never here */
    }
    h->own_group = o->session_new && !(o->flags & CLONE_NEWPID);

    int cgfd, cgowned; /* spawn's cgroup: the keeper clones the workload into it */
    if ((err = linx_cgroup_open(o->cgroup, o->cgroup_path, &cgfd, &cgowned)) != 0) {
        linx_block_free(L, &h->blk);
        return os_failure(L, h, f, err, o->cgroup_path, "open");
    }
    a->cgroup = cgfd;
    int kpidfd = -1, mask_err = 0;
    long kpid = clone_keeper(h, a, &kpidfd, &mask_err);
    if (cgowned)
        close(cgfd); /* the keeper has its own copy of the fd table */
    if (!h->blk.vm || kpid <= 0)
        linx_block_free(L, &h->blk); /* the keeper has its own copy, or there is none */
    else
        h->wl_mm = 1;
    if (kpid < 0)
        return os_failure(L, h, f, (int)-kpid, NULL, "clone");
    if (kpid == 0) /* the mask could not be set: nothing was cloned */
        return os_failure(L, h, f, mask_err, NULL, "pthread_sigmask");
    h->kpid = (pid_t)kpid;
    h->kpidfd = kpidfd;
    h->newpid = (o->flags & CLONE_NEWPID) != 0;
    h->state = ST_RUNNING; /* until parked: errors below collect and reap */
    if (mask_err)
        return os_failure(L, h, f, mask_err, NULL, "pthread_sigmask"); /* kills and reaps the keeper */
    linx_close_fd(&h->child_ctl);
    linx_close_fd(&h->child_keep);
    for (int i = 0; i < 3; i++)
        linx_close_fd(&h->child_fd[i]);

    /* The workload's word first: parked, or why not. By then the keeper's
     * (the workload's pid and fds, or why not) is normally queued already,
     * so the host wakes once. This cannot hang: the keeper closes its copy
     * of the ctl socket right after the clone, or exits. */
    struct msg wm;
    int wgot = linx_recv_msg(h->ctl, &wm, NULL);

    /* The keeper's first word: the workload's pid and fds, or why not. */
    struct msg m;
    int fds[2];
    int got = linx_recv_msg(h->keep, &m, fds);
    if (got == 1 && m.type == MSG_STARTED && (m.fds & HAS_PROCFD)) {
        h->ref.pid = (pid_t)m.pid;
        int k = 0;
        if (m.fds & HAS_PIDFD)
            h->ref.pidfd = fds[k++];
        h->ref.procfd = fds[k];
        if (k == 0)
            linx_close_fd(&fds[1]);
    } else {
        linx_close_fd(&fds[0]);
        linx_close_fd(&fds[1]);
        if (got == 1 && m.type == MSG_FAILED) {
            h->keeper_failed = 1; /* it exits by itself, and no workload runs */
            h->wl_mm = 0;
        }
    }
    if (h->ref.procfd < 0) {
        linx_handle_release(L, h); /* reaps the keeper */
        if (got == 1 && m.type == MSG_FAILED) {
            f->err = m.err;
            f->stage = m.stage;
            f->path = m.stage == STAGE_PROC ? "/proc" : m.stage == STAGE_CLONE3 ? o->cgroup_path : NULL;
        } else if (got < 0) {
            f->err = -got;
            f->call = "recvmsg";
        } else {
            f->child_died = 1;
            f->reason = "the keeper process ended before starting the child";
        }
        return -1;
    }

    if (wgot == 1 && wm.type == MSG_PARKED) {
        h->state = ST_PARKED;
        return 0;
    }
    if (wgot < 0) { /* we could not hear it: it may be parked, waiting for us */
        linx_handle_release(L, h);
        f->err = -wgot;
        f->call = "recvmsg";
        return -1;
    }
    /* The workload failed during setup or died: collect it, then say why. */
    linx_handle_collect(L, h, 0);
    int exited = h->exited, code = h->code, sig = h->signal;
    linx_handle_release(L, h);
    if (wgot == 1 && wm.type == MSG_FAILED) {
        f->err = wm.err;
        f->stage = wm.stage;
    } else {
        f->child_died = 1;
        f->reason = exited ? "exited before parking" : "killed before parking";
        f->has_code = exited;
        f->code = code;
        f->signal = sig;
    }
    return -1;
}
