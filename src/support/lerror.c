/* The error room (lerror.h): the table of every error kind with each
 * kind's tostring shape, the shared "linx.error" metatable, and the
 * builders the verbs share. */
#include "lerror.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---- every kind ------------------------------------------------------- */

/* Every error kind, its extra fields (besides kind and operation) and when
 * it is returned: API.md and the README show this same table, and
 * spec/errors_spec.lua compares the README's with this one, row by row.
 * Any error may also carry a `message` sentence. A kind not listed here
 * is a bug: linx_error_new raises. Keep one entry per line, as
 * {"kind", "field, field", "when"}, for that spec to read. */
static const struct error_kind {
    const char *kind;
    const char *fields;
    const char *when;
} kinds[] = {
    {"os", "path, errno, code, message, hint, syscall", "the kernel refused"},
    {"bad_map", "reason, index, entry, other, field", "caller mistake in a map, caught before any write"},
    {"bad_setgroups", "value", "setgroups option not \"deny\"/\"skip\""},
    {"bad_setup", "reason, field", "setup_maps options unusable (missing, wrong type, bad helper)"},
    {"bad_target", "value", "not a positive integer pid nor a live handle"},
    {"bad_option", "field, reason, value, index", "options of any other verb (spawn, subids, …) unusable"},
    {"bad_state", "state, reason", "a handle method called in a state where it cannot act"},
    {"timeout", "seconds", "a wait with a time limit ran out (the child is left as it was)"},
    {"output_limit", "stream, bytes, output", "a piped stream passed max_output; the child was killed, output holds what was read"},
    {"child_died", "status", "the child died before it reached the checkpoint or reported its exec"},
    {"helper", "helper, reason, status, stderr, argv, hint", "newuidmap/newgidmap failed"},
    {"no_subids", "user, uid, path, field", "subordinate-id look-ups and id translation"},
    {"no_user", "user, uid, path, field", "subordinate-id look-ups and id translation"},
    {"bad_user", "user, uid, path, field", "subordinate-id look-ups and id translation"},
    {"bad_id", "user, uid, path, field", "subordinate-id look-ups and id translation"},
};

/* How tostring shows each kind, after the operation's name: one shape a
 * kind, in kinds[] order (a kind without one is refused when the
 * metatable is made). In a shape, text is copied; {f} is err.f as text
 * (a string or number, control bytes escaped), {f|d} the same with d
 * when err.f is absent; {=f} is err.f whatever its type, described in a
 * few characters ("nil" when absent); [...] is shown only when every {f}
 * in it is there and every {!f} in it is absent ({!f} shows nothing).
 * Groups do not nest. A field is read either as {f} or as {=f} in one
 * shape, not both. */
#define FAILED " failed: {kind}[ '{field}'][: {reason}][: {message}][; hint: {hint}]"
static const struct {
    const char *kind;
    const char *shape;
} shapes[] = {
    {"os", " failed[ on {path}]: [{!path}{syscall}: ]{errno|E?}[ (errno {code})][: {message}][; hint: {hint}]"},
    {"bad_map", ": bad map: {reason|?}[ at entry {index}][ (meets entry {other})]"},
    {"bad_setgroups", ": bad setgroups option {=value} (expected \"deny\" or \"skip\")"},
    {"bad_setup", ": option '{field|?}' is {reason|invalid}"},
    {"bad_target", ": bad target {=value} (expected a positive integer pid or a live process handle)"},
    {"bad_option", FAILED},
    {"bad_state", FAILED},
    {"timeout", FAILED},
    {"output_limit", " failed: output_limit: {stream|a stream} passed max_output after {bytes|?} bytes; the child was killed"},
    {"child_died", FAILED},
    {"helper", FAILED},
    {"no_subids", FAILED},
    {"no_user", FAILED},
    {"bad_user", FAILED},
    {"bad_id", FAILED},
};
_Static_assert(sizeof shapes / sizeof shapes[0] == sizeof kinds / sizeof kinds[0],
               "every kind has its tostring shape");

/* A table made with the shared metatable by hand may name a kind that is
 * not listed, or none. */
static const char unlisted_shape[] = FAILED;
static const char no_kind_shape[] = " failed";

