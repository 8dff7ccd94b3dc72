/* Decimal text of an unsigned number (decimal.h), without stdio: the
 * ids in rendered maps, a helper's argv and subid owner lines. */
#include "decimal.h"

size_t linx_decimal(uint64_t v, char *out)
{
    char digits[LINX_DECIMAL_MAX];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}
