/* Error tables shared by every linx module: kind, operation, and a
 * shared metatable ("linx.error") whose __tostring gives one line. The
 * one room for errors: the kinds table, each kind's tostring shape, and
 * every builder that more than one verb uses (below). */
#ifndef LINX_LERROR_H
#define LINX_LERROR_H

#include "compat.h"
#include "core/errname.h"

#define LINX_ERROR_MT "linx.error"

/* Push a new error table {kind=, operation=} with the shared metatable. */
void linx_error_new(lua_State *L, const char *kind, const char *operation);

/* Push nil, err, code for a kernel refusal; returns 3. hint may be NULL. */
int linx_error_os(lua_State *L, const char *operation, const char *path, int err,
                  const char *hint);

/* The same, naming the system call that failed (err.syscall) when it is
 * not the operation itself; call may be NULL. */
int linx_error_os_call(lua_State *L, const char *operation, const char *call, const char *path, int err,
                       const char *hint);

/* With an error table on top of the stack: push nil below it; returns 2. */
int linx_error_return(lua_State *L);

/* t[key] (t an absolute index), read normally (an __index of defaults
 * works) but in a protected call: a metamethod that raises becomes an
 * error the verb returns, never a raise. Pushes the value and returns 0,
 * or pushes what was raised and returns lua_pcall's non-zero status. */
int linx_get_protected(lua_State *L, int t, const char *key);

/* Typos in an options table must not pass silently: the first key of
 * the table at t (read raw: no metamethod runs) that is not one of names
 * (NULL-terminated). Returns 1 with that key pushed, or 0. */
int linx_unknown_key(lua_State *L, int t, const char *const *names);

/* The string at idx when it is short (1..max bytes) and printable, to
 * name as an error's field; else NULL. */
const char *linx_plain_key(lua_State *L, int idx, size_t max);

/* Set err[field] = string / integer on the table at the top. */
void linx_error_setstr(lua_State *L, const char *field, const char *value);
void linx_error_setint(lua_State *L, const char *field, long long value);

/* ---- builders ----------------------------------------------------------
 * One argument order for all: L, op (err.operation), then what names the
 * culprit (field, state, helper), then why (reason), then the caller's
 * value as a stack index (0: none; negative: relative to the top). They
 * push nil, err and return 2, except linx_helper_error (below). */

/* An options mistake: {kind=, operation=op, field=, reason=[, value=]
 * [, index=]}. The kind follows op: bad_setup for "setup_maps" (its
 * options have their own kind in the table), bad_option for every other
 * verb. field may be NULL; index 0: none. */
int linx_bad_option(lua_State *L, const char *op, const char *field, const char *reason, int value_idx,
                    lua_Integer index);

/* {kind="bad_map", operation=op, reason=[, index=][, entry=]}: a map
 * list's mistake, index > 0 naming the entry, entry_idx (0: none) the
 * entry's value. */
int linx_bad_map(lua_State *L, const char *op, const char *reason, lua_Integer index, int entry_idx);

/* {kind="bad_target", operation=op, value=}: not a pid, nor a live handle. */
int linx_bad_target(lua_State *L, const char *op, int value_idx);

/* {kind="bad_setgroups", operation=op, value=}: neither "deny" nor "skip". */
int linx_bad_setgroups(lua_State *L, const char *op, int value_idx);

/* {kind="bad_state", operation=op, state=, reason=, message=}: the
 * message says what each reason ("closed", "parked", ...) means. */
int linx_bad_state(lua_State *L, const char *op, const char *state, const char *reason);

/* {kind="timeout", operation=op, seconds=, message=}. */
int linx_timeout_error(lua_State *L, const char *op, double seconds);

/* The status table of a child that ended: {exited=true, code=n} or
 * {signaled=true, signal=n}, as wait() returns it and child_died holds
 * it. Pushes it. */
void linx_push_status(lua_State *L, int exited, int n);

/* {kind="child_died", operation=op, reason=[, code= | signal=, status=]}:
 * the child died before the checkpoint or before it reported its exec;
 * has_code: it exited with code, else signal (> 0) killed it; with
 * neither, no status is known. */
int linx_child_died(lua_State *L, const char *op, const char *reason, int has_code, int code, int signal);

/* {kind="output_limit", operation=op, stream=, bytes=, output=, message=}:
 * stream passed max (bytes read in all); output_idx: what was read. */
int linx_output_limit(lua_State *L, const char *op, const char *stream, unsigned long long bytes,
                      unsigned long long max, int output_idx);

/* The subordinate-id kinds. user names the user: its name, or uid when
 * user is NULL. */

/* {kind="bad_user", operation=op, value=, message=}: not a user name, an
 * integral uid or nil. */
int linx_bad_user(lua_State *L, const char *op, int value_idx);

/* {kind="no_user", operation=op, user=, message=}: no passwd entry. */
int linx_no_user(lua_State *L, const char *op, const char *user, long long uid);

/* {kind="no_subids", operation=op, user=[, uid=][, path=], field=[,
 * reason=], message=[, hint=]}: field ("uid" or "gid") names the map;
 * uid < 0: unknown. reason NULL: path grants the user no range (with a
 * hint); "overlap": every range holds the user's own id. */
int linx_no_subids(lua_State *L, const char *op, const char *user, long long uid, const char *field,
                   const char *path, const char *reason);

/* {kind="bad_id", operation=op, value=, message=}: not an integral id
 * from 0 to 4294967295. */
int linx_bad_id(lua_State *L, const char *op, int value_idx);

/* {kind="helper", operation=op, helper=, reason=}: only the table is
 * pushed, for the caller to add what the helper's run left (status,
 * stderr, argv, hint, ...) and end with linx_error_return. */
void linx_helper_error(lua_State *L, const char *op, const char *helper, const char *reason);

#endif
