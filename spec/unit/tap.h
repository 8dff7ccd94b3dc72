/* A few TAP helpers for the C unit tests of the core (make unit). */
#ifndef LINX_UNIT_TAP_H
#define LINX_UNIT_TAP_H

#include <stdint.h>

/* One test: "ok N - name" or "not ok N - name". Returns cond. */
int tap_ok(int cond, const char *name);
/* Equality of two numbers / strings, with both shown on failure. */
int tap_int(int64_t got, int64_t want, const char *name);
int tap_str(const char *got, const char *want, const char *name);
/* The plan line; returns the exit status (0 when every test passed). */
int tap_done(void);

/* The suites, one per core file (spec/unit/test_*.c). */
void test_decimal(void);
void test_errname(void);
void test_idmap(void);
void test_subid(void);
void test_idtrans(void);
void test_sigstatus(void);

#endif
