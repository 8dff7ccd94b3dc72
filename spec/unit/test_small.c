/* src/core/decimal.c and src/core/errname.c. */
#include "tap.h"

#include "core/decimal.h"
#include "core/errname.h"

#include <errno.h>
#include <string.h>

static void decimal_is(uint64_t v, const char *want)
{
    char buf[LINX_DECIMAL_MAX + 1];
    size_t n = linx_decimal(v, buf);
    buf[n] = '\0';
    tap_str(buf, want, want);
}

void test_decimal(void)
{
    decimal_is(0, "0");
    decimal_is(7, "7");
    decimal_is(10, "10");
    decimal_is(4294967295u, "4294967295");
    decimal_is(UINT64_MAX, "18446744073709551615");
}

void test_errname(void)
{
    tap_str(linx_errno_name(EPERM), "EPERM", "errno name EPERM");
    tap_str(linx_errno_name(ENOENT), "ENOENT", "errno name ENOENT");
    tap_str(linx_errno_name(EAGAIN), "EAGAIN", "EWOULDBLOCK shares EAGAIN's name");
    tap_str(linx_errno_name(EINVAL), "EINVAL", "errno name EINVAL");
    tap_str(linx_errno_name(ENOSPC), "ENOSPC", "errno name ENOSPC");
    tap_str(linx_errno_name(EHWPOISON), "EHWPOISON", "the last Linux errno has a name");
    tap_str(linx_errno_name(0), "E?", "0 is no errno");
    tap_str(linx_errno_name(-1), "E?", "negative is no errno");
    tap_str(linx_errno_name(100000), "E?", "past the table is no errno");
    int named = 0;
    for (int e = 1; e < 134; e++)
        named += strcmp(linx_errno_name(e), "E?") != 0 && linx_errno_name(e)[0] == 'E';
    tap_int(named, 131, "131 of 1..133 have names (41 and 58 are unused)");
}
