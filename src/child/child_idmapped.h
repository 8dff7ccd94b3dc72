/* The workload's side of idmapped binds (freestanding, as child.c): the
 * release message that brings the mounts the host made, and the move of
 * each into place at its turn in the plan. */
#ifndef LINX_CHILD_IDMAPPED_H
#define LINX_CHILD_IDMAPPED_H

#include "protocol.h"

/* Wait for the host's release on ctl: one byte, with the detached
 * idmapped mounts attached (SCM_RIGHTS, close-on-exec), which go to the
 * idmap_fd of in's idmapped binds, in plan order. Returns 1 when
 * released; 0 on EOF or error (the host is gone or closed the handle). */
int linx_release_wait(int ctl, const struct inside *in);

/* Attach the idmapped mount m brought (m->idmap_fd) on m->target:
 * 0 or -errno (EBADF: none came). */
long linx_idmapped_move(const struct inside_mount *m);

#endif
