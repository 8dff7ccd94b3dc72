/* The host's one reading of a child's failure report (MSG_FAILED's
 * stage, step, detail and errno, child/protocol.h): for each enum stage,
 * the operation an error table names, which path it names, and its
 * hints. The table is in stages.c. */
#ifndef LINX_STAGES_H
#define LINX_STAGES_H

#include "child/protocol.h"
#include "keeper_host.h"

/* What proceed() puts in its os error for a failed step. */
struct stage_report {
    const char *operation; /* also the error's stage */
    const char *path;      /* or NULL */
    const char *hint;      /* or NULL */
    int step;              /* an index in inside.mounts (1-based), or 0: none */
    char path_buf[INSIDE_PATH_MAX + 16];
    char hint_buf[256];
};

/* The operation of a stage ("spawn" for one the table does not know). */
const char *linx_stage_operation(int stage);

/* Decode a MSG_FAILED of the workload's (after the release) into out. */
void linx_stage_decode(const struct handle *h, const struct msg *rep, struct stage_report *out);

/* Push proceed()'s nil, err, errno for that report (kind os, with
 * operation, stage, path, step, hint); returns the count pushed. */
int linx_stage_error(lua_State *L, const struct handle *h, const struct msg *rep);

/* spawn()'s hint for a failure before the child parked (the keeper's or
 * the workload's setup; flags: the CLONE_NEW* asked for). */
const char *linx_stage_spawn_hint(int stage, int err, unsigned long flags);

#endif
