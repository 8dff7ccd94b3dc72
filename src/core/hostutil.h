/* Small helpers the host-side C repeated (the modules' code that runs in
 * the caller's process, with libc): one definition each, static inline so
 * nothing is exported. The children (src/child*.c) keep their own twins
 * in child_sys.h (rs_close, copy, str_len, ...) on purpose: they run
 * freestanding, without libc or errno, and must not call these. */
#ifndef LINX_HOSTUTIL_H
#define LINX_HOSTUTIL_H

#include <stdlib.h>
#include <string.h>
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

#endif
