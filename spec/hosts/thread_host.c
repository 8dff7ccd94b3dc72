/* A host that runs its Lua state in a worker thread, as an embedder with a
 * thread pool (or OpenResty's ngx.run_worker_thread) does: the thread
 * spawns and proceeds `sleep 30`, prints the child's pid, and ends; the
 * process lives on. spec/thread_spec.lua checks the child outlives the
 * thread and dies with the process. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static const char script[] =
    "local process = require 'linx.process'\n"
    "local c = assert(process.spawn{argv = {'sleep', '30'}, namespaces = {'user'}})\n"
    "assert(c:proceed())\n"
    "KEEP = c -- never collected: the state outlives the thread\n"
    "io.stdout:write(c:host_pid(), '\\n') io.stdout:flush()\n";

static void *worker(void *arg)
{
    (void)arg;
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, script) != 0) {
        fprintf(stderr, "thread_host: %s\n", lua_tostring(L, -1));
        _exit(1);
    }
    return NULL; /* the thread ends; L is left as it is */
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    fputs("thread ended\n", stdout);
    fflush(stdout);
    for (;;)
        pause();
}
