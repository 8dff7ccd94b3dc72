/* The host's side of idmapped binds and of the release: at proceed(),
 * after setup_maps, make each bind with idmap (open_tree, mount_setattr
 * with MOUNT_ATTR_IDMAP and a user namespace: the container's own or a
 * throw-away one holding the given maps), then release the workload with
 * those detached mounts attached to the release byte (SCM_RIGHTS); the
 * workload moves each into place at its turn (child_idmapped.c). */
#ifndef LINX_IDMAPPED_H
#define LINX_IDMAPPED_H

#include "keeper_host.h"

struct idmapped_fail {
    int err;          /* errno */
    int step;         /* the mount (1-based) whose idmapped bind failed; 0: the release's send */
    const char *call; /* the system call that failed */
};

/* Make the idmapped binds of h's plan (none: nothing to make) and send
 * the release, closing our copies of the mounts. 0, or -1 with *f. */
int linx_release_send(struct handle *h, struct idmapped_fail *f);

/* proceed()'s error for an idmapped bind the host could not make (f->step
 * > 0): the parked child is let go before it ran anything (EOF on its
 * socket: it exits 127; wait() collects it). Pushes nil, err, errno;
 * returns 3. */
int linx_idmapped_error(lua_State *L, struct handle *h, const struct idmapped_fail *f);

#endif
