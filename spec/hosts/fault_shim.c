/* An LD_PRELOAD shim for spec/helper_run_spec.lua: makes one system call
 * of the helper route fail, as the kernel or libc could, so the spec can
 * check what the caller sees and that nothing is left behind.
 *
 *   LINX_FAULT=what:ERRNO[:times]     (times: 1 when left out)
 *
 * what:
 *   pthread_sigmask  pthread_sigmask fails in the host process
 *   waitpid_wclone   waitpid(..., __WCLONE) fails in the host process
 *   read_status      read() of one status record (8 bytes) from a pipe
 *                    (the helper route's status pipe) fails in the host
 *                    process
 * ERRNO is a number. Built by the spec: cc -shared -fPIC -o shim.so this -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char what[32];
static int fault_errno, times_left;
static pid_t host;

__attribute__((constructor)) static void init(void)
{
    const char *spec = getenv("LINX_FAULT");
    host = getpid();
    if (spec == NULL)
        return;
    const char *colon = strchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof what)
        return;
    memcpy(what, spec, (size_t)(colon - spec));
    char *end;
    fault_errno = (int)strtol(colon + 1, &end, 10);
    times_left = *end == ':' ? atoi(end + 1) : 1;
}

/* Should this call fail? host_only: only in the process that loaded us. */
static int fire(const char *name, int host_only)
{
    if (strcmp(what, name) != 0 || times_left <= 0)
        return 0;
    if (host_only && getpid() != host)
        return 0;
    if (host_only)
        times_left--;
    return 1;
}

int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    if (fire("pthread_sigmask", 1))
        return fault_errno; /* returned, not in errno */
    static int (*real)(int, const sigset_t *, sigset_t *);
    if (real == NULL)
        real = (int (*)(int, const sigset_t *, sigset_t *))dlsym(RTLD_NEXT, "pthread_sigmask");
    return real(how, set, old);
}

pid_t waitpid(pid_t pid, int *status, int options)
{
    if ((options & __WCLONE) && fire("waitpid_wclone", 1)) {
        errno = fault_errno;
        return -1;
    }
    static pid_t (*real)(pid_t, int *, int);
    if (real == NULL)
        real = (pid_t(*)(pid_t, int *, int))dlsym(RTLD_NEXT, "waitpid");
    return real(pid, status, options);
}

ssize_t read(int fd, void *buf, size_t count)
{
    struct stat st;
    if (count == 8 && strcmp(what, "read_status") == 0 && getpid() == host &&
        fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        if (fire("read_status", 1)) {
            errno = fault_errno;
            return -1;
        }
    }
    static ssize_t (*real)(int, void *, size_t);
    if (real == NULL)
        real = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    return real(fd, buf, count);
}
