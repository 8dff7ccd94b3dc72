/* What the freestanding child units share (child.c, child_inside.c):
 * raw system calls that return the result or -errno, errno values
 * without libc's TLS errno, and loops the compiler may not turn into
 * libc calls. No libc function is called from here. */
#ifndef LINX_CHILD_SYS_H
#define LINX_CHILD_SYS_H

#include <stddef.h>
#include <sys/syscall.h>

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
    E_INTR = 4, E_NOEXEC = 8, E_AGAIN = 11, E_ACCES = 13, E_NODEV = 19, E_NOTDIR = 20, E_INVAL = 22,
    E_NAMETOOLONG = 36, E_NOSYS = 38, E_NOENT = 2, E_STALE = 116, E_TIMEDOUT = 110,
};

static inline _Noreturn void rs_exit(int code)
{
    for (;;)
        RSYS1(SYS_exit_group, code);
}

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

#endif
