/* The host's side of a linx.process handle: start the keeper and the
 * workload, collect the workload's end, signal, release. No Lua values
 * here except the state the children's block is kept in; the Lua face
 * (process.c) turns results into error tables. */
#ifndef LINX_KEEPER_HOST_H
#define LINX_KEEPER_HOST_H

#include "block.h"
#include "support/handle.h"
#include "core/hostutil.h" /* linx_close_fd */
#include "spawn_opts.h"

#include <stddef.h>
#include <sys/types.h>

enum state {
    ST_NEW,     /* being built by spawn: no child yet, or not yet parked */
    ST_PARKED,  /* waiting at the checkpoint */
    ST_RUNNING, /* released (proceed sent), not reaped */
    ST_REAPED,  /* exit status collected */
};

enum stream { S_STDIN, S_STDOUT, S_STDERR };

struct outbuf {
    char *p;
    size_t len, cap;
};

struct handle {
    struct linx_target_ref ref; /* the workload; must stay first: linxuser reads it */
    pid_t kpid;                 /* the keeper, 0 until cloned */
    int kpidfd;                 /* the keeper's pidfd, or -1 */
    int ctl;                    /* our end of the ctl socket; -1 after proceed */
    int keep;                   /* our end of the keeper socket; -1 once it reported */
    int in_fd;                  /* write end of a stdin pipe, or -1 */
    int out_fd[2];              /* read ends for stdout/stderr, -1 when not piped or at EOF */
    int piped[3];               /* which of stdin/stdout/stderr were "pipe" */
    struct outbuf pending[2];   /* output drained while waiting for something else */
    /* The keeper's and workload's fds, held here only between their creation
     * and the clone, so that an error (even a Lua error) closes them via __gc. */
    int child_ctl, child_keep, child_fd[3];
    enum state state;
    int closed;
    int signalled_parked; /* kill() reached a parked child: wait() may block */
    int have_status;      /* the keeper reported the workload's end */
    int newpid;           /* the workload is init of a new pid namespace */
    int exited, code, signaled, signal;
    char *argv0; /* for exec error messages */
    char *cwd;   /* for chdir error messages */
    struct inside *inside; /* opts.inside's paths, for mount and pivot_root error messages (malloc'd) */
    /* What the children read, and with CLONE_VM their stacks: unmapped
     * only once neither can run on it. */
    struct linx_block blk;
    int wl_mm;         /* vm: the workload may still run in our memory (not exec'd, not exited) */
    int kreaped;       /* the keeper has been reaped */
    int keeper_failed; /* the keeper reported a failure and exits by itself, no workload */
    const char *call;  /* the system call behind the last -errno returned here, for err.syscall */
    int proceeded;     /* proceed() released the workload */
    int landlock;      /* the Landlock ABI the workload reported (MSG_POLICY), 0 when none */
    /* max_output (output_limit.c): has_max 0 is no limit */
    int has_max;
    unsigned long long max_output;
    unsigned long long out_bytes[2]; /* read so far from stdout, stderr */
    int over_limit;                  /* 1 + the stream that passed max_output, or 0 */
    int limit_told;                  /* its output_limit error was returned */
    int own_group;     /* session "new" without "pid": the workload leads a process group (its pid) */
    int unpinned;      /* the keeper was told it may reap the workload (its pid may be reused) */
    int park;          /* a pool child (pool.c): proceed() waits for its MSG_READY, ctl stays open */
};

/* Why a spawn failed: an errno (kind os) or a child that died early. */
struct spawn_failure {
    int child_died;     /* 0: os error */
    int err;            /* os: errno */
    int stage;          /* os: STAGE_* reported by a child, or -1 */
    const char *path;   /* os: may be NULL */
    const char *call;   /* os: the host's system call that failed, or NULL (a child's report) */
    const char *reason; /* child_died */
    int has_code, code, signal;
};

/* A fresh handle: no child, every fd -1. */
void linx_handle_init(struct handle *h);

/* Create the sockets and pipes, build the block, clone the keeper, and
 * wait until the workload is parked. Returns 0 (state ST_PARKED), or
 * fills *f and returns -1 with everything released. */
int linx_handle_start(lua_State *L, struct handle *h, const struct spawn_opts *o, struct spawn_failure *f);

/* The stdio fds of a spawn (o->stdio): pipes (our ends in h), /dev/null,
 * or -1 to inherit, in h->child_fd. 0, or -1 with *f filled and the handle
 * released. */
int linx_handle_make_stdio(lua_State *L, struct handle *h, const int stdio[3], struct spawn_failure *f);

/* Send len bytes of data with n fds (SCM_RIGHTS, at most
 * HANDOVER_FDS_MAX) on a SOCK_SEQPACKET socket, EINTR retried, no
 * SIGPIPE. 0, or an errno value (EIO: a short send). child.c's
 * send_msg is its freestanding twin (the children may not use libc). */
int linx_send_fds(int sock, const void *data, size_t len, const int *fds, int n);

/* Receive one message on sock; attached fds (CLOEXEC) go to fds[0..1]
 * (-1 where none came), or are closed when fds is NULL. Returns 1, 0 on
 * EOF, -errno. */
int linx_recv_msg(int sock, struct msg *m, int *fds);

/* Collect the workload's end from the keeper and reap the keeper. With
 * nohang, return 0 at once when the keeper has nothing to say yet.
 * Returns 1 when done, 0 (nohang: still going), -errno (h->call names
 * the call): then nothing is lost, and a later call tries again. */
int linx_handle_collect(lua_State *L, struct handle *h, int nohang);

/* Tell the keeper it may reap the workload as soon as it has reported
 * its end (wait() and close() do). */
void linx_handle_unpin(struct handle *h);

/* SIGKILL to the workload's process group (session "new" without "pid"),
 * only while the keeper still pins the workload's pid, which is the
 * group's id. 0, or -errno (ESRCH: no group, or no longer pinned). */
int linx_handle_kill_group(struct handle *h);

/* Has the workload exited (a zombie the keeper keeps, or gone)? */
int linx_handle_workload_exited(const struct handle *h);

/* Signal the workload. 0 or -errno (ESRCH once it has exited; h->call). */
int linx_handle_signal(struct handle *h, int sig);

/* Kill (if needed) and reap everything, close every fd, free buffers.
 * Returns 0, or -errno (h->call) when the keeper could not be reaped:
 * then the handle stays open, and a later release tries again. */
int linx_handle_release(lua_State *L, struct handle *h);

/* The workload left our memory (exec'd or exited). */
void linx_handle_left_memory(struct handle *h);

void linx_outbuf_free(struct outbuf *b);
int linx_outbuf_append(struct outbuf *b, const char *data, size_t n);
/* Is fd readable now (a poll that does not wait)? 1, 0 (also for fd < 0),
 * or -errno. */
int linx_fd_ready(int fd);

#endif
