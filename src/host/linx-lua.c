/* linx-lua: a lua-compatible interpreter with linxuser and linx.process
 * built in (preloaded into package.preload, no .so needed), and the pure
 * Lua modules of lua/ (linx.run, linx.luv, ...) embedded at build time
 * (tools/embed-lua) and preloaded the same way.
 *
 *   linx-lua [options] [script [args]]
 *     -e stat   run the string stat
 *     -l mod    require mod into global mod (-l g=mod: into global g)
 *     -i        interactive mode after running the script
 *     -v        print version information
 *     -E        ignore LUA_INIT and LUA_PATH/LUA_CPATH from the environment
 *     -W        turn warnings on (Lua 5.4)
 *     --        stop handling options
 *     -         run stdin as the script and stop handling options
 *
 * Exit status: the script's (os.exit), 0 at the end, 1 on an uncaught
 * error, whose message goes to stderr through __tostring (error tables
 * read as one line), followed by a traceback. */
#include "support/compat.h"
#include "linx.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef LUA_RELEASE
#define LUA_RELEASE "Lua"
#endif
#ifdef LUAJIT_VERSION
#define LINX_LUA_ENGINE LUAJIT_VERSION
#else
#define LINX_LUA_ENGINE LUA_RELEASE
#endif

#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 502
#define LINX_INIT_VAR "LUA_INIT_" LUA_VERSION_MAJOR "_" LUA_VERSION_MINOR
#else
#define LINX_INIT_VAR "LUA_INIT"
#endif

#define PROGNAME_KEY "linx-lua.progname"

/* argv[0], kept in the registry (no C globals), for messages. */
static const char *get_progname(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, PROGNAME_KEY);
    const char *p = lua_tostring(L, -1); /* the registry keeps it alive */
    lua_pop(L, 1);
    return p != NULL ? p : "linx-lua";
}

static void print_usage(lua_State *L, const char *bad)
{
    const char *progname = get_progname(L);
    if (bad[1] == 'e' || bad[1] == 'l')
        fprintf(stderr, "%s: '%s' needs argument\n", progname, bad);
    else
        fprintf(stderr, "%s: unrecognized option '%s'\n", progname, bad);
    fprintf(stderr,
            "usage: %s [options] [script [args]]\n"
            "Available options are:\n"
            "  -e stat   execute string 'stat'\n"
            "  -i        enter interactive mode after executing 'script'\n"
            "  -l mod    require library 'mod' into global 'mod'\n"
            "  -l g=mod  require library 'mod' into global 'g'\n"
            "  -v        show version information\n"
            "  -E        ignore environment variables\n"
            "  -W        turn warnings on\n"
            "  --        stop handling options\n"
            "  -         stop handling options and execute stdin\n"
            "Built in: require \"linxuser\", require \"linx.process\"\n",
            progname);
}

static void print_version(void)
{
    printf("linx-lua %s (%s) with linxuser and linx.process built in\n", LINX_VERSION, LINX_LUA_ENGINE);
    fflush(stdout);
}

/* Print an error message (already a string on top) to stderr. */
static void report(lua_State *L, int status)
{
    if (status != 0) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL)
            msg = "(error object is not a string)";
        fprintf(stderr, "%s: %s\n", get_progname(L), msg);
        fflush(stderr);
        lua_pop(L, 1);
    }
}

/* Message handler: turn any error value into text (error tables through
 * their __tostring) and append a traceback. */
static int msghandler(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TSTRING) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
            lua_replace(L, 1);
        } else {
            lua_settop(L, 1);
            lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
            lua_replace(L, 1);
        }
    }
    lua_settop(L, 1);
    /* debug.traceback(msg, 2), present on every Lua version. */
    lua_getglobal(L, "debug");
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "traceback");
        if (lua_isfunction(L, -1)) {
            lua_pushvalue(L, 1);
            lua_pushinteger(L, 2);
            if (lua_pcall(L, 2, 1, 0) == 0 && lua_type(L, -1) == LUA_TSTRING)
                return 1;
        }
    }
    lua_settop(L, 1);
    return 1;
}

/* Call the function below narg arguments with the message handler. */
static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, narg, nres, base);
    lua_remove(L, base);
    return status;
}

static int dochunk(lua_State *L, int status)
{
    if (status == 0)
        status = docall(L, 0, 0);
    report(L, status);
    return status;
}

