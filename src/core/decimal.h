/* Decimal text of an unsigned number, for the host-side C (maps, helper
 * argv, subid owners). src/child/child.c is freestanding and keeps its own. */
#ifndef LINX_DECIMAL_H
#define LINX_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

/* Digits of the largest uint64_t. */
#define LINX_DECIMAL_MAX 20

/* Write the digits of v to out (room for LINX_DECIMAL_MAX bytes; no NUL);
 * returns how many. */
size_t linx_decimal(uint64_t v, char *out);

#endif
