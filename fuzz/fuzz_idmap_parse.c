/* libFuzzer target for idmap_parse: arbitrary bytes as a map file.
 *
 * Invariants checked (abort() on violation, so libFuzzer records it):
 * - the parse agrees, line by line, with an independent reference
 *   parser written the dumb way (split on '\n', tokens on blanks,
 *   digits only, value <= 4294967295);
 * - the count does not depend on cap, and entries past cap are never
 *   stored (the array is sized exactly, so ASan sees any overrun);
 * - rendering what was parsed and parsing that again gives the same
 *   entries (when they fit the kernel's limits).
 */
#include "../src/core/idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int ref_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* One token [p, e): all digits, numeric value <= IDMAP_ID_MAX. */
static int ref_number(const char *p, const char *e, int64_t *out)
{
    if (p == e)
        return 0;
    for (const char *q = p; q < e; q++)
        if (*q < '0' || *q > '9')
            return 0;
    size_t significant = 0; /* digits after the leading zeros */
    for (const char *q = p; q < e; q++)
        if (significant > 0 || *q != '0')
            significant++;
    if (significant > 10)
        return 0;
    uint64_t v = 0;
    for (; p < e; p++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (v > (uint64_t)IDMAP_ID_MAX)
        return 0;
    *out = (int64_t)v;
    return 1;
}

static int ref_line(const char *p, const char *e, struct idmap_entry *out)
{
    int64_t f[3];
    int n = 0;
    while (p < e) {
        while (p < e && ref_blank(*p))
            p++;
        if (p == e)
            break;
        const char *t = p;
        while (p < e && !ref_blank(*p))
            p++;
        if (n == 3 || !ref_number(t, p, &f[n]))
            return 0;
        n++;
    }
    if (n != 3)
        return 0;
    out->inside = f[0];
    out->outside = f[1];
    out->length = f[2];
    return 1;
}

static size_t ref_parse(const char *text, size_t len, struct idmap_entry *out)
{
    size_t found = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        if (ref_line(p, eol, &out[found]))
            found++;
        p = eol < end ? eol + 1 : end;
    }
    return found;
}

static int same(const struct idmap_entry *a, const struct idmap_entry *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].inside != b[i].inside || a[i].outside != b[i].outside ||
            a[i].length != b[i].length)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    /* Copy into an exact-size heap buffer: no NUL terminator to lean on. */
    char *text = malloc(size ? size : 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);

    /* At most one entry per byte pair ("0 0 0" needs 5 bytes + '\n'). */
    size_t max = size / 2 + 1;
    struct idmap_entry *ref = malloc(max * sizeof *ref);
    struct idmap_entry *got = malloc(max * sizeof *got);
    if (ref == NULL || got == NULL)
        abort();

    size_t want = ref_parse(text, size, ref);
    size_t counted = idmap_parse(text, size, NULL, 0);
    if (counted != want)
        abort();
    size_t n = idmap_parse(text, size, got, want);
    if (n != want || !same(ref, got, n))
        abort();
    for (size_t i = 0; i < n; i++)
        if (got[i].inside < 0 || got[i].inside > IDMAP_ID_MAX || got[i].outside < 0 ||
            got[i].outside > IDMAP_ID_MAX || got[i].length < 0 || got[i].length > IDMAP_ID_MAX)
            abort();

    /* A short array: only cap entries are stored, the count is whole. */
    if (n > 1) {
        size_t cap = n / 2;
        struct idmap_entry *part = malloc(cap * sizeof *part);
        if (part == NULL)
            abort();
        if (idmap_parse(text, size, part, cap) != n || !same(ref, part, cap))
            abort();
        free(part);
    }

    /* Render what was parsed, parse it back: the same entries. */
    if (n > 0 && n <= IDMAP_MAX_ENTRIES) {
        char out[IDMAP_MAX_TEXT];
        long len = idmap_render(got, n, out, sizeof out);
        if (len >= IDMAP_MAX_TEXT)
            abort();
        if (len >= 0) {
            struct idmap_entry back[IDMAP_MAX_ENTRIES];
            if (idmap_parse(out, (size_t)len, back, IDMAP_MAX_ENTRIES) != n ||
                !same(got, back, n))
                abort();
        }
    }

    free(got);
    free(ref);
    free(text);
    return 0;
}
