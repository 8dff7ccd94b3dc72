/* The memory a linx.process handle's children read and, with CLONE_VM,
 * run on: struct spawn_args with copies of argv, the environment, cwd and
 * PATH, then two stacks, each above a guard page. Back-to-back spawns
 * reuse one standard-size block per Lua state (a holder in the registry),
 * its pages already faulted in. */
#ifndef LINX_BLOCK_H
#define LINX_BLOCK_H

#include "support/compat.h"
#include "child/protocol.h"

#include <stddef.h>

struct linx_block {
    void *base; /* NULL when there is none */
    size_t len;
    size_t page;
    int std; /* the standard size: may go back to the spare holder */
    int vm;  /* holds the two stacks */
    const char *call; /* after a failed build: the system call that failed, or NULL */
};

/* The spare holder's metatable (luaopen) and the holder (spawn, before
 * any other resource, so building never needs to allocate Lua memory). */
void linx_block_register(lua_State *L);
void linx_block_prepare(lua_State *L);

/* What goes into a block: copied, so the children never read Lua's memory. */
struct linx_block_src {
    char **argv;
    char **envp;     /* NULL: our environment */
    const char *cwd; /* may be NULL */
    struct inside in;
    int nfds;
    const int *fd_src, *fd_dst;
};

/* Map (or reuse) and fill a block. Returns 0 and *out, or an errno value
 * with b->base NULL: a block that failed half-way is unmapped, never kept. */
int linx_block_build(lua_State *L, struct linx_block *b, const struct linx_block_src *src, int vm,
                     struct spawn_args **out);

/* A malloc'd deep copy of in (free() it), for the host's error messages
 * once the block may be gone. NULL when out of memory. */
struct inside *linx_inside_dup(const struct inside *in);

/* Top of the keeper's stack (vm blocks): below the workload's, past a
 * guard page. */
char *linx_block_keeper_stack(const struct linx_block *b);

/* Unmap the block, or keep it as this state's spare (L may be NULL).
 * Only for a block no child can run on any more. */
void linx_block_free(lua_State *L, struct linx_block *b);

#endif
