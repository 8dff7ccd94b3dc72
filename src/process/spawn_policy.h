/* spawn's inside.caps, inside.rlimits and inside.landlock on the host's
 * side: reading them into the policy block the workload applies
 * (child_policy.h), and what proceed() needs of it when one of those
 * steps fails. (Handle:landlock() is in process_nb.c.) */
#ifndef LINX_SPAWN_POLICY_H
#define LINX_SPAWN_POLICY_H

#include "support/compat.h"
#include "child/protocol.h"

/* Read the three options of the inside table at t into in->policy (NULL
 * when none is given); the block is anchored in the table at anchor.
 * inside.landlock sets in->no_new_privs. Returns 0, or pushes nil, err
 * (bad_option) and returns 2. */
int linx_policy_read(lua_State *L, int t, int anchor, struct inside *in);

/* For a failed policy step (the stage table, stages.c, decodes the
 * rest): the path a STAGE_LANDLOCK names (its rule's; in may be NULL),
 * else NULL; and the name of an RLIMIT_* resource, for STAGE_PRLIMIT. */
const char *linx_policy_path(const struct inside *in, const struct msg *rep);
const char *linx_policy_rlimit_name(int res);

#endif
