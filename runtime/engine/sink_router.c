/*
 * sink_router.c - routes each context sink index to the backend of its kind
 * (see sink_router.h). bind binds every backend (each takes the sinks of its
 * own kind and leaves the others alone) and builds an index -> backend table;
 * emit is one array lookup. Deliveries go straight from the backends to the
 * loop: the router hands them its events.
 *
 * @locality: the stream thread that owns the sink.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/sink_router.h"

enum { MAX_BACKENDS = 8 };

typedef struct router {
    sh_sink_t base;
    struct {
        char *kind;
        sh_sink_t *sink;
    } backends[MAX_BACKENDS];
    int backend_count;
    sh_sink_t **by_index;
    int count;
} router_t;

static int router_bind(sh_sink_t *sink, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    router_t *r = (router_t *)sink;
    int n = sh_ffi_sink_count(ctx);
    sh_sink_t **by_index = calloc((size_t)n + 1, sizeof *by_index);
    if (!by_index) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *kind = sh_ctx_sink_kind(ctx, i);
        for (int b = 0; b < r->backend_count && !by_index[i]; b++)
            if (strcmp(r->backends[b].kind, kind) == 0) by_index[i] = r->backends[b].sink;
        if (!by_index[i]) {
            snprintf(errbuf, errlen, "sink %s: this host has no backend for kind \"%s\"",
                     sh_ffi_sink_name(ctx, i), kind);
            free(by_index);
            return -1;
        }
    }
    for (int b = 0; b < r->backend_count; b++) {
        sh_sink_t *backend = r->backends[b].sink;
        backend->events = sink->events;
        if (backend->ops->bind(backend, ctx, errbuf, errlen) != 0) {
            free(by_index);
            return -1;
        }
    }
    free(r->by_index);
    r->by_index = by_index;
    r->count = n;
    return 0;
}

static int router_emit(sh_sink_t *sink, int index, const sh_ffi_record_t *record, void *batch,
                       char *errbuf, size_t errlen) {
    router_t *r = (router_t *)sink;
    if (index < 0 || index >= r->count) {
        snprintf(errbuf, errlen, "no sink %d", index);
        return SH_ERR_INVALID;
    }
    sh_sink_t *backend = r->by_index[index];
    return backend->ops->emit(backend, index, record, batch, errbuf, errlen);
}

/* The first backend (Kafka) waits; the others only write what is queued. */
static void router_poll(sh_sink_t *sink, int timeout_ms) {
    router_t *r = (router_t *)sink;
    for (int b = r->backend_count - 1; b >= 0; b--)
        r->backends[b].sink->ops->poll(r->backends[b].sink, b == 0 ? timeout_ms : 0);
}

static int router_flush(sh_sink_t *sink, int timeout_ms) {
    router_t *r = (router_t *)sink;
    int outstanding = 0;
    for (int b = r->backend_count - 1; b >= 0; b--)
        outstanding += r->backends[b].sink->ops->flush(r->backends[b].sink, timeout_ms);
    return outstanding;
}

static void router_destroy(sh_sink_t *sink) {
    router_t *r = (router_t *)sink;
    for (int b = 0; b < r->backend_count; b++) {
        r->backends[b].sink->ops->destroy(r->backends[b].sink);
        free(r->backends[b].kind);
    }
    free(r->by_index);
    free(r);
}

static const sh_sink_ops_t router_ops = {
    .kind = "router",
    .bind = router_bind,
    .emit = router_emit,
    .poll = router_poll,
    .flush = router_flush,
    .destroy = router_destroy,
};

sh_sink_t *sh_sink_router_new(void) {
    router_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->base.ops = &router_ops;
    return &r->base;
}

int sh_sink_router_add(sh_sink_t *sink, const char *kind, sh_sink_t *backend) {
    router_t *r = (router_t *)sink;
    char *copy = strdup(kind);
    if (!copy || r->backend_count == MAX_BACKENDS) {
        free(copy);
        backend->ops->destroy(backend);
        return -1;
    }
    r->backends[r->backend_count].kind = copy;
    r->backends[r->backend_count].sink = backend;
    r->backend_count++;
    return 0;
}
