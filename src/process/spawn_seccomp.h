/* inside.seccomp: a policy from a Lua table (or "default", or a
 * precompiled program as bwrap takes it) turned into a struct sock_filter
 * program in the host, with libseccomp, before any child exists. The
 * workload loads it as its last step (child_seccomp.c). */
#ifndef LINX_SPAWN_SECCOMP_H
#define LINX_SPAWN_SECCOMP_H

#include "support/compat.h"
#include "child/protocol.h"

/* The value at idx (inside.seccomp) as a program: a Lua string anchored in
 * the table at anchor; in->seccomp and in->seccomp_len point at it.
 * Returns 0, or pushes nil, err (bad_option naming the entry), or nil,
 * err, errno (os), and returns how many. */
int linx_seccomp_opt(lua_State *L, int idx, int anchor, struct inside *in);

/* process.seccomp_program(spec): the program inside.seccomp = spec would
 * load, as a string of struct sock_filter (bwrap's --seccomp format). */
int linx_l_seccomp_program(lua_State *L);

#endif
