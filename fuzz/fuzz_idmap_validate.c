/* libFuzzer target for idmap_validate + idmap_render.
 *
 * The input is decoded into a list of entries. Each field is chosen by
 * one selector byte from values near the edges the kernel cares about
 * (0, 1, 2^32-1, 2^32, negatives, INT64 extremes) or taken raw, so the
 * fuzzer reaches overlaps and range ends quickly.
 *
 * Invariants checked (abort() on violation):
 * - validate agrees with an independent reference (contract order:
 *   empty, too_many, per entry negative/zero_length/out_of_range,
 *   overlap as the first (j, i) pair, too_long), reason AND index;
 * - an accepted map is in range, has no overlapping ranges on either
 *   side, renders to fewer than 4096 bytes, and parses back to exactly
 *   the same entries;
 * - render into a buffer of any smaller size fails whole (-1) without
 *   touching bytes beyond the buffer (exact-size heap buffers: ASan);
 * - render never overruns, whatever it is given: unvalidated entries
 *   (negative, huge) and too_long lists come back -1, never a text the
 *   kernel would refuse.
 */
#include "../src/core/idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct input {
    const uint8_t *p;
    size_t left;
};

static uint64_t take(struct input *in, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v <<= 8;
        if (in->left > 0) {
            v |= *in->p++;
            in->left--;
        }
    }
    return v;
}

static int64_t field(struct input *in)
{
    uint8_t sel = (uint8_t)take(in, 1);
    switch (sel % 16) {
    case 0: return 0;
    case 1: return 1;
    case 2: return IDMAP_ID_MAX;
    case 3: return IDMAP_ID_MAX + 1;
    case 4: return -1;
    case 5: return INT64_MIN;
    case 6: return INT64_MAX;
    case 7: return IDMAP_ID_MAX - (int64_t)take(in, 1);
    case 8: return (int64_t)take(in, 8); /* anything at all */
    case 9: return (int64_t)take(in, 4); /* any 32-bit value */
    case 10: return 1000 + (int64_t)take(in, 1);
    case 11: return 65536;
    case 12: return (int64_t)take(in, 4) + (int64_t)take(in, 1);
    default: return (int64_t)take(in, 2); /* small: dense overlaps */
    }
}

/* Reference checks, written independently of src/core/idmap.c. */
static enum idmap_reason ref_entry(const struct idmap_entry *e)
{
    if (e->inside < 0 || e->outside < 0 || e->length < 0)
        return IDMAP_NEGATIVE;
    if (e->length == 0)
        return IDMAP_ZERO_LENGTH;
    /* Unsigned 128-bit sums: no overflow whatever the fields hold. */
    unsigned __int128 max = (unsigned __int128)IDMAP_ID_MAX;
    if ((unsigned __int128)e->inside + (unsigned __int128)e->length > max ||
        (unsigned __int128)e->outside + (unsigned __int128)e->length > max)
        return IDMAP_OUT_OF_RANGE;
    return IDMAP_OK;
}

/* Inclusive ends: [a, a+alen-1] and [b, b+blen-1] share an id. */
static int ref_meet(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    int64_t lo = a > b ? a : b;
    int64_t ahi = a + alen - 1, bhi = b + blen - 1;
    int64_t hi = ahi < bhi ? ahi : bhi;
    return lo <= hi;
}

static size_t ref_text_len(const struct idmap_entry *e, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const int64_t f[3] = {e[i].inside, e[i].outside, e[i].length};
        for (int k = 0; k < 3; k++) {
            size_t d = 0;
            uint64_t v = (uint64_t)f[k];
            do {
                d++;
                v /= 10;
            } while (v != 0);
            len += d + 1;
        }
    }
    return len;
}

/* Some field is outside 0..IDMAP_ID_MAX, or the text is too long. */
static int ref_entry_fields_bad(const struct idmap_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const int64_t f[3] = {e[i].inside, e[i].outside, e[i].length};
        for (int k = 0; k < 3; k++)
            if (f[k] < 0 || f[k] > IDMAP_ID_MAX)
                return 1;
    }
    return ref_text_len(e, n) >= IDMAP_MAX_TEXT;
}

