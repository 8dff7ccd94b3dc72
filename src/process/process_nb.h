/* The linx.process handle methods that never block, for a host that runs
 * an event loop (OpenResty, luv, cqueues), and the pieces process.c
 * shares with them: the state's name, draining output, reading a time
 * limit. Below process.c: it never calls back. */
#ifndef LINX_PROCESS_NB_H
#define LINX_PROCESS_NB_H

#include "support/compat.h"
#include "keeper_host.h"
#include "support/lerror.h" /* linx_bad_state, linx_timeout_error: built there */

#include <poll.h>
#include <time.h>

/* "parked", "running", "exited" (reaped), "closed". */
const char *linx_handle_state_name(const struct handle *h);

/* Read once from each readable output fd (pf[i] for stream which[i], -1
 * to skip) into its pending buffer; a stream at EOF gets its fd closed.
 * Returns 0 or errno. */
int linx_handle_drain(struct handle *h, const struct pollfd *pf, const int *which, int n);

/* A time limit argument at idx: nil (or none) is *seconds = -1 (no
 * limit); a number >= 0 (inf: no limit). Returns 0, or pushes nil, err
 * (bad_option, field "timeout") and returns 2. */
int linx_timeout_arg(lua_State *L, int idx, const char *op, double *seconds);

/* Milliseconds until *deadline for poll(): -1 when there is none
 * (seconds < 0 at linx_deadline_set), 0 once passed. */
void linx_deadline_set(struct timespec *deadline, double seconds);
int linx_deadline_ms(const struct timespec *deadline);

/* Wait up to seconds (< 0: no limit) for the keeper's report, draining
 * piped output meanwhile; stdin stays open and the pid pinned. Returns 1
 * when the report is there (collect it), 0 when time ran out, -errno. */
int linx_handle_wait_for(struct handle *h, double seconds);

/* Methods: handle:state(), handle:fileno(which), handle:shutdown("stdin"),
 * and the body of handle:read(stream, 0) for stream s (0 stdout, 1 stderr). */
int linx_m_state(lua_State *L);
int linx_m_fileno(lua_State *L);
int linx_m_shutdown(lua_State *L);
int linx_read_now(lua_State *L, struct handle *h, int s);

/* handle:landlock(): the Landlock ABI the workload reported (MSG_POLICY). */
int linx_m_landlock(lua_State *L);

/* process.now(): monotonic seconds. */
int linx_l_now(lua_State *L);

#endif
