/*
 * err.h - how C code fails (err.c): return an sh_err_t code and leave the
 * detail in the calling thread's last-error message, which Lua reads with
 * sh_ffi_err_message() (as errno and strerror, but with a sentence).
 *
 *     if (sink < 0) return sh_err_set(SH_ERR_INVALID, "emit to unknown sink %d", sink);
 *
 * The codes are listed once, in base/errors.h.
 */
#ifndef SH_ERR_H
#define SH_ERR_H

#include <stdarg.h>
#include <stdbool.h>

#include "streamhost_ffi.h"

/* Records code and the formatted detail as this thread's last error and
 * returns code. @locality any thread (the message is thread-local). */
int sh_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sh_err_setv(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

bool sh_err_is_retriable(int code);
bool sh_err_is_fatal(int code);

#endif
