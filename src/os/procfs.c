/* A target's /proc/<pid> files (procfs.h): opened through the held
 * directory fd or the path, read whole, written in one write(), and the
 * liveness check (pidfd poll, or the state in /proc/<pid>/stat). */
#include "procfs.h"

#include "core/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same on every architecture */
#endif

static void note(const struct procfs_target *t, const char *call)
{
    if (t->failed != NULL)
        *t->failed = call;
}

void procfs_path(const struct procfs_target *t, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "/proc/%ld/%s", (long)t->pid, name);
}

int procfs_open(const struct procfs_target *t, const char *name, int flags)
{
    int fd;
    if (t->dirfd >= 0) {
        fd = openat(t->dirfd, name, flags | O_CLOEXEC | O_NOCTTY);
        note(t, "openat");
    } else {
        char path[64];
        procfs_path(t, name, path, sizeof path);
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        note(t, "open");
    }
    return fd >= 0 ? fd : -errno;
}

/* The slow way, for a pid named by /proc only: "pid (comm) S ..." */
static int stat_says_gone(const struct procfs_target *t)
{
    int fd = procfs_open(t, "stat", O_RDONLY);
    if (fd < 0)
        return -fd;
    char buf[512]; /* comm is at most 15 bytes */
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(fd);
    note(t, "read");
    if (err != 0)
        return err;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* comm may hold ')' itself */
    if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
        return ESRCH;
    return 0;
}

/* A pidfd polls readable once its process has exited, zombie or reaped. */
static int pidfd_says_gone(const struct procfs_target *t, int pidfd)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN, .revents = 0};
    int n;
    do {
        n = poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int err = errno;
        note(t, "poll");
        return err;
    }
    return n > 0 ? ESRCH : 0;
}

int procfs_alive(const struct procfs_target *t)
{
    if (t->pidfd >= 0)
        return pidfd_says_gone(t, t->pidfd);
    if (t->dirfd >= 0) /* a held directory: pidfd_open would name the pid, not it */
        return stat_says_gone(t);
    /* A bare pid: pidfd_open is far cheaper than formatting stat. It
     * refuses a thread id (EINVAL) and old kernels lack it (ENOSYS):
     * then stat decides, as it would for any /proc entry. */
    long fd = syscall(SYS_pidfd_open, (pid_t)t->pid, 0U);
    if (fd < 0) {
        int err = errno;
        return err == ESRCH ? ENOENT : stat_says_gone(t);
    }
    int gone = pidfd_says_gone(t, (int)fd);
    close((int)fd);
    return gone;
}

int procfs_read_all(const struct procfs_target *t, const char *name, char **out, size_t *len)
{
    int fd = procfs_open(t, name, O_RDONLY);
    if (fd < 0)
        return -fd;
    /* A map file is below one page except for long maps: start with a page
     * and grow; the read that returns 0 ends it. */
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    int err = 0;
    if (buf == NULL) {
        close(fd);
        note(t, NULL);
        return ENOMEM;
    }
    for (;;) {
        /* Grow before a read that could only take a few bytes: procfs
         * hands out up to a page of whole lines per read(), and the first
         * page of a long map leaves 4 bytes free, a needless extra read. */
        if (cap - used < 256) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (bigger == NULL) {
                err = ENOMEM;
                note(t, NULL);
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + used, cap - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err = errno;
            note(t, "read");
            break;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    if (err != 0) {
        free(buf);
        return err;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
    return 0;
}

int procfs_write_once(const struct procfs_target *t, const char *name, const char *text, size_t len)
{
    int fd = procfs_open(t, name, O_WRONLY);
    if (fd < 0)
        return -fd;
    int err = idmap_write_once(fd, text, len);
    close(fd);
    note(t, "write");
    return err;
}
