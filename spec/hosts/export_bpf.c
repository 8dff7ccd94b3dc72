/* Write a seccomp program as bwrap's --seccomp takes it (an array of
 * struct sock_filter) to stdout, built with libseccomp alone: a filter
 * made outside linx, for spec/seccomp_spec.lua.
 *
 *   export_bpf ERRNO SYSCALL...   each SYSCALL fails with ERRNO
 *
 * Built by the spec: cc -o export_bpf this -lseccomp */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs("usage: export_bpf ERRNO SYSCALL...\n", stderr);
        return 2;
    }
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return 1;
    for (int i = 2; i < argc; i++) {
        int nr = seccomp_syscall_resolve_name(argv[i]);
        if (nr == __NR_SCMP_ERROR || seccomp_rule_add(ctx, SCMP_ACT_ERRNO((unsigned)atoi(argv[1])), nr, 0) != 0) {
            fprintf(stderr, "export_bpf: %s\n", argv[i]);
            return 1;
        }
    }
    int r = seccomp_export_bpf(ctx, 1);
    seccomp_release(ctx);
    return r == 0 ? 0 : 1;
}
