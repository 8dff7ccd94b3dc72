/* Id translation through maps and the composition of nested maps
 * (idtrans.h): entries sorted by side, overlaps found, ids looked up. */
#include "idtrans.h"

enum side { INSIDE, OUTSIDE };

static int64_t first_of(const struct idmap_entry *e, enum side s)
{
    return s == INSIDE ? e->inside : e->outside;
}

/* Order of entries a and b on one side: by first id, then by index, so
 * the order is total and the sort needs no stability. */
static int before(const struct idmap_entry *entries, enum side s, size_t a, size_t b)
{
    int64_t fa = first_of(&entries[a], s), fb = first_of(&entries[b], s);
    return fa < fb || (fa == fb && a < b);
}

static void sift_down(const struct idmap_entry *entries, enum side s, size_t *idx, size_t root,
                      size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && before(entries, s, idx[child], idx[child + 1]))
            child++;
        if (!before(entries, s, idx[root], idx[child]))
            return;
        size_t t = idx[root];
        idx[root] = idx[child];
        idx[child] = t;
        root = child;
    }
}

/* idx[0..n) = 0..n-1 sorted by one side's first id (heapsort: no
 * allocation, no recursion, O(n log n) for any input). */
static void sort_by(const struct idmap_entry *entries, size_t n, enum side s, size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(entries, s, idx, i, n);
    for (size_t end = n; end-- > 1;) {
        size_t t = idx[0];
        idx[0] = idx[end];
        idx[end] = t;
        sift_down(entries, s, idx, 0, end);
    }
}

/* Do any two of the first n entries meet on side s? Sorted by first id,
 * two ranges meet iff some range starts before the previous one ends. */
static int prefix_overlaps(const struct idmap_entry *entries, size_t n, enum side s, size_t *idx)
{
    sort_by(entries, n, s, idx);
    for (size_t k = 1; k < n; k++) {
        const struct idmap_entry *prev = &entries[idx[k - 1]];
        if (first_of(&entries[idx[k]], s) < first_of(prev, s) + prev->length)
            return 1;
    }
    return 0;
}

static int meet(const struct idmap_entry *a, const struct idmap_entry *b, enum side s)
{
    int64_t fa = first_of(a, s), fb = first_of(b, s);
    return fa < fb + b->length && fb < fa + a->length;
}

static enum idmap_reason fail(struct idmap_problem *p, enum idmap_reason r, size_t index,
                              size_t other)
{
    p->reason = r;
    p->index = index;
    p->other = other;
    return r;
}

enum idmap_reason idtrans_validate(const struct idmap_entry *entries, size_t count,
                                   size_t *tmp, struct idmap_problem *problem)
{
    struct idmap_problem scratch = {IDMAP_OK, 0, 0};
    struct idmap_problem *p = problem ? problem : &scratch;
    if (count == 0)
        return fail(p, IDMAP_EMPTY, 0, 0);
    for (size_t i = 0; i < count; i++) {
        /* A single entry can only fail the per-entry checks. */
        struct idmap_problem one;
        enum idmap_reason r = idmap_validate(&entries[i], 1, &one);
        if (r != IDMAP_OK)
            return fail(p, r, i, 0);
    }
    if (!prefix_overlaps(entries, count, INSIDE, tmp) &&
        !prefix_overlaps(entries, count, OUTSIDE, tmp)) {
        p->reason = IDMAP_OK;
        return IDMAP_OK;
    }
    /* Name the same pair a kernel-map check names: the first entry that
     * meets an earlier one, and the earliest entry it meets. The
     * smallest overlapping prefix ends at that entry. */
    size_t lo = 2, hi = count; /* the prefix of length hi overlaps */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (prefix_overlaps(entries, mid, INSIDE, tmp) ||
            prefix_overlaps(entries, mid, OUTSIDE, tmp))
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t j = hi - 1;
    for (size_t i = 0; i < j; i++)
        if (meet(&entries[i], &entries[j], INSIDE) || meet(&entries[i], &entries[j], OUTSIDE))
            return fail(p, IDMAP_OVERLAP, j, i);
    return fail(p, IDMAP_OVERLAP, j, 0); /* not reached: the prefix overlaps */
}

/* id on side from, through the first entry that holds it, to the other
 * side: 1 with *out set, or 0 when no entry holds it. */
static int translate(const struct idmap_entry *entries, size_t count, enum side from, int64_t id, int64_t *out)
{
    for (size_t i = 0; i < count; i++) {
        const struct idmap_entry *e = &entries[i];
        int64_t first = first_of(e, from);
        if (id >= first && id - first < e->length) {
            *out = first_of(e, from == INSIDE ? OUTSIDE : INSIDE) + (id - first);
            return 1;
        }
    }
    return 0;
}

int idtrans_to_host(const struct idmap_entry *entries, size_t count, int64_t id, int64_t *out)
{
    return translate(entries, count, INSIDE, id, out);
}

int idtrans_to_inside(const struct idmap_entry *entries, size_t count, int64_t id, int64_t *out)
{
    return translate(entries, count, OUTSIDE, id, out);
}

size_t idtrans_compose(const struct idmap_entry *outer, size_t count_outer,
                       const struct idmap_entry *inner, size_t count_inner, size_t *tmp,
                       struct idmap_entry *out, size_t cap)
{
    size_t n = 0;
    struct idmap_entry last = {0, 0, 0};
    sort_by(outer, count_outer, INSIDE, tmp);
    for (size_t i = 0; i < count_inner; i++) {
        const struct idmap_entry *e = &inner[i];
        int64_t lo = e->outside, hi = e->outside + e->length; /* middle ids */
        /* First outer entry (in inside order) that ends after lo: outer
         * ranges do not overlap, so their ends ascend with their starts. */
        size_t a = 0, b = count_outer;
        while (a < b) {
            size_t mid = a + (b - a) / 2;
            const struct idmap_entry *o = &outer[tmp[mid]];
            if (o->inside + o->length <= lo)
                a = mid + 1;
            else
                b = mid;
        }
        for (size_t k = a; k < count_outer && outer[tmp[k]].inside < hi; k++) {
            const struct idmap_entry *o = &outer[tmp[k]];
            int64_t from = lo > o->inside ? lo : o->inside;
            int64_t to = hi < o->inside + o->length ? hi : o->inside + o->length;
            if (from >= to)
                continue;
            struct idmap_entry piece = {e->inside + (from - lo), o->outside + (from - o->inside),
                                        to - from};
            if (n > 0 && last.inside + last.length == piece.inside &&
                last.outside + last.length == piece.outside) {
                last.length += piece.length;
                if (n - 1 < cap)
                    out[n - 1] = last;
                continue;
            }
            last = piece;
            if (n < cap)
                out[n] = piece;
            n++;
        }
    }
    return n;
}
