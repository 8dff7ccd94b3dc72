#include "procfs.h"

#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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
        return ENOMEM;
    }
    for (;;) {
        if (used == cap) {
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
    int fd = procfs_open(t, name, O_WRONLY);
    if (fd < 0)
        return -fd;
    int err = idmap_write_once(fd, text, len);
    close(fd);
    return err;
}
