#include "lerror.h"

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

/* Push err[field]; return it as text (numbers converted on the stack
 * copy, which stays there until the caller resets the stack), or NULL. */
static const char *field_str(lua_State *L, int t, const char *field)
{
    lua_getfield(L, t, field);
    int type = lua_type(L, -1);
    return type == LUA_TSTRING || type == LUA_TNUMBER ? lua_tostring(L, -1) : NULL;
}

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

static int error_tostring(lua_State *L)
{
    if (lua_type(L, 1) != LUA_TTABLE) {
        lua_pushliteral(L, "linx error");
        return 1;
    }
    lua_settop(L, 1);
    luaL_checkstack(L, 20, NULL);
    /* Fetch every field before the buffer takes over the stack top. */
    const char *kind = field_str(L, 1, "kind");
    const char *op = field_str(L, 1, "operation");
    const char *path = field_str(L, 1, "path");
    const char *name = field_str(L, 1, "errno");
    const char *code = field_str(L, 1, "code");
    const char *msg = field_str(L, 1, "message");
    const char *hint = field_str(L, 1, "hint");
    const char *reason = field_str(L, 1, "reason");
    const char *index = field_str(L, 1, "index");
    const char *other = field_str(L, 1, "other");
    const char *field = field_str(L, 1, "field");
    const char *call = field_str(L, 1, "syscall");
    const char *stream = field_str(L, 1, "stream"), *bytes = field_str(L, 1, "bytes");
    lua_getfield(L, 1, "value");
    int value = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    add_text(&b, op ? op : "linx");
    if (kind == NULL) {
        luaL_addstring(&b, " failed");
    } else if (strcmp(kind, "os") == 0) {
        luaL_addstring(&b, " failed");
        if (path) {
            luaL_addstring(&b, " on ");
            add_text(&b, path);
        }
        luaL_addstring(&b, ": ");
        if (call && !path) { /* with a path, the file says what failed */
            add_text(&b, call);
            luaL_addstring(&b, ": ");
        }
        add_text(&b, name ? name : "E?");
        if (code) {
            luaL_addstring(&b, " (errno ");
            add_text(&b, code);
            luaL_addchar(&b, ')');
        }
        if (msg) {
            luaL_addstring(&b, ": ");
            add_text(&b, msg);
        }
        if (hint) {
            luaL_addstring(&b, "; hint: ");
            add_text(&b, hint);
        }
    } else if (strcmp(kind, "bad_map") == 0) {
        luaL_addstring(&b, ": bad map: ");
        add_text(&b, reason ? reason : "?");
        if (index) {
            luaL_addstring(&b, " at entry ");
            add_text(&b, index);
        }
        if (other) {
            luaL_addstring(&b, " (meets entry ");
            add_text(&b, other);
            luaL_addchar(&b, ')');
        }
    } else if (strcmp(kind, "bad_setgroups") == 0) {
        luaL_addstring(&b, ": bad setgroups option ");
        add_value(&b, L, value);
        luaL_addstring(&b, " (expected \"deny\" or \"skip\")");
    } else if (strcmp(kind, "bad_setup") == 0) {
        luaL_addstring(&b, ": option '");
        add_text(&b, field ? field : "?");
        luaL_addstring(&b, "' is ");
        add_text(&b, reason ? reason : "invalid");
    } else if (strcmp(kind, "output_limit") == 0) {
        luaL_addstring(&b, " failed: output_limit: ");
        add_text(&b, stream ? stream : "a stream");
        luaL_addstring(&b, " passed max_output after ");
        add_text(&b, bytes ? bytes : "?");
        luaL_addstring(&b, " bytes; the child was killed");
    } else if (strcmp(kind, "bad_target") == 0) {
        luaL_addstring(&b, ": bad target ");
        add_value(&b, L, value);
        luaL_addstring(&b, " (expected a positive integer pid or a live process handle)");
    } else {
        luaL_addstring(&b, " failed: ");
        add_text(&b, kind);
        if (field) {
            luaL_addstring(&b, " '");
            add_text(&b, field);
            luaL_addchar(&b, '\'');
        }
        if (reason) {
            luaL_addstring(&b, ": ");
            add_text(&b, reason);
        }
        if (msg) {
            luaL_addstring(&b, ": ");
            add_text(&b, msg);
        }
        if (hint) {
            luaL_addstring(&b, "; hint: ");
            add_text(&b, hint);
        }
    }
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
one in `src/lerror.c`): `os` (`path`, `errno` such as `"EPERM"`, `code`,
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
        luaL_error(L, "linx: error kind '%s' is not in src/lerror.c's table", kind);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, known);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, operation);
    lua_setfield(L, -2, "operation");
    /* Every module creates the same metatable the first time it is needed,
     * per Lua state, in the registry. */
    if (luaL_newmetatable(L, LINX_ERROR_MT)) {
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
