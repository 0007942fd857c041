/*
 * ctx.c - the processing context of one Lua VM.
 *
 * A context holds what the topology declared (its source topics and sinks)
 * and forwards emitted records to an output. The host's output is its Kafka
 * producer; a context made without one (the test driver's) keeps emitted
 * records in a FIFO per sink, which sh_ffi_sink_capture_next drains.
 * A drained record's block is kept for the next capture (up to
 * SPARE_BLOCKS of them): a malloc and a free per record, of blocks freed a
 * batch at a time, went past glibc's per-thread cache to its bins and cost
 * ~400 instructions a record.
 *
 * A failing call returns its code and leaves the detail as the thread's
 * last error (base/err.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/ctx.h"

typedef struct captured {
    struct captured *next;
    size_t size; /* of the block, this struct included */
    sh_ffi_record_t record;
    sh_ffi_header_t *headers;
    _Alignas(sh_ffi_header_t) char data[]; /* header array, key, value, header bytes */
} captured_t;

typedef struct sink {
    char *name;
    int partitions;
    captured_t *head, *tail;
    char *kind;         /* NULL: a Kafka topic */
    char **properties;  /* key, value, key, value, ... */
    int property_count; /* pairs */
} sink_t;

struct sh_ctx {
    char **sources;
    int source_count;
    sink_t *sinks;
    int sink_count;
    sh_output_t output;
    bool capture;
    captured_t *last_taken; /* kept as a spare on the next capture_next */
    captured_t *spares;     /* drained blocks, to be reused */
    int spare_count;
    int version;
    char *state_dir;
    sh_store_decl_t *stores;
    int store_count;
    bool held, released; /* the current batch's write-back cache marks */
};

sh_ctx_t *sh_ctx_new(const sh_output_t *output) {
    sh_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        sh_err_set(SH_ERR_NOMEM, "out of memory making a context");
        return NULL;
    }
    if (output)
        ctx->output = *output;
    else
        ctx->capture = true;
    return ctx;
}

void sh_ffi_ctx_hold(sh_ctx_t *ctx) { ctx->held = true; }

void sh_ffi_ctx_release(sh_ctx_t *ctx) {
    ctx->released = true;
    ctx->held = false; /* what was cached is in this batch's outputs now */
}

int sh_ffi_ctx_drain(sh_ctx_t *ctx) {
    if (ctx->capture || !ctx->output.drain) return SH_OK;
    return ctx->output.drain(ctx->output.self);
}

void sh_ctx_take_hold(sh_ctx_t *ctx, bool *held, bool *released) {
    *held = ctx->held;
    *released = ctx->released;
    ctx->held = ctx->released = false;
}

void sh_ctx_set_output(sh_ctx_t *ctx, const sh_output_t *output) {
    ctx->output = *output;
    ctx->capture = false;
}

sh_ctx_t *sh_ffi_ctx_new_capture(void) { return sh_ctx_new(NULL); }

void sh_ffi_ctx_destroy(sh_ctx_t *ctx) {
    if (!ctx) return;
    for (int i = 0; i < ctx->source_count; i++) free(ctx->sources[i]);
    free(ctx->sources);
    for (int i = 0; i < ctx->sink_count; i++) {
        captured_t *c = ctx->sinks[i].head;
        while (c) {
            captured_t *next = c->next;
            free(c);
            c = next;
        }
        free(ctx->sinks[i].name);
        free(ctx->sinks[i].kind);
        for (int p = 0; p < ctx->sinks[i].property_count * 2; p++) free(ctx->sinks[i].properties[p]);
        free(ctx->sinks[i].properties);
    }
    free(ctx->sinks);
    for (int i = 0; i < ctx->store_count; i++) {
        sh_store_decl_t *d = &ctx->stores[i];
        free(d->name);
        free(d->source_topic);
        free(d->key_serde);
        free(d->value_serde);
    }
    free(ctx->stores);
    free(ctx->state_dir);
    free(ctx->last_taken);
    while (ctx->spares) {
        captured_t *next = ctx->spares->next;
        free(ctx->spares);
        ctx->spares = next;
    }
    free(ctx);
}

void sh_ctx_set_version(sh_ctx_t *ctx, int version) { ctx->version = version; }
int sh_ffi_ctx_version(sh_ctx_t *ctx) { return ctx->version; }

