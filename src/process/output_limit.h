/* spawn's max_output option and the output_limit error: a bound on what
 * the host buffers of a child's piped stdout/stderr (see output_limit.c). */
#ifndef LINX_OUTPUT_LIMIT_H
#define LINX_OUTPUT_LIMIT_H

#include "support/compat.h"

#include <stddef.h>

struct handle;

/* No limit: max_output's value when the option is absent (or math.huge). */
#define LINX_OUTPUT_UNLIMITED (~0ULL)

/* opts.max_output (table at index opts), read as spawn reads its options
 * (an __index of defaults works; one that raises is bad_option
 * "unreadable"): a number >= 0 of bytes per stream. Sets *max; returns 0,
 * or pushes nil, err and returns 2. */
int linx_output_opt_read(lua_State *L, int opts, unsigned long long *max);

/* got more bytes of stream s (0 stdout, 1 stderr) went into its pending
 * buffer: past the handle's max_output, kill the workload and stop
 * reading that stream (its fd is closed). */
void linx_output_count(struct handle *h, int s, size_t got);

/* Has a stream passed max_output and not said so yet? Then push nil and
 * the output_limit error for operation op (the stream's pending output
 * moves into it) and return 2; else 0. The error is given once. */
int linx_output_limit_error(lua_State *L, struct handle *h, const char *op);

#endif