static int dostring(lua_State *L, const char *s, const char *name)
{
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

static int dofile(lua_State *L, const char *name)
{
    return dochunk(L, luaL_loadfile(L, name));
}

/* -l [g=]mod */
static int dolibrary(lua_State *L, const char *spec)
{
    const char *eq = strchr(spec, '=');
    const char *mod = eq ? eq + 1 : spec;
    lua_getglobal(L, "require");
    lua_pushstring(L, mod);
    int status = docall(L, 1, 1);
    if (status == 0) {
        if (eq)
            lua_pushlstring(L, spec, (size_t)(eq - spec));
        else {
            /* like lua: "mod-v2" goes to global "mod" */
            const char *dash = strchr(mod, '-');
            lua_pushlstring(L, mod, dash ? (size_t)(dash - mod) : strlen(mod));
        }
        lua_insert(L, -2);
        lua_setglobal(L, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    report(L, status);
    return status;
}

/* The script: arguments after it go both to arg and to the chunk's "...". */
static int doscript(lua_State *L, char **argv, int script)
{
    const char *name = argv[script];
    /* script < argc, so argv[script] is a string (the analyzer cannot see
     * that argv[0] is non-NULL whenever argc > 0). */
    if (strcmp(name, "-") == 0 && strcmp(argv[script - 1], "--") != 0) // NOLINT(clang-analyzer-core.NonNullParamChecker)
        name = NULL; /* stdin */
    int status = luaL_loadfile(L, name);
    if (status == 0) {
        int n = 0;
        lua_getglobal(L, "arg");
        if (lua_istable(L, -1)) {
            n = (int)lua_rawlen(L, -1);
            luaL_checkstack(L, n + 3, "too many arguments to script");
            for (int i = 1; i <= n; i++)
                lua_rawgeti(L, -i, i);
            lua_remove(L, -n - 1);
        } else {
            lua_pop(L, 1);
        }
        status = docall(L, n, 0);
    }
    report(L, status);
    return status;
}

/* arg[0] = script, arg[1..] = its arguments, arg[-k] = interpreter and options. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc)
        script = 0; /* no script: arg[0] is the interpreter */
    lua_createtable(L, argc - script, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int handle_init(lua_State *L)
{
    const char *name = "=" LINX_INIT_VAR;
    const char *init = getenv(name + 1);
    if (init == NULL) {
        name = "=LUA_INIT";
        init = getenv(name + 1);
    }
    if (init == NULL)
        return 0;
    if (init[0] == '@')
        return dofile(L, init + 1);
    return dostring(L, init, name);
}

/* ---- REPL ---------------------------------------------------------------- */

static const char *get_prompt(lua_State *L, int first)
{
    lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2");
    const char *p = lua_tostring(L, -1);
    if (p == NULL)
        p = first ? "> " : ">> ";
    lua_pop(L, 1); /* the string stays alive: _PROMPT still refers to it */
    return p;
}

/* Read a line into a new string on the stack; 0 at end of input. */
static int push_line(lua_State *L, int first)
{
    fputs(get_prompt(L, first), stdout);
    fflush(stdout);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int c, any = 0;
    while ((c = getchar()) != EOF) {
        any = 1;
        if (c == '\n')
            break;
        luaL_addchar(&b, (char)c);
    }
    luaL_pushresult(&b);
    if (!any) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        /* "... near <eof>" (5.2+) or "... near '<eof>'" (5.1, LuaJIT) */
        static const char *const marks[2] = {"<eof>", "'<eof>'"};
        for (int i = 0; msg != NULL && i < 2; i++) {
            size_t ml = strlen(marks[i]);
            if (len >= ml && strcmp(msg + len - ml, marks[i]) == 0) {
                lua_pop(L, 1);
                return 1;
            }
        }
    }
    return 0;
}

/* Compile the line on top as "return line" (an expression), else as a
 * statement, reading more lines while it is incomplete. Leaves the chunk
 * (or an error message) on top, the line removed. */
static int load_line(lua_State *L)
{
    const char *line = lua_tostring(L, -1);
    lua_pushfstring(L, "return %s", line);
    size_t len;
    const char *ret = lua_tolstring(L, -1, &len);
    int status = luaL_loadbuffer(L, ret, len, "=stdin");
    if (status == 0) {
        lua_remove(L, -2); /* "return ..." */
        lua_remove(L, -2); /* the line */
        return 0;
    }
    lua_pop(L, 2);
    for (;;) {
        const char *src = lua_tolstring(L, -1, &len);
        status = luaL_loadbuffer(L, src, len, "=stdin");
        if (!incomplete(L, status))
            break;
        if (!push_line(L, 0))
            break; /* end of input inside a statement: report the error */
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
    if (status != 0 && lua_type(L, -1) == LUA_TFUNCTION)
        status = 0;
    lua_remove(L, -2); /* the source */
    return status;
}

static void repl(lua_State *L)
{
    while (push_line(L, 1)) {
        int base = lua_gettop(L) - 1;
        int status = load_line(L);
        if (status == 0)
            status = docall(L, 0, LUA_MULTRET);
        if (status == 0) {
            int n = lua_gettop(L) - base;
            if (n > 0) {
                luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
                lua_getglobal(L, "print");
                lua_insert(L, base + 1);
                if (lua_pcall(L, n, 0, 0) != 0) {
                    fprintf(stderr, "error calling 'print' (%s)\n", lua_tostring(L, -1));
                    lua_pop(L, 1);
                }
            }
        } else {
            const char *msg = lua_tostring(L, -1);
            fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
            fflush(stderr);
            lua_pop(L, 1);
        }
        lua_settop(L, base);
    }
    lua_settop(L, 0);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ---- main ---------------------------------------------------------------- */

enum { HAS_E = 1, HAS_I = 2, HAS_V = 4, HAS_BIG_E = 8, HAS_W = 16 };

/* Scan options; returns the index of the script (argc if none) or -1 on
 * a bad option (*bad set to it). */
static int scan_args(int argc, char **argv, int *flags, int *bad)
{
    *flags = 0;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-')
            return i;
        switch (a[1]) {
        case '\0': /* "-": stdin is the script */
            return i;
        case '-':
            if (a[2] != '\0') {
                *bad = i;
                return -1;
            }
            return i + 1 < argc ? i + 1 : argc;
        case 'E':
        case 'i':
        case 'v':
        case 'W':
            if (a[2] != '\0') {
                *bad = i;
                return -1;
            }
            *flags |= a[1] == 'E' ? HAS_BIG_E : a[1] == 'i' ? (HAS_I | HAS_V) : a[1] == 'v' ? HAS_V : HAS_W;
            break;
        case 'e':
        case 'l':
            if (a[1] == 'e')
                *flags |= HAS_E;
            if (a[2] == '\0') {
                if (i + 1 >= argc || argv[i + 1][0] == '-') {
                    *bad = i;
                    return -1;
                }
                i++;
            }
            break;
        default:
            *bad = i;
            return -1;
        }
    }
    return i;
}

/* Run -e and -l in order. */
static int run_options(lua_State *L, char **argv, int script)
{
    for (int i = 1; i < script; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || (a[1] != 'e' && a[1] != 'l'))
            continue;
        const char *v = a[2] != '\0' ? a + 2 : argv[++i];
        int status = a[1] == 'e' ? dostring(L, v, "=(command line)") : dolibrary(L, v);
        if (status != 0)
            return status;
    }
    return 0;
}

#ifdef LINX_EMBEDDED_LUA
#include "linx_lua_embedded.h"

/* package.preload entry of an embedded module (upvalue: its index):
 * load its source and run it with the module name, as require would. */
static int load_embedded(lua_State *L)
{
    int i = (int)lua_tointeger(L, lua_upvalueindex(1));
    if (luaL_loadbuffer(L, (const char *)linx_embedded_lua[i].src, linx_embedded_lua[i].len,
                        linx_embedded_lua[i].chunkname) != 0)
        return lua_error(L);
    lua_pushstring(L, linx_embedded_lua[i].module);
    lua_call(L, 1, 1);
    return 1;
}
#endif

static void preload(lua_State *L)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_linxuser);
    lua_setfield(L, -2, "linxuser");
    lua_pushcfunction(L, luaopen_linx_process);
    lua_setfield(L, -2, "linx.process");
#ifdef LINX_EMBEDDED_LUA
    for (int i = 0; linx_embedded_lua[i].module != NULL; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, linx_embedded_lua[i].module);
    }
#endif
    lua_pop(L, 2);
}

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    if (argv[0] != NULL && argv[0][0] != '\0') {
        lua_pushstring(L, argv[0]);
        lua_setfield(L, LUA_REGISTRYINDEX, PROGNAME_KEY);
    }
    int flags, bad = 0;
    int script = scan_args(argc, argv, &flags, &bad);
    if (script < 0) {
        print_usage(L, argv[bad]);
        return 0;
    }
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 502
    luaL_checkversion(L);
    if (flags & HAS_BIG_E) {
        /* read by the package library while it opens */
        lua_pushboolean(L, 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
    }
#endif
    luaL_openlibs(L);
    preload(L);
    create_arg_table(L, argv, argc, script);
#if defined(LUA_VERSION_NUM) && LUA_VERSION_NUM >= 504
    lua_gc(L, LUA_GCGEN, 0, 0);
    if (flags & HAS_W)
        lua_warning(L, "@on", 0);
#endif
    if (flags & HAS_V)
        print_version();
    if (!(flags & HAS_BIG_E) && handle_init(L) != 0)
        return 0;
    if (run_options(L, argv, script) != 0)
        return 0;
    if (script < argc && doscript(L, argv, script) != 0)
        return 0;
    if (flags & HAS_I) {
        repl(L);
    } else if (script == argc && !(flags & (HAS_E | HAS_V))) {
        if (isatty(0)) {
            print_version();
            repl(L);
        } else if (dofile(L, NULL) != 0) {
            return 0;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create state: not enough memory\n", argv[0] ? argv[0] : "linx-lua");
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int ok = status == 0 && lua_toboolean(L, -1);
    if (status != 0)
        report(L, status);
    lua_close(L);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