int sh_ffi_source_add(sh_ctx_t *ctx, const char *topic) {
    if (!topic || !*topic) {
        sh_err_set(SH_ERR_INVALID, "a source needs a topic name");
        return -1;
    }
    for (int i = 0; i < ctx->source_count; i++)
        if (strcmp(ctx->sources[i], topic) == 0) return i;
    char **grown = realloc(ctx->sources, sizeof *grown * (size_t)(ctx->source_count + 1));
    if (!grown) goto nomem;
    ctx->sources = grown;
    if (!(grown[ctx->source_count] = strdup(topic))) goto nomem;
    return ctx->source_count++;
nomem:
    sh_err_set(SH_ERR_NOMEM, "out of memory declaring source %s", topic);
    return -1;
}

int sh_ffi_source_count(sh_ctx_t *ctx) { return ctx->source_count; }

const char *sh_ffi_source_name(sh_ctx_t *ctx, int source) {
    return source >= 0 && source < ctx->source_count ? ctx->sources[source] : NULL;
}

int sh_ffi_sink_add(sh_ctx_t *ctx, const char *topic, int partitions) {
    if (!topic || !*topic) {
        sh_err_set(SH_ERR_INVALID, "a sink needs a topic name");
        return -1;
    }
    for (int i = 0; i < ctx->sink_count; i++) {
        if (strcmp(ctx->sinks[i].name, topic) != 0) continue;
        if (partitions > ctx->sinks[i].partitions) ctx->sinks[i].partitions = partitions;
        return i;
    }
    sink_t *grown = realloc(ctx->sinks, sizeof *grown * (size_t)(ctx->sink_count + 1));
    if (!grown) goto nomem;
    ctx->sinks = grown;
    sink_t *s = &grown[ctx->sink_count];
    memset(s, 0, sizeof *s);
    if (!(s->name = strdup(topic))) goto nomem;
    s->partitions = partitions;
    return ctx->sink_count++;
nomem:
    sh_err_set(SH_ERR_NOMEM, "out of memory declaring sink %s", topic);
    return -1;
}

int sh_ffi_sink_count(sh_ctx_t *ctx) { return ctx->sink_count; }

const char *sh_ffi_sink_name(sh_ctx_t *ctx, int sink) {
    return sink >= 0 && sink < ctx->sink_count ? ctx->sinks[sink].name : NULL;
}

int sh_ctx_sink_partitions(sh_ctx_t *ctx, int sink) {
    return sink >= 0 && sink < ctx->sink_count ? ctx->sinks[sink].partitions : 0;
}

enum {
    SPARE_BLOCKS = 4096,
    MIN_BLOCK = 256, /* a block fits most records, so a spare usually fits the next */
};

/* A block of at least size bytes: a spare that fits, or a new one. */
static captured_t *block_of(sh_ctx_t *ctx, size_t size) {
    captured_t *c = ctx->spares;
    if (c && c->size >= size) {
        ctx->spares = c->next;
        ctx->spare_count--;
        return c;
    }
    if (size < MIN_BLOCK) size = MIN_BLOCK;
    c = malloc(size);
    if (c) c->size = size;
    return c;
}

static void keep_spare(sh_ctx_t *ctx, captured_t *c) {
    if (!c) return;
    if (ctx->spare_count >= SPARE_BLOCKS) {
        free(c);
        return;
    }
    c->next = ctx->spares;
    ctx->spares = c;
    ctx->spare_count++;
}

