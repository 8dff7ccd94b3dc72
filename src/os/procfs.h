/* Open and read a target's /proc files, relative to a held /proc/<pid>
 * directory fd when there is one, so a reused pid is never reached. */
#ifndef LINX_PROCFS_H
#define LINX_PROCFS_H

#include <stddef.h>
#include <sys/types.h>

struct procfs_target {
    pid_t pid;
    int dirfd; /* /proc/<pid> fd, or -1 to go through the path */
    int pidfd; /* pidfd of the same process, or -1 */
    /* Where the functions below name the system call behind an errno they
     * return (NULL for none, e.g. ENOMEM), for err.syscall; may be NULL. */
    const char **failed;
};

/* "/proc/<pid>/<name>" for messages. */
void procfs_path(const struct procfs_target *t, const char *name, char *buf, size_t cap);

/* open() the file O_CLOEXEC with flags. Returns fd or -errno. */
int procfs_open(const struct procfs_target *t, const char *name, int flags);

/* Is the target still running? A killed child that is not yet reaped
 * is a zombie: its /proc files stay and its user namespace still takes
 * map writes, which can never matter. Returns 0 while it runs, ESRCH for
 * a zombie, or the errno that shows it gone (ENOENT, ESRCH). One check
 * per verb call: read_all and write_once do not repeat it. */
int procfs_alive(const struct procfs_target *t);

/* Read the whole file into a malloc'd buffer (*out, *len; NUL-terminated).
 * Returns 0 or an errno value. */
int procfs_read_all(const struct procfs_target *t, const char *name, char **out, size_t *len);

/* Open, write text in one write(), close. Returns 0 or an errno value. */
int procfs_write_once(const struct procfs_target *t, const char *name, const char *text, size_t len);

#endif