static enum idmap_reason ref_validate(const struct idmap_entry *e, size_t n, size_t *index,
                                      size_t *other)
{
    *index = *other = 0;
    if (n == 0)
        return IDMAP_EMPTY;
    if (n > IDMAP_MAX_ENTRIES)
        return IDMAP_TOO_MANY;
    for (size_t i = 0; i < n; i++) {
        enum idmap_reason r = ref_entry(&e[i]);
        if (r != IDMAP_OK) {
            *index = i;
            return r;
        }
    }
    for (size_t j = 1; j < n; j++)
        for (size_t i = 0; i < j; i++)
            if (ref_meet(e[i].inside, e[i].length, e[j].inside, e[j].length) ||
                ref_meet(e[i].outside, e[i].length, e[j].outside, e[j].length)) {
                *index = j;
                *other = i;
                return IDMAP_OVERLAP;
            }
    if (ref_text_len(e, n) >= IDMAP_MAX_TEXT)
        return IDMAP_TOO_LONG;
    return IDMAP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    /* Up to 400 entries so that too_many is reachable. */
    size_t n = (size_t)(take(&in, 2) % 401);
    struct idmap_entry *e = malloc((n ? n : 1) * sizeof *e);
    if (e == NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        e[i].inside = field(&in);
        e[i].outside = field(&in);
        e[i].length = field(&in);
    }

    size_t want_index, want_other;
    enum idmap_reason want = ref_validate(e, n, &want_index, &want_other);
    struct idmap_problem p;
    memset(&p, 0xa5, sizeof p);
    enum idmap_reason got = idmap_validate(e, n, &p);
    if (got != want || p.reason != got)
        abort();
    if (idmap_validate(e, n, NULL) != got) /* NULL problem is allowed */
        abort();
    if (got == IDMAP_OVERLAP && (p.index != want_index || p.other != want_other))
        abort();
    if ((got == IDMAP_NEGATIVE || got == IDMAP_ZERO_LENGTH || got == IDMAP_OUT_OF_RANGE) &&
        p.index != want_index)
        abort();

    if (got == IDMAP_OK) {
        char text[IDMAP_MAX_TEXT];
        long len = idmap_render(e, n, text, sizeof text);
        if (len <= 0 || len >= IDMAP_MAX_TEXT || (size_t)len != ref_text_len(e, n))
            abort();
        if (text[len - 1] != '\n')
            abort();
        struct idmap_entry back[IDMAP_MAX_ENTRIES];
        if (idmap_parse(text, (size_t)len, back, IDMAP_MAX_ENTRIES) != n ||
            memcmp(back, e, n * sizeof *e) != 0)
            abort();
        /* Exact-size buffer fits; one byte less fails whole. */
        char *exact = malloc((size_t)len);
        if (exact == NULL)
            abort();
        if (idmap_render(e, n, exact, (size_t)len) != len || memcmp(exact, text, (size_t)len) != 0)
            abort();
        free(exact);
        size_t cap = (size_t)take(&in, 2) % (size_t)len;
        char *small = malloc(cap ? cap : 1);
        if (small == NULL)
            abort();
        if (idmap_render(e, n, small, cap) != -1)
            abort();
        free(small);
    }
    if (got != IDMAP_OK && n > 0) {
        /* Render is defensive too: a caller that forgot to validate gets
         * -1 for out-of-range fields or a too-long text, never an overrun
         * or a text of 4096 bytes or more. */
        enum { BIG = 2 * IDMAP_MAX_TEXT };
        char *big = malloc(BIG);
        if (big == NULL)
            abort();
        long len = idmap_render(e, n, big, BIG);
        long want_len = ref_entry_fields_bad(e, n) ? -1 : (long)ref_text_len(e, n);
        if (len != want_len)
            abort();
        free(big);
    }
    free(e);
    return 0;
}