static int capture(sh_ctx_t *ctx, int sink, const char *key, size_t key_len,
                   const char *value, size_t value_len, int64_t timestamp,
                   int32_t partition, const sh_ffi_header_t *headers,
                   int32_t header_count) {
    size_t size = sizeof(captured_t) + key_len + value_len +
                  sizeof(sh_ffi_header_t) * (size_t)header_count + 1;
    for (int i = 0; i < header_count; i++)
        size += strlen(headers[i].name) + 1 + headers[i].value_len;
    captured_t *c = block_of(ctx, size);
    if (!c)
        return sh_err_set(SH_ERR_NOMEM, "out of memory capturing a record for %s",
                          ctx->sinks[sink].name);
    c->next = NULL;
    c->record = (sh_ffi_record_t){0};
    c->headers = (sh_ffi_header_t *)c->data;
    char *p = c->data + sizeof(sh_ffi_header_t) * (size_t)header_count;
    if (key) {
        memcpy(p, key, key_len);
        c->record.key = p;
        c->record.key_len = key_len;
        p += key_len;
    }
    if (value) {
        memcpy(p, value, value_len);
        c->record.value = p;
        c->record.value_len = value_len;
        p += value_len;
    }
    for (int i = 0; i < header_count; i++) {
        size_t name_len = strlen(headers[i].name);
        memcpy(p, headers[i].name, name_len + 1);
        c->headers[i] = (sh_ffi_header_t){.name = p};
        p += name_len + 1;
        if (headers[i].value) {
            memcpy(p, headers[i].value, headers[i].value_len);
            c->headers[i].value = p;
            c->headers[i].value_len = headers[i].value_len;
            p += headers[i].value_len;
        }
    }
    *p = '\0';
    c->record.timestamp = timestamp;
    c->record.partition = partition;
    c->record.offset = -1;
    c->record.source = -1;
    c->record.headers = header_count ? c->headers : NULL;
    c->record.header_count = header_count;
    sink_t *s = &ctx->sinks[sink];
    if (s->tail)
        s->tail->next = c;
    else
        s->head = c;
    s->tail = c;
    return SH_OK;
}

int sh_ffi_sink_emit(sh_ctx_t *ctx, int sink, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp, int32_t partition,
                     const sh_ffi_header_t *headers, int32_t header_count) {
    if (sink < 0 || sink >= ctx->sink_count)
        return sh_err_set(SH_ERR_INVALID, "emit to unknown sink %d", sink);
    if (header_count < 0 || (header_count > 0 && !headers))
        return sh_err_set(SH_ERR_INVALID, "emit to %s: %d headers announced but %s given",
                          ctx->sinks[sink].name, header_count, headers ? "a list" : "none");
    for (int i = 0; i < header_count; i++)
        if (!headers[i].name)
            return sh_err_set(SH_ERR_INVALID, "emit to %s: header %d has no name",
                              ctx->sinks[sink].name, i);
    if (ctx->capture)
        return capture(ctx, sink, key, key_len, value, value_len, timestamp,
                       partition, headers, header_count);
    int rc = ctx->output.emit(ctx->output.self, sink, key, key_len, value, value_len, timestamp,
                              partition, headers, header_count);
    /* An output that failed without saying why must not leave an older
     * failure's message to be read as this one's. */
    if (rc != SH_OK && sh_ffi_err_code() != rc)
        sh_err_set(rc, "emit to %s: %s", ctx->sinks[sink].name, sh_ffi_err_describe(rc));
    return rc;
}

int sh_ffi_sink_capture_next(sh_ctx_t *ctx, int sink, sh_ffi_record_t *out) {
    keep_spare(ctx, ctx->last_taken);
    ctx->last_taken = NULL;
    if (sink < 0 || sink >= ctx->sink_count)
        return sh_err_set(SH_ERR_INVALID, "capture_next from unknown sink %d", sink);
    sink_t *s = &ctx->sinks[sink];
    captured_t *c = s->head;
    if (!c) return SH_ERR_NOT_FOUND;
    s->head = c->next;
    if (!s->head) s->tail = NULL;
    ctx->last_taken = c;
    *out = c->record;
    return SH_OK;
}

const char *sh_ffi_ctx_state_dir(sh_ctx_t *ctx) { return ctx->state_dir ? ctx->state_dir : ""; }

void sh_ffi_ctx_set_state_dir(sh_ctx_t *ctx, const char *dir) {
    free(ctx->state_dir);
    ctx->state_dir = dir ? strdup(dir) : NULL;
}

int sh_ffi_store_declare(sh_ctx_t *ctx, const char *name, int kind, int64_t retention_ms,
                         const char *source_topic, const char *key_serde,
                         const char *value_serde) {
    if (!name || !*name || !source_topic || !key_serde || !value_serde) {
        sh_err_set(SH_ERR_INVALID, "store %s: a store needs a name, a source topic and serdes",
                   name ? name : "(null)");
        return -1;
    }
    for (int i = 0; i < ctx->store_count; i++)
        if (strcmp(ctx->stores[i].name, name) == 0) return i;
    sh_store_decl_t *grown = realloc(ctx->stores, sizeof *grown * (size_t)(ctx->store_count + 1));
    if (!grown) goto nomem;
    ctx->stores = grown;
    sh_store_decl_t *d = &grown[ctx->store_count];
    d->name = strdup(name);
    d->source_topic = strdup(source_topic);
    d->key_serde = strdup(key_serde);
    d->value_serde = strdup(value_serde);
    d->kind = kind;
    d->retention_ms = retention_ms;
    d->window_size_ms = 0;
    d->sessions = false;
    if (!d->name || !d->source_topic || !d->key_serde || !d->value_serde) {
        free(d->name);
        free(d->source_topic);
        free(d->key_serde);
        free(d->value_serde);
        goto nomem;
    }
    return ctx->store_count++;
nomem:
    sh_err_set(SH_ERR_NOMEM, "out of memory declaring store %s", name);
    return -1;
}

