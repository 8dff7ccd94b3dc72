/* Translate ids through user-namespace maps and compose the maps of
 * nested namespaces. Plain C, no Lua, no I/O: fuzzable on its own. */
#ifndef LINX_IDTRANS_H
#define LINX_IDTRANS_H

#include "idmap.h"

#include <stddef.h>
#include <stdint.h>

/* Check what makes a translation ambiguous or meaningless: per entry
 * (negative, zero_length, out_of_range, in that order) and overlap on
 * either side, reported as the later entry (index) and the earliest
 * entry it meets (other). No limit on the number of entries or on the
 * rendered length: a composed map need not fit in a kernel write.
 * count 0 is IDMAP_EMPTY. Works in O(n log n); tmp must hold count
 * size_t slots. */
enum idmap_reason idtrans_validate(const struct idmap_entry *entries, size_t count,
                                   size_t *tmp, struct idmap_problem *problem);

/* inside id -> outside id. Returns 1 and sets *out when some entry
 * covers id, 0 when it is unmapped (the kernel shows the overflow id). */
int idtrans_to_host(const struct idmap_entry *entries, size_t count, int64_t id,
                    int64_t *out);

/* outside id -> inside id, the same way back. */
int idtrans_to_inside(const struct idmap_entry *entries, size_t count, int64_t id,
                      int64_t *out);

/* Maps of a namespace nested in another, expressed against the host:
 * outer maps the middle namespace's ids (inside) to host ids (outside),
 * inner maps the nested namespace's ids to the middle namespace's.
 * Each inner entry is split where outer entries begin and end; pieces
 * that reach no outer entry are dropped (those ids are unmapped on the
 * host). Pieces come in inner-entry order, each entry's pieces in
 * ascending order, and a piece that continues the previous one on both
 * sides is merged into it. Both lists must pass idtrans_validate. At most
 * count_outer + count_inner entries result; stores up to cap of them
 * and returns how many there are. tmp must hold count_outer slots. */
size_t idtrans_compose(const struct idmap_entry *outer, size_t count_outer,
                       const struct idmap_entry *inner, size_t count_inner, size_t *tmp,
                       struct idmap_entry *out, size_t cap);

#endif
