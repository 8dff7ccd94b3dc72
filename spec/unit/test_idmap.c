/* src/core/idmap.c: validation, rendering and parsing of maps. */
#include "tap.h"

#include "core/idmap.h"

#include <stdio.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void invalid(const struct idmap_entry *e, size_t n, enum idmap_reason want,
                    size_t index, size_t other, const char *name)
{
    struct idmap_problem p;
    enum idmap_reason r = idmap_validate(e, n, &p);
    char full[160];
    snprintf(full, sizeof full, "validate: %s is %s", name, idmap_reason_name(want));
    if (!tap_str(idmap_reason_name(r), idmap_reason_name(want), full))
        return;
    if (want != IDMAP_OK && want != IDMAP_EMPTY && want != IDMAP_TOO_MANY && want != IDMAP_TOO_LONG)
        tap_int((int64_t)p.index, (int64_t)index, "  ... at the right entry");
    if (want == IDMAP_OVERLAP)
        tap_int((int64_t)p.other, (int64_t)other, "  ... meeting the right entry");
}

static void test_validate(void)
{
    const struct idmap_entry ok[] = {{0, 1000, 1}, {1, 100000, 65536}};
    invalid(ok, N(ok), IDMAP_OK, 0, 0, "two disjoint entries");
    invalid(ok, 0, IDMAP_EMPTY, 0, 0, "no entry");
    const struct idmap_entry whole[] = {{0, 0, 4294967295LL}};
    invalid(whole, 1, IDMAP_OK, 0, 0, "the whole id space");
    const struct idmap_entry neg[] = {{0, 0, 1}, {-1, 5, 1}};
    invalid(neg, N(neg), IDMAP_NEGATIVE, 1, 0, "a negative inside");
    const struct idmap_entry zero[] = {{0, 0, 0}};
    invalid(zero, 1, IDMAP_ZERO_LENGTH, 0, 0, "length 0");
    const struct idmap_entry past[] = {{0, 4294967295LL, 1}};
    invalid(past, 1, IDMAP_OUT_OF_RANGE, 0, 0, "outside + length past 4294967295");
    const struct idmap_entry in_ov[] = {{0, 1000, 10}, {5, 2000, 1}};
    invalid(in_ov, N(in_ov), IDMAP_OVERLAP, 1, 0, "inside ranges meeting");
    const struct idmap_entry out_ov[] = {{0, 1000, 10}, {20, 1009, 1}};
    invalid(out_ov, N(out_ov), IDMAP_OVERLAP, 1, 0, "outside ranges meeting");
    const struct idmap_entry touch[] = {{0, 1000, 10}, {10, 1010, 10}};
    invalid(touch, N(touch), IDMAP_OK, 0, 0, "ranges that touch but do not meet");

    static struct idmap_entry many[IDMAP_MAX_ENTRIES + 1];
    for (size_t i = 0; i < N(many); i++)
        many[i] = (struct idmap_entry){(int64_t)i, (int64_t)i, 1};
    invalid(many, IDMAP_MAX_ENTRIES, IDMAP_OK, 0, 0, "340 entries");
    invalid(many, IDMAP_MAX_ENTRIES + 1, IDMAP_TOO_MANY, 0, 0, "341 entries");
    /* Larger entries overlapping far apart: the sorted scan (beyond 16). */
    for (size_t i = 0; i < 40; i++)
        many[i] = (struct idmap_entry){(int64_t)i * 100, (int64_t)i * 100, 10};
    many[39].inside = 305;
    invalid(many, 40, IDMAP_OVERLAP, 39, 3, "an overlap found by the sorted scan");

    /* 340 entries of three 10-digit ids render to far past one page. */
    static struct idmap_entry wide[IDMAP_MAX_ENTRIES];
    for (size_t i = 0; i < N(wide); i++)
        wide[i] = (struct idmap_entry){1000000000LL + (int64_t)i, 2000000000LL + (int64_t)i, 1};
    invalid(wide, N(wide), IDMAP_TOO_LONG, 0, 0, "text of a page or more");
}

static void test_render(void)
{
    char buf[IDMAP_MAX_TEXT];
    const struct idmap_entry e[] = {{0, 1000, 1}, {1, 100000, 65536}};
    long n = idmap_render(e, N(e), buf, sizeof buf);
    tap_int(n, 24, "render: length of two lines");
    buf[n < 0 ? 0 : n] = '\0';
    tap_str(buf, "0 1000 1\n1 100000 65536\n", "render: text");
    tap_int(idmap_render(e, N(e), buf, 10), -1, "render: a buffer too small is -1");
    const struct idmap_entry bad[] = {{0, 0, 4294967296LL}};
    tap_int(idmap_render(bad, 1, buf, sizeof buf), -1, "render: an id past 4294967295 is -1");
    const struct idmap_entry top[] = {{4294967294LL, 0, 1}};
    n = idmap_render(top, 1, buf, sizeof buf);
    buf[n < 0 ? 0 : n] = '\0';
    tap_str(buf, "4294967294 0 1\n", "render: the largest ids");
}

static void test_parse(void)
{
    struct idmap_entry out[4];
    const char *text = "         0       1000          1\n"
                       "         1     100000      65536\n";
    size_t n = idmap_parse(text, strlen(text), out, N(out));
    tap_int((int64_t)n, 2, "parse: the kernel's aligned columns");
    tap_ok(n == 2 && out[1].inside == 1 && out[1].outside == 100000 && out[1].length == 65536,
           "parse: the second entry's fields");
    const char *junk = "0 0\n1 2 3 4\nx 1 2\n0 4294967296 1\n5\t6\t7";
    n = idmap_parse(junk, strlen(junk), out, N(out));
    tap_int((int64_t)n, 1, "parse: malformed lines are skipped, a last line without newline is read");
    tap_ok(n == 1 && out[0].inside == 5 && out[0].length == 7, "parse: tab-separated fields");
    tap_int((int64_t)idmap_parse("", 0, out, N(out)), 0, "parse: empty text");
    const char *five = "0 0 1\n1 1 1\n2 2 1\n3 3 1\n4 4 1\n";
    tap_int((int64_t)idmap_parse(five, strlen(five), out, 4), 5,
            "parse: counts past cap, so the caller can grow the array");
    tap_int((int64_t)idmap_parse(five, strlen(five), NULL, 0), 5, "parse: cap 0 only counts");
}

void test_idmap(void)
{
    test_validate();
    test_render();
    test_parse();
}
