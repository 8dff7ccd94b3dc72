/* User-namespace id maps (idmap.h): the kernel's rules checked before
 * the one-shot write (entries, overlap, text size), the map rendered as
 * the kernel reads it, and a map file parsed back. */
#include "idmap.h"

#include "decimal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *idmap_reason_name(enum idmap_reason reason)
{
    switch (reason) {
    case IDMAP_OK: return "ok";
    case IDMAP_EMPTY: return "empty";
    case IDMAP_TOO_MANY: return "too_many";
    case IDMAP_TOO_LONG: return "too_long";
    case IDMAP_NEGATIVE: return "negative";
    case IDMAP_ZERO_LENGTH: return "zero_length";
    case IDMAP_OUT_OF_RANGE: return "out_of_range";
    case IDMAP_OVERLAP: return "overlap";
    }
    return "unknown";
}

static enum idmap_reason fail(struct idmap_problem *p, enum idmap_reason r, size_t index, size_t other)
{
    p->reason = r;
    p->index = index;
    p->other = other;
    return r;
}

/* [a, a+alen) and [b, b+blen) meet; lengths are validated positive. */
static int ranges_meet(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    return a < b + blen && b < a + alen;
}

static enum idmap_reason check_entry(const struct idmap_entry *e)
{
    if (e->inside < 0 || e->outside < 0 || e->length < 0)
        return IDMAP_NEGATIVE;
    if (e->length == 0)
        return IDMAP_ZERO_LENGTH;
    /* Each term is at most IDMAP_ID_MAX here, so the sums cannot overflow. */
    if (e->inside > IDMAP_ID_MAX || e->outside > IDMAP_ID_MAX || e->length > IDMAP_ID_MAX ||
        e->inside + e->length > IDMAP_ID_MAX || e->outside + e->length > IDMAP_ID_MAX)
        return IDMAP_OUT_OF_RANGE;
    return IDMAP_OK;
}

/* Below this many entries the pairwise scan is cheaper than sorting. */
enum { SMALL_MAP = 16 };

struct span {
    int64_t start, length;
};

static int span_cmp(const void *x, const void *y)
{
    const struct span *a = x, *b = y;
    return (a->start > b->start) - (a->start < b->start);
}

/* Sorted by start, two ranges meet only if some neighbours meet. */
static int spans_overlap(struct span *s, size_t count)
{
    qsort(s, count, sizeof *s, span_cmp);
    for (size_t k = 1; k < count; k++)
        if (s[k].start < s[k - 1].start + s[k - 1].length)
            return 1;
    return 0;
}

/* Entries are checked (count <= IDMAP_MAX_ENTRIES, fields in range). */
static int any_overlap(const struct idmap_entry *entries, size_t count)
{
    struct span s[IDMAP_MAX_ENTRIES];
    for (size_t i = 0; i < count; i++)
        s[i] = (struct span){entries[i].inside, entries[i].length};
    if (spans_overlap(s, count))
        return 1;
    for (size_t i = 0; i < count; i++)
        s[i] = (struct span){entries[i].outside, entries[i].length};
    return spans_overlap(s, count);
}

static size_t decimal_width(int64_t v)
{
    size_t n = 1;
    for (; v >= 10; v /= 10)
        n++;
    return n;
}

/* Bytes idmap_render would produce for checked entries. */
static size_t text_length(const struct idmap_entry *entries, size_t count)
{
    size_t len = 0;
    for (size_t i = 0; i < count; i++)
        len += decimal_width(entries[i].inside) + decimal_width(entries[i].outside) +
               decimal_width(entries[i].length) + 3;
    return len;
}

