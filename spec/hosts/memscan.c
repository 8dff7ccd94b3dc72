/* spec/init_spec.lua: from root inside a container, look for a marker in
 * the memory of every process this pid namespace shows (/proc/N/maps and
 * /proc/N/mem), but our own (we hold the marker, decoded). The marker
 * comes hex-encoded, so no argv or environment holds its bytes.
 * Prints "read N" (N's memory was read), "unreadable N errno", and
 * "FOUND N" for each process whose memory holds it. With pids after the
 * marker, only those (the spec's check that the scanner finds a marker).
 *   memscan HEX [PID...] */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1 found, 0 not, -errno when the memory cannot be read at all. */
static int scan(int pid, const char *marker, size_t mlen)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    if (maps == NULL)
        return -errno;
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    if (mem < 0) {
        int e = errno;
        fclose(maps);
        return -e;
    }
    char line[512];
    int found = 0, readable = 0, lasterr = EIO;
    size_t chunk = 1 << 20;
    char *buf = malloc(chunk + mlen);
    while (!found && fgets(line, sizeof line, maps) != NULL) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r')
            continue;
        if (strstr(line, "[vvar") != NULL)
            continue;
        /* A sanitizer's shadow is terabytes of MAP_NORESERVE: reading it
         * through /proc/N/mem would fault it into the target's memory. No
         * heap of the host's is that large. */
        if (hi - lo > (1UL << 32))
            continue;
        size_t carry = 0;
        for (unsigned long at = lo; at < hi && !found;) {
            size_t want = hi - at < chunk ? hi - at : chunk;
            ssize_t n = pread(mem, buf + carry, want, (off_t)at);
            if (n <= 0) {
                lasterr = n < 0 ? errno : EIO;
                break;
            }
            readable = 1;
            size_t have = carry + (size_t)n;
            if (memmem(buf, have, marker, mlen) != NULL)
                found = 1;
            carry = have >= mlen - 1 ? mlen - 1 : have;
            memmove(buf, buf + have - carry, carry);
            at += (unsigned long)n;
        }
    }
    free(buf);
    close(mem);
    fclose(maps);
    return found ? 1 : readable ? 0 : -lasterr;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strlen(argv[1]) % 2 != 0)
        return 2;
    size_t mlen = strlen(argv[1]) / 2;
    char *marker = malloc(mlen + 1);
    for (size_t i = 0; i < mlen; i++) {
        int a = hexval(argv[1][2 * i]), b = hexval(argv[1][2 * i + 1]);
        if (a < 0 || b < 0)
            return 2;
        marker[i] = (char)(a * 16 + b);
    }
    if (argc > 2) {
        for (int i = 2; i < argc; i++) {
            int pid = atoi(argv[i]), r = scan(pid, marker, mlen);
            if (r < 0)
                printf("unreadable %d %d\n", pid, -r);
            else
                printf("read %d\n", pid);
            if (r == 1)
                printf("FOUND %d\n", pid);
        }
        return 0;
    }
    int self = getpid();
    DIR *d = opendir("/proc");
    if (d == NULL)
        return 2;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || pid == self)
            continue;
        int r = scan(pid, marker, mlen);
        if (r < 0)
            printf("unreadable %d %d\n", pid, -r);
        else
            printf("read %d\n", pid);
        if (r == 1)
            printf("FOUND %d\n", pid);
    }
    closedir(d);
    return 0;
}
