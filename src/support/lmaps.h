/* Lua support for the linxuser verbs: reading map lists and options
 * (raw access for maps, protected normal access for options), pushing
 * Maps (their errors are built in lerror.c). Below linxuser.c,
 * linxuser_ids.c and lroute.c; calls none of them. */
#ifndef LINX_LMAPS_H
#define LINX_LMAPS_H

#include "compat.h"
#include "core/idmap.h"

#include <stddef.h>
#include <stdint.h>

#define LMAPS_MAP_MT "linxuser.Map"

/* Create the shared Map metatable (__tostring, __eq, __name) once. */
void lmaps_open(lua_State *L);

/* An integral Lua number as int64, clamped so that huge values still
 * read as out of range (or negative). Strings are not numbers here.
 * Returns 1, or 0 when the value is no integral number. */
int lmaps_get_integral(lua_State *L, int idx, int64_t *out);

/* One entry at stack index e: {inside, outside, length} or named
 * fields, read raw. Returns 1, or 0 when it is no entry. */
int lmaps_get_entry(lua_State *L, int e, struct idmap_entry *out);

/* Which rules a list must follow. */
enum lmaps_rules {
    LMAPS_KERNEL,    /* one kernel write: 340 entries, text under 4096 bytes */
    LMAPS_TRANSLATE, /* translation: any size (bounded), no overlap either side */
};

/* A list read by lmaps_read: arrays in userdata on the Lua stack. */
struct lmaps_list {
    struct idmap_entry *e;
    size_t *tmp; /* n slots for idtrans (LMAPS_TRANSLATE only, else NULL) */
    size_t n;
};

/* Read and validate the list at idx, raw access only (no Lua code
 * runs). field, when not NULL, goes into a bad_map error. Returns 0
 * with *l filled (its arrays pushed on the stack), or pushes nil, err
 * and returns 2. */
int lmaps_read(lua_State *L, int idx, const char *op, const char *field, enum lmaps_rules rules,
               struct lmaps_list *l);

/* Push one Map / a list of Maps. */
void lmaps_push_map(lua_State *L, const struct idmap_entry *e);
void lmaps_push_list(lua_State *L, const struct idmap_entry *e, size_t count);

/* Push opts[key], read normally (an __index of defaults works) but
 * protected: a raising metamethod becomes an error table (reason
 * "unreadable", linx_bad_option's kind for op), never a raise. Returns 0 with the
 * value pushed, or pushes nil, err and returns 2. */
int lmaps_get_option(lua_State *L, int opts, const char *key, const char *op);

#endif
