/* Small helpers the host-side C repeated (the modules' code that runs in
 * the caller's process, with libc): one definition each, static inline so
 * nothing is exported. The children (src/child*.c) keep their own twins
 * in child_sys.h (rs_close, copy, str_len, ...) on purpose: they run
 * freestanding, without libc or errno, and must not call these. */
#ifndef LINX_HOSTUTIL_H
#define LINX_HOSTUTIL_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Close *fd when open and mark it closed (-1): safe to repeat. */
static inline void linx_close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* A malloc'd copy of s, or NULL when memory is short. */
static inline char *linx_dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

/* The PATH execvp would search for argv0: the caller's own (not the
 * child's environment), "/bin:/usr/bin" without one; NULL when argv0 has
 * a '/' and no search happens. */
static inline const char *linx_exec_path(const char *argv0)
{
    if (strchr(argv0, '/') != NULL)
        return NULL;
    const char *path = getenv("PATH");
    return path != NULL ? path : "/bin:/usr/bin";
}

/* A memfd named name holding len bytes of data: memfd_create with flags
 * and newer (flags of a later kernel, dropped when this one says EINVAL),
 * then the whole write. The fd, or -errno with *call the failed call. */
static inline int linx_memfd_data(const char *name, unsigned flags, unsigned newer, const void *data, size_t len,
                                  const char **call)
{
    int fd = (int)syscall(SYS_memfd_create, name, flags | newer);
    if (fd < 0 && errno == EINVAL && newer != 0)
        fd = (int)syscall(SYS_memfd_create, name, flags);
    *call = "memfd_create";
    if (fd < 0)
        return -errno;
    *call = "write";
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *)data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            close(fd);
            return -err;
        }
        done += (size_t)n;
    }
    return fd;
}

#endif
