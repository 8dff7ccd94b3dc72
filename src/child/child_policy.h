/* The sandbox policy a linx.process workload applies to itself (spawn's
 * inside.caps, inside.rlimits, inside.landlock): the block the host
 * builds (spawn_policy.c) and the steps the workload takes with it
 * (child_policy.c, freestanding: raw system calls only).
 *
 * The policy is one position-independent block: the fixed part below,
 * the Landlock rules after it, then their paths (NUL-terminated, found
 * by their offset from the block's start). Copying it is one memcpy of
 * `size` bytes, so the children's block and proceed()'s messages each
 * hold a copy of their own. */
#ifndef LINX_CHILD_POLICY_H
#define LINX_CHILD_POLICY_H

#include "protocol.h"

#include <stdint.h>

/* RLIMIT_NLIMITS: every resource the kernel has, each at most once. */
#define POLICY_RLIMITS 16

/* What a Landlock rule grants (inside.landlock's lists); the workload
 * turns these into the access rights of the ABI it finds. */
enum { POLICY_LL_READ = 1, POLICY_LL_WRITE = 2, POLICY_LL_EXEC = 4 };

/* inside.landlock given: enforce when the kernel can, or insist. */
enum { POLICY_LL_NONE, POLICY_LL_WANTED, POLICY_LL_REQUIRED };

struct policy_rlimit {
    uint32_t resource; /* RLIMIT_* */
    uint32_t pad;
    uint64_t soft, hard; /* RLIM_INFINITY: ~0 */
};

struct policy_rule {
    uint32_t grants; /* POLICY_LL_* */
    uint32_t path;   /* offset of the path from the policy's start */
};

struct inside_policy {
    uint32_t size;     /* bytes, rules and paths included */
    int32_t caps;      /* 1: inside.caps was given */
    uint64_t keep;     /* bit n: capability n stays (caps) */
    int32_t nrlimits;
    int32_t landlock;  /* POLICY_LL_NONE, _WANTED or _REQUIRED */
    struct policy_rlimit rlimits[POLICY_RLIMITS];
    int32_t nrules;
    uint32_t pad;
    struct policy_rule rules[]; /* nrules; then the paths */
};

/* Where a step failed: a STAGE_* of protocol.h and its msg.step. */
struct policy_fail {
    int stage, step;
};

/* The steps, each where API.md's "Order of the steps" puts it. Each
 * returns 0, or -errno with *f filled. */

/* caps (bounding), before the groups and ids change: every capability
 * not kept leaves the bounding set (up to the last one the kernel
 * knows), and PR_SET_KEEPCAPS keeps the permitted set through a change
 * of uid to a non-zero one. */
long linx_policy_bounding(const struct inside_policy *p, struct policy_fail *f);

/* caps (ambient), then rlimits, after the ids changed: permitted,
 * effective and inheritable become exactly the kept set; when the
 * effective uid is not 0 the kept ones join the ambient set, so they
 * survive execve. Then prlimit64 each of inside.rlimits (f->step: the
 * resource number when one fails). */
long linx_policy_caps_rlimits(const struct inside_policy *p, struct policy_fail *f);

/* landlock, after no_new_privs (which it implies): a ruleset over the
 * paths as seen now (inside the new root), at the best ABI the kernel
 * has. *abi_out: the ABI enforced, 0 when the kernel has no Landlock and it
 * was not required (f->step: the rule, 1-based, whose path failed). */
long linx_policy_landlock(const struct inside_policy *p, struct policy_fail *f, int *abi_out);

/* A rule's path. */
static inline const char *linx_policy_rule_path(const struct inside_policy *p, int32_t i)
{
    return (const char *)p + p->rules[i].path;
}

#endif