/* The table's own copy of kind, or NULL when it is not listed. */
static const char *known_kind(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return kinds[i].kind;
    return NULL;
}

/* The table as Lua sees it, on the shared metatable:
 * kinds[kind] = {fields = {"path", ...}, when = "..."}. */
static void push_kinds(lua_State *L)
{
    lua_createtable(L, 0, (int)(sizeof kinds / sizeof kinds[0]));
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        lua_createtable(L, 0, 2);
        lua_newtable(L);
        int n = 0;
        for (const char *f = kinds[i].fields; *f != '\0';) {
            size_t len = strcspn(f, ",");
            lua_pushlstring(L, f, len);
            lua_rawseti(L, -2, ++n);
            f += len;
            f += strspn(f, ", ");
        }
        lua_setfield(L, -2, "fields");
        lua_pushstring(L, kinds[i].when);
        lua_setfield(L, -2, "when");
        lua_setfield(L, -2, kinds[i].kind);
    }
}

/* ---- tostring --------------------------------------------------------- */

/* Describe any Lua value in a few characters, without metamethods. */
static void add_value(luaL_Buffer *b, lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        /* The value is the caller's: escape it and cut it short so the
         * message stays one short line (no newline, no terminal escapes). */
        enum { SHOWN = 40 };
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        luaL_addchar(b, '"');
        for (size_t i = 0; i < len && i < SHOWN; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\') {
                luaL_addchar(b, '\\');
                luaL_addchar(b, (char)c);
            } else if (c >= 0x20 && c < 0x7f) {
                luaL_addchar(b, (char)c);
            } else {
                char esc[8];
                snprintf(esc, sizeof esc, "\\x%02x", c);
                luaL_addstring(b, esc);
            }
        }
        luaL_addchar(b, '"');
        if (len > SHOWN)
            luaL_addstring(b, "...");
        break;
    }
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
    case LUA_TNIL:
        if (lua_type(L, idx) == LUA_TBOOLEAN)
            luaL_addstring(b, lua_toboolean(L, idx) ? "true" : "false");
        else if (lua_type(L, idx) == LUA_TNIL)
            luaL_addstring(b, "nil");
        else {
            lua_pushvalue(L, idx);
            luaL_addvalue(b); /* lua_tostring converts a number in place */
        }
        break;
    default:
        luaL_addstring(b, "a ");
        luaL_addstring(b, luaL_typename(L, idx));
        break;
    }
}

/* Add text that may hold a caller's bytes (a path from argv, an option
 * name, a message from a raising metamethod): control characters are
 * escaped and the length capped, so the message stays one line without
 * terminal escapes. */
static void add_text(luaL_Buffer *b, const char *s)
{
    enum { SHOWN = 1024 }; /* a whole path, but not a 100 kB message */
    for (size_t i = 0; *s != '\0'; s++, i++) {
        if (i == SHOWN) {
            luaL_addstring(b, "...");
            break;
        }
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\x%02x", c);
            luaL_addstring(b, esc);
        } else {
            luaL_addchar(b, (char)c);
        }
    }
}

/* The fields one shape reads: fetched onto the stack before the buffer
 * takes over its top. */
enum { SHAPE_FIELDS = 16 };
struct shown {
    const char *name;
    size_t len;
    const char *text; /* as text, or NULL when absent ({f}) */
    int idx;          /* its stack index ({=f}) */
};

/* One {...} of a shape at s (just past the '{'): its mode ('=', '!' or
 * 0), name and default text (NULL for none). Returns the char past '}'. */
static const char *parse_ref(const char *s, char *mode, const char **name, size_t *len, const char **dflt,
                             size_t *dlen)
{
    *mode = 0;
    if (*s == '=' || *s == '!')
        *mode = *s++;
    *name = s;
    *len = strcspn(s, "|}");
    s += *len;
    *dflt = NULL;
    *dlen = 0;
    if (*s == '|') {
        *dflt = ++s;
        *dlen = strcspn(s, "}");
        s += *dlen;
    }
    return *s == '}' ? s + 1 : s;
}

static const struct shown *find_shown(const struct shown *f, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (f[i].len == len && memcmp(f[i].name, name, len) == 0)
            return &f[i];
    return NULL;
}

/* Push err[field] (err at index t); return it as text (a number converted
 * on this stack copy, which stays there until the caller resets the
 * stack), or NULL. */
