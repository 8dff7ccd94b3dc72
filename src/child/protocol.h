/* What the host and the two children of a linx.process handle share: the
 * block the children read, and the messages on their sockets.
 *
 * Two AF_UNIX SOCK_SEQPACKET socketpairs (CLOEXEC; MSG_NOSIGNAL, so a dead
 * peer is EPIPE, not SIGPIPE):
 *   ctl     workload <-> host. The workload sends PARKED (or FAILED with a
 *           stage and errno); one byte from the host releases it, EOF
 *           instead means the host is gone or closed the handle, and it
 *           exits. After the release, EOF on the host's side means execve
 *           succeeded (the workload's end is CLOEXEC); FAILED means a step
 *           or the exec failed. With inside.landlock, a POLICY message
 *           (what was enforced) comes first, once the steps have run.
 *   keeper  keeper -> host: STARTED (the workload's pid; its pidfd and
 *           /proc fd attached) or FAILED; later EXITED. The host sends
 *           nothing: EOF (it shut its end down in wait() or close())
 *           unpins the workload, which the keeper then reaps as soon as it
 *           has reported its end.
 * The keeper watches the host process through a pidfd: when the host
 * process dies (not merely the thread that spawned), it kills the
 * workload, reaps it and exits. The workload dies with the keeper
 * (PR_SET_PDEATHSIG: the keeper has one thread). */
#ifndef LINX_PROTOCOL_H
#define LINX_PROTOCOL_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct inside_policy;

enum msg_type { MSG_PARKED, MSG_FAILED, MSG_STARTED, MSG_EXITED,
    MSG_POLICY, /* workload -> host after the inside steps, before exec: msg.landlock */
    /* pools (process.pool): a parked pool child and the host */
    MSG_READY,        /* park image -> host: through its steps, waiting for the hand-over */
    MSG_HANDOVER,     /* host -> park image: the request (below) */
    MSG_HANDOVER_FDS, /* host -> park image: msg.step more of opts.fds, in fd_dst order */
};

/* Where a child failed (MSG_FAILED's stage). What each one means to the
 * host (the error's operation, which path it names, its hints) is one row
 * of the stage table in src/process/stages.c, host-only: the freestanding
 * children include this header, so it stays free of that data. A new
 * stage gets a row there. */
enum stage {
    STAGE_SETUP, STAGE_STDIO, STAGE_CHDIR, STAGE_EXEC, STAGE_CLONE, STAGE_PROC,
    STAGE_FDS,        /* installing opts.fds */
    /* the inside steps (after the release), in the order they run */
    STAGE_MOUNT,      /* msg.step: the mount (1-based), msg.detail: which path */
    STAGE_ROOT,       /* pivot_root and what it needs (bind, umount2, chdir) */
    STAGE_HOSTNAME, STAGE_SETGROUPS, STAGE_SETRESGID, STAGE_SETRESUID, STAGE_PRCTL,
    /* inside.caps, inside.rlimits, inside.landlock (child_policy.h) */
    STAGE_CAPBSET,    /* prctl: PR_CAPBSET_DROP (msg.step: the capability) or PR_SET_KEEPCAPS */
    STAGE_CAPSET,     /* capset of the permitted, effective and inheritable sets */
    STAGE_AMBIENT,    /* prctl: PR_CAP_AMBIENT_RAISE (msg.step: the capability) */
    STAGE_PRLIMIT,    /* prlimit64 (msg.step: the RLIMIT_* resource) */
    STAGE_LANDLOCK,   /* a landlock_* call (msg.step: the rule, 1-based, whose path failed; 0: none) */
    STAGE_LOOPBACK,   /* bringing lo up in a new net namespace (after the hostname) */
    STAGE_IDMAP,      /* the host making an idmapped bind (proceed(), before the release; never sent) */
    STAGE_SECCOMP,    /* loading inside.seccomp (the last step before cwd) */
    STAGE_CLONE3,     /* the keeper's clone3 into spawn's cgroup */
    STAGE_SETSID,     /* session = "new": setsid() right before exec */
    STAGE_INIT,       /* inside.init: running the init image, or its fork of the workload */
    /* more of the mount plan (msg.step and msg.detail as STAGE_MOUNT) */
    STAGE_MKDIR,      /* a "dir" entry (or a parent of it) */
    STAGE_SYMLINK,    /* a "symlink" entry */
    STAGE_OPEN,       /* a "file" entry: creating it */
    STAGE_WRITE,      /* a "file" entry: writing its data */
};

/* MSG_FAILED's detail for STAGE_MOUNT and STAGE_ROOT: the path that failed. */
enum fail_path {
    FAIL_TARGET,     /* the mount's target (STAGE_ROOT: the root) */
    FAIL_SOURCE,     /* a bind's source */
    FAIL_SLASH,      /* making "/" private */
    FAIL_DEV = 16,   /* + k: device k of a "dev" mount (inside_dev_names) */
};

