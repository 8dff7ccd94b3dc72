/* What the freestanding child units share (child.c, child_inside.c):
 * raw system calls that return the result or -errno, errno values
 * without libc's TLS errno, and loops the compiler may not turn into
 * libc calls. No libc function is called from here. */
#ifndef LINX_CHILD_SYS_H
#define LINX_CHILD_SYS_H

#include "sigstatus.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* ---- raw system calls ----------------------------------------------------- */

#if defined(__x86_64__)
static inline long rsys(long n, long a1, long a2, long a3, long a4, long a5)
{
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
#else
/* Elsewhere the children always get a copy of the host's memory, so the
 * errno that syscall() writes is their own (and this unit is not
 * freestanding there). */
#include <errno.h>
#include <unistd.h>
static inline long rsys(long n, long a1, long a2, long a3, long a4, long a5)
{
    long r = syscall(n, a1, a2, a3, a4, a5);
    return r == -1 ? -errno : r;
}
#endif

#define RSYS1(n, a) rsys((n), (long)(a), 0, 0, 0, 0)
#define RSYS2(n, a, b) rsys((n), (long)(a), (long)(b), 0, 0, 0)
#define RSYS3(n, a, b, c) rsys((n), (long)(a), (long)(b), (long)(c), 0, 0)
#define RSYS4(n, a, b, c, d) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), 0)
#define RSYS5(n, a, b, c, d, e) rsys((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

/* errno values, without <errno.h> (whose errno is libc's TLS). */
enum {
    E_INTR = 4, E_NOEXEC = 8, E_CHILD = 10, E_AGAIN = 11, E_ACCES = 13, E_NODEV = 19, E_NOTDIR = 20, E_INVAL = 22,
    E_NAMETOOLONG = 36, E_NOSYS = 38, E_NOENT = 2, E_STALE = 116, E_TIMEDOUT = 110,
};

static inline _Noreturn void rs_exit(int code)
{
    for (;;) {
        RSYS1(SYS_exit_group, code);
        /* Refused (a seccomp filter that denies exit_group, loaded as the
         * last inside step): end some other way rather than spin. */
        RSYS1(SYS_exit, code);
        __builtin_trap();
    }
}

/* rs_close, zero, copy and str_len are the children's twins of
 * hostutil.h's helpers and of libc's close, memset, memcpy and strlen.
 * They stay apart on purpose: the children run freestanding, in the
 * host's memory with CLONE_VM, where libc (its errno, its TLS, its
 * locks) must not run; tools/child-check fails on any libc symbol. */
static inline void rs_close(int fd)
{
    RSYS1(SYS_close, fd);
}

/* The compiler must not turn these loops into memset/memcpy/strlen calls
 * (GCC recognises the idioms even in a freestanding build): volatile
 * accesses keep them loops whatever flags a build system passes. */
static inline void zero(void *p, size_t n)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = 0;
}

static inline void copy(void *dst, const void *src, size_t n)
{
    volatile unsigned char *d = dst;
    const volatile unsigned char *s = src;
    for (size_t i = 0; i < n; i++)
        d[i] = s[i];
}

static inline size_t str_len(const char *str)
{
    const volatile char *s = str;
    size_t n = 0;
    while (s[n] != '\0')
        n++;
    return n;
}

/* ---- clone ------------------------------------------------------------------ */

#if defined(__x86_64__)
/* The one trampoline for clone(2) and clone3(2) (child_clone3.h): system
 * call nr with a1..a3 (clone3 takes two, the rest is 0), and in the child
 * fn(arg), then exit with its return value. The child starts on the stack
 * the call names, or on a copy of ours; only registers carry fn and arg
 * across, as nothing on a stack may be read there. */
static inline long raw_clone_run(long nr, unsigned long a1, unsigned long a2, void *a3, int (*fn)(void *), void *arg)
{
    register long r10 __asm__("r10") = 0; /* clone: child_tid */
    register long r8 __asm__("r8") = 0;   /* clone: tls */
    register void *r12 __asm__("r12") = (void *)fn;
    register void *r13 __asm__("r13") = arg;
    long ret;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     /* the child: only registers from here */
                     "xor %%ebp, %%ebp\n\t"
                     "mov %%r13, %%rdi\n\t"
                     "call *%%r12\n\t"
                     "mov %%eax, %%edi\n\t"
                     "mov %[nr_exit], %%eax\n\t"
                     "syscall\n\t"
                     "hlt\n"
                     "1:"
                     : "=a"(ret)
                     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r12), "r"(r13),
                       [nr_exit] "i"(SYS_exit_group)
                     : "rcx", "r11", "memory");
    return ret;
}