static const char *field_text(lua_State *L, int t, const char *field)
{
    lua_getfield(L, t, field);
    int type = lua_type(L, -1);
    return type == LUA_TSTRING || type == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
}

/* Push every field the shape names (err at index t); returns how many. */
static int fetch_shown(lua_State *L, int t, const char *shape, struct shown *f)
{
    int n = 0;
    for (const char *s = strchr(shape, '{'); s != NULL; s = strchr(s, '{')) {
        char mode;
        const char *name, *dflt;
        size_t len, dlen;
        s = parse_ref(s + 1, &mode, &name, &len, &dflt, &dlen);
        if (find_shown(f, n, name, len) != NULL || n == SHAPE_FIELDS)
            continue;
        lua_pushlstring(L, name, len);
        lua_gettable(L, t); /* as lua_getfield: the shared metatable has no __index */
        int type = lua_type(L, -1);
        f[n].name = name;
        f[n].len = len;
        f[n].idx = lua_gettop(L);
        /* a number converts in place, on this stack copy; {=f} keeps its type */
        f[n].text = mode != '=' && (type == LUA_TSTRING || type == LUA_TNUMBER) ? lua_tostring(L, -1) : NULL;
        if (mode == '=')
            f[n].text = type == LUA_TNIL ? NULL : "";
        n++;
    }
    return n;
}

/* Is every {f} between s and end there, and every {!f} absent? */
static int group_shown(const char *s, const char *end, const struct shown *f, int n)
{
    for (s = strchr(s, '{'); s != NULL && s < end; s = strchr(s, '{')) {
        char mode;
        const char *name, *dflt;
        size_t len, dlen;
        s = parse_ref(s + 1, &mode, &name, &len, &dflt, &dlen);
        const struct shown *v = find_shown(f, n, name, len);
        int there = v != NULL && v->text != NULL;
        if (mode == '!' ? there : !there && dflt == NULL)
            return 0;
    }
    return 1;
}

/* Add the shape's text from s to end (see shapes[]). */
static void render(luaL_Buffer *b, lua_State *L, const char *s, const char *end, const struct shown *f, int n)
{
    while (s < end) {
        if (*s == '[') {
            const char *close = strchr(s, ']');
            if (close == NULL || close > end)
                close = end;
            if (group_shown(s + 1, close, f, n))
                render(b, L, s + 1, close, f, n);
            s = close < end ? close + 1 : end;
        } else if (*s == '{') {
            char mode;
            const char *name, *dflt;
            size_t len, dlen;
            s = parse_ref(s + 1, &mode, &name, &len, &dflt, &dlen);
            const struct shown *v = find_shown(f, n, name, len);
            if (mode == '=' && v != NULL)
                add_value(b, L, v->idx);
            else if (mode == 0 && v != NULL && v->text != NULL)
                add_text(b, v->text);
            else if (mode == 0 && dflt != NULL)
                luaL_addlstring(b, dflt, dlen);
        } else {
            size_t len = strcspn(s, "[{");
            if (len > (size_t)(end - s))
                len = (size_t)(end - s);
            luaL_addlstring(b, s, len);
            s += len;
        }
    }
}

/* The shape of a kind (given as text, or NULL), from shapes[]. */
static const char *shape_of(const char *kind)
{
    if (kind == NULL)
        return no_kind_shape;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shapes[i].kind, kind) == 0)
            return shapes[i].shape;
    return unlisted_shape;
}

static int error_tostring(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE) {
        lua_pushliteral(L, "linx error");
        return 1;
    }
    lua_settop(L, 1);
    luaL_checkstack(L, SHAPE_FIELDS + 8, NULL);
    /* Fetch every field before the buffer takes over the stack top. */
    const char *op = field_text(L, 1, "operation");
    const char *shape = shape_of(field_text(L, 1, "kind"));
    struct shown f[SHAPE_FIELDS];
    int n = fetch_shown(L, 1, shape, f);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_text(&b, op != NULL ? op : "linx");
    render(&b, L, shape, shape + strlen(shape), f, n);
    luaL_pushresult(&b);
    return 1;
}

/***
@module linxuser
*/

