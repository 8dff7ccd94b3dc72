/* The park image of bench/baseline.c's "pooled" rows: a process of its
 * own, as small as linx's park image (no libc, no loader), that waits for
 * one byte on stdin and then execs argv[1] with argv[1..]. Its exec is what
 * a pool's hand-over costs at least: the woken process replaces its own
 * small image (which the kernel tears down), where a CLONE_VM spawner's
 * child drops a shared one. Built with -static -nostdlib like
 * bench/exit0.c; other architectures skip those rows. */
static long sys3(long n, long a, long b, long c);

#if defined(__x86_64__)
__asm__(".globl _start\n"
        "_start:\n"
        "    mov %rsp, %rdi\n"
        "    and $-16, %rsp\n"
        "    call park_main\n"
        "    hlt\n");
static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}
#define SYS_READ 0
#define SYS_EXECVE 59
#define SYS_EXIT 60
#elif defined(__aarch64__)
__asm__(".globl _start\n"
        "_start:\n"
        "    mov x0, sp\n"
        "    bl park_main\n");
static long sys3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#define SYS_READ 63
#define SYS_EXECVE 221
#define SYS_EXIT 93
#else
#error "no parker for this architecture"
#endif

__attribute__((used, noreturn)) void park_main(long *sp);
__attribute__((used, noreturn)) void park_main(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    char byte;
    if (argc >= 2 && sys3(SYS_READ, 0, (long)&byte, 1) == 1)
        sys3(SYS_EXECVE, (long)argv[1], (long)(argv + 1), (long)envp);
    for (;;)
        sys3(SYS_EXIT, 127, 0, 0);
}
