/* linx-init: the pid 1 of a container with inside.init (the default with
 * a "pid" namespace). A program of its own, not a function of the host:
 * built static, freestanding, without libc (-nostdlib -ffreestanding,
 * raw system calls from child_sys.h), embedded into process.so and
 * linx-lua as bytes (tools/embed-bin) and run by the workload with
 * execveat() from a memfd the host sealed. So no process in the container
 * shares or holds a copy of the host's memory: root inside may read
 * /proc/1/mem and find only this small program.
 *
 * argv (protocol.h, INIT_ARGS): "linx-init", the ctl socket's fd, the
 * status pipe's fd, the PATH snapshot (used when the workload's argv[0]
 * has no '/'), then the workload's argv. It
 *   - forks the real workload, which execs argv as the workload would have
 *     (same PATH search; a failed exec is reported on the ctl socket, and
 *     its exec is the only one that closes the last copy of that socket,
 *     so the host's EOF still means "exec succeeded");
 *   - keeps every signal blocked and takes them with rt_sigtimedwait (a
 *     pid namespace's init drops signals it has no handler for, blocked
 *     ones are queued): SIGCHLD reaps every child, orphans included;
 *     every other signal goes on to the workload;
 *   - with argc == INIT_ARGS it is a pool child (protocol.h, "Pools"):
 *     child_park.c waits for the hand-over first, then it goes on as
 *     above, or ("exec" mode) becomes the workload itself;
 *   - when the workload ends, writes its end (struct init_status) to the
 *     status pipe, which the keeper reports instead of the init's own end
 *     (pid 1 cannot die of a signal it sends itself), and exits: the
 *     kernel then ends whatever is left in the namespace. */
#include "child_exec.h"
#include "child_park.h"
#include "protocol.h"

#include <sys/prctl.h>
#include <sys/wait.h>

/* The entry point: the kernel's initial stack is argc, argv..., NULL,
 * envp..., NULL. Aligned for the call as the ABI wants. */
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call linx_init_main\n"
        "  hlt\n");

/* The workload's stack while it shares our memory (CLONE_VFORK: we wait
 * meanwhile): its PATH buffer and, for an ENOEXEC file, argv once more.
 * Zero pages until touched. A longer argv than fits gets a fork instead. */
#define WSTACK_SIZE ((size_t)256 * 1024)
#define WSTACK_ARGV_MAX ((int)(WSTACK_SIZE / 2 / sizeof(char *)))
static char wstack[WSTACK_SIZE] __attribute__((aligned(16)));
/* The PATH the workload is searched in (one argument: at most 128 KiB). */
static char path_copy[128 * 1024];

