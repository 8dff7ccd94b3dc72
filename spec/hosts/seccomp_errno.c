/* Run a program with one system call failing with a given errno in it
 * and in every process it starts (a seccomp filter): how the specs meet
 * an older kernel's answer to a call this one has, even where the call
 * is a raw system call that no LD_PRELOAD shim can see (the keeper, the
 * workload and the helper's go-between make only those).
 *
 *   seccomp_errno NR ERRNO PROGRAM [ARGS...]
 *
 * Not root: no_new_privs first, which the kernel asks for (a setuid
 * program started under it then runs with the caller's ids). A test
 * tool: the filter does not check the calling convention's architecture.
 * Built by the spec: cc -o seccomp_errno this */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fputs("usage: seccomp_errno NR ERRNO PROGRAM [ARGS...]\n", stderr);
        return 2;
    }
    unsigned nr = (unsigned)strtoul(argv[1], NULL, 10);
    unsigned err = (unsigned)strtoul(argv[2], NULL, 10) & SECCOMP_RET_DATA;
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof code / sizeof code[0]), code};
    if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("seccomp_errno: PR_SET_NO_NEW_PRIVS");
        return 2;
    }
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("seccomp_errno: PR_SET_SECCOMP");
        return 2;
    }
    execvp(argv[3], argv + 3);
    perror(argv[3]);
    return 127;
}
