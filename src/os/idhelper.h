/* Run shadow's setuid map helpers (newuidmap / newgidmap) on a target
 * pid: argument vector, no shell, stderr captured, a time limit. No Lua
 * here. */
#ifndef LINX_IDHELPER_H
#define LINX_IDHELPER_H

#include "core/idmap.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* Captured output kept for the error table; the rest is drained. */
#define IDHELPER_CAPTURE 4096
/* argv: helper, pid, 3 per entry, NULL. */
#define IDHELPER_MAX_ARGS (2 + 3 * IDMAP_MAX_ENTRIES + 1)
/* Room for every argument's text: 10 digits and a NUL each. */
#define IDHELPER_ARGTEXT (IDHELPER_MAX_ARGS * 12)
/* The time limit of one helper run when LINX_HELPER_TIMEOUT is unset. */
#define IDHELPER_TIMEOUT_MS 10000

/* Find name the way execvp would: a name holding '/' is taken as is,
 * else the first executable regular file in path_env (NULL or empty:
 * the default search path). Writes the path into out. Returns 0,
 * ENOENT (nowhere), EACCES (found, not executable), ENAMETOOLONG, or
 * the errno of a stat that failed for another reason (ELOOP, EIO, ...):
 * as execvp, the search stops there rather than calling it missing. */
int idhelper_find(const char *name, const char *path_env, char *out, size_t cap);

/* The time limit in milliseconds from the text of LINX_HELPER_TIMEOUT
 * (seconds, a decimal fraction allowed: "2", "0.5"); NULL, empty, zero
 * or malformed text gives IDHELPER_TIMEOUT_MS. */
long idhelper_timeout_ms(const char *env);

enum idhelper_outcome {
    IDHELPER_OK,      /* exited 0 */
    IDHELPER_EXIT,    /* exited non-zero: status */
    IDHELPER_SIGNAL,  /* killed: status holds the signal */
    IDHELPER_EXEC,    /* execve failed in the child: err */
    IDHELPER_SPAWN,   /* a call in the caller or go-between failed: err, call */
    IDHELPER_TIMEOUT, /* still running at the time limit: killed and reaped */
};

struct idhelper_result {
    enum idhelper_outcome outcome;
    int status;
    int err;
    const char *call; /* IDHELPER_SPAWN: the system call that failed */
    long timeout_ms;  /* the limit it ran under */
    size_t out_len;   /* captured stdout+stderr, at most IDHELPER_CAPTURE */
    char out[IDHELPER_CAPTURE + 1];
};

/* One helper started and not yet finished. */
struct idhelper_proc {
    pid_t pid; /* the go-between, a clone child of ours; -1 when none */
    int out_fd, st_fd;
    struct timespec deadline; /* CLOCK_MONOTONIC */
    char *map;                /* the go-between's stacks (mmap), or NULL */
    size_t map_len;
};

/* Build "helper pid inside outside length ..." into argv (IDHELPER_MAX_ARGS
 * slots), its text into buf (IDHELPER_ARGTEXT bytes). count must be at
 * most IDMAP_MAX_ENTRIES and every entry validated. */
void idhelper_argv(const char *helper, pid_t pid, const struct idmap_entry *entries,
                   size_t count, char **argv, char *buf);

/* Start path with argv, stdin from /dev/null, stdout and stderr into one
 * capture pipe, every other fd closed on exec. The helper runs as a
 * grandchild: our direct child is cloned with no exit signal and never
 * execs (execve would reset that to SIGCHLD), so a host that reaps every
 * child with waitpid(-1) (nginx) cannot take it; it waits for the helper
 * for at most timeout_ms, kills it (SIGKILL) and reaps it when the time
 * is up, and reports over a CLOEXEC pipe. Returns 0 with *p running, or
 * -1 with *r filled (IDHELPER_SPAWN) and nothing left behind. */
int idhelper_start(const char *path, char *const argv[], long timeout_ms,
                   struct idhelper_proc *p, struct idhelper_result *r);

/* Wait for a started helper, collect its output, reap the go-between
 * (whatever fails on the way: no zombie is left). Fills *r; returns 0
 * when the helper exited 0. */
int idhelper_finish(struct idhelper_proc *p, struct idhelper_result *r);

/* idhelper_start then idhelper_finish. */
int idhelper_run(const char *path, char *const argv[], long timeout_ms,
                 struct idhelper_result *r);

#endif
