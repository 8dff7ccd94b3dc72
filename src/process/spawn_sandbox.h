/* spawn's sandbox options of this file's concern: opts.session and
 * opts.inside.init (read after the other options), and the init image
 * (a sealed memfd of the embedded linx-init program, one per Lua state). */
#ifndef LINX_SPAWN_SANDBOX_H
#define LINX_SPAWN_SANDBOX_H

#include "spawn_opts.h"

/* Read opts.session (default "new") and opts.inside.init (default: true
 * when o->flags has CLONE_NEWPID) into o. Returns 0, or pushes nil, err
 * (bad_option) and returns 2. */
int linx_spawn_sandbox_read(lua_State *L, int opts, struct spawn_opts *o);

/* This Lua state's sealed memfd of the init image, made on first use and
 * kept in the registry (CLOEXEC; closed with the state). Returns the fd,
 * or -errno (*call names the system call). */
int linx_init_image_fd(lua_State *L, const char **call);

/* proceed()'s hint for a failure to run the init (operation "init"), or NULL. */
const char *linx_init_hint(int err);

#endif
