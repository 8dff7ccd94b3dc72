/* libFuzzer target for subid_parse (src/core/subid.c, compiled in here so the
 * target builds on its own: tools/fuzz-run links src/core/idmap.c and src/core/decimal.c).
 *
 * Input: byte 0 picks the owner's uid (or none), the rest is the file.
 * The owner's name is "alice". Invariants (abort() on violation):
 * - the result agrees with an independent reference built on strtoull
 *   (shadow reads numbers with strtoul base 0), range by range;
 * - the count does not depend on cap, and entries past cap are never
 *   written (exact-size heap buffers: ASan);
 * - every range is inside the id space: count > 0, start + count <=
 *   4294967295.
 */
#include "../src/core/subid.c"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "alice"

/* One number, the reference way: strtoull base 0 on a NUL-terminated
 * copy, but no blanks or sign first (strtoull would take them). */
static int ref_number(const char *s, size_t n, int64_t *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf || s[0] < '0' || s[0] > '9')
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (memchr(buf, '\0', n) != NULL)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 0);
    if (*end != '\0' || errno != 0 || v > 4294967295ULL)
        return 0;
    *out = (int64_t)v;
    return 1;
}

/* The parser, rebuilt from the rules with libc. Numbers of 64 or more
 * characters (zero padding) are past the reference's buffer: such files
 * are marked unsure and only the other invariants are checked. */
static size_t reference(const char *text, size_t len, const char *name, long long uid,
                        struct subid_range *out, size_t cap, int *unsure)
{
    size_t found = 0;
    const char *p = text, *end = text + len;
    char uidstr[24];
    if (uid >= 0)
        snprintf(uidstr, sizeof uidstr, "%lld", uid);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        size_t n = (size_t)(eol - p);
        const char *next = eol < end ? eol + 1 : end;
        if (n == 0 || n > SUBID_MAX_LINE || p[0] == '#') {
            p = next;
            continue;
        }
        /* fields by ':' */
        const char *f[4];
        size_t fl[4];
        int nf = 0;
        const char *q = p;
        while (nf < 4) {
            const char *c = memchr(q, ':', (size_t)(eol - q));
            f[nf] = q;
            fl[nf] = (size_t)((c ? c : eol) - q);
            nf++;
            if (c == NULL)
                break;
            q = c + 1;
        }
        int64_t start, count;
        if (nf == 3 && fl[0] > 0 && ref_number(f[1], fl[1], &start) &&
            ref_number(f[2], fl[2], &count) && count > 0 && start + count <= 4294967295LL) {
            int mine = (fl[0] == strlen(name) && memcmp(f[0], name, fl[0]) == 0) ||
                       (uid >= 0 && fl[0] == strlen(uidstr) && memcmp(f[0], uidstr, fl[0]) == 0);
            if (mine) {
                if (found < cap)
                    out[found] = (struct subid_range){start, count};
                found++;
            }
        } else if (nf == 3 && (fl[1] >= 64 || fl[2] >= 64)) {
            *unsure = 1; /* beyond the reference's buffer */
        }
        p = next;
    }
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const long long uids[] = {-1, 0, 1000, 65534, 4294967294LL, 100000, 7, 42};
    long long uid = uids[data[0] % 8];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct subid_owner who = {NAME, uid};
    size_t n = subid_parse(text, len, &who, NULL, 0);
    struct subid_range *got = malloc((n ? n : 1) * sizeof *got);
    struct subid_range *want = malloc((n ? n : 1) * sizeof *want);
    if (subid_parse(text, len, &who, got, n) != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (got[i].count <= 0 || got[i].start < 0 || got[i].start + got[i].count > 4294967295LL)
            abort();
    if (n > 1) { /* a smaller cap writes exactly cap entries */
        struct subid_range *small = malloc((n - 1) * sizeof *small);
        if (subid_parse(text, len, &who, small, n - 1) != n ||
            memcmp(small, got, (n - 1) * sizeof *small) != 0)
            abort();
        free(small);
    }
    int unsure = 0;
    size_t r = reference(text, len, NAME, uid, want, n, &unsure);
    if (!unsure && (r != n || memcmp(want, got, n * sizeof *got) != 0))
        abort();
    free(got);
    free(want);
    return 0;
}
