/* Loading inside.seccomp: the workload's last inside step (after
 * no_new_privs and the steps before it, before cwd and execve).
 * Freestanding code, as child_inside.c. */
#ifndef LINX_CHILD_SECCOMP_H
#define LINX_CHILD_SECCOMP_H

#include "child_inside.h"

/* no_new_privs (a filter implies it), then the filter of in. 0, or -1
 * with *f filled (STAGE_PRCTL or STAGE_SECCOMP). */
int linx_child_seccomp(const struct inside *in, struct inside_fail *f);

#endif
