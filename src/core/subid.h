/* Parse /etc/subuid and /etc/subgid (shadow's subordinate id files).
 * Plain C, no Lua and no I/O, so it can be fuzzed on its own. */
#ifndef LINX_SUBID_H
#define LINX_SUBID_H

#include <stddef.h>
#include <stdint.h>

/* Every range returned stays inside the id space of a map:
 * count > 0 and start + count <= 4294967295. */
struct subid_range {
    int64_t start;
    int64_t count;
};

/* Whose ranges to return. A line belongs to the owner when its first
 * field equals name, or equals the decimal form of uid: what shadow's
 * libsubid (getsubids) matches. name may be NULL, uid may be -1 (unknown). */
struct subid_owner {
    const char *name;
    int64_t uid;
};

/* Longest line shadow accepts (it copies lines into a 1024-byte buffer). */
#define SUBID_MAX_LINE 1023

/* Parse a whole file. A line is "owner:start:count", exactly three
 * non-empty fields; numbers are read the way shadow reads them (strtoul
 * base 0: decimal, 0x hex, leading-0 octal) but with no sign or blanks.
 * Comments ('#' first), malformed lines, zero counts and ranges that
 * leave the 32-bit id space are skipped. Stores the owner's ranges, in
 * file order, into out (at most cap) and returns how many there are
 * (which may exceed cap: call again with a bigger array). out may be
 * NULL when cap is 0. */
size_t subid_parse(const char *text, size_t len, const struct subid_owner *who,
                   struct subid_range *out, size_t cap);

#endif
