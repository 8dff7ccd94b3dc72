/* Try a list of system calls and print "name errno" for each (0: it
 * worked), for spec/seccomp_spec.lua: what a seccomp policy let through.
 * Every call is raw (syscall(2)), with arguments that fail harmlessly or
 * in a child, so the answer is the kernel's or the filter's, never libc's.
 *
 *   syscalls [NAME...]     only those (default: all)
 *
 * The terminal calls use a pty: an inherited master on fd 3 when there
 * is one (spawn's fds), else /dev/ptmx opened here; a child makes its
 * slave its controlling terminal and pushes a byte with TIOCSTI.
 * Built by the spec: cc -pthread -o syscalls this */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif

static long ret(long r)
{
    return r < 0 ? errno : 0;
}

/* Run fn in a child; its exit code is the errno. */
static long in_child(long (*fn)(void))
{
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return errno;
    if (p == 0)
        _exit((int)fn());
    int st;
    if (waitpid(p, &st, 0) < 0)
        return errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static long do_unshare(void)
{
    return ret(syscall(SYS_unshare, CLONE_NEWUSER));
}

static long do_clone_newuser(void)
{
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r < 0)
        return errno;
    waitpid((pid_t)r, NULL, 0);
    return 0;
}

/* TIOCSTI (request ORed with high, which the kernel drops) on our own
 * controlling terminal: the slave of the pty. */
static unsigned long tiocsti_high;
static long do_tiocsti(void)
{
    int master = fcntl(3, F_GETFD) >= 0 ? 3 : open("/dev/ptmx", O_RDWR | O_NOCTTY);
    int unlock = 0, n = -1;
    if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0 || ioctl(master, TIOCGPTN, &n) < 0)
        return 100;
    char path[32];
    snprintf(path, sizeof path, "/dev/pts/%d", n);
    if (setsid() < 0)
        return 101;
    int slave = open(path, O_RDWR); /* without O_NOCTTY: our controlling terminal now */
    if (slave < 0)
        return 102;
    char c = 'x';
    return ret(syscall(SYS_ioctl, slave, (unsigned long)TIOCSTI | tiocsti_high, &c));
}

static long do_tiocsti_high(void)
{
    tiocsti_high = 1UL << 32;
    return do_tiocsti();
}

static void *thread_main(void *arg)
{
    return arg;
}

/* A thread through libc: glibc tries clone3 first and falls back to
 * clone on ENOSYS (what "default" answers clone3). */
static long do_thread(void)
{
    pthread_t t;
    int r = pthread_create(&t, NULL, thread_main, NULL);
    return r != 0 ? r : pthread_join(t, NULL);
}

static long call(const char *name)
{
    if (!strcmp(name, "getpid"))
        return ret(syscall(SYS_getpid));
    if (!strcmp(name, "mkdirat"))
        return ret(syscall(SYS_mkdirat, AT_FDCWD, "", 0700)); /* ENOENT unfiltered */
    if (!strcmp(name, "keyctl"))
        return ret(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0));
    if (!strcmp(name, "add_key"))
        return ret(syscall(SYS_add_key, NULL, NULL, NULL, 0, 0));
    if (!strcmp(name, "request_key"))
        return ret(syscall(SYS_request_key, NULL, NULL, NULL, 0));
    if (!strcmp(name, "perf_event_open"))
        return ret(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    if (!strcmp(name, "bpf"))
        return ret(syscall(SYS_bpf, -1, NULL, 0));
    if (!strcmp(name, "userfaultfd"))
        return ret(syscall(SYS_userfaultfd, -1));
    if (!strcmp(name, "fsopen"))
        return ret(syscall(SYS_fsopen, NULL, 0));
    if (!strcmp(name, "clone3"))
        return ret(syscall(SYS_clone3, NULL, 0)); /* EINVAL unfiltered */
    if (!strcmp(name, "unshare"))
        return in_child(do_unshare);
    if (!strcmp(name, "clone"))
        return in_child(do_clone_newuser);
    if (!strcmp(name, "tiocsti"))
        return in_child(do_tiocsti);
    if (!strcmp(name, "thread"))
        return do_thread();
    if (!strcmp(name, "tiocsti_high"))
        return in_child(do_tiocsti_high);
    return -1;
}

int main(int argc, char **argv)
{
    static const char *const all[] = {"getpid", "mkdirat", "keyctl", "add_key", "request_key",
                                      "perf_event_open", "bpf", "userfaultfd", "fsopen", "clone3",
                                      "unshare", "clone", "tiocsti", "tiocsti_high", "thread", NULL};
    const char *const *names = argc > 1 ? (const char *const *)argv + 1 : all;
    for (; *names != NULL; names++)
    {
        printf("%s %ld\n", *names, call(*names));
        fflush(stdout); /* a filter that kills must not take what was printed along */
    }
    return 0;
}
