/* Print the Landlock ABI this kernel offers, as the workload asks for it
 * (landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)),
 * or 0 when it has none: what spec/policy_spec.lua compares
 * Handle:landlock() with. Built by the spec: cc -o landlock_abi this */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    long abi = syscall(444 /* landlock_create_ruleset */, NULL, 0, 1UL /* VERSION */);
    printf("%ld\n", abi < 0 ? 0L : abi);
    return 0;
}
