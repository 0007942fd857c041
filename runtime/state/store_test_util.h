/*
 * store_test_util.h - what the state-store C tests (kv_store_test.c,
 * window_store_test.c, store_test.c) share besides base/check.h: a
 * temporary state directory and short forms of the store calls.
 * Header-only (static functions): included by *_test.c files only.
 */
#ifndef SH_STORE_TEST_UTIL_H
#define SH_STORE_TEST_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "engine/ctx.h"
#include "state/store.h"

#define MINUTE 60000LL

static char state_dir[256];

/* Makes the test's state directory under $TMPDIR (or /tmp); exits on failure. */
static inline void store_test_begin(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(state_dir, sizeof state_dir, "%s/streamhost-store-test-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(state_dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

/* Removes the state directory, prints the closing line, returns the exit status. */
static inline int store_test_end(const char *name) {
    sh_store_remove_tree(state_dir);
    return check_summary(name);
}

static inline bool slice_is(sh_ffi_slice_t s, const char *text) {
    return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

static inline bool bytes_are(const char *data, size_t len, const char *want, size_t want_len) {
    return data && len == want_len && memcmp(data, want, len) == 0;
}

static inline int put(sh_store_t *s, const char *key, const char *value) {
    return sh_ffi_store_put(s, key, strlen(key), value, value ? strlen(value) : 0, 1);
}

static inline int get(sh_store_t *s, const char *key, sh_ffi_slice_t *out) {
    return sh_ffi_store_get(s, key, strlen(key), out);
}

static inline int wput(sh_store_t *s, const char *key, int64_t start, const char *value,
                       int64_t ts) {
    return sh_ffi_window_put(s, key, strlen(key), start, value, value ? strlen(value) : 0, ts);
}

static inline sh_store_t *open_kv(sh_ctx_t *ctx, const char *name, int32_t partition) {
    sh_store_t *s =
        sh_ffi_store_open(ctx, state_dir, ctx ? "app" : NULL, name, SH_STORE_KV, partition, 0);
    if (!s && ctx) fprintf(stderr, "open %s: %s\n", name, sh_ffi_err_message());
    return s;
}

static inline sh_store_t *open_window(sh_ctx_t *ctx, const char *name, int64_t retention) {
    sh_store_t *s =
        sh_ffi_store_open(ctx, state_dir, ctx ? "app" : NULL, name, SH_STORE_WINDOW, 0, retention);
    if (!s && ctx) fprintf(stderr, "open %s: %s\n", name, sh_ffi_err_message());
    return s;
}

/* Collects a fetch as "start=value;..." (start in minutes) for easy comparison. */
static inline void fetch_text(sh_store_t *s, const char *key, int64_t from, int64_t to, char *out,
                              size_t size) {
    out[0] = 0;
    sh_store_iter_t *it = sh_ffi_window_fetch(s, key, strlen(key), from, to);
    if (!it) {
        snprintf(out, size, "error: %s", sh_ffi_err_message());
        return;
    }
    sh_ffi_slice_t k, v;
    int64_t start;
    size_t n = 0;
    while (sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK) {
        if (!bytes_are(k.data, k.len, key, strlen(key))) {
            n += (size_t)snprintf(out + n, size - n, "wrong key;");
            continue;
        }
        n += (size_t)snprintf(out + n, size - n, "%lld=%.*s;", (long long)(start / MINUTE),
                              (int)v.len, v.data);
    }
    sh_ffi_store_iter_destroy(it);
}

#endif