/* clone(2) with a stack of our own: the child starts on stack_top and runs
 * fn(arg), then exits with its return value. x86-64 clone takes (flags,
 * stack, parent_tid, child_tid, tls); with CLONE_PIDFD the pidfd lands in
 * parent_tid. stack_top must be 16-byte aligned. */
static inline long raw_clone(unsigned long flags, void *stack_top, int *pidfd, int (*fn)(void *), void *arg)
{
    return raw_clone_run(SYS_clone, flags, (unsigned long)stack_top, pidfd, fn, arg);
}
#endif

/* Clone a child that runs fn(arg) and never returns: on stack_top in our
 * memory (vm), or fork-like on a copy of it. With pidfd, CLONE_PIDFD
 * first, without it on kernels before 5.2; pidfd NULL asks for none.
 * Returns the pid or -errno. */
static inline long clone_child(unsigned long flags, int vm, void *stack_top, int *pidfd, int (*fn)(void *), void *arg)
{
    for (int with_pidfd = pidfd != NULL; with_pidfd >= 0; with_pidfd--) {
        unsigned long f = flags | (with_pidfd ? CLONE_PIDFD : 0);
        int fd = -1;
        long r;
#if defined(__x86_64__)
        if (vm) {
            r = raw_clone(f | CLONE_VM, stack_top, &fd, fn, arg);
        } else
#endif
        {
            (void)vm;
            (void)stack_top;
            /* Fork-like: the child returns here with 0 on its own copy. */
            r = RSYS5(SYS_clone, f, 0, &fd, 0, 0);
            if (r == 0)
                rs_exit(fn(arg));
        }
        if (r >= 0) {
            if (pidfd != NULL)
                *pidfd = with_pidfd ? fd : -1;
            return r;
        }
        if (r != -E_INVAL || !with_pidfd)
            return r;
    }
    return -E_INVAL;
}

/* ---- fds and signals --------------------------------------------------------- */

static inline void close_from(unsigned lo, unsigned hi)
{
    if (lo > hi)
        return;
    if (RSYS3(SYS_close_range, lo, hi, 0) == 0)
        return;
    /* Kernels before 5.9: close one by one up to the fd limit. */
    struct rlimit rl = {0, 0}; /* filled by the kernel on success */
    unsigned max = 65536;
    if (RSYS4(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (1u << 20))
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = lo; fd <= hi && fd < max; fd++)
        rs_close((int)fd);
}

/* Close every fd but keep[0..n) (a handful; -1 entries ignored). */
static inline void close_all_but(int *keep, int n)
{
    for (int i = 1; i < n; i++) {
        int v = keep[i], j = i;
        for (; j > 0 && keep[j - 1] > v; j--)
            keep[j] = keep[j - 1];
        keep[j] = v;
    }
    unsigned lo = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0 || (unsigned)keep[i] < lo)
            continue;
        if ((unsigned)keep[i] > lo)
            close_from(lo, (unsigned)keep[i] - 1);
        lo = (unsigned)keep[i] + 1;
    }
    close_from(lo, ~0U);
}

#if defined(__x86_64__)
/* The x86-64 kernel's struct sigaction (64 signals, an 8-byte mask). */
struct k_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    unsigned long mask;
};

/* The signals that are caught or ignored (SigCgt | SigIgn of our own
 * status); all of them when that cannot be read. Reading it costs a
 * few system calls where resetting every signal costs 62. */
static inline unsigned long long nondefault_signals(void)
{
    char text[4096];
    long fd = RSYS4(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return ~0ULL;
    size_t len = 0;
    for (;;) {
        long r = RSYS3(SYS_read, fd, text + len, sizeof text - len);
        if (r == -E_INTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof text)
            break;
    }
    rs_close((int)fd);
    unsigned long long ign, cgt;
    if (!linx_status_mask(text, len, "SigIgn:\t", &ign) || !linx_status_mask(text, len, "SigCgt:\t", &cgt))
        return ~0ULL;
    return ign | cgt;
}

/* Default disposition for every signal, so no host handler can ever run
 * in a child and it starts as a fresh process would. Only the signals
 * that are not at their default already need the call. */
static inline void default_signals(void)
{
    struct k_sigaction dfl;
    zero(&dfl, sizeof dfl);
    dfl.handler = SIG_DFL;
    unsigned long long todo = nondefault_signals();
    for (int sig = 1; sig <= 64; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP && (todo >> (sig - 1) & 1))
            RSYS4(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    }
}

static inline void unblock_signals(void)
{
    unsigned long none = 0;
    RSYS4(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}
#else
/* Layouts differ between architectures; these run only on the copying
 * path, where libc (and errno) are the child's own. */
static inline void default_signals(void)
{
    struct sigaction dfl;
    zero(&dfl, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* glibc-internal signals: EINVAL, fine */
    }
}

static inline void unblock_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}
#endif

#endif