#define HAS_PIDFD 1
#define HAS_PROCFD 2

struct msg {
    int32_t type;
    int32_t stage;  /* MSG_FAILED */
    int32_t err;    /* MSG_FAILED: errno */
    int32_t pid;    /* MSG_STARTED: the workload, in the host's pid namespace */
    int32_t fds;    /* MSG_STARTED: HAS_PIDFD | HAS_PROCFD, attached in that order */
    int32_t code;   /* MSG_EXITED: si_code (CLD_EXITED, CLD_KILLED, CLD_DUMPED) */
    int32_t status; /* MSG_EXITED: exit code or signal */
    int32_t step;   /* MSG_FAILED, STAGE_MOUNT: index into the mounts (1-based) */
    int32_t detail; /* MSG_FAILED, STAGE_MOUNT/STAGE_ROOT: enum fail_path */
    int32_t landlock; /* MSG_POLICY: the Landlock ABI the workload enforced, 0 when none */
};

/* The inside steps (spawn's opts.inside), as the workload reads them.
 * A mount target is the path as the container sees it (normal form,
 * checked by spawn): the workload resolves it inside the new root. */
enum inside_mount_kind {
    INSIDE_PROC, INSIDE_TMPFS, INSIDE_BIND, INSIDE_DEV,
    INSIDE_DIR, INSIDE_SYMLINK, INSIDE_FILE, INSIDE_REMOUNT, INSIDE_MQUEUE, INSIDE_DEVPTS, INSIDE_OVERLAY,
};

/* What a "dev" mount binds from the host's /dev, in this order (the
 * first INSIDE_DEV_NODES), then what it makes of its own. */
#define INSIDE_DEV_NAMES {"null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm"}
#define INSIDE_DEV_COUNT 9
#define INSIDE_DEV_NODES 6
/* inside_mount.flags and inside.root_flags */
#define INSIDE_F_TRY 1    /* bind: a missing source skips the entry */
#define INSIDE_F_DEV 2    /* bind, root: device nodes usable (no nodev) */
#define INSIDE_F_SUID 4   /* bind, root: setuid honoured (no nosuid) */
#define INSIDE_F_RDONLY 8 /* root: read-only */
/* Longest path a mount target may have (room for "/urandom" after it). */
#define INSIDE_PATH_MAX 4000

struct inside_mount {
    int32_t kind;       /* enum inside_mount_kind */
    int32_t readonly;
    const char *source; /* bind: the host path; else NULL */
    const char *target;
    const char *data;   /* proc/tmpfs/devpts/overlay options, or NULL; file: its bytes */
    int32_t idmap;      /* bind: enum inside_idmap */
    int32_t idmap_fd;   /* the workload: the idmapped mount the release brought, or -1 */
    const char *idmap_uid, *idmap_gid; /* INSIDE_IDMAP_MAPS: the rendered maps ("0 100000 65536\n") */
    int32_t mode;       /* dir, file: permission bits */
    int32_t flags;      /* INSIDE_F_* */
    uint32_t len;       /* file: bytes at data */
};

/* An idmapped bind (idmap = ...): the host makes it (idmapped.c), the
 * release message carries it (SCM_RIGHTS, in plan order), the workload
 * moves it into place at its turn (child_idmapped.c). */
enum inside_idmap { INSIDE_IDMAP_NONE, INSIDE_IDMAP_OWN, INSIDE_IDMAP_MAPS };
#define LINX_MAX_IDMAPS 64

struct inside {
    const struct inside_mount *mounts;
    int32_t nmounts;
    int32_t ngroups;      /* -1: leave the groups alone */
    const uint32_t *groups;
    const char *root;     /* NULL: no pivot */
    const char *hostname; /* NULL: leave it */
    int64_t gid, uid;     /* -1: leave it */
    int32_t no_new_privs;
    const struct inside_policy *policy; /* caps, rlimits, landlock (child_policy.h), or NULL */
    uint32_t policy_len;                /* its bytes */
    int32_t loopback;     /* bring lo up (a new net namespace, unless inside.loopback = false) */
    const void *seccomp;  /* inside.seccomp: struct sock_filter[seccomp_len], or NULL */
    uint32_t seccomp_len; /* instructions (8 bytes each) */
    int32_t root_flags;   /* INSIDE_F_RDONLY, _SUID, _DEV */
};

/* opts.fds: at most this many extra descriptors. */
#define LINX_MAX_FDS 256

union fd_cmsg {
    char buf[CMSG_SPACE(2 * sizeof(int))];
    struct cmsghdr align;
};

/* Everything the children read lives in one mapping the handle owns (see
 * block.h): this struct, argv, the environment, cwd and PATH, copied,
 * and with CLONE_VM the two stacks. It outlives spawn, so a child never
 * reads the host's stack or a Lua string that may have been collected. */
