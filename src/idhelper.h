/* Run shadow's setuid map helpers (newuidmap / newgidmap) on a target
 * pid: argument vector, no shell, stderr captured. No Lua here. */
#ifndef LINX_IDHELPER_H
#define LINX_IDHELPER_H

#include "idmap.h"

#include <stddef.h>
#include <sys/types.h>

/* Captured output kept for the error table; the rest is drained. */
#define IDHELPER_CAPTURE 4096
/* argv: helper, pid, 3 per entry, NULL. */
#define IDHELPER_MAX_ARGS (2 + 3 * IDMAP_MAX_ENTRIES + 1)
/* Room for every argument's text: 10 digits and a NUL each. */
#define IDHELPER_ARGTEXT (IDHELPER_MAX_ARGS * 12)

/* Find name the way execvp would: a name holding '/' is taken as is,
 * else the first executable regular file in path_env (NULL or empty:
 * the default search path). Writes the path into out. Returns 0,
 * ENOENT (nowhere), EACCES (found, not executable) or ENAMETOOLONG. */
int idhelper_find(const char *name, const char *path_env, char *out, size_t cap);

enum idhelper_outcome {
    IDHELPER_OK,       /* exited 0 */
    IDHELPER_EXIT,     /* exited non-zero: status */
    IDHELPER_SIGNAL,   /* killed: status holds the signal */
    IDHELPER_EXEC,     /* execve failed in the child: err */
    IDHELPER_SPAWN,    /* pipe/clone/wait failed in the caller: err */
};

struct idhelper_result {
    enum idhelper_outcome outcome;
    int status;
    int err;
    size_t out_len; /* captured stdout+stderr, at most IDHELPER_CAPTURE */
    char out[IDHELPER_CAPTURE + 1];
};

/* Build "helper pid inside outside length ..." into argv (IDHELPER_MAX_ARGS
 * slots), its text into buf (IDHELPER_ARGTEXT bytes). count must be at
 * most IDMAP_MAX_ENTRIES and every entry validated. */
void idhelper_argv(const char *helper, pid_t pid, const struct idmap_entry *entries,
                   size_t count, char **argv, char *buf);

/* Run path with argv, stdin from /dev/null, stdout and stderr into one
 * capture pipe, every other fd closed on exec, and wait for it. The
 * helper runs as a grandchild: our direct child is cloned with no exit
 * signal and never execs (execve would reset that to SIGCHLD), so a host
 * that reaps every child with waitpid(-1) (nginx) cannot take it; it
 * waits for the helper and reports the status over a CLOEXEC pipe.
 * Fills *r; returns 0 when the helper exited 0. */
int idhelper_run(const char *path, char *const argv[], struct idhelper_result *r);

#endif
