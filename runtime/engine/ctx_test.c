/*
 * ctx_test.c - the processing context: source and sink declarations, and
 * the capture output the test driver reads.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "engine/ctx.h"

#include "base/check.h"

static void test_declarations(void) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_source_add(ctx, "a") == 0);
    CHECK(sh_ffi_source_add(ctx, "b") == 1);
    CHECK(sh_ffi_source_add(ctx, "a") == 0);
    CHECK(sh_ffi_source_add(ctx, "") == -1);
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
    CHECK(sh_ffi_emit(ctx, sink, "k", 1, "value", 5, 42, -1, headers, 2) == SH_OK);
    CHECK(sh_ffi_emit(ctx, sink, NULL, 0, NULL, 0, 43, 2, NULL, 0) == SH_OK);
    CHECK(sh_ffi_emit(ctx, 7, "k", 1, "v", 1, 0, -1, NULL, 0) == SH_ERR_INVALID);
    CHECK(strstr(sh_ffi_ctx_errmsg(ctx), "unknown sink 7") != NULL);

    sh_ffi_record_t r;
    CHECK(sh_ffi_capture_next(ctx, sink, &r) == 1);
    CHECK(r.key_len == 1 && memcmp(r.key, "k", 1) == 0);
    CHECK(r.value_len == 5 && memcmp(r.value, "value", 5) == 0);
    CHECK(r.timestamp == 42 && r.partition == -1);
    CHECK(r.header_count == 2);
    CHECK(strcmp(r.headers[0].name, "h1") == 0 && r.headers[0].value_len == 2 &&
          memcmp(r.headers[0].value, "v1", 2) == 0);
    CHECK(strcmp(r.headers[1].name, "h2") == 0 && r.headers[1].value == NULL);
    CHECK(sh_ffi_capture_next(ctx, sink, &r) == 1);
    CHECK(r.key == NULL && r.value == NULL && r.timestamp == 43 && r.partition == 2);
    CHECK(sh_ffi_capture_next(ctx, sink, &r) == 0);
    CHECK(sh_ffi_capture_next(ctx, 5, &r) == 0);
    sh_ffi_ctx_destroy(ctx);
}

static void test_errors(void) {
    for (int i = 0; i < SH_ERR__COUNT; i++) {
        CHECK(strncmp(sh_ffi_err_name(i), "SH_", 3) == 0);
        CHECK(strlen(sh_ffi_err_describe(i)) > 0);
    }
    CHECK(strcmp(sh_ffi_err_name(999), "SH_ERR_UNKNOWN") == 0);
}

int main(void) {
    test_declarations();
    test_capture();
    test_errors();
    return check_summary("ctx_test");
}
