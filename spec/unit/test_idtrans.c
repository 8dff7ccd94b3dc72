/* src/core/idtrans.c: translation through maps, nested maps. */
#include "tap.h"

#include "core/idtrans.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_translate(void)
{
    const struct idmap_entry m[] = {{0, 1000, 1}, {1, 100000, 65536}};
    int64_t id = -1;
    tap_ok(idtrans_to_host(m, N(m), 0, &id) && id == 1000, "to_host: 0 -> 1000");
    tap_ok(idtrans_to_host(m, N(m), 1000, &id) && id == 100999, "to_host: 1000 -> 100999");
    tap_ok(!idtrans_to_host(m, N(m), 65537, &id), "to_host: past the map is unmapped");
    tap_ok(idtrans_to_inside(m, N(m), 100999, &id) && id == 1000, "to_inside: 100999 -> 1000");
    tap_ok(!idtrans_to_inside(m, N(m), 0, &id), "to_inside: host root is unmapped");
}

static void test_validate(void)
{
    size_t tmp[4];
    struct idmap_problem p;
    const struct idmap_entry ok[] = {{0, 1000, 1}, {1, 100000, 65536}};
    tap_int(idtrans_validate(ok, N(ok), tmp, &p), IDMAP_OK, "validate: a good map");
    const struct idmap_entry ov[] = {{0, 1000, 10}, {100, 2000, 5}, {5, 3000, 1}};
    tap_ok(idtrans_validate(ov, N(ov), tmp, &p) == IDMAP_OVERLAP && p.index == 2 && p.other == 0,
           "validate: overlap reported as the later entry and the earliest it meets");
    tap_int(idtrans_validate(ov, 0, tmp, &p), IDMAP_EMPTY, "validate: no entry");
}

static void test_compose(void)
{
    const struct idmap_entry outer[] = {{0, 1000, 1}, {1, 100000, 65536}};
    const struct idmap_entry inner[] = {{0, 1000, 1}, {1, 2000, 10}};
    struct idmap_entry out[4];
    size_t tmp[2];
    size_t n = idtrans_compose(outer, N(outer), inner, N(inner), tmp, out, N(out));
    tap_int((int64_t)n, 2, "compose: two entries against the host");
    tap_ok(n == 2 && out[0].inside == 0 && out[0].outside == 100999 && out[0].length == 1,
           "compose: 0 -> 100999");
    tap_ok(n == 2 && out[1].inside == 1 && out[1].outside == 101999 && out[1].length == 10,
           "compose: 1..10 -> 101999..102008");

    /* An inner range across two outer entries is split; one reaching no
     * outer entry is dropped. */
    const struct idmap_entry outer2[] = {{0, 500, 5}, {5, 900, 5}};
    const struct idmap_entry inner2[] = {{0, 3, 4}, {10, 50, 1}};
    n = idtrans_compose(outer2, N(outer2), inner2, N(inner2), tmp, out, N(out));
    tap_int((int64_t)n, 2, "compose: a range split where outer entries meet, unmapped dropped");
    tap_ok(n == 2 && out[0].inside == 0 && out[0].outside == 503 && out[0].length == 2,
           "compose: first piece 0..1 -> 503..504");
    tap_ok(n == 2 && out[1].inside == 2 && out[1].outside == 900 && out[1].length == 2,
           "compose: second piece 2..3 -> 900..901");

    /* Pieces continuing each other on both sides merge. */
    const struct idmap_entry outer3[] = {{0, 100, 5}, {5, 105, 5}};
    const struct idmap_entry inner3[] = {{0, 0, 10}};
    n = idtrans_compose(outer3, N(outer3), inner3, N(inner3), tmp, out, N(out));
    tap_ok(n == 1 && out[0].inside == 0 && out[0].outside == 100 && out[0].length == 10,
           "compose: contiguous pieces merge into one entry");
}

void test_idtrans(void)
{
    test_translate();
    test_validate();
    test_compose();
}
