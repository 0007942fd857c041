/*
 * ctx_test.c - the processing context: source and sink declarations, and
 * the capture output the test driver reads.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/ctx.h"

#include "base/check.h"

static void test_declarations(void) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_source_add(ctx, "a") == 0);
    CHECK(sh_ffi_source_add(ctx, "b") == 1);
    CHECK(sh_ffi_source_add(ctx, "a") == 0);
    CHECK(sh_ffi_source_add(ctx, "") == -1);
    CHECK(sh_ffi_err_code() == SH_ERR_INVALID);
    CHECK(sh_ffi_sink_add(ctx, NULL, 0) == -1 && sh_ffi_err_code() == SH_ERR_INVALID);
    CHECK(sh_ffi_source_count(ctx) == 2);
    CHECK(strcmp(sh_ffi_source_name(ctx, 1), "b") == 0);
    CHECK(sh_ffi_source_name(ctx, 2) == NULL);
    CHECK(sh_ffi_sink_add(ctx, "out", 0) == 0);
    CHECK(sh_ffi_sink_add(ctx, "out", 6) == 0);
    CHECK(sh_ctx_sink_partitions(ctx, 0) == 6);
    CHECK(sh_ffi_sink_count(ctx) == 1);
    sh_ffi_ctx_destroy(ctx);
}

static void test_capture(void) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    int sink = sh_ffi_sink_add(ctx, "out", 0);
    sh_ffi_header_t headers[2] = {{"h1", "v1", 2}, {"h2", NULL, 0}};
    CHECK(sh_ffi_sink_emit(ctx, sink, "k", 1, "value", 5, 42, -1, headers, 2) == SH_OK);
    CHECK(sh_ffi_sink_emit(ctx, sink, NULL, 0, NULL, 0, 43, 2, NULL, 0) == SH_OK);
    CHECK(sh_ffi_sink_emit(ctx, 7, "k", 1, "v", 1, 0, -1, NULL, 0) == SH_ERR_INVALID);
    CHECK(sh_ffi_err_code() == SH_ERR_INVALID);
    CHECK(strcmp(sh_ffi_err_message(), "emit to unknown sink 7") == 0);
    CHECK(sh_ffi_sink_emit(ctx, sink, "k", 1, "v", 1, 0, -1, NULL, 3) == SH_ERR_INVALID);
    CHECK(strcmp(sh_ffi_err_message(), "emit to out: 3 headers announced but none given") == 0);

    sh_ffi_record_t r;
    CHECK(sh_ffi_sink_capture_next(ctx, sink, &r) == SH_OK);
    CHECK(r.key_len == 1 && memcmp(r.key, "k", 1) == 0);
    CHECK(r.value_len == 5 && memcmp(r.value, "value", 5) == 0);
    CHECK(r.timestamp == 42 && r.partition == -1);
    CHECK(r.header_count == 2);
    CHECK(strcmp(r.headers[0].name, "h1") == 0 && r.headers[0].value_len == 2 &&
          memcmp(r.headers[0].value, "v1", 2) == 0);
    CHECK(strcmp(r.headers[1].name, "h2") == 0 && r.headers[1].value == NULL);
    CHECK(sh_ffi_sink_capture_next(ctx, sink, &r) == SH_OK);
    CHECK(r.key == NULL && r.value == NULL && r.timestamp == 43 && r.partition == 2);
    /* an empty sink is an answer, not a failure: the last error stays */
    sh_err_set(SH_ERR_LUA, "earlier");
    CHECK(sh_ffi_sink_capture_next(ctx, sink, &r) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_err_code() == SH_ERR_LUA && strcmp(sh_ffi_err_message(), "earlier") == 0);
    CHECK(sh_ffi_sink_capture_next(ctx, 5, &r) == SH_ERR_INVALID);
    CHECK(strcmp(sh_ffi_err_message(), "capture_next from unknown sink 5") == 0);
    sh_ffi_ctx_destroy(ctx);
}

