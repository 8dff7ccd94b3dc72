/* spec/sandbox_session_spec.lua: a workload that tries to push a line
 * into its terminal's input with ioctl(TIOCSTI) (the CVE-2017-5226
 * class), through /dev/tty and through every inherited descriptor that
 * is a terminal. Prints one line per attempt: "<where> ok" or
 * "<where> <errno>". Exit status 0 either way.
 *   tiocsti TEXT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int push(int fd, const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if (ioctl(fd, TIOCSTI, p) != 0)
            return errno;
    return 0;
}

int main(int argc, char **argv)
{
    const char *text = argc > 1 ? argv[1] : "INJECTED\n";
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        printf("/dev/tty open %d\n", errno);
    } else {
        int e = push(fd, text);
        printf("/dev/tty %s%d\n", e ? "" : "ok ", e);
        close(fd);
    }
    for (int i = 0; i < 256; i++) {
        if (!isatty(i))
            continue;
        int e = push(i, text);
        printf("fd%d %s%d\n", i, e ? "" : "ok ", e);
    }
    return 0;
}
