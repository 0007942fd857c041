/*
 * ctx.h - the C side of a processing context (ctx.c): where its emits go
 * and what its topology declared. Lua sees the context only through
 * streamhost_ffi.h.
 */
#ifndef SH_CTX_H
#define SH_CTX_H

#include <stdarg.h>
#include <stdbool.h>

#include "streamhost_ffi.h"

/* Where a context's emitted records go. The host points this at its sink;
 * without it a context captures records in memory. emit returns an sh_err_t
 * and, on failure, sets the thread's last error (sh_err_set). */
typedef struct sh_output {
    int (*emit)(void *self, int sink, const char *key, size_t key_len,
                const char *value, size_t value_len, int64_t timestamp,
                int32_t partition, const sh_ffi_header_t *headers,
                int32_t header_count);
    /* Waits until every output emitted so far is delivered (NULL: nothing
     * to wait for, as in a capture). Returns an sh_err_t and, on failure,
     * sets the thread's last error. */
    int (*drain)(void *self);
    void *self;
} sh_output_t;

sh_ctx_t *sh_ctx_new(const sh_output_t *output);
/* Points a context's emits somewhere else (a VM loaded before its host). */
void sh_ctx_set_output(sh_ctx_t *ctx, const sh_output_t *output);
/* The write-back cache marks the VM left on the batch just run
 * (sh_ffi_ctx_hold, sh_ffi_ctx_release), cleared for the next. */
void sh_ctx_take_hold(sh_ctx_t *ctx, bool *held, bool *released);
void sh_ctx_set_version(sh_ctx_t *ctx, int version);
int sh_ctx_sink_partitions(sh_ctx_t *ctx, int sink);
/* A sink's backend: "kafka" unless the app set another (sh_ffi_sink_set_kind);
 * NULL for no such sink. */
const char *sh_ctx_sink_kind(sh_ctx_t *ctx, int sink);
/* A property the app gave a sink (sh_ffi_sink_set_property), or NULL. */
const char *sh_ctx_sink_property(sh_ctx_t *ctx, int sink, const char *key);

/* A store the topology declared (sh_ffi_store_declare). */
typedef struct sh_store_decl {
    char *name, *source_topic, *key_serde, *value_serde;
    int kind;
    int64_t retention_ms;
    int64_t window_size_ms; /* window stores: 0 until sh_ffi_store_set_window_size */
    bool sessions; /* a session store: keyed by each session's end, its start in the value */
} sh_store_decl_t;
const sh_store_decl_t *sh_ctx_store_decl(sh_ctx_t *ctx, int index);

#endif
