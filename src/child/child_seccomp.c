/* Loading inside.seccomp (see child_seccomp.h). The program was compiled
 * (or read and size-checked) by the host before the child existed and
 * lives in the children's block; here it is two raw system calls.
 * Freestanding: no libc, no errno. */
#include "child_seccomp.h"

#include "child_sys.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

#ifndef SYS_seccomp
#define SYS_seccomp 317
#endif

long linx_child_seccomp(const struct inside *in, int *stage)
{
    if (in->seccomp == NULL || in->seccomp_len == 0)
        return 0;
    *stage = STAGE_PRCTL;
    long r = RSYS5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (r < 0)
        return r;
    struct sock_fprog prog;
    zero(&prog, sizeof prog);
    prog.len = (unsigned short)in->seccomp_len;
    prog.filter = (struct sock_filter *)in->seccomp; /* the kernel only reads it */
    *stage = STAGE_SECCOMP;
    r = RSYS3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
    return r < 0 ? r : 0;
}
