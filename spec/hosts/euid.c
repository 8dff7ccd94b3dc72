/* spec/mounts_spec.lua: print the effective uid (built static and made
 * setuid-root in a container's rootfs: does nosuid hold?). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("%d\n", (int)geteuid());
    return 0;
}
