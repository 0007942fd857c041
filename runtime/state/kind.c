/*
 * kind.c - what the store kinds share (see kind.h): their error reports and
 * scratch buffers, written once so a key-value and a window store say a
 * failure the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/kind.h"
#include "streamhost_ffi.h"

void sh_kind_error(const sh_kind_errors_t *errors, const char *fmt, ...) {
    int n = snprintf(errors->buf, errors->len, "store %s partition %d: ", errors->name,
                     (int)errors->partition);
    if (n < 0 || (size_t)n >= errors->len) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errors->buf + n, errors->len - (size_t)n, fmt, ap);
    va_end(ap);
}

int sh_kind_rocksdb_failed(const sh_kind_errors_t *errors, const char *what, char *err) {
    sh_kind_error(errors, "%s: %s", what, err ? err : "unknown error");
    free(err);
    return SH_ERR_STORE;
}

int sh_kind_iter_failed(rocksdb_iterator_t *it, char *errmsg, size_t errlen) {
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    if (!err) return SH_ERR_NOT_FOUND;
    snprintf(errmsg, errlen, "iterator: %s", err);
    free(err);
    return SH_ERR_STORE;
}

int sh_kind_reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap && *buf) return SH_OK;
    size_t size = *cap ? *cap : 256;
    while (size < need)
        size *= 2;
    char *grown = realloc(*buf, size);
    if (!grown) return SH_ERR_NOMEM;
    *buf = grown;
    *cap = size;
    return SH_OK;
}

int sh_kind_by_key(const void *a, const void *b) {
    const sh_ffi_record_t *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}
