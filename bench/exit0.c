/* The cheapest program to exec: no libc, no dynamic loader, one page of
 * code that exits 0. bench/run's exit0 rows run it, so a cycle around it
 * is the namespaces and the hand-offs between processes, not the exec.
 * Built with -static -nostdlib; other architectures skip those rows. */
#if defined(__x86_64__)
__asm__(".globl _start\n"
        "_start:\n"
        "    mov $60, %eax\n" /* exit */
        "    xor %edi, %edi\n"
        "    syscall\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n"
        "_start:\n"
        "    mov x8, #93\n" /* exit */
        "    mov x0, #0\n"
        "    svc #0\n");
#else
#error "no exit0 for this architecture"
#endif
