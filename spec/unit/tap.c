#include "tap.h"

#include <stdio.h>
#include <string.h>

/* The counts of one test run: the unit binary is a test program, not
 * library code. */
static struct {
    int run, failed;
} tally;

int tap_ok(int cond, const char *name)
{
    tally.run++;
    if (!cond)
        tally.failed++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tally.run, name);
    return cond;
}

int tap_int(int64_t got, int64_t want, const char *name)
{
    if (tap_ok(got == want, name))
        return 1;
    printf("# got %lld, want %lld\n", (long long)got, (long long)want);
    return 0;
}

int tap_str(const char *got, const char *want, const char *name)
{
    int same = got != NULL && strcmp(got, want) == 0;
    if (tap_ok(same, name))
        return 1;
    printf("# got \"%s\", want \"%s\"\n", got != NULL ? got : "(null)", want);
    return 0;
}

int tap_done(void)
{
    printf("1..%d\n", tally.run);
    return tally.failed == 0 ? 0 : 1;
}

int main(void)
{
    test_decimal();
    test_errname();
    test_idmap();
    test_subid();
    test_idtrans();
    test_sigstatus();
    return tap_done();
}