/***
An error table, returned as `nil, err` (plus the errno number after a
kernel refusal) by every verb of `linxuser` and `linx.process`. All share
one metatable (`__name` is `linx.error`) whose `__tostring` gives one line,
so `assert(verb(...))` reads well on Lua 5.3 and 5.4. Elsewhere use
`if not ok then error(err) end`: Lua 5.1 and 5.2's `assert` wants a string,
and LuaJIT's raises its last argument, the errno number after a kernel
refusal.

Every table has `kind` and `operation`; the extra fields of each kind are
listed in the README's error table (the same as the contract's, and the
one in `src/support/lerror.c`): `os` (`path`, `errno` such as `"EPERM"`, `code`,
`message`, `hint`, `syscall`), `bad_map` (`reason`, `index`, `entry`, `other`,
`field`), `bad_setgroups`, `bad_setup` (`setup_maps`' options),
`bad_target`, `bad_option` (every other verb's options), `bad_state`,
`timeout`, `output_limit` (`stream`, `bytes`, `output`), `child_died`, `helper`, `no_subids`, `no_user`, `bad_user`,
`bad_id`. The shared metatable's `kinds` field is that table:
`getmetatable(err).kinds.os.fields` lists `os`'s fields, `.when` says
when it is returned.
@table Error
@field kind what kind of failure (above)
@field operation the verb that failed (`set_uid_map`, `deny_setgroups`, `spawn`, `exec`, ...)
@usage
local ok, err, code = user.set_gid_map(pid, {{0, 1000, 1}})
if not ok then print(err.kind, err.errno, code, tostring(err)) end
*/
void linx_error_new(lua_State *L, const char *kind, const char *operation)
{
    const char *known = known_kind(kind);
    if (known == NULL)
        luaL_error(L, "linx: error kind '%s' is not in src/support/lerror.c's table", kind);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, known);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, operation);
    lua_setfield(L, -2, "operation");
    /* Every module creates the same metatable the first time it is needed,
     * per Lua state, in the registry. */
    if (luaL_newmetatable(L, LINX_ERROR_MT)) {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            if (strcmp(kinds[i].kind, shapes[i].kind) != 0)
                luaL_error(L, "linx: src/support/lerror.c's shapes[] misses %s's shape", kinds[i].kind);
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushliteral(L, LINX_ERROR_MT);
        lua_setfield(L, -2, "__name");
        push_kinds(L);
        lua_setfield(L, -2, "kinds");
    }
    lua_setmetatable(L, -2);
}

void linx_error_setstr(lua_State *L, const char *field, const char *value)
{
    lua_pushstring(L, value);
    lua_setfield(L, -2, field);
}

void linx_error_setint(lua_State *L, const char *field, long long value)
{
    linx_pushid(L, value);
    lua_setfield(L, -2, field);
}

int linx_error_return(lua_State *L)
{
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

int linx_error_os(lua_State *L, const char *operation, const char *path, int err,
                  const char *hint)
{
    lua_pushnil(L);
    linx_error_new(L, "os", operation);
    if (path != NULL)
        linx_error_setstr(L, "path", path);
    linx_error_setstr(L, "errno", linx_errno_name(err));
    linx_error_setint(L, "code", err);
    linx_error_setstr(L, "message", strerror(err));
    if (hint != NULL)
        linx_error_setstr(L, "hint", hint);
    lua_pushinteger(L, err);
    return 3;
}

int linx_error_os_call(lua_State *L, const char *operation, const char *call, const char *path, int err,
                       const char *hint)
{
    int n = linx_error_os(L, operation, path, err, hint);
    if (call != NULL && strcmp(call, operation) != 0) {
        lua_pushstring(L, call);
        lua_setfield(L, -3, "syscall");
    }
    return n;
}

static int gettable_k(lua_State *L)
{
    lua_gettable(L, 1);
    return 1;
}

int linx_get_protected(lua_State *L, int t, const char *key)
{
    lua_pushcfunction(L, gettable_k);
    lua_pushvalue(L, t);
    lua_pushstring(L, key);
    return lua_pcall(L, 2, 1, 0);
}

int linx_unknown_key(lua_State *L, int t, const char *const *names)
{
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = 0;
        for (int i = 0; k != NULL && names[i] != NULL; i++)
            known |= strcmp(k, names[i]) == 0;
        if (!known)
            return 1;
    }
    return 0;
}

