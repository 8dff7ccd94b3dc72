/* Error tables shared by every linx module: kind, operation, and a
 * shared metatable ("linx.error") whose __tostring gives one line. */
#ifndef LINX_LERROR_H
#define LINX_LERROR_H

#include "compat.h"
#include "errname.h"

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

#endif
