#include "procfs.h"

#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void procfs_path(const struct procfs_target *t, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "/proc/%ld/%s", (long)t->pid, name);
}

int procfs_open(const struct procfs_target *t, const char *name, int flags)
{
    int fd;
    if (t->dirfd >= 0) {
        fd = openat(t->dirfd, name, flags | O_CLOEXEC | O_NOCTTY);
    } else {
        char path[64];
        procfs_path(t, name, path, sizeof path);
        fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
    }
    return fd >= 0 ? fd : -errno;
}

/* A killed child that is not yet reaped is a zombie: its /proc files stay
 * and its user namespace still takes map writes, which can never matter.
 * Say it is gone (ESRCH) instead of reporting success. Returns 0 or an
 * errno value (ENOENT/ESRCH once the directory is gone). */
static int target_gone(const struct procfs_target *t)
{
    int fd = procfs_open(t, "stat", O_RDONLY);
    if (fd < 0)
        return -fd;
    char buf[512]; /* "pid (comm) S ...": comm is at most 15 bytes */
    ssize_t n;
    do {
        n = read(fd, buf, sizeof buf - 1);
    } while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err != 0)
        return err;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* comm may hold ')' itself */
    if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
        return ESRCH;
    return 0;
}

int procfs_read_all(const struct procfs_target *t, const char *name, char **out, size_t *len)
{
    int gone = target_gone(t);
    if (gone != 0)
        return gone;
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
    int gone = target_gone(t);
    if (gone != 0)
        return gone;
    int fd = procfs_open(t, name, O_WRONLY);
    if (fd < 0)
        return -fd;
    int err = idmap_write_once(fd, text, len);
    close(fd);
    return err;
}