const char *linx_plain_key(lua_State *L, int idx, size_t max)
{
    size_t len = 0;
    const char *k = lua_type(L, idx) == LUA_TSTRING ? lua_tolstring(L, idx, &len) : NULL;
    int plain = k != NULL && len > 0 && len <= max;
    for (size_t i = 0; plain && i < len; i++)
        plain = k[i] > ' ' && k[i] < 127;
    return plain ? k : NULL;
}

/* ---- builders (lerror.h) ---------------------------------------------- */

/* lua_absindex is 5.2+. */
static int abs_index(lua_State *L, int idx)
{
    return idx < 0 ? lua_gettop(L) + idx + 1 : idx;
}

/* err.value = the value at idx (0: none), on the table at the top. */
static void set_value(lua_State *L, int idx)
{
    if (idx != 0) {
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, "value");
    }
}

int linx_bad_option(lua_State *L, const char *op, const char *field, const char *reason, int value_idx,
                    lua_Integer index)
{
    value_idx = abs_index(L, value_idx);
    /* setup_maps' option mistakes have their own kind (kinds[]) */
    linx_error_new(L, strcmp(op, "setup_maps") == 0 ? "bad_setup" : "bad_option", op);
    if (field != NULL)
        linx_error_setstr(L, "field", field);
    linx_error_setstr(L, "reason", reason);
    set_value(L, value_idx);
    if (index > 0)
        linx_error_setint(L, "index", index);
    linx_error_return(L);
    return 2; /* nil, err: visibly non-zero, so callers' "r != 0" paths are clear to analyzers */
}

int linx_bad_map(lua_State *L, const char *op, const char *reason, lua_Integer index, int entry_idx)
{
    entry_idx = abs_index(L, entry_idx);
    linx_error_new(L, "bad_map", op);
    linx_error_setstr(L, "reason", reason);
    if (index > 0)
        linx_error_setint(L, "index", index);
    if (entry_idx != 0) {
        lua_pushvalue(L, entry_idx);
        lua_setfield(L, -2, "entry");
    }
    return linx_error_return(L);
}

/* With a new error table on top: value= the value at value_idx (an
 * absolute index; 0: none) and message= (NULL: none), which says what the
 * verb takes instead; then nil, err. */
static int value_error(lua_State *L, int value_idx, const char *message)
{
    set_value(L, value_idx);
    if (message != NULL)
        linx_error_setstr(L, "message", message);
    return linx_error_return(L);
}

int linx_bad_target(lua_State *L, const char *op, int value_idx)
{
    value_idx = abs_index(L, value_idx);
    linx_error_new(L, "bad_target", op);
    return value_error(L, value_idx, NULL);
}

int linx_bad_setgroups(lua_State *L, const char *op, int value_idx)
{
    value_idx = abs_index(L, value_idx);
    linx_error_new(L, "bad_setgroups", op);
    return value_error(L, value_idx, NULL);
}

int linx_bad_state(lua_State *L, const char *op, const char *state, const char *reason)
{
    static const struct {
        const char *reason, *message;
    } says[] = {
        {"closed", "the handle is closed"},
        {"parked", "the child is parked at the checkpoint: proceed() or kill() it first"},
        {"not_parked", "the child is no longer parked (proceed() runs once)"},
        {"stdin_closed", "the child's stdin pipe is already closed"},
        {"reaped", "the child has been reaped: its pid may belong to another process now"},
        {"eof", "the stream has reached its end: there is nothing left to watch"},
    };
    const char *msg = "the handle cannot do that now";
    for (size_t i = 0; i < sizeof says / sizeof says[0]; i++)
        if (strcmp(reason, says[i].reason) == 0)
            msg = says[i].message;
    linx_error_new(L, "bad_state", op);
    linx_error_setstr(L, "state", state);
    linx_error_setstr(L, "reason", reason);
    linx_error_setstr(L, "message", msg);
    return linx_error_return(L);
}

