/* /etc/subuid and /etc/subgid lines (subid.h): the ranges one owner
 * holds, by name or by uid, as shadow's helpers read them. */
#include "subid.h"

#include "decimal.h"

#include <string.h>

#define SUBID_ID_MAX 4294967295LL

/* A number as shadow's getulong (strtoul base 0) reads it, minus the
 * leading blanks and sign strtoul would also take: "0x" hex, "0" octal,
 * else decimal. Values past SUBID_ID_MAX are refused. */
static int parse_number(const char *p, const char *end, int64_t *out)
{
    int base = 10;
    if (p == end)
        return 0;
    if (end - p >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        if (p == end) /* strtoul would stop after "0": "0x" is not all digits */
            return 0;
    } else if (p[0] == '0') {
        base = 8;
    }
    int64_t v = 0;
    for (; p < end; p++) {
        int d;
        char c = *p;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return 0;
        if (d >= base)
            return 0;
        v = v * base + d;
        if (v > SUBID_ID_MAX)
            return 0;
    }
    *out = v;
    return 1;
}

static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* One line [p, end) without its newline. Returns 1 and fills *r when it
 * is a well-formed line of the owner. */
static int parse_line(const char *p, const char *end, const struct subid_owner *who,
                      const char *uidstr, size_t uidlen, struct subid_range *r)
{
    if (end - p > SUBID_MAX_LINE || p == end || *p == '#')
        return 0;
    const char *c1 = memchr(p, ':', (size_t)(end - p));
    if (c1 == NULL)
        return 0;
    const char *c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
    if (c2 == NULL)
        return 0;
    /* A third colon leaves it in the count field, which then fails to
     * parse: exactly three fields, as shadow wants. */
    size_t olen = (size_t)(c1 - p);
    if (olen == 0)
        return 0;
    int64_t start, count;
    if (!parse_number(c1 + 1, c2, &start) || !parse_number(c2 + 1, end, &count))
        return 0;
    if (count == 0 || start + count > SUBID_ID_MAX)
        return 0;
    int mine = (who->name != NULL && same(p, olen, who->name, strlen(who->name))) ||
               (uidlen > 0 && same(p, olen, uidstr, uidlen));
    if (!mine)
        return 0;
    r->start = start;
    r->count = count;
    return 1;
}

size_t subid_parse(const char *text, size_t len, const struct subid_owner *who,
                   struct subid_range *out, size_t cap)
{
    char uidstr[24];
    size_t uidlen = 0;
    if (who->uid >= 0 && who->uid <= SUBID_ID_MAX)
        uidlen = linx_decimal((uint64_t)who->uid, uidstr);
    size_t found = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        struct subid_range r;
        if (parse_line(p, eol, who, uidstr, uidlen, &r)) {
            if (found < cap)
                out[found] = r;
            found++;
        }
        p = eol < end ? eol + 1 : end;
    }
    return found;
}
