/* The children's block and its spare (see block.h). */
#include "block.h"

#include "core/hostutil.h"

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

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

/* The arrays of a deep copy of in (mounts, groups), 8-byte multiples. */
static size_t inside_arrays(const struct inside *in)
{
    size_t n = ALIGN8((size_t)in->nmounts * sizeof(struct inside_mount));
    if (in->ngroups > 0)
        n += ALIGN8((size_t)in->ngroups * sizeof(uint32_t));
    n += ALIGN8((size_t)in->policy_len); /* inside_policy: one position-independent block */
    n += (size_t)in->seccomp_len * 8; /* struct sock_filter: 8 bytes each */
    return n;
}

static size_t inside_strs(const struct inside *in, int *err)
{
    size_t n = 0;
    for (int32_t i = 0; i < in->nmounts; i++) {
        const struct inside_mount *m = &in->mounts[i];
        n = add_len(n, m->target, err);
        if (m->source != NULL)
            n = add_len(n, m->source, err);
        if (m->data != NULL && m->kind == INSIDE_FILE)
            n += ALIGN8((size_t)m->len + 1); /* bytes, NULs among them; spawn caps len */
        else if (m->data != NULL)
            n = add_len(n, m->data, err);
        if (m->idmap_uid != NULL) /* INSIDE_IDMAP_MAPS: both */
            n = add_len(add_len(n, m->idmap_uid, err), m->idmap_gid, err);
    }
    if (in->root != NULL)
        n = add_len(n, in->root, err);
    if (in->hostname != NULL)
        n = add_len(n, in->hostname, err);
    return n;
}

/* Deep-copy src into dst: the arrays at *arr (8-aligned), the strings at
 * *str; both cursors advance. */
static void inside_copy(struct inside *dst, const struct inside *src, char **arr, char **str)
{
    *dst = *src;
    struct inside_mount *m = (struct inside_mount *)(void *)*arr;
    *arr += ALIGN8((size_t)src->nmounts * sizeof *m);
    for (int32_t i = 0; i < src->nmounts; i++) {
        m[i] = src->mounts[i];
        m[i].target = put_str(str, src->mounts[i].target);
        m[i].source = src->mounts[i].source != NULL ? put_str(str, src->mounts[i].source) : NULL;
        m[i].data = src->mounts[i].data != NULL ? put_str(str, src->mounts[i].data) : NULL;
        m[i].idmap_uid = src->mounts[i].idmap_uid != NULL ? put_str(str, src->mounts[i].idmap_uid) : NULL;
        m[i].idmap_gid = src->mounts[i].idmap_gid != NULL ? put_str(str, src->mounts[i].idmap_gid) : NULL;
        if (m[i].data != NULL && m[i].kind == INSIDE_FILE) { /* put_str stopped at the first NUL */
            *str = (char *)m[i].data;
            memcpy(*str, src->mounts[i].data, (size_t)m[i].len);
            (*str)[m[i].len] = '\0';
            *str += ALIGN8((size_t)m[i].len + 1);
        }
    }
    dst->mounts = src->nmounts > 0 ? m : NULL;
    if (src->ngroups > 0) {
        uint32_t *g = (uint32_t *)(void *)*arr;
        memcpy(g, src->groups, (size_t)src->ngroups * sizeof *g);
        *arr += ALIGN8((size_t)src->ngroups * sizeof *g);
        dst->groups = g;
    } else {
        dst->groups = NULL;
    }
    if (src->policy != NULL) {
        memcpy(*arr, src->policy, src->policy_len);
        dst->policy = (const struct inside_policy *)(void *)*arr;
        *arr += ALIGN8((size_t)src->policy_len);
    }
    if (src->seccomp_len > 0) {
        memcpy(*arr, src->seccomp, (size_t)src->seccomp_len * 8);
        dst->seccomp = *arr;
        *arr += (size_t)src->seccomp_len * 8;
    } else {
        dst->seccomp = NULL;
    }
    dst->root = src->root != NULL ? put_str(str, src->root) : NULL;
    dst->hostname = src->hostname != NULL ? put_str(str, src->hostname) : NULL;
}

struct inside *linx_inside_dup(const struct inside *in)
{
    int err = 0;
    size_t head = ALIGN8(sizeof(struct inside));
    size_t arrays = inside_arrays(in), strs = inside_strs(in, &err);
    if (err)
        return NULL;
    char *p = malloc(head + arrays + strs);
    if (p == NULL)
        return NULL;
    char *arr = p + head, *str = arr + arrays;
    inside_copy((struct inside *)(void *)p, in, &arr, &str);
    return (struct inside *)(void *)p;
}

int linx_block_build(lua_State *L, struct linx_block *b, const struct linx_block_src *src, int vm,
                     struct spawn_args **out)
{
    char **argv = src->argv;
    char **env = src->envp != NULL ? src->envp : environ;
    const char *cwd = src->cwd;
    const char *path = linx_exec_path(argv[0]);
    memset(b, 0, sizeof *b);
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
    strs += inside_strs(&src->in, &err);
    if (err || envc > SIZE_MAX / 64 || argc > SIZE_MAX / 64 || src->nfds < 0 || src->nfds > LINX_MAX_FDS)
        return E2BIG;
    size_t fdbytes = ALIGN8((size_t)src->nfds * sizeof(int));
    size_t arrays = inside_arrays(&src->in) + 2 * fdbytes;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    size_t head = (sizeof(struct spawn_args) + 15) & ~(size_t)15;
    size_t data = head + (2 * argc + 3 + INIT_ARGS + envc + 1) * sizeof(char *) + arrays + strs;
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
    char *arr = (char *)(p + 2 * argc + 3 + INIT_ARGS + envc + 1);
    char *sp = arr + arrays;
    a->argv = p;
    a->sh_argv = p + argc + 1; /* argc + 2 + INIT_ARGS pointers: the init's argv fits too */
    a->envp = p + 2 * argc + 3 + INIT_ARGS;
    for (size_t i = 0; i < argc; i++)
        a->argv[i] = put_str(&sp, argv[i]);
    a->argv[argc] = NULL;
    for (size_t i = 0; i < envc; i++)
        a->envp[i] = put_str(&sp, env[i]);
    a->envp[envc] = NULL;
    a->path = path != NULL ? put_str(&sp, path) : NULL;
    a->cwd = cwd != NULL ? put_str(&sp, cwd) : NULL;
    inside_copy(&a->in, &src->in, &arr, &sp);
    a->nfds = src->nfds;
    if (src->nfds > 0) {
        int *fs = (int *)(void *)arr, *fd = (int *)(void *)(arr + fdbytes);
        memcpy(fs, src->fd_src, (size_t)src->nfds * sizeof(int));
        memcpy(fd, src->fd_dst, (size_t)src->nfds * sizeof(int));
        a->fd_src = fs;
        a->fd_dst = fd;
    }
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