enum idmap_reason idmap_validate(const struct idmap_entry *entries, size_t count,
                                 struct idmap_problem *problem)
{
    struct idmap_problem scratch = {IDMAP_OK, 0, 0};
    struct idmap_problem *p = problem ? problem : &scratch;
    if (count == 0)
        return fail(p, IDMAP_EMPTY, 0, 0);
    if (count > IDMAP_MAX_ENTRIES)
        return fail(p, IDMAP_TOO_MANY, IDMAP_MAX_ENTRIES, 0);
    for (size_t i = 0; i < count; i++) {
        enum idmap_reason r = check_entry(&entries[i]);
        if (r != IDMAP_OK)
            return fail(p, r, i, 0);
    }
    /* Naming the first overlapping pair in list order takes the pairwise
     * scan (~58k pairs at 340 entries); a sort answers "is there one?"
     * first, so a valid long map never pays for it. */
    if (count <= SMALL_MAP || any_overlap(entries, count)) {
        for (size_t j = 1; j < count; j++) {
            const struct idmap_entry *b = &entries[j];
            for (size_t i = 0; i < j; i++) {
                const struct idmap_entry *a = &entries[i];
                if (ranges_meet(a->inside, a->length, b->inside, b->length) ||
                    ranges_meet(a->outside, a->length, b->outside, b->length))
                    return fail(p, IDMAP_OVERLAP, j, i);
            }
        }
    }
    if (text_length(entries, count) >= IDMAP_MAX_TEXT)
        return fail(p, IDMAP_TOO_LONG, 0, 0);
    p->reason = IDMAP_OK;
    return IDMAP_OK;
}

/* Append the decimal form of v (0..2^32-1) and a separator. */
static char *put_id(char *out, int64_t v, char sep)
{
    out += linx_decimal((uint64_t)v, out);
    *out++ = sep;
    return out;
}

static int id_in_range(int64_t v)
{
    return v >= 0 && v <= IDMAP_ID_MAX;
}

long idmap_render(const struct idmap_entry *entries, size_t count, char *buf, size_t cap)
{
    /* A line is at most 3 * 10 digits + 3 separators. */
    enum { MAX_LINE = 33 };
    char line[MAX_LINE];
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        /* Never trust the caller to have validated: a field outside
         * 0..IDMAP_ID_MAX would print up to 20 digits and overrun line[]
         * (found by fuzz/fuzz_idmap_validate). */
        if (!id_in_range(entries[i].inside) || !id_in_range(entries[i].outside) ||
            !id_in_range(entries[i].length))
            return -1;
        char *end = put_id(line, entries[i].inside, ' ');
        end = put_id(end, entries[i].outside, ' ');
        end = put_id(end, entries[i].length, '\n');
        size_t n = (size_t)(end - line);
        /* The kernel takes less than one page: the text must stay under
         * IDMAP_MAX_TEXT as well as fit the caller's buffer. */
        if (n > cap - used || used + n >= IDMAP_MAX_TEXT)
            return -1;
        for (size_t k = 0; k < n; k++)
            buf[used + k] = line[k];
        used += n;
    }
    return (long)used;
}

int idmap_write_once(int fd, const char *text, size_t len)
{
    ssize_t n;
    do {
        n = write(fd, text, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno;
    return (size_t)n == len ? 0 : EIO;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Parse one unsigned decimal no larger than IDMAP_ID_MAX at *s. */
static int parse_id(const char **s, const char *end, int64_t *out)
{
    const char *p = *s;
    int64_t v = 0;
    if (p == end || *p < '0' || *p > '9')
        return 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > IDMAP_ID_MAX)
            return 0;
    }
    *s = p;
    *out = v;
    return 1;
}

static int parse_line(const char *p, const char *end, struct idmap_entry *e)
{
    int64_t f[3];
    for (int i = 0; i < 3; i++) {
        const char *before = p;
        while (p < end && is_blank(*p))
            p++;
        if (i > 0 && p == before)
            return 0; /* fields must be separated */
        if (!parse_id(&p, end, &f[i]))
            return 0;
    }
    while (p < end && is_blank(*p))
        p++;
    if (p != end)
        return 0;
    e->inside = f[0];
    e->outside = f[1];
    e->length = f[2];
    return 1;
}

size_t idmap_parse(const char *text, size_t len, struct idmap_entry *out, size_t cap)
{
    size_t found = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = p;
        while (eol < end && *eol != '\n')
            eol++;
        struct idmap_entry e;
        if (parse_line(p, eol, &e)) {
            if (found < cap)
                out[found] = e;
            found++;
        }
        p = eol < end ? eol + 1 : end;
    }
    return found;
}
