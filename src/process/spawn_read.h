/* How spawn reads its options: the small readers every spawn_*.c file
 * shares (a protected field read, a field named from a format, unknown
 * keys, paths, lists, anchoring, Lua files), one copy each
 * (src/process/spawn_read.c). Errors are bad_option, operation "spawn",
 * built by lerror.c. */
#ifndef LINX_SPAWN_READ_H
#define LINX_SPAWN_READ_H

#include "support/compat.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* t[key], read normally (an __index of defaults works) but protected: a
 * metamethod that raises becomes bad_option "unreadable" naming field,
 * with what it raised as value (and as message when it is text). Pushes
 * the value and returns 0, or pushes nil, err and returns 2. */
int linx_spawn_get_field(lua_State *L, int t, const char *key, const char *field);

/* bad_option for a field built from a format ("inside.mounts[2].type");
 * value_idx 0: no value, index 0: none. Pushes nil, err; returns 2. */
int linx_spawn_bad_at(lua_State *L, const char *reason, int value_idx, lua_Integer index, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Typos must not pass silently: the first key of the table at t (read
 * raw) that is not one of names (NULL-terminated) is bad_option
 * "unknown_option", field "prefix.key" (a key that is not short and
 * printable: prefix alone, the key as value); index 0: none. Returns 0,
 * or pushes nil, err and returns 2. */
int linx_spawn_check_keys(lua_State *L, int t, const char *const *names, lua_Integer index, const char *prefix);

/* Has the string a NUL inside? Execve and the kernel's path calls would
 * silently cut it. */
int linx_has_nul(const char *s, size_t len);

/* A path option at idx: a non-empty absolute string without NUL, shorter
 * than INSIDE_PATH_MAX (room for a device name appended). Returns it, or
 * NULL and the reason ("not_a_string", "bad_path", "not_absolute",
 * "too_long"). */
const char *linx_spawn_check_path(lua_State *L, int idx, const char **reason);

/* Are the keys of the table at t (an absolute index) exactly 1..n? A map
 * such as {user = true}, or a hole, must not be read as a shorter list:
 * a namespace, mount or group would be left out in silence. */
int linx_spawn_only_list_keys(lua_State *L, int t, size_t n);

/* Keep the value on top alive while the children's block is built: pops
 * it into the anchor table. */
void linx_spawn_anchor_top(lua_State *L, int anchor);

/* A whole number 0..2^64-1 at idx (a Lua integer taken as it is on 5.3
 * and 5.4) into *out; 0 when it is anything else. */
int linx_spawn_get_u64(lua_State *L, int idx, uint64_t *out);

/* The stream of the Lua file (io.open's) at idx, on every Lua version;
 * NULL with *why "not_a_file" (no Lua file there) or "closed". */
FILE *linx_spawn_lua_file(lua_State *L, int idx, const char **why);

#endif
