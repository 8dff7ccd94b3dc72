/* proceed(), in its two halves (proceed.h): the release of a parked child,
 * and the answer the child gives to it. */
#include "proceed.h"

#include "idmapped.h"
#include "keeper_host.h"
#include "stages.h"
#include "support/lerror.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

int linx_proceed_send(lua_State *L, struct handle *h)
{
    struct idmapped_fail idf; /* the release, with the idmapped binds made first (idmapped.c) */
    if (linx_release_send(h, &idf) < 0 && idf.step > 0)
        return linx_idmapped_error(L, h, &idf);
    if (idf.err) {
        int err = idf.err;
        h->state = ST_RUNNING; /* it is gone; wait() collects it */
        linx_close_fd(&h->ctl);
        return linx_error_os_call(L, "proceed", "sendmsg", NULL, err,
                                  err == EPIPE ? "the parked child is gone (was it killed?)" : NULL);
    }
    h->state = ST_RUNNING;
    h->proceeded = 1;
    return 0;
}

/* Whether ctl has something to read within wait_ms (-1: forever). 1, 0,
 * or -errno. */
static int answer_came(int ctl, int wait_ms)
{
    if (wait_ms < 0)
        return 1; /* the blocking recvmsg waits */
    struct pollfd pf = {ctl, POLLIN, 0};
    int r;
    while ((r = poll(&pf, 1, wait_ms)) < 0)
        if (errno != EINTR)
            return -errno;
    return r > 0;
}

int linx_proceed_reply(lua_State *L, struct handle *h, int wait_ms)
{
    struct msg rep;
    memset(&rep, 0, sizeof rep);
    int got = answer_came(h->ctl, wait_ms);
    if (got == 0)
        return 0;
    if (got > 0)
        got = linx_recv_msg(h->ctl, &rep, NULL);
    if (got > 0 && rep.type == MSG_POLICY) { /* what the workload enforced, before its exec */
        h->landlock = rep.landlock;
        if ((got = answer_came(h->ctl, wait_ms)) == 0)
            return 0; /* the rest comes later: the next call reads it */
        if (got > 0)
            got = linx_recv_msg(h->ctl, &rep, NULL);
    }
    if (h->park && got > 0 && rep.type == MSG_READY) { /* a pool child: ctl stays for the hand-over */
        linx_handle_left_memory(h); /* it runs the park image now */
        lua_pushboolean(L, 1);
        return 1;
    }
    linx_close_fd(&h->ctl);
    if (h->park && got == 0)
        return linx_error_os(L, "proceed", NULL, ECHILD, "the pool child ended before it was ready");
    if (got == 0) { /* EOF: CLOEXEC closed the workload's end in execve */
        linx_handle_left_memory(h); /* execve replaced its memory before closing CLOEXEC fds */
        lua_pushboolean(L, 1);
        return 1;
    }
    if (got < 0)
        return linx_error_os_call(L, "proceed", wait_ms < 0 ? "recvmsg" : "poll", NULL, -got, NULL);
    return linx_stage_error(L, h, &rep); /* the stage table (stages.c) */
}