/* Drained blocks are reused: records of every size, a block's earlier
 * contents (headers with values) never showing through a later record. */
static void test_capture_reuse(void) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    int sink = sh_ffi_sink_add(ctx, "out", 0);
    static char big[5000];
    memset(big, 'b', sizeof big);
    sh_ffi_header_t with_value[1] = {{"h", "v", 1}}, without_value[1] = {{"h", NULL, 0}};
    bool ok = true;
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            bool large = i % 7 == 0;
            ok &= sh_ffi_sink_emit(ctx, sink, "k", 1, large ? big : "s", large ? sizeof big : 1, i,
                                   -1, i % 2 ? without_value : with_value, 1) == SH_OK;
        }
        sh_ffi_record_t r;
        for (int i = 0; i < 100; i++) {
            bool large = i % 7 == 0;
            ok &= sh_ffi_sink_capture_next(ctx, sink, &r) == SH_OK;
            ok &= r.timestamp == i && r.key_len == 1 && r.offset == -1;
            ok &= large ? r.value_len == sizeof big && memcmp(r.value, big, sizeof big) == 0
                        : r.value_len == 1 && r.value[0] == 's';
            ok &= r.header_count == 1 && strcmp(r.headers[0].name, "h") == 0;
            ok &= i % 2 ? r.headers[0].value == NULL && r.headers[0].value_len == 0
                        : r.headers[0].value_len == 1 && r.headers[0].value[0] == 'v';
        }
        ok &= sh_ffi_sink_capture_next(ctx, sink, &r) == SH_ERR_NOT_FOUND;
    }
    CHECK(ok);
    sh_ffi_ctx_destroy(ctx);
}

static int queue_full(void *self, int sink, const char *key, size_t key_len, const char *value,
                      size_t value_len, int64_t timestamp, int32_t partition,
                      const sh_ffi_header_t *headers, int32_t header_count) {
    (void)self, (void)sink, (void)key, (void)key_len, (void)value, (void)value_len;
    (void)timestamp, (void)partition, (void)headers, (void)header_count;
    return SH_ERR_QUEUE_FULL; /* and says nothing */
}

/* An output's failure reaches the caller with its code, and a stale message
 * of another failure is never passed off as its reason. */
static void test_output_failure(void) {
    sh_output_t output = {.emit = queue_full, .self = NULL};
    sh_ctx_t *ctx = sh_ctx_new(&output);
    int sink = sh_ffi_sink_add(ctx, "clicks", 0);
    sh_err_set(SH_ERR_STORE, "an older failure");
    CHECK(sh_ffi_sink_emit(ctx, sink, "k", 1, "v", 1, 0, -1, NULL, 0) == SH_ERR_QUEUE_FULL);
    CHECK(sh_ffi_err_code() == SH_ERR_QUEUE_FULL);
    CHECK(strcmp(sh_ffi_err_message(), "emit to clicks: producer queue is full") == 0);
    sh_ffi_ctx_destroy(ctx);
}

static void test_store_declarations(void) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_store_declare(ctx, "counts", SH_STORE_KV, 0, "in", "string", "json") == 0);
    CHECK(sh_ffi_store_declare(ctx, "", SH_STORE_KV, 0, "in", "string", "json") == -1);
    CHECK(sh_ffi_err_code() == SH_ERR_INVALID);
    CHECK(sh_ffi_store_set_window_size(ctx, "counts", 60000) == SH_OK);
    CHECK(sh_ffi_store_set_window_size(ctx, "nope", 60000) == SH_ERR_NOT_FOUND);
    CHECK(strcmp(sh_ffi_err_message(), "set_window_size: no store nope is declared") == 0);
    sh_ffi_ctx_destroy(ctx);
}

int main(void) {
    test_declarations();
    test_capture();
    test_capture_reuse();
    test_output_failure();
    test_store_declarations();
    return check_summary("ctx_test");
}
