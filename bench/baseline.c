/* The physical limit for the job linx-lua does, in plain C, and the
 * helpers the benchmark harness needs around it.
 *
 *   baseline cycles N [PROGRAM]
 *       N times: clone(NEWUSER|NEWNS|NEWPID) -> child parks on a pipe ->
 *       write setgroups "deny", uid_map "0 <uid> 1", gid_map "0 <gid> 1" ->
 *       release (close the pipe) -> child execve PROGRAM (default
 *       /bin/true) -> waitpid.
 *       Nothing else: no pidfd, no death signal, no exec-error pipe.
 *   baseline cycles-vm N [PROGRAM]
 *       the same with CLONE_VM: the child runs on a stack of its own and
 *       shares our memory until execve, so the kernel copies no page
 *       tables and the parent takes no copy-on-write faults afterwards.
 *       Not the reference row: it shows what a spawner that never
 *       copies the host's memory can reach (see docs/benchmarks.md).
 *   baseline pooled N PROGRAM PARKER
 *       the C floor of a pool (bench/run's pool section): N children made
 *       first as the cycles rows make them (clone, maps, release), each
 *       exec'ing PARKER (bench/parker.c: an image of its own, as small as
 *       linx's park image) that waits on stdin; then, timed between the
 *       lines "go" and "end" on stdout: one byte wakes each in turn, it
 *       execs PROGRAM, waitpid. A pool's request path at its least.
 *   baseline park M CMD [ARGS...]
 *       park M children, each in a new user namespace, on a pipe; run CMD
 *       with their host pids appended to ARGS; then release and reap them.
 *       Gives a script (or a script under valgrind/strace) fresh targets.
 *   baseline scale K M
 *       on M parked children, time a K-entry uid_map write (open, one
 *       write, close) and a read of it back (open, read to EOF, close),
 *       in process CPU time, and print "write_us read_us" per operation.
 *       The kernel's cost for the scale rows, without any Lua.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
    int e = errno;
    fprintf(stderr, "baseline: %s: %s\n", what, strerror(e));
    exit(1);
}

/* fork-like clone (no CLONE_VM, NULL stack): the child runs on a copy of
 * our stack. It only makes raw syscalls (close, read, execve, _exit), so
 * glibc's stale thread id in the child never matters. */
static pid_t clone_flags(unsigned long flags)
{
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
}

static void write_file(pid_t pid, const char *name, const char *text, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die(path);
    if (write(fd, text, len) != (ssize_t)len)
        die(path);
    close(fd);
}

struct vm_child {
    int rd, wr;
    const char *program;
    char *const *argv;
};

/* The CLONE_VM child: shares our memory, so it only makes raw syscalls
 * (no errno writes into our thread's TLS). */
static int vm_child_main(void *arg)
{
    const struct vm_child *c = arg;
    char byte;
    syscall(SYS_close, c->wr);
    syscall(SYS_read, c->rd, &byte, 1);
    syscall(SYS_execve, c->program, c->argv, environ);
    syscall(SYS_exit, 127);
    return 127;
}

static void cycles(long n, int share_vm, const char *program)
{
    size_t stack_size = 64 * 1024;
    char *stack = NULL;
    if (share_vm) {
        stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED)
            die("mmap");
    }
    char uid_map[32], gid_map[32];
    int ulen = snprintf(uid_map, sizeof uid_map, "0 %u 1\n", (unsigned)getuid());
    int glen = snprintf(gid_map, sizeof gid_map, "0 %u 1\n", (unsigned)getgid());
    char *const argv[] = {"true", NULL};
    for (long i = 0; i < n; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            die("pipe2");
        pid_t pid;
        if (share_vm) {
            struct vm_child c = {p[0], p[1], program, argv};
            /* waitpid below keeps c and the stack alive until the child is gone */
            pid = clone(vm_child_main, stack + stack_size,
                        CLONE_VM | CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, &c);
        } else {
            pid = clone_flags(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID);
        }
        if (pid < 0)
            die("clone");
        if (pid == 0) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) < 0 && errno == EINTR)
                ;
            execve(program, argv, environ);
            _exit(127);
        }
        close(p[0]);
        write_file(pid, "setgroups", "deny", 4);
        write_file(pid, "uid_map", uid_map, (size_t)ulen);
        write_file(pid, "gid_map", gid_map, (size_t)glen);
        close(p[1]); /* EOF releases the child */
        int st;
        while (waitpid(pid, &st, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "baseline: child failed (status %#x)\n", st);
            exit(1);
        }
    }
    if (share_vm)
        munmap(stack, stack_size);
}