struct spawn_args {
    char **argv;
    char **envp;         /* the whole environment for execve (copied) */
    char **sh_argv;      /* room for argc + 2 pointers: an ENOEXEC file runs through /bin/sh */
    const char *path;    /* PATH to search argv[0] in, or NULL when it has a '/' */
    const char *cwd;     /* NULL: stay */
    unsigned long flags; /* CLONE_NEW* for the workload */
    int vm;              /* clone the workload with CLONE_VM on wstack */
    char *wstack;        /* top of the workload's stack (vm) */
    int ctl;             /* the workload's end of the ctl socket */
    int keep;            /* the keeper's end of the keeper socket */
    int stdio[3];        /* fd to install as 0/1/2, or -1 to inherit */
    pid_t host;          /* the host process (its pid in the keeper's pid namespace) */
    pid_t parent;        /* the workload's getppid(): set by the keeper (0 in a new pid namespace) */
    struct inside in;    /* what the workload does to itself after the release */
    int nfds;            /* opts.fds: install fd_src[i] as fd_dst[i] */
    const int *fd_src;
    const int *fd_dst;
    int cgroup;          /* spawn's cgroup: a directory fd the keeper clones the workload into, or -1 */
    int session_new;     /* session = "new": setsid() right before exec */
    int init_fd;         /* inside.init: the sealed memfd of the init image (CLOEXEC), else -1 */
    int status_w;        /* inside.init: the write end of the keeper's status pipe (set by the keeper) */
    int park;            /* a pool child (enum park_mode): no stdio; after the steps, exec the park image */
};

/* inside.init (src/child/child_init.c): the workload execveat()s the init image
 * with argv {"linx-init", "<ctl fd>", "<status fd>", the PATH snapshot (or ""),
 * argv[1], ...}: INIT_ARGS entries before the workload's own argv (the
 * block's sh_argv has room for them). The init forks the real workload,
 * forwards signals to it, reaps orphans, and before it exits writes the
 * workload's end to the status fd as struct init_status; the keeper
 * reports that instead of the init's own end. */
#define INIT_ARGS 4
struct init_status {
    int32_t code;   /* si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED */
    int32_t status; /* exit code or signal */
};

/* Pools (process.pool, src/process/pool.c): a pool child runs every inside
 * step but seccomp at fill time, then execs the init image in park mode
 * (argc == INIT_ARGS: no workload argv; argv[3] says "init" or "exec"),
 * holding nothing of the host but the ctl socket (and the status pipe).
 * It sends MSG_READY, waits for MSG_HANDOVER, and then, as a spawn would:
 * installs the descriptors, enters cwd, loads the seccomp filter, and
 * either stays pid 1 and forks the workload ("init") or execs it itself
 * ("exec"). EOF on the host's end of ctl means the exec happened,
 * MSG_FAILED says which step failed, as for proceed().
 *
 * MSG_HANDOVER carries (SCM_RIGHTS) the stdio fds whose bits are set in
 * msg.fds (HANDOVER_STDIN << i; a slot without one is closed), in that
 * order, so that in the parked child, which has 0, 1 and 2 free, they
 * land in place; then the payload: with msg.detail HANDOVER_INLINE it
 * follows the header in the same message (up to HANDOVER_INLINE_MAX
 * bytes), else a memfd holding it is the last fd. msg.step extra fds
 * follow in MSG_HANDOVER_FDS messages of at most HANDOVER_FDS_MAX each. */
enum park_mode { PARK_NONE, PARK_EXEC, PARK_INIT };
#define PARK_MODE_INIT "init"
#define PARK_MODE_EXEC "exec"
#define HANDOVER_STDIN 1 /* << 0, 1, 2 for stdin, stdout, stderr */
#define HANDOVER_FDS_MAX 128
#define HANDOVER_INLINE 1
#define HANDOVER_INLINE_MAX ((size_t)64 * 1024)

/* The payload memfd: this header, then what its offsets name (from the
 * memfd's start). The arrays of offsets (argv, envp: NULL-terminated)
 * are 8 bytes each so the park image turns them into pointers in place. */
#define HANDOVER_MAGIC 0x6c696e78u /* "linx" */
struct handover {
    uint32_t magic;
    uint32_t len;         /* bytes in all */
    uint32_t argc, envc;
    uint32_t nfds;        /* extra fds: their numbers at fd_dst */
    uint32_t seccomp_len; /* sock_filter instructions at seccomp (0: none) */
    uint64_t argv, envp;  /* offsets of uint64_t[argc + 1], [envc + 1] (0-terminated offsets) */
    uint64_t cwd, path;   /* offsets of strings, 0: none (path: the PATH to search argv[0] in) */
    uint64_t fd_dst;      /* offset of int32_t[nfds] */
    uint64_t seccomp;     /* offset of struct sock_filter[seccomp_len] */
};

#endif
