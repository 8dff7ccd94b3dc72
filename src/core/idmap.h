/* Validate, render and parse user-namespace id maps. No Lua, no I/O
 * beyond the single write() of a rendered map. */
#ifndef LINX_IDMAP_H
#define LINX_IDMAP_H

#include <stddef.h>
#include <stdint.h>

/* Kernel limits (Linux >= 4.15): at most 340 lines, text under one page. */
#define IDMAP_MAX_ENTRIES 340
#define IDMAP_MAX_TEXT 4096
#define IDMAP_ID_MAX 4294967295LL

/* Fields are signed 64-bit so that caller mistakes (negative or huge
 * values) survive conversion and can be named precisely. Callers clamp
 * values beyond int64 to INT64_MIN / INT64_MAX. */
struct idmap_entry {
    int64_t inside;
    int64_t outside;
    int64_t length;
};

enum idmap_reason {
    IDMAP_OK = 0,
    IDMAP_EMPTY,
    IDMAP_TOO_MANY,
    IDMAP_TOO_LONG,
    IDMAP_NEGATIVE,
    IDMAP_ZERO_LENGTH,
    IDMAP_OUT_OF_RANGE,
    IDMAP_OVERLAP,
};

struct idmap_problem {
    enum idmap_reason reason;
    size_t index; /* 0-based offending entry, where it applies */
    size_t other; /* 0-based entry it overlaps (IDMAP_OVERLAP only) */
};

/* Contract name of a reason ("empty", "too_many", ...). */
const char *idmap_reason_name(enum idmap_reason reason);

/* Check everything the kernel would refuse with a bare EINVAL, in
 * contract order: empty, too_many, per entry (negative, zero_length,
 * out_of_range), overlap, too_long. Returns IDMAP_OK or the reason,
 * filling *problem. */
enum idmap_reason idmap_validate(const struct idmap_entry *entries, size_t count,
                                 struct idmap_problem *problem);

/* Render validated entries as "inside outside length\n" lines into buf.
 * Returns the text length, or -1 if it does not fit in cap bytes, would
 * reach IDMAP_MAX_TEXT, or a field is outside 0..IDMAP_ID_MAX (no NUL is
 * written). */
long idmap_render(const struct idmap_entry *entries, size_t count, char *buf, size_t cap);

/* Write text in ONE write(). Returns 0, or an errno value; a short
 * write is reported as EIO. */
int idmap_write_once(int fd, const char *text, size_t len);

/* Parse a whole map file. Each line holds three unsigned decimals no
 * larger than IDMAP_ID_MAX separated by blanks; any other line is
 * skipped. Stores at most cap entries and returns how many lines parsed
 * (which may exceed cap: call again with a bigger array). */
size_t idmap_parse(const char *text, size_t len, struct idmap_entry *out, size_t cap);

#endif