static void pooled(long n, const char *program, const char *parker)
{
    char uid_map[32], gid_map[32];
    int ulen = snprintf(uid_map, sizeof uid_map, "0 %u 1\n", (unsigned)getuid());
    int glen = snprintf(gid_map, sizeof gid_map, "0 %u 1\n", (unsigned)getgid());
    char *const argv[] = {"parker", (char *)program, NULL};
    int *wake = malloc((size_t)n * sizeof *wake);
    pid_t *pids = malloc((size_t)n * sizeof *pids);
    if (wake == NULL || pids == NULL)
        die("malloc");
    for (long i = 0; i < n; i++) {
        int p[2], e[2];
        if (pipe2(p, O_CLOEXEC) != 0 || pipe2(e, O_CLOEXEC) != 0)
            die("pipe2");
        pid_t pid = clone_flags(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID);
        if (pid < 0)
            die("clone");
        if (pid == 0) { /* raw calls only; e[1] closes at the parker's exec */
            char c;
            syscall(SYS_close, p[1]);
            syscall(SYS_close, e[0]);
            syscall(SYS_read, p[0], &c, 1);
            syscall(SYS_dup3, p[0], 0, 0);
            syscall(SYS_execve, parker, argv, environ);
            syscall(SYS_exit, 127);
        }
        close(p[0]);
        close(e[1]);
        write_file(pid, "setgroups", "deny", 4);
        write_file(pid, "uid_map", uid_map, (size_t)ulen);
        write_file(pid, "gid_map", gid_map, (size_t)glen);
        char c = 'r';
        if (write(p[1], &c, 1) != 1)
            die("write");
        while (read(e[0], &c, 1) < 0 && errno == EINTR) /* EOF: the parker runs */
            ;
        close(e[0]);
        wake[i] = p[1];
        pids[i] = pid;
    }
    printf("go\n");
    fflush(stdout);
    for (long i = 0; i < n; i++) {
        char c = 'w';
        if (write(wake[i], &c, 1) != 1)
            die("write");
        close(wake[i]);
        int st;
        while (waitpid(pids[i], &st, 0) < 0)
            if (errno != EINTR)
                die("waitpid");
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "baseline: pooled child failed (status %#x)\n", st);
            exit(1);
        }
    }
    printf("end\n");
    fflush(stdout);
    free(wake);
    free(pids);
}

/* Park m children in new user namespaces; they exit when *release is
 * closed. Returns their pids (malloc'd). */
static pid_t *park(long m, int *release)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        die("pipe2");
    pid_t *pids = calloc((size_t)m, sizeof *pids);
    if (pids == NULL)
        die("calloc");
    for (long i = 0; i < m; i++) {
        pid_t pid = clone_flags(CLONE_NEWUSER);
        if (pid < 0)
            die("clone");
        if (pid == 0) {
            char c;
            close(p[1]);
            while (read(p[0], &c, 1) < 0 && errno == EINTR)
                ;
            _exit(0);
        }
        pids[i] = pid;
    }
    close(p[0]);
    *release = p[1];
    return pids;
}

static void unpark(int release, pid_t *pids, long m)
{
    close(release);
    for (long i = 0; i < m; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    free(pids);
}

static int park_run(long m, int argc, char **argv)
{
    int release;
    pid_t *pids = park(m, &release);
    char **args = calloc((size_t)(argc + m + 1), sizeof *args);
    if (args == NULL)
        die("calloc");
    for (int i = 0; i < argc; i++)
        args[i] = argv[i];
    for (long i = 0; i < m; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", (int)pids[i]);
        if ((args[argc + i] = strdup(buf)) == NULL)
            die("strdup");
    }
    pid_t cmd = fork();
    if (cmd < 0)
        die("fork");
    if (cmd == 0) {
        execvp(args[0], args);
        fprintf(stderr, "baseline: %s: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(cmd, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    unpark(release, pids, m);
    for (long i = 0; i < m; i++)
        free(args[argc + i]);
    free(args);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Same map text as bench/scale.lua: entry i is "i i 1". Root only:
 * an unprivileged writer may map just its own id. */
static int scale(long k, long m)
{
    char text[4096], back[16384]; /* a 340-line read-back is ~11.5 KiB */
    size_t len = 0;
    for (long i = 0; i < k; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%ld %ld 1\n", i, i);
    int release;
    pid_t *pids = park(m, &release);
    /* All writes, then all reads, each loop timed as a whole: the same
     * shape as bench/verbs.lua's "time" mode. */
    double t0 = cpu_us();
    for (long i = 0; i < m; i++)
        write_file(pids[i], "uid_map", text, len);
    double t1 = cpu_us();
    for (long i = 0; i < m; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pids[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die(path);
        ssize_t n;
        size_t got = 0;
        while ((n = read(fd, back + got, sizeof back - got)) > 0)
            got += (size_t)n;
        if (n < 0)
            die(path);
        close(fd);
    }
    double t2 = cpu_us();
    double w = t1 - t0, r = t2 - t1;
    unpark(release, pids, m);
    printf("%.3f %.3f\n", w / (double)m, r / (double)m);
    return 0;
}

int main(int argc, char **argv)
{
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "cycles") == 0) {
        cycles(atol(argv[2]), 0, argc == 4 ? argv[3] : "/bin/true");
        return 0;
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "cycles-vm") == 0) {
        cycles(atol(argv[2]), 1, argc == 4 ? argv[3] : "/bin/true");
        return 0;
    }
    if (argc == 5 && strcmp(argv[1], "pooled") == 0) {
        pooled(atol(argv[2]), argv[3], argv[4]);
        return 0;
    }
    if (argc >= 4 && strcmp(argv[1], "park") == 0)
        return park_run(atol(argv[2]), argc - 3, argv + 3);
    if (argc == 4 && strcmp(argv[1], "scale") == 0)
        return scale(atol(argv[2]), atol(argv[3]));
    fprintf(stderr, "usage: baseline cycles[-vm] N [PROGRAM] | pooled N PROGRAM PARKER | park M CMD [ARGS...] | scale K M\n");
    return 2;
}
