/* The children's block and its spare (see block.h). */
#include "block.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPARE_MT "linx.process.spare"
#define SPARE_KEY "linx.process.spare_block"
#define BLOCK_DATA ((size_t)16 * 1024) /* the data part of a reusable block */

/* Stack of the keeper and of the workload when they share our memory:
 * they run a few frames of plain C (the PATH search's buffer is the
 * largest thing on it). */
#define CHILD_STACK ((size_t)64 * 1024)

struct spare {
    void *blk; /* a standard block, or NULL */
    size_t len;
    int closed; /* finalized (lua_close): keep nothing more */
};

static int spare_gc(lua_State *L)
{
    struct spare *sp = luaL_testudata(L, 1, SPARE_MT);
    if (sp != NULL) {
        if (sp->blk != NULL)
            munmap(sp->blk, sp->len);
        sp->blk = NULL;
        sp->closed = 1;
    }
    return 0;
}

/* This state's holder, or NULL. The registry keeps it alive. */
static struct spare *spare_get(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, SPARE_KEY);
    struct spare *sp = luaL_testudata(L, -1, SPARE_MT);
    lua_pop(L, 1);
    return sp;
}

void linx_block_register(lua_State *L)
{
    if (luaL_newmetatable(L, SPARE_MT)) {
        lua_pushcfunction(L, spare_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}

void linx_block_prepare(lua_State *L)
{
    if (spare_get(L) != NULL)
        return;
    struct spare *sp = lua_newuserdata(L, sizeof *sp);
    sp->blk = NULL;
    sp->len = 0;
    sp->closed = 0;
    luaL_setmetatable(L, SPARE_MT);
    lua_setfield(L, LUA_REGISTRYINDEX, SPARE_KEY);
}

static size_t add_len(size_t total, const char *s, int *err)
{
    size_t n = strlen(s) + 1;
    if (total > SIZE_MAX / 4 - n)
        *err = E2BIG;
    return total + n;
}

static char *put_str(char **dst, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = *dst;
    memcpy(p, s, n);
    *dst = p + n;
    return p;
}

int linx_block_build(lua_State *L, struct linx_block *b, char **argv, char **envp, const char *cwd, int vm,
                     struct spawn_args **out)
{
    char **env = envp != NULL ? envp : environ;
    const char *path = NULL;
    memset(b, 0, sizeof *b);
    if (strchr(argv[0], '/') == NULL) {
        path = getenv("PATH"); /* execvp searches the caller's PATH, not envp's */
        if (path == NULL)
            path = "/bin:/usr/bin";
    }
    size_t argc = 0, envc = 0, strs = 0;
    int err = 0;
    for (; argv[argc] != NULL; argc++)
        strs = add_len(strs, argv[argc], &err);
    for (; env != NULL && env[envc] != NULL; envc++)
        strs = add_len(strs, env[envc], &err);
    if (path != NULL)
        strs = add_len(strs, path, &err);
    if (cwd != NULL)
        strs = add_len(strs, cwd, &err);
    if (err || envc > SIZE_MAX / 64 || argc > SIZE_MAX / 64)
        return E2BIG;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t head = (sizeof(struct spawn_args) + 15) & ~(size_t)15;
    size_t data = head + (2 * argc + 3 + envc + 1) * sizeof(char *) + strs;
    data = (data + page - 1) / page * page;
    int std = vm && data <= BLOCK_DATA && BLOCK_DATA % page == 0;
    if (std)
        data = BLOCK_DATA;
    size_t len = data + (vm ? 2 * (page + CHILD_STACK) : 0);
    struct spare *spare = std ? spare_get(L) : NULL;
    void *blk;
    if (spare != NULL && spare->blk != NULL && spare->len == len) {
        blk = spare->blk; /* guards in place, pages faulted in */
        spare->blk = NULL;
    } else {
        blk = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (blk == MAP_FAILED) {
            b->call = "mmap";
            return errno > 0 ? errno : ENOMEM;
        }
        char *base = blk;
        if (vm && (mprotect(base + data, page, PROT_NONE) != 0 ||
                   mprotect(base + data + page + CHILD_STACK, page, PROT_NONE) != 0)) {
            err = errno > 0 ? errno : ENOMEM;
            b->call = "mprotect";
            munmap(blk, len); /* unguarded: never a child's stack, never a spare */
            return err;
        }
    }
    b->base = blk;
    b->len = len;
    b->std = std;
    b->vm = vm;
    b->page = page;
    char *base = blk;
    struct spawn_args *a = blk;
    memset(a, 0, sizeof *a);
    char **p = (char **)(void *)(base + head);
    char *sp = (char *)(p + 2 * argc + 3 + envc + 1);
    a->argv = p;
    a->sh_argv = p + argc + 1;
    a->envp = p + 2 * argc + 3;
    for (size_t i = 0; i < argc; i++)
        a->argv[i] = put_str(&sp, argv[i]);
    a->argv[argc] = NULL;
    for (size_t i = 0; i < envc; i++)
        a->envp[i] = put_str(&sp, env[i]);
    a->envp[envc] = NULL;
    a->path = path != NULL ? put_str(&sp, path) : NULL;
    a->cwd = cwd != NULL ? put_str(&sp, cwd) : NULL;
    a->vm = vm;
    a->wstack = vm ? base + len : NULL;
    *out = a;
    return 0;
}

char *linx_block_keeper_stack(const struct linx_block *b)
{
    return (char *)b->base + b->len - CHILD_STACK - b->page;
}

void linx_block_free(lua_State *L, struct linx_block *b)
{
    if (b->base == NULL)
        return;
    struct spare *sp = L != NULL && b->std ? spare_get(L) : NULL;
    if (sp != NULL && !sp->closed && sp->blk == NULL) {
        sp->blk = b->base;
        sp->len = b->len;
    } else {
        munmap(b->base, b->len);
    }
    b->base = NULL;
}