int linx_timeout_error(lua_State *L, const char *op, double seconds)
{
    linx_error_new(L, "timeout", op);
    if (seconds == floor(seconds) && seconds < 1e15)
        linx_pushid(L, (long long)seconds); /* 1, not 1.0, on 5.3 and 5.4 */
    else
        lua_pushnumber(L, (lua_Number)seconds);
    lua_setfield(L, -2, "seconds");
    char msg[96];
    snprintf(msg, sizeof msg, "no end within %g s; the child was left as it was", seconds);
    linx_error_setstr(L, "message", msg);
    return linx_error_return(L);
}

void linx_helper_error(lua_State *L, const char *op, const char *helper, const char *reason)
{
    linx_error_new(L, "helper", op);
    linx_error_setstr(L, "helper", helper);
    linx_error_setstr(L, "reason", reason);
}

void linx_push_status(lua_State *L, int exited, int n)
{
    lua_createtable(L, 0, 2);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, exited ? "exited" : "signaled");
    lua_pushinteger(L, n);
    lua_setfield(L, -2, exited ? "code" : "signal");
}

int linx_child_died(lua_State *L, const char *op, const char *reason, int has_code, int code, int signal)
{
    linx_error_new(L, "child_died", op);
    linx_error_setstr(L, "reason", reason);
    if (has_code || signal > 0) {
        linx_error_setint(L, has_code ? "code" : "signal", has_code ? code : signal);
        linx_push_status(L, has_code, has_code ? code : signal); /* as the contract names it */
        lua_setfield(L, -2, "status");
    }
    return linx_error_return(L);
}

int linx_output_limit(lua_State *L, const char *op, const char *stream, unsigned long long bytes,
                      unsigned long long max, int output_idx)
{
    output_idx = abs_index(L, output_idx);
    linx_error_new(L, "output_limit", op);
    linx_error_setstr(L, "stream", stream);
    linx_error_setint(L, "bytes", (long long)bytes);
    lua_pushvalue(L, output_idx);
    lua_setfield(L, -2, "output");
    char msg[128];
    snprintf(msg, sizeof msg, "%s passed max_output (%llu bytes); the child was killed", stream, max);
    linx_error_setstr(L, "message", msg);
    return linx_error_return(L);
}

/* The user an error names: its name, or its uid. */
static void push_user(lua_State *L, const char *user, long long uid)
{
    if (user != NULL)
        lua_pushstring(L, user);
    else
        linx_pushid(L, uid);
}

int linx_bad_user(lua_State *L, const char *op, int value_idx)
{
    value_idx = abs_index(L, value_idx);
    linx_error_new(L, "bad_user", op);
    return value_error(L, value_idx, "expected a user name, an integral uid, or nil for the caller");
}

int linx_no_user(lua_State *L, const char *op, const char *user, long long uid)
{
    linx_error_new(L, "no_user", op);
    push_user(L, user, uid);
    lua_setfield(L, -2, "user");
    linx_error_setstr(L, "message", "no passwd entry: the user's own uid and primary gid are unknown");
    return linx_error_return(L);
}

int linx_no_subids(lua_State *L, const char *op, const char *user, long long uid, const char *field,
                   const char *path, const char *reason)
{
    linx_error_new(L, "no_subids", op);
    push_user(L, user, uid);
    lua_setfield(L, -2, "user");
    if (uid >= 0)
        linx_error_setint(L, "uid", uid);
    if (path != NULL)
        linx_error_setstr(L, "path", path);
    linx_error_setstr(L, "field", field);
    if (reason != NULL) { /* "overlap" */
        linx_error_setstr(L, "reason", reason);
        linx_error_setstr(L, "message", "every subordinate range contains the user's own id, so none can "
                                        "be mapped next to it");
        return linx_error_return(L);
    }
    lua_pushfstring(L, "no subordinate %s range for user ", field);
    push_user(L, user, uid);
    lua_pushfstring(L, " in %s", path);
    lua_concat(L, 3);
    lua_setfield(L, -2, "message");
    linx_error_setstr(L, "hint", "an administrator grants one, e.g. usermod --add-subuids "
                                 "100000-165535 --add-subgids 100000-165535 <user>");
    return linx_error_return(L);
}

int linx_bad_id(lua_State *L, const char *op, int value_idx)
{
    value_idx = abs_index(L, value_idx);
    linx_error_new(L, "bad_id", op);
    return value_error(L, value_idx, "expected an integral id from 0 to 4294967295");
}
