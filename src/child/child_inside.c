/* The inside steps (see child_inside.h): what a workload does to itself
 * between the release and execve. Freestanding, as child.c: raw system
 * calls only, no libc, no errno. */
#include "child_inside.h"

#include "child_mounts.h"
#include "child_policy.h"
#include "child_net.h"
#include "child_seccomp.h"
#include "child_sys.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>

static int failed(struct inside_fail *f, int stage, long r, int step, int detail)
{
    f->stage = stage;
    f->err = (int)-r;
    f->step = step;
    f->detail = detail;
    return -1;
}

int linx_inside_run(const struct inside *in, pid_t parent, struct inside_fail *f)
{
    long r;
    struct policy_fail pf;
    struct mount_fail mf;
    f->landlock = -1;
    if ((in->nmounts > 0 || in->root != NULL) && linx_mounts_run(in, &mf) < 0) {
        f->stage = mf.stage;
        f->err = mf.err;
        f->step = mf.step;
        f->detail = mf.detail;
        return -1;
    }
    if (in->hostname != NULL && (r = RSYS2(SYS_sethostname, in->hostname, str_len(in->hostname))) < 0)
        return failed(f, STAGE_HOSTNAME, r, 0, 0);
    if (in->loopback && (r = linx_loopback_up()) < 0)
        return failed(f, STAGE_LOOPBACK, r, 0, 0);
    if (in->policy != NULL && (r = linx_policy_bounding(in->policy, &pf)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    if (in->ngroups >= 0 && (r = RSYS2(SYS_setgroups, in->ngroups, in->groups)) < 0)
        return failed(f, STAGE_SETGROUPS, r, 0, 0);
    if (in->gid >= 0 && (r = RSYS3(SYS_setresgid, in->gid, in->gid, in->gid)) < 0)
        return failed(f, STAGE_SETRESGID, r, 0, 0);
    if (in->uid >= 0 && (r = RSYS3(SYS_setresuid, in->uid, in->uid, in->uid)) < 0)
        return failed(f, STAGE_SETRESUID, r, 0, 0);
    if (in->gid >= 0 || in->uid >= 0) {
        /* A change of effective id clears the parent-death signal: arm it
         * again, and make sure the keeper did not go meanwhile. */
        RSYS2(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
        if (RSYS1(SYS_getppid, 0) != parent)
            rs_exit(127);
    }
    if (in->policy != NULL && (r = linx_policy_caps_rlimits(in->policy, &pf)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    if (in->no_new_privs && (r = RSYS5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) < 0)
        return failed(f, STAGE_PRCTL, r, 0, 0);
    if (in->policy != NULL && (r = linx_policy_landlock(in->policy, &pf, &f->landlock)) < 0)
        return failed(f, pf.stage, r, pf.step, 0);
    int stage; /* the last step: child_seccomp.c */
    if (in->seccomp_len > 0 && (r = linx_child_seccomp(in, &stage)) < 0)
        return failed(f, stage, r, 0, 0);
    return 0;
}
