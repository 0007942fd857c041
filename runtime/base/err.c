/*
 * err.c - names, descriptions and classes of the sh_err_t codes, expanded
 * from the one list in base/errors.h, and each thread's last error.
 *
 * The enum itself is written out in streamhost_ffi.h, because LuaJIT's
 * ffi.cdef takes plain C only. The static assertions below tie the two
 * together: every code of the list must be an enumerator at its position in
 * the list, and the enum must count exactly as many, so the header and the
 * list cannot drift apart without the build failing.
 *
 * The last error lives in thread-local storage: each stream thread runs its
 * own Lua VM and reads the message right after the call that failed, and the
 * HTTP threads read their own.
 */
#include <stdio.h>
#include <string.h>

#include "base/err.h"

enum {
#define SH_ERRDEF(name, class, description) name##_POSITION,
#include "base/errors.h"
#undef SH_ERRDEF
    SH_ERRDEF_COUNT
};

#define SH_ERRDEF(name, class, description)                                                        \
    _Static_assert((int)name == (int)name##_POSITION,                                              \
                   #name " is not where base/errors.h lists it: streamhost_ffi.h's sh_err_t "      \
                         "and the list must agree");
#include "base/errors.h"
#undef SH_ERRDEF
_Static_assert((int)SH_ERR__COUNT == (int)SH_ERRDEF_COUNT,
               "sh_err_t in streamhost_ffi.h and base/errors.h list a different number of codes");

enum { CLASS_plain = 0, CLASS_retriable = 1, CLASS_fatal = 2 };

static const struct {
    const char *name, *description;
    int class;
} errors[] = {
#define SH_ERRDEF(name, class, description) [name] = {#name, description, CLASS_##class},
#include "base/errors.h"
#undef SH_ERRDEF
};

static bool known(int code) { return code >= 0 && code < SH_ERR__COUNT; }

const char *sh_ffi_err_name(int code) { return known(code) ? errors[code].name : "SH_ERR_UNKNOWN"; }

const char *sh_ffi_err_describe(int code) {
    return known(code) ? errors[code].description : "unknown error code";
}

bool sh_err_is_retriable(int code) { return known(code) && errors[code].class == CLASS_retriable; }
bool sh_err_is_fatal(int code) { return known(code) && errors[code].class == CLASS_fatal; }
int sh_ffi_err_is_retriable(int code) { return sh_err_is_retriable(code); }
int sh_ffi_err_is_fatal(int code) { return sh_err_is_fatal(code); }

/* Per thread, not shared: see the top of the file. */
static _Thread_local struct {
    int code;
    char message[1024];
} last;

int sh_err_setv(int code, const char *fmt, va_list ap) {
    /* Formatted aside first: the arguments may include the last message
     * itself ("changelog: %s", sh_ffi_err_message()). */
    char message[sizeof last.message];
    vsnprintf(message, sizeof message, fmt, ap);
    last.code = code;
    memcpy(last.message, message, sizeof message);
    return code;
}

int sh_err_set(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sh_err_setv(code, fmt, ap);
    va_end(ap);
    return code;
}

int sh_ffi_err_code(void) { return last.code; }
const char *sh_ffi_err_message(void) { return last.message; }
