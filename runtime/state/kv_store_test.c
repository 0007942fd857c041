/*
 * kv_store_test.c - key-value stores against real RocksDB in a temporary
 * directory: reads, writes and deletes, binary and prefix keys, iterator
 * paging, and stream threads opening their own partitions at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "state/store_test_util.h"

static void test_kv_put_get_delete(void) {
    current_test = "kv put/get/delete";
    sh_store_t *s = open_kv(NULL, "kv", 0);
    CHECK(s != NULL);
    if (!s) return;
    sh_ffi_slice_t out;
    CHECK(get(s, "missing", &out) == SH_ERR_NOT_FOUND);
    CHECK(put(s, "k1", "v1") == SH_OK);
    CHECK(get(s, "k1", &out) == SH_OK && slice_is(out, "v1"));
    CHECK(put(s, "k1", "v2") == SH_OK);
    CHECK(get(s, "k1", &out) == SH_OK && slice_is(out, "v2"));
    /* An empty value is a value, not a delete. */
    CHECK(put(s, "empty", "") == SH_OK);
    CHECK(get(s, "empty", &out) == SH_OK && out.len == 0);
    CHECK(put(s, "k1", NULL) == SH_OK);
    CHECK(get(s, "k1", &out) == SH_ERR_NOT_FOUND);
    /* Binary keys and values with NUL bytes. */
    const char key[] = {'x', 0, 'y'}, value[] = {0, 1, 0};
    CHECK(sh_ffi_store_put(s, key, 3, value, 3, 1) == SH_OK);
    CHECK(sh_ffi_store_get(s, key, 3, &out) == SH_OK && bytes_are(out.data, out.len, value, 3));
    CHECK(sh_ffi_store_get(s, key, 1, &out) == SH_ERR_NOT_FOUND);
    /* Window calls on a key-value store are refused with a reason. */
    CHECK(sh_ffi_window_put(s, "k", 1, 0, "v", 1, 0) == SH_ERR_INVALID);
    CHECK(sh_ffi_err_code() == SH_ERR_INVALID);
    CHECK(
        strstr(sh_ffi_err_message(), "partition 0: a key-value store; window_put does not apply"));
    /* Every failing call says why through the one channel, misuse included. */
    CHECK(sh_ffi_store_get(s, NULL, 3, &out) == SH_ERR_INVALID);
    CHECK(strstr(sh_ffi_err_message(), "store_get: ") == sh_ffi_err_message());
    CHECK(sh_ffi_store_iter_next(NULL, NULL, NULL, NULL) == SH_ERR_INVALID);
    CHECK(strstr(sh_ffi_err_message(), "store_iter_next: ") == sh_ffi_err_message());
    CHECK(sh_ffi_window_fetch(NULL, "k", 1, 0, 1) == NULL && sh_ffi_err_code() == SH_ERR_INVALID);
    sh_ffi_store_close(s);
}

static void test_kv_prefix_keys(void) {
    current_test = "kv prefix keys";
    sh_store_t *s = open_kv(NULL, "prefix", 0);
    CHECK(s != NULL);
    if (!s) return;
    sh_ffi_slice_t out;
    CHECK(put(s, "a", "1") == SH_OK);
    CHECK(put(s, "ab", "2") == SH_OK);
    CHECK(sh_ffi_store_put(s, "a\0", 2, "3", 1, 1) == SH_OK);
    CHECK(put(s, "a", NULL) == SH_OK);
    CHECK(get(s, "a", &out) == SH_ERR_NOT_FOUND);
    CHECK(get(s, "ab", &out) == SH_OK && slice_is(out, "2"));
    CHECK(sh_ffi_store_get(s, "a\0", 2, &out) == SH_OK && slice_is(out, "3"));
    sh_ffi_store_close(s);
}

static void test_kv_paging(void) {
    current_test = "kv iterator paging";
    sh_store_t *s = open_kv(NULL, "paged", 0);
    CHECK(s != NULL);
    if (!s) return;
    for (int i = 0; i < 25; i++) {
        char key[16], value[16];
        snprintf(key, sizeof key, "key%02d", i);
        snprintf(value, sizeof value, "%d", i);
        CHECK(put(s, key, value) == SH_OK);
    }
    char after[32] = "";
    bool have_after = false;
    int seen = 0, pages = 0;
    bool in_order = true;
    for (;;) {
        sh_store_iter_t *it = sh_ffi_store_iter_all(s, have_after ? after : NULL, strlen(after), 0);
        CHECK(it != NULL);
        if (!it) break;
        sh_ffi_slice_t k, v;
        int in_page = 0;
        while (in_page < 10 && sh_ffi_store_iter_next(it, &k, &v, NULL) == SH_OK) {
            char want[16];
            snprintf(want, sizeof want, "key%02d", seen);
            in_order &= slice_is(k, want);
            snprintf(after, sizeof after, "%.*s", (int)k.len, k.data);
            have_after = true;
            in_page++;
            seen++;
        }
        sh_ffi_store_iter_destroy(it);
        if (in_page == 0) break;
        pages++;
    }
    CHECK(seen == 25);
    CHECK(in_order);
    CHECK(pages == 3);
    sh_ffi_store_close(s);
}

struct writer {
    int32_t partition;
    int failures;
};

static void *write_partition(void *arg) {
    struct writer *w = arg;
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    for (int round = 0; round < 5; round++) {
        sh_store_t *s =
            sh_ffi_store_open(ctx, state_dir, "app", "threads", SH_STORE_KV, w->partition, 0);
        if (!s) {
            w->failures++;
            continue;
        }
        for (int i = 0; i < 200; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            w->failures += put(s, key, "v") != SH_OK;
        }
        sh_store_iter_t *it = sh_ffi_store_iter_all(s, NULL, 0, 0);
        sh_ffi_store_close(s);
        int count = 0;
        while (it && sh_ffi_store_iter_next(it, NULL, NULL, NULL) == SH_OK)
            count++;
        w->failures += count != 200;
        sh_ffi_store_iter_destroy(it);
    }
    sh_ffi_ctx_destroy(ctx);
    return NULL;
}

static void test_threads(void) {
    current_test = "stream threads open their own partitions";
    pthread_t threads[4];
    struct writer writers[4];
    for (int i = 0; i < 4; i++) {
        writers[i] = (struct writer){.partition = i};
        CHECK(pthread_create(&threads[i], NULL, write_partition, &writers[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(writers[i].failures == 0);
    }
}

int main(void) {
    store_test_begin();
    test_kv_put_get_delete();
    test_kv_prefix_keys();
    test_kv_paging();
    test_threads();
    return store_test_end("kv_store_test");
}
