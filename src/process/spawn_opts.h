/* Reading spawn's option table. No child, no fd: just Lua values checked
 * and held. */
#ifndef LINX_SPAWN_OPTS_H
#define LINX_SPAWN_OPTS_H

#include "support/compat.h"
#include "support/lerror.h" /* linx_bad_option, which every verb of linx.process uses */
#include "child/protocol.h"

enum { IO_INHERIT, IO_NULL, IO_PIPE };

struct spawn_opts {
    char **argv;         /* NULL-terminated; strings anchored on the Lua stack */
    char **envp;         /* NULL: inherit the host's environment */
    const char *cwd;     /* NULL: stay */
    unsigned long flags; /* CLONE_NEW* */
    int stdio[3];        /* IO_* for stdin, stdout, stderr */
    struct inside in;    /* opts.inside; strings and arrays anchored on the Lua stack */
    int nfds;            /* opts.fds: fd_src[i] becomes the workload's fd_dst[i] */
    int *fd_src, *fd_dst;
    int cgroup;              /* opts.cgroup as the caller's fd, or -1 (spawn_cgroup.c) */
    const char *cgroup_path; /* opts.cgroup as a path the host opens, or NULL */
    int session_new;     /* opts.session: "new" (default) or "inherit" (spawn_sandbox.c) */
    int init, init_asked; /* opts.inside.init: run linx-init as pid 1 (default with "pid"); given as true */
    int park;            /* not an option: a pool's fill (pool.c) parks the child for a hand-over */
};

/* Read and check every option of the table at index opts. Leaves what
 * anchors the strings on the stack (the caller keeps them there until the
 * block is built). Returns 0, or pushes nil, err and returns 2. */
int linx_spawn_opts_read(lua_State *L, int opts, struct spawn_opts *o);

/* Is k one of spawn's option names? */
int linx_spawn_option_known(const char *k);

/* Push the option names spawn knows, for process.options: {spawn = {...},
 * inside = {...}, mount_types = {...}}, each a list of strings. */
void linx_spawn_push_names(lua_State *L);

#endif
