/* Loading inside.seccomp: the workload's last inside step (after
 * no_new_privs and the steps before it, before cwd and execve).
 * Freestanding code, as child_inside.c. */
#ifndef LINX_CHILD_SECCOMP_H
#define LINX_CHILD_SECCOMP_H

#include "protocol.h"

/* no_new_privs (a filter implies it), then the filter of in. 0, or
 * -errno with *stage the step that failed (STAGE_PRCTL or STAGE_SECCOMP). */
long linx_child_seccomp(const struct inside *in, int *stage);

#endif
