/* spawn's inside.caps, inside.rlimits and inside.landlock on the host's
 * side: reading them into the policy block the workload applies
 * (child_policy.h), and what proceed() says when one of those steps
 * fails. (Handle:landlock() is in process_nb.c.) */
#ifndef LINX_SPAWN_POLICY_H
#define LINX_SPAWN_POLICY_H

#include "support/compat.h"
#include "child/protocol.h"

/* Read the three options of the inside table at t into in->policy (NULL
 * when none is given); the block is anchored in the table at anchor.
 * inside.landlock sets in->no_new_privs. Returns 0, or pushes nil, err
 * (bad_option) and returns 2. */
int linx_policy_read(lua_State *L, int t, int anchor, struct inside *in);

/* The operation of a policy step's stage (STAGE_CAPBSET .. STAGE_LANDLOCK),
 * else other. */
const char *linx_policy_stage(int stage, const char *other);

/* For a failed policy step (STAGE_CAPBSET .. STAGE_LANDLOCK): the path
 * it names (a Landlock rule's; in may be NULL) and a hint (buf holds it
 * when it names a resource), else NULL. */
const char *linx_policy_path(const struct inside *in, const struct msg *rep);
const char *linx_policy_hint(const struct msg *rep, char *buf, size_t len);

#endif
