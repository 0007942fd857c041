/*
 * sink_router_test.c - the router sends each sink index to the backend of
 * its kind, refuses a kind without a backend, hands its events to every
 * backend, and polls, flushes and destroys them all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "engine/sink_router.h"

#include "base/check.h"

typedef struct fake {
    sh_sink_t base;
    int bound, emitted, last_index, polled, flushed, *destroyed;
    const sh_sink_events_t *events_at_bind;
} fake_t;

static int fake_bind(sh_sink_t *s, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    (void)ctx, (void)errbuf, (void)errlen;
    fake_t *f = (fake_t *)s;
    f->bound++;
    f->events_at_bind = s->events;
    return 0;
}

static int fake_emit(sh_sink_t *s, int index, const sh_ffi_record_t *r, void *batch, char *errbuf,
                     size_t errlen) {
    (void)r, (void)batch, (void)errbuf, (void)errlen;
    fake_t *f = (fake_t *)s;
    f->emitted++;
    f->last_index = index;
    return SH_OK;
}

static void fake_poll(sh_sink_t *s, int timeout_ms) {
    (void)timeout_ms;
    ((fake_t *)s)->polled++;
}

static int fake_flush(sh_sink_t *s, int timeout_ms) {
    (void)timeout_ms;
    ((fake_t *)s)->flushed++;
    return 1; /* one outstanding each */
}

static void fake_destroy(sh_sink_t *s) { (*((fake_t *)s)->destroyed)++; }

static const sh_sink_ops_t fake_ops = {"fake",    fake_bind,  fake_emit,
                                       fake_poll, fake_flush, fake_destroy};

int main(void) {
    int destroyed = 0;
    fake_t kafka = {.base.ops = &fake_ops, .destroyed = &destroyed};
    fake_t mysql = {.base.ops = &fake_ops, .destroyed = &destroyed};
    sh_sink_t *router = sh_sink_router_new();
    CHECK(router != NULL);
    CHECK(sh_sink_router_add(router, "kafka", &kafka.base) == 0);
    CHECK(sh_sink_router_add(router, "mysql", &mysql.base) == 0);
    sh_sink_events_t events = {0};
    router->events = &events;

    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_sink_add(ctx, "topic-a", 0) == 0);
    CHECK(sh_ffi_sink_add(ctx, "mysql:t", 0) == 1);
    CHECK(sh_ffi_sink_set_kind(ctx, 1, "mysql") == SH_OK);
    CHECK(sh_ffi_sink_set_property(ctx, 1, "table", "t") == SH_OK);
    CHECK(sh_ffi_sink_set_property(ctx, 1, "table", "u") == SH_OK); /* replaced */
    CHECK(strcmp(sh_ctx_sink_property(ctx, 1, "table"), "u") == 0);
    CHECK(sh_ctx_sink_property(ctx, 1, "nope") == NULL);
    CHECK(strcmp(sh_ctx_sink_kind(ctx, 0), "kafka") == 0);
    CHECK(sh_ffi_sink_set_kind(ctx, 7, "mysql") == SH_ERR_INVALID);

    char err[256];
    CHECK(router->ops->bind(router, ctx, err, sizeof err) == 0);
    CHECK(kafka.bound == 1 && mysql.bound == 1);
    CHECK(kafka.events_at_bind == &events && mysql.events_at_bind == &events);
    sh_ffi_record_t r = {0};
    CHECK(router->ops->emit(router, 1, &r, NULL, err, sizeof err) == SH_OK);
    CHECK(mysql.emitted == 1 && mysql.last_index == 1 && kafka.emitted == 0);
    CHECK(router->ops->emit(router, 0, &r, NULL, err, sizeof err) == SH_OK);
    CHECK(kafka.emitted == 1 && kafka.last_index == 0);
    CHECK(router->ops->emit(router, 2, &r, NULL, err, sizeof err) == SH_ERR_INVALID);
    router->ops->poll(router, 0);
    CHECK(kafka.polled == 1 && mysql.polled == 1);
    CHECK(router->ops->flush(router, 0) == 2);

    /* a kind nobody serves is refused at bind, naming the sink */
    CHECK(sh_ffi_sink_add(ctx, "pg:t", 0) == 2);
    CHECK(sh_ffi_sink_set_kind(ctx, 2, "postgres") == SH_OK);
    CHECK(router->ops->bind(router, ctx, err, sizeof err) == -1);
    CHECK(strstr(err, "pg:t") && strstr(err, "postgres"));

    router->ops->destroy(router);
    CHECK(destroyed == 2);
    sh_ffi_ctx_destroy(ctx);
    return check_summary("sink router");
}