int sh_ffi_store_count(sh_ctx_t *ctx) { return ctx->store_count; }

int sh_ffi_store_set_window_size(sh_ctx_t *ctx, const char *name, int64_t size_ms) {
    for (int i = 0; name && i < ctx->store_count; i++)
        if (strcmp(ctx->stores[i].name, name) == 0) {
            ctx->stores[i].window_size_ms = size_ms;
            return SH_OK;
        }
    return sh_err_set(SH_ERR_NOT_FOUND, "set_window_size: no store %s is declared",
                      name ? name : "(null)");
}

int sh_ffi_store_set_sessions(sh_ctx_t *ctx, const char *name) {
    for (int i = 0; name && i < ctx->store_count; i++)
        if (strcmp(ctx->stores[i].name, name) == 0) {
            ctx->stores[i].sessions = true;
            return SH_OK;
        }
    return sh_err_set(SH_ERR_NOT_FOUND, "set_sessions: no store %s is declared",
                      name ? name : "(null)");
}

const sh_store_decl_t *sh_ctx_store_decl(sh_ctx_t *ctx, int index) {
    return index >= 0 && index < ctx->store_count ? &ctx->stores[index] : NULL;
}

/* ---- sinks of other kinds: a MySQL table is a sink with kind "mysql" and
 * the properties its backend reads (the composition root routes by kind) ---- */

int sh_ffi_sink_set_kind(sh_ctx_t *ctx, int sink, const char *kind) {
    if (sink < 0 || sink >= ctx->sink_count || !kind || !*kind)
        return sh_err_set(SH_ERR_INVALID, "sink_set_kind: no sink %d, or no kind", sink);
    char *copy = strdup(kind);
    if (!copy) return sh_err_set(SH_ERR_NOMEM, "sink_set_kind: out of memory");
    free(ctx->sinks[sink].kind);
    ctx->sinks[sink].kind = copy;
    return SH_OK;
}

int sh_ffi_sink_set_property(sh_ctx_t *ctx, int sink, const char *key, const char *value) {
    if (sink < 0 || sink >= ctx->sink_count || !key || !value)
        return sh_err_set(SH_ERR_INVALID, "sink_set_property: no sink %d, or no key or value",
                          sink);
    sink_t *s = &ctx->sinks[sink];
    char *v = strdup(value);
    if (!v) return sh_err_set(SH_ERR_NOMEM, "sink_set_property: out of memory");
    for (int i = 0; i < s->property_count; i++)
        if (strcmp(s->properties[2 * i], key) == 0) {
            free(s->properties[2 * i + 1]);
            s->properties[2 * i + 1] = v;
            return SH_OK;
        }
    char **grown = realloc(s->properties, sizeof *grown * (size_t)(s->property_count + 1) * 2);
    char *k = strdup(key);
    if (!grown || !k) {
        if (grown) s->properties = grown;
        free(k);
        free(v);
        return sh_err_set(SH_ERR_NOMEM, "sink_set_property: out of memory");
    }
    s->properties = grown;
    grown[2 * s->property_count] = k;
    grown[2 * s->property_count + 1] = v;
    s->property_count++;
    return SH_OK;
}

const char *sh_ctx_sink_kind(sh_ctx_t *ctx, int sink) {
    if (sink < 0 || sink >= ctx->sink_count) return NULL;
    return ctx->sinks[sink].kind ? ctx->sinks[sink].kind : "kafka";
}

const char *sh_ctx_sink_property(sh_ctx_t *ctx, int sink, const char *key) {
    if (sink < 0 || sink >= ctx->sink_count) return NULL;
    sink_t *s = &ctx->sinks[sink];
    for (int i = 0; i < s->property_count; i++)
        if (strcmp(s->properties[2 * i], key) == 0) return s->properties[2 * i + 1];
    return NULL;
}
