/* src/child/sigstatus.h: the masks a child reads from its own status to learn
 * which signals it must set back to their default. */
#include "tap.h"

#include "child/sigstatus.h"

#include <string.h>

static int mask_of(const char *text, const char *key, unsigned long long *mask)
{
    return linx_status_mask(text, strlen(text), key, mask);
}

void test_sigstatus(void)
{
    const char *status = "Name:\tlinx-lua\nSigQ:\t0/94000\nSigPnd:\t0000000000000000\n"
                         "SigBlk:\tfffffffe7ffbfeff\nSigIgn:\t0000000000001200\n"
                         "SigCgt:\t8000000180000002\nCapInh:\t0000000000000000\n";
    unsigned long long m = 7;
    tap_ok(mask_of(status, "SigIgn:\t", &m) == 1 && m == 0x1200ULL, "SigIgn read: PIPE and USR1");
    tap_ok(mask_of(status, "SigCgt:\t", &m) == 1 && m == 0x8000000180000002ULL, "SigCgt read, all 64 bits");
    tap_ok(mask_of(status, "SigBlk:\t", &m) == 1 && m == 0xfffffffe7ffbfeffULL, "hex letters");

    m = 7;
    tap_ok(mask_of("Name:\tx\nSigCgt:\t0000000000000002\n", "SigIgn:\t", &m) == 0 && m == 7,
           "a missing line is no mask (and leaves it alone)");
    tap_ok(mask_of("SigIgn:\t000000000000120\n", "SigIgn:\t", &m) == 0, "15 digits are not a mask");
    tap_ok(mask_of("SigIgn:\t0000000000001200", "SigIgn:\t", &m) == 0,
           "a line cut before its newline is not a mask");
    tap_ok(mask_of("SigIgn:\t00000000000012000\n", "SigIgn:\t", &m) == 0, "17 digits are not a mask");
    tap_ok(mask_of("SigIgn:\t000000000000120G\n", "SigIgn:\t", &m) == 0, "a non-hex digit spoils it");
    tap_ok(mask_of("SigIgn:\t00000000000012A0\n", "SigIgn:\t", &m) == 0, "the kernel writes lower case");
    tap_ok(mask_of("XSigIgn:\t0000000000001200\n", "SigIgn:\t", &m) == 0, "the key starts a line");
    tap_ok(mask_of("SigIgn:\t0000000000000001\n", "SigIgn:\t", &m) == 1 && m == 1,
           "the key at the very start counts");

    const char *cut = "SigIgn:\t0000000000001200\n";
    tap_ok(linx_status_mask(cut, strlen(cut) - 1, "SigIgn:\t", &m) == 0, "len is honoured: no read past it");
    tap_ok(linx_status_mask(cut, 0, "SigIgn:\t", &m) == 0, "empty text");
}