static int parse_fd(const char *s)
{
    int v = 0;
    if (s == NULL || *s == '\0')
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static void report_failure(int ctl, int stage, long err)
{
    struct msg m;
    zero(&m, sizeof m);
    m.type = MSG_FAILED;
    m.stage = stage;
    m.err = (int32_t)-err;
    while (RSYS4(SYS_sendto, ctl, &m, sizeof m, MSG_NOSIGNAL) == -E_INTR)
        ;
}

struct workload {
    int ctl;
    char **argv, **envp;
    const char *path;
    int argc;
};

/* The real workload: signals unblocked (dispositions are the defaults
 * already: the workload reset them before exec, and exec keeps none of
 * a handler), then the exec. It runs in our memory on a stack of its own
 * (CLONE_VM | CLONE_VFORK: no copy of us to make and tear down; we wait
 * until its exec), so it touches nothing of ours but what it is given. */
static _Noreturn void run_workload(int ctl, char **argv, char **envp, const char *path, int argc);
static int workload_entry(void *arg)
{
    const struct workload *w = arg;
    run_workload(w->ctl, w->argv, w->envp, w->path, w->argc);
}

static _Noreturn void run_workload(int ctl, char **argv, char **envp, const char *path, int argc)
{
    /* session = "new": the init leads a session without a terminal (the
     * workload's setsid before the init's exec); the workload leads one
     * of its own, as it would without an init. "inherit": neither. */
    long r = RSYS1(SYS_getsid, 0);
    if (r >= 0 && r == RSYS1(SYS_getppid, 0) && (r = RSYS1(SYS_setsid, 0)) < 0) {
        report_failure(ctl, STAGE_SETSID, r);
        rs_exit(127);
    }
    unsigned long long none = 0;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
    int slash = 0;
    for (const char *p = argv[0]; *p != '\0'; p++)
        slash |= *p == '/';
    char *sh[argc + 2]; /* an ENOEXEC file runs through /bin/sh */
    struct exec_req req = {argv, envp, slash ? NULL : path, sh};
    r = exec_search(&req);
    report_failure(ctl, STAGE_EXEC, r);
    rs_exit(127);
}

__attribute__((used)) _Noreturn void linx_init_main(long *sp);
_Noreturn void linx_init_main(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < INIT_ARGS)
        rs_exit(127);
    int park = argc == INIT_ARGS; /* a pool child: the hand-over brings the workload (child_park.c) */
    int ctl = parse_fd(argv[1]), status = parse_fd(argv[2]);
    if (ctl < 0 || status < 0)
        rs_exit(127);
    unsigned long long all = ~0ULL;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, sizeof all);
    /* Neither goes on into the workload's program. */
    RSYS3(SYS_fcntl, ctl, F_SETFD, FD_CLOEXEC);
    RSYS3(SYS_fcntl, status, F_SETFD, FD_CLOEXEC);

    /* What the container sees of us, from its first instruction on:
     * "linx-init", not "memfd:linx-init", and neither our fds nor the
     * host's PATH in /proc/1/cmdline (the PATH moves to our own memory
     * first; the workload's argv is its own and is cleared after its
     * exec, when it no longer reads ours). */
    RSYS2(SYS_prctl, PR_SET_NAME, "linx-init");
    struct workload w = {ctl, argv + INIT_ARGS, envp, path_copy, argc - INIT_ARGS};
    if (park) {
        int as_init = argv[3][0] == PARK_MODE_INIT[0];
        for (int i = 1; i < INIT_ARGS; i++)
            zero(argv[i], str_len(argv[i]));
        struct park_request req;
        linx_park_handover(ctl, status, !as_init, &req);
        if (!as_init)
            linx_park_exec(ctl, &req);
        w.argv = req.argv;
        w.envp = req.envp;
        w.path = req.path;
        w.argc = req.argc;
        argc = INIT_ARGS; /* nothing of the workload's argv on our stack to clear */
    } else {
        size_t plen = str_len(argv[3]);
        if (plen >= sizeof path_copy)
            rs_exit(127);
        copy(path_copy, argv[3], plen + 1);
        for (int i = 1; i < INIT_ARGS; i++)
            zero(argv[i], str_len(argv[i]));
    }
    long child;
    if (w.argc < WSTACK_ARGV_MAX) {
        child = raw_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, wstack + WSTACK_SIZE, NULL, workload_entry, &w);
    } else {
        child = RSYS5(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (child == 0)
            workload_entry(&w);
    }
    if (child < 0) {
        report_failure(ctl, STAGE_INIT, child);
        rs_exit(127);
    }
    rs_close(ctl); /* the workload's copy is the last: its exec is the host's EOF */
    for (int i = INIT_ARGS; i < argc; i++)
        zero(argv[i], str_len(argv[i]));

    for (;;) {
        siginfo_t si;
        zero(&si, sizeof si);
        long sig = RSYS4(SYS_rt_sigtimedwait, &all, &si, NULL, sizeof all);
        if (sig < 0)
            continue; /* EINTR (a stop and continue) */
        if (sig != SIGCHLD) {
            RSYS2(SYS_kill, child, sig); /* unreaped: the pid is still the workload's */
            continue;
        }
        for (;;) {
            siginfo_t ws;
            zero(&ws, sizeof ws);
            long r = RSYS5(SYS_waitid, P_ALL, 0, &ws, WEXITED | WNOHANG | __WALL, NULL);
            if (r < 0 || ws.si_pid == 0)
                break;
            if (ws.si_pid != child)
                continue; /* an orphan, reaped */
            struct init_status st;
            st.code = ws.si_code;
            st.status = ws.si_status;
            RSYS3(SYS_write, status, &st, sizeof st);
            rs_exit(ws.si_code == CLD_EXITED ? (ws.si_status & 0xff) : 128 + (ws.si_status & 0x7f));
        }
    }
}
