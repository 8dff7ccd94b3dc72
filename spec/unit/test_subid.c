/* src/core/subid.c: /etc/subuid and /etc/subgid lines. */
#include "tap.h"

#include "core/subid.h"

#include <string.h>

static size_t parse(const char *text, const char *name, int64_t uid, struct subid_range *out,
                    size_t cap)
{
    const struct subid_owner who = {name, uid};
    return subid_parse(text, strlen(text), &who, out, cap);
}

void test_subid(void)
{
    struct subid_range r[4];
    const char *file = "# name:start:count\n"
                       "alice:100000:65536\n"
                       "bob:200000:65536\n"
                       "1000:300000:10\n"
                       "alice:0x10000:010\n";
    size_t n = parse(file, "alice", 1000, r, 4);
    tap_int((int64_t)n, 3, "subid: alice's lines by name and by uid");
    tap_ok(n == 3 && r[0].start == 100000 && r[0].count == 65536, "subid: first range");
    tap_ok(n == 3 && r[1].start == 300000 && r[1].count == 10, "subid: the line of her uid, in file order");
    tap_ok(n == 3 && r[2].start == 0x10000 && r[2].count == 8, "subid: hex and octal as shadow reads them");
    tap_int((int64_t)parse(file, "carol", -1, r, 4), 0, "subid: no lines for someone else");
    tap_int((int64_t)parse(file, NULL, 1000, r, 4), 1, "subid: by uid alone");

    const char *bad = "alice:1:0\n"          /* zero count */
                      "alice:4294967295:1\n" /* leaves the id space */
                      "alice:1\n"            /* two fields */
                      "alice:1:2:3\n"        /* four fields */
                      "alice:-1:2\n"         /* a sign */
                      "alice: 1:2\n"         /* a blank */
                      "alice:0x:2\n"         /* no hex digits */
                      "alice:09:2\n"         /* not octal */
                      "alice:4294967294:1\n";
    n = parse(bad, "alice", -1, r, 4);
    tap_int((int64_t)n, 1, "subid: malformed lines skipped, the last id kept");
    tap_ok(n == 1 && r[0].start == 4294967294LL && r[0].count == 1, "subid: 4294967294 with count 1");
    tap_int((int64_t)parse(file, "alice", 1000, NULL, 0), 3, "subid: cap 0 only counts");
}
