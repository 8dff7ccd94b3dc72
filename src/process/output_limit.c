/* spawn's max_output option and the output_limit error: what the host
 * holds of a child's piped stdout/stderr is bounded per stream; past the
 * bound the workload is killed, that stream is no longer read, and the
 * next wait() or read() returns kind output_limit with what was read. */
#include "output_limit.h"

#include "keeper_host.h"
#include "support/lerror.h"
#include "spawn_opts.h"
#include "spawn_read.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>

int linx_output_opt_read(lua_State *L, int opts, unsigned long long *max)
{
    *max = LINX_OUTPUT_UNLIMITED;
    if (linx_spawn_get_field(L, opts, "max_output", "max_output"))
        return 2;
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TNUMBER)
        return linx_bad_option(L, "spawn", "max_output", "not_a_number", -1, 0);
    double n = (double)lua_tonumber(L, -1);
    if (isnan(n) || n < 0)
        return linx_bad_option(L, "spawn", "max_output", "negative", -1, 0);
    lua_pop(L, 1);
    if (!isinf(n))
        *max = n >= 1.8e19 ? LINX_OUTPUT_UNLIMITED - 1 : (unsigned long long)floor(n);
    return 0;
}

void linx_output_count(struct handle *h, int s, size_t got)
{
    h->out_bytes[s] += got;
    if (!h->has_max || h->out_bytes[s] <= h->max_output || h->over_limit)
        return;
    h->over_limit = s + 1;
    /* The bound holds whatever the child does next: it is killed (ESRCH
     * once it has ended already: nothing to do), and what it still
     * writes to this pipe is never read. */
    if (h->state == ST_RUNNING)
        (void)linx_handle_signal(h, SIGKILL);
    linx_close_fd(&h->out_fd[s]);
}

int linx_output_limit_error(lua_State *L, struct handle *h, const char *op)
{
    if (!h->over_limit || h->limit_told)
        return 0;
    int s = h->over_limit - 1;
    h->limit_told = 1;
    const char *name = s ? "stderr" : "stdout";
    struct outbuf *b = &h->pending[s];
    lua_pushlstring(L, b->p != NULL ? b->p : "", b->len);
    linx_outbuf_free(b);
    int n = linx_output_limit(L, op, name, h->out_bytes[s], h->max_output, -1);
    lua_remove(L, -3); /* the output, below nil, err */
    return n;
}
