/* spec/init_spec.lua: do two processes share one address space? Prints
 * kcmp(pid1, pid2, KCMP_VM, 0, 0): 0 the same mm, 1 or 2 different ones
 * (an order), or "error ERRNO".
 *   kcmp PID1 PID2 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif
#define LINX_KCMP_VM 1

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long r = syscall(SYS_kcmp, atoi(argv[1]), atoi(argv[2]), LINX_KCMP_VM, 0, 0);
    if (r < 0)
        printf("error %d\n", errno);
    else
        printf("%ld\n", r);
    return 0;
}
