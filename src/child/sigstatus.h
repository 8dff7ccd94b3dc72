/* The signal masks of a /proc/<pid>/status text, read without libc: the
 * freestanding children use it (child_sys.h), the unit tests check it. */
#ifndef LINX_SIGSTATUS_H
#define LINX_SIGSTATUS_H

#include <stddef.h>

/* The mask on the line that starts with `key` ("SigIgn:\t", "SigCgt:\t"):
 * 16 hex digits and a newline, bit 0 = signal 1. Returns 1 with *mask
 * set, 0 when no such line is there whole (a caller then assumes the
 * worst). */
static inline int linx_status_mask(const char *text, size_t len, const char *key, unsigned long long *mask)
{
    size_t klen = 0;
    while (key[klen] != '\0')
        klen++;
    size_t line = 0;
    while (line < len) {
        size_t end = line;
        while (end < len && text[end] != '\n')
            end++;
        if (end == len)
            return 0; /* a line without its newline: cut short */
        size_t k = 0;
        while (k < klen && line + k < end && text[line + k] == key[k])
            k++;
        if (k == klen) {
            if (end - line != klen + 16)
                return 0;
            unsigned long long v = 0;
            for (size_t i = line + klen; i < end; i++) {
                char c = text[i];
                int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
                if (d < 0)
                    return 0;
                v = v << 4 | (unsigned long long)d;
            }
            *mask = v;
            return 1;
        }
        line = end + 1;
    }
    return 0;
}

#endif
