/* libFuzzer target for idtrans_validate, to_host/to_inside and compose
 * (src/core/idtrans.c compiled in here; tools/fuzz-run links src/core/idmap.c, src/core/decimal.c).
 *
 * The input is split into two lists of entries (outer, inner), each
 * field a 16-bit value (so ranges meet often) or, by a selector, an edge
 * value. Invariants (abort() on violation):
 * - idtrans_validate agrees with idmap_validate on every list the kernel
 *   check would judge the same way (at most 340 entries, not too_long):
 *   reason, index and other;
 * - on valid lists, to_host/to_inside agree with a brute-force scan and
 *   invert each other;
 * - compose agrees with translating twice for every id in a window, its
 *   result passes idtrans_validate, has at most outer + inner entries,
 *   and does not depend on cap.
 */
#include "../src/core/idtrans.c"

#include <stdlib.h>
#include <string.h>

struct input {
    const uint8_t *p;
    size_t left;
};

static unsigned take(struct input *in)
{
    if (in->left == 0)
        return 0;
    in->left--;
    return *in->p++;
}

static int64_t field(struct input *in)
{
    unsigned sel = take(in);
    switch (sel % 8) {
    case 0: return IDMAP_ID_MAX - (int64_t)take(in);
    case 1: return -(int64_t)take(in);
    default: return (int64_t)(take(in) << 8 | take(in)) % 600;
    }
}

static size_t decode(struct input *in, struct idmap_entry *e, size_t max)
{
    size_t n = take(in) % (max + 1);
    for (size_t i = 0; i < n; i++) {
        e[i].inside = field(in);
        e[i].outside = field(in);
        e[i].length = field(in) % 200;
    }
    return n;
}

static int brute(const struct idmap_entry *e, size_t n, int64_t id, int back, int64_t *out)
{
    for (size_t i = 0; i < n; i++) {
        int64_t from = back ? e[i].outside : e[i].inside, to = back ? e[i].inside : e[i].outside;
        if (id >= from && id < from + e[i].length) {
            *out = to + (id - from);
            return 1;
        }
    }
    return 0;
}

static int check_list(const struct idmap_entry *e, size_t n)
{
    size_t tmp[64];
    struct idmap_problem a, b;
    enum idmap_reason ra = idtrans_validate(e, n, tmp, &a);
    enum idmap_reason rb = idmap_validate(e, n, &b);
    if (rb != IDMAP_TOO_MANY && rb != IDMAP_TOO_LONG) {
        if (ra != rb)
            abort();
        if (ra != IDMAP_OK && ra != IDMAP_EMPTY && (a.index != b.index || a.other != b.other))
            abort();
    }
    if (ra != IDMAP_OK)
        return 0;
    for (int64_t id = 0; id < 700; id++) {
        int64_t x = -1, y = -1;
        int m = idtrans_to_host(e, n, id, &x);
        if (m != brute(e, n, id, 0, &y) || (m && x != y))
            abort();
        if (m && (!idtrans_to_inside(e, n, x, &y) || y != id))
            abort();
        m = idtrans_to_inside(e, n, id, &x);
        if (m != brute(e, n, id, 1, &y) || (m && x != y))
            abort();
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct idmap_entry outer[32], inner[32];
    size_t no = decode(&in, outer, 32), ni = decode(&in, inner, 32);
    int ok_o = check_list(outer, no), ok_i = check_list(inner, ni);
    if (!ok_o || !ok_i)
        return 0;
    size_t tmp[32];
    struct idmap_entry out[64], again[64];
    size_t n = idtrans_compose(outer, no, inner, ni, tmp, out, 64);
    if (n > no + ni)
        abort();
    if (n > 0 && idtrans_compose(outer, no, inner, ni, tmp, again, n - 1) != n)
        abort();
    if (n > 1 && memcmp(again, out, (n - 1) * sizeof *out) != 0)
        abort();
    if (n > 0) {
        size_t vt[64];
        if (idtrans_validate(out, n, vt, NULL) != IDMAP_OK)
            abort();
    }
    for (int64_t id = 0; id < 700; id++) {
        int64_t mid, host = -1, c = -1;
        int want = brute(inner, ni, id, 0, &mid) && brute(outer, no, mid, 0, &host);
        int got = brute(out, n, id, 0, &c);
        if (want != got || (want && host != c))
            abort();
    }
    return 0;
}
