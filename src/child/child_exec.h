/* The PATH search both exec points share: the workload's execvpe (child.c)
 * and the real workload an init forks (child_init.c). Freestanding, as
 * child_sys.h: raw system calls, no libc, no errno. */
#ifndef LINX_CHILD_EXEC_H
#define LINX_CHILD_EXEC_H

#include "child_sys.h"

#include <limits.h>

/* What one exec needs: argv, the whole environment, the PATH snapshot
 * taken at spawn (NULL when argv[0] has a '/'), and room for argc + 2
 * pointers (an ENOEXEC file runs through /bin/sh). */
struct exec_req {
    char **argv;
    char **envp;
    const char *path;
    char **sh_argv;
};

/* execve, and for a file the kernel cannot run (ENOEXEC: a script without
 * #!), /bin/sh with it, as execvp does. Returns -errno. */
static inline long exec_file(const struct exec_req *a, const char *file)
{
    long r = RSYS3(SYS_execve, file, a->argv, a->envp);
    if (r != -E_NOEXEC)
        return r;
    char **v = a->sh_argv;
    size_t n = 0;
    v[n++] = (char *)"/bin/sh";
    v[n++] = (char *)file;
    for (size_t i = 1; a->argv[0] != NULL && a->argv[i] != NULL; i++)
        v[n++] = a->argv[i];
    v[n] = NULL;
    r = RSYS3(SYS_execve, "/bin/sh", v, a->envp);
    v[1] = NULL; /* file may be the caller's buffer: keep no pointer to it */
    return r;
}

/* execvpe(argv[0]) with the PATH snapshot taken at spawn: each directory
 * in turn; EACCES from any of them wins over ENOENT at the end, and an
 * error that says the file is there but cannot run stops the search. */
static inline long exec_search(const struct exec_req *a)
{
    const char *file = a->argv[0];
    if (a->path == NULL)
        return exec_file(a, file);
    size_t flen = str_len(file);
    if (flen == 0)
        return -E_NOENT;
    if (flen > NAME_MAX)
        return -E_NAMETOOLONG;
    char buf[PATH_MAX + NAME_MAX + 2];
    int eacces = 0;
    long r = -E_NOENT;
    const char *p = a->path;
    for (;;) {
        const char *end = p;
        while (*end != '\0' && *end != ':')
            end++;
        size_t dlen = (size_t)(end - p);
        if (dlen > PATH_MAX)
            return -E_NAMETOOLONG;
        size_t k = 0;
        for (size_t i = 0; i < dlen; i++)
            buf[k++] = p[i];
        if (dlen > 0) /* an empty element is the current directory */
            buf[k++] = '/';
        for (size_t i = 0; i <= flen; i++)
            buf[k++] = file[i];
        r = exec_file(a, buf);
        switch (r) {
        case -E_ACCES:
            eacces = 1;
            break;
        case -E_NOENT:
        case -E_STALE:
        case -E_NOTDIR:
        case -E_NODEV:
        case -E_TIMEDOUT:
            break;
        default:
            return r;
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return eacces ? -E_ACCES : r;
}

#endif
