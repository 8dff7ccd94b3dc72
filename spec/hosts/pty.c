/* spec/mounts_spec.lua: open a pty pair the way script, ssh and tmux do
 * (posix_openpt, grantpt, unlockpt, ptsname, open the slave), write
 * through it, and print the slave's name. Exit 1 naming the call that failed. */
#define _GNU_SOURCE /* posix_openpt, grantpt, ptsname */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) {
        perror("posix_openpt");
        return 1;
    }
    if (grantpt(m) != 0 || unlockpt(m) != 0) {
        perror("grantpt/unlockpt");
        return 1;
    }
    const char *name = ptsname(m);
    int s = name != NULL ? open(name, O_RDWR | O_NOCTTY) : -1;
    if (s < 0) {
        perror("open slave");
        return 1;
    }
    char buf[8] = {0};
    if (write(s, "pty\n", 4) != 4 || read(m, buf, sizeof buf - 1) <= 0 || strncmp(buf, "pty", 3) != 0) {
        fprintf(stderr, "no round trip\n");
        return 1;
    }
    printf("%s\n", name);
    return 0;
}
