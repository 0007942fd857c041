/*
 * store_test.c - the state-store layer against real RocksDB in a temporary
 * directory: key-value and window reads and writes, key encoding, retention,
 * iterator paging, checkpoints and rebuilds, and the changelog records every
 * write emits (read back through a capture context).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "engine/ctx.h"
#include "state/store.h"

static int passed, failed;
static const char *current_test;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: %s: CHECK failed: %s\n", __FILE__, __LINE__, current_test,     \
                    #cond);                                                                        \
        }                                                                                          \
    } while (0)

#define MINUTE 60000LL

static char state_dir[256];

static bool slice_is(sh_ffi_slice_t s, const char *text) {
    return s.len == strlen(text) && memcmp(s.data, text, s.len) == 0;
}

static bool bytes_are(const char *data, size_t len, const char *want, size_t want_len) {
    return data && len == want_len && memcmp(data, want, len) == 0;
}

static int put(sh_store_t *s, const char *key, const char *value) {
    return sh_ffi_store_put(s, key, strlen(key), value, value ? strlen(value) : 0, 1);
}

static int get(sh_store_t *s, const char *key, sh_ffi_slice_t *out) {
    return sh_ffi_store_get(s, key, strlen(key), out);
}

static int wput(sh_store_t *s, const char *key, int64_t start, const char *value, int64_t ts) {
    return sh_ffi_window_put(s, key, strlen(key), start, value, value ? strlen(value) : 0, ts);
}

static sh_store_t *open_kv(sh_ctx_t *ctx, const char *name, int32_t partition) {
    sh_store_t *s =
        sh_ffi_store_open(ctx, state_dir, ctx ? "app" : NULL, name, SH_STORE_KV, partition, 0);
    if (!s && ctx) fprintf(stderr, "open %s: %s\n", name, sh_ffi_err_message());
    return s;
}

static sh_store_t *open_window(sh_ctx_t *ctx, const char *name, int64_t retention) {
    sh_store_t *s =
        sh_ffi_store_open(ctx, state_dir, ctx ? "app" : NULL, name, SH_STORE_WINDOW, 0, retention);
    if (!s && ctx) fprintf(stderr, "open %s: %s\n", name, sh_ffi_err_message());
    return s;
}

/* Collects a fetch as "start=value;..." (start in minutes) for easy comparison. */
static void fetch_text(sh_store_t *s, const char *key, int64_t from, int64_t to, char *out,
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

static void test_window_fetch_order_and_range(void) {
    current_test = "window fetch order and range";
    sh_store_t *s = open_window(NULL, "win", 60 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    /* Written out of order, across several segments (interval 30 min). */
    int64_t starts[] = {50, 10, 30, 0, 20, 40, 45};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++) {
        char value[16];
        snprintf(value, sizeof value, "v%lld", (long long)starts[i]);
        CHECK(wput(s, "k", starts[i] * MINUTE, value, 55 * MINUTE) == SH_OK);
    }
    CHECK(wput(s, "other", 20 * MINUTE, "o", 55 * MINUTE) == SH_OK);
    char text[512];
    fetch_text(s, "k", 0, 100 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "0=v0;10=v10;20=v20;30=v30;40=v40;45=v45;50=v50;") == 0);
    /* Both bounds inclusive. */
    fetch_text(s, "k", 10 * MINUTE, 40 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "10=v10;20=v20;30=v30;40=v40;") == 0);
    fetch_text(s, "k", 10 * MINUTE + 1, 40 * MINUTE - 1, text, sizeof text);
    CHECK(strcmp(text, "20=v20;30=v30;") == 0);
    fetch_text(s, "k", 41 * MINUTE, 44 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "") == 0);
    fetch_text(s, "k", 40 * MINUTE, 10 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "") == 0);
    fetch_text(s, "nobody", 0, 100 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "") == 0);

    sh_ffi_slice_t out;
    CHECK(sh_ffi_window_get(s, "k", 1, 30 * MINUTE, &out) == SH_OK && slice_is(out, "v30"));
    CHECK(sh_ffi_window_get(s, "k", 1, 31 * MINUTE, &out) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_window_get(s, "other", 5, 20 * MINUTE, &out) == SH_OK && slice_is(out, "o"));
    /* Delete one window. */
    CHECK(wput(s, "k", 30 * MINUTE, NULL, 55 * MINUTE) == SH_OK);
    CHECK(sh_ffi_window_get(s, "k", 1, 30 * MINUTE, &out) == SH_ERR_NOT_FOUND);
    fetch_text(s, "k", 20 * MINUTE, 40 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "20=v20;40=v40;") == 0);
    /* Key-value calls on a window store are refused. */
    CHECK(sh_ffi_store_get(s, "k", 1, &out) == SH_ERR_INVALID);
    sh_ffi_store_close(s);
}

static void test_window_prefix_keys(void) {
    current_test = "window prefix keys";
    sh_store_t *s = open_window(NULL, "winprefix", 60 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    /* With plain key + start concatenation, "a" at start X and "a\0..." or
     * "ab" would share prefixes and a fetch of "a" would see them. */
    CHECK(wput(s, "a", 1 * MINUTE, "a1", 10 * MINUTE) == SH_OK);
    CHECK(wput(s, "a", 3 * MINUTE, "a3", 10 * MINUTE) == SH_OK);
    CHECK(wput(s, "ab", 2 * MINUTE, "ab2", 10 * MINUTE) == SH_OK);
    CHECK(sh_ffi_window_put(s, "a\0", 2, 2 * MINUTE, "a0", 2, 10 * MINUTE) == SH_OK);
    CHECK(sh_ffi_window_put(s, "", 0, 2 * MINUTE, "e", 1, 10 * MINUTE) == SH_OK);
    char text[256];
    fetch_text(s, "a", 0, 10 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "1=a1;3=a3;") == 0);
    fetch_text(s, "ab", 0, 10 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "2=ab2;") == 0);
    fetch_text(s, "", 0, 10 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "2=e;") == 0);
    sh_store_iter_t *it = sh_ffi_window_fetch(s, "a\0", 2, 0, 10 * MINUTE);
    sh_ffi_slice_t k, v;
    int64_t start = -1;
    CHECK(it && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK &&
          bytes_are(k.data, k.len, "a\0", 2) && slice_is(v, "a0") && start == 2 * MINUTE);
    CHECK(it && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_ERR_NOT_FOUND);
    sh_ffi_store_iter_destroy(it);
    sh_ffi_store_close(s);
}

static int count_column_families(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/0/db", state_dir, name);
    rocksdb_options_t *options = rocksdb_options_create();
    size_t count = 0;
    char *err = NULL;
    char **names = rocksdb_list_column_families(options, path, &count, &err);
    rocksdb_options_destroy(options);
    if (err) {
        free(err);
        return -1;
    }
    rocksdb_list_column_families_destroy(names, count);
    return (int)count;
}

static void test_window_retention(void) {
    current_test = "window retention";
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    int64_t retention = 10 * MINUTE; /* size 8 min + grace 2 min, say */
    sh_store_t *s = open_window(ctx, "retained", retention);
    CHECK(s != NULL);
    if (!s) return;
    int sink = sh_ffi_sink_add(ctx, "app-retained-changelog", 0);
    sh_ffi_slice_t out;
    CHECK(wput(s, "k", 0, "old", 1 * MINUTE) == SH_OK);
    CHECK(wput(s, "k", 5 * MINUTE, "mid", 6 * MINUTE) == SH_OK);
    CHECK(sh_ffi_window_get(s, "k", 1, 0, &out) == SH_OK);
    /* Stream time 10 min: the window at 0 has closed (0 <= 10 - 10). */
    CHECK(wput(s, "k", 9 * MINUTE, "new", 10 * MINUTE) == SH_OK);
    CHECK(sh_ffi_store_stream_time(s) == 10 * MINUTE);
    CHECK(sh_ffi_window_get(s, "k", 1, 0, &out) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_window_get(s, "k", 1, 5 * MINUTE, &out) == SH_OK && slice_is(out, "mid"));
    char text[256];
    fetch_text(s, "k", 0, 20 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "5=mid;9=new;") == 0);
    /* A late put to a closed window is skipped, counted, and not logged. */
    sh_ffi_record_t rec;
    while (sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_OK) {
    }
    CHECK(wput(s, "k", 0, "late", 10 * MINUTE) == SH_OK);
    CHECK(sh_ffi_store_expired_count(s) == 1);
    CHECK(sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_window_get(s, "k", 1, 0, &out) == SH_ERR_NOT_FOUND);

    /* An endless stream: an hour of windows per minute for two days of
     * stream time. Segments (5 min here, half the retention) are dropped as
     * they close, so only about retention / interval of them stay. */
    int failed_puts = 0, most_segments = 0;
    for (int64_t minute = 10; minute < 2 * 24 * 60; minute++) {
        for (int key = 0; key < 3; key++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", key);
            failed_puts += wput(s, k, minute * MINUTE, "x", minute * MINUTE) != SH_OK;
        }
        if (sh_store_segment_count(s) > most_segments) most_segments = sh_store_segment_count(s);
    }
    CHECK(failed_puts == 0);
    CHECK(most_segments <= retention / sh_store_segment_interval(s) + 1);
    CHECK(sh_store_segment_count(s) <= retention / sh_store_segment_interval(s) + 1);
    fetch_text(s, "k0", 0, INT64_MAX, text, sizeof text);
    CHECK(strcmp(text, "2870=x;2871=x;2872=x;2873=x;2874=x;2875=x;2876=x;2877=x;2878=x;2879=x;") ==
          0);
    sh_ffi_store_close(s);
    int families = count_column_families("retained");
    CHECK(families > 0 && families <= 2 + retention / MINUTE + 1);

    /* Reopened, stream time is where it was, so nothing closed comes back
     * and the retained windows are still there. */
    s = open_window(ctx, "retained", retention);
    CHECK(s != NULL);
    if (s) {
        fetch_text(s, "k1", 0, INT64_MAX, text, sizeof text);
        CHECK(strstr(text, "2870=x;") != NULL && strstr(text, "2869=") == NULL);
        sh_ffi_store_close(s);
    }
    sh_ffi_ctx_destroy(ctx);
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

static void test_window_paging(void) {
    current_test = "window iterator paging";
    sh_store_t *s = open_window(NULL, "winpaged", 10 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    for (int minute = 0; minute < 4; minute++)
        for (int key = 0; key < 5; key++) {
            char k[16];
            snprintf(k, sizeof k, "k%d", key);
            CHECK(wput(s, k, minute * MINUTE, "v", 4 * MINUTE) == SH_OK);
        }
    char after[8] = "";
    int64_t after_start = 0;
    bool have_after = false;
    int seen = 0, unique = 0;
    char seen_marks[5][4] = {{0}};
    for (;;) {
        sh_store_iter_t *it =
            sh_ffi_store_iter_all(s, have_after ? after : NULL, strlen(after), after_start);
        CHECK(it != NULL);
        if (!it) break;
        sh_ffi_slice_t k, v;
        int64_t start;
        int in_page = 0;
        while (in_page < 7 && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK) {
            int key = k.data[1] - '0', minute = (int)(start / MINUTE);
            if (key >= 0 && key < 5 && minute >= 0 && minute < 4 && !seen_marks[key][minute]++)
                unique++;
            snprintf(after, sizeof after, "%.*s", (int)k.len, k.data);
            after_start = start;
            have_after = true;
            in_page++;
            seen++;
        }
        sh_ffi_store_iter_destroy(it);
        if (in_page == 0) break;
    }
    CHECK(seen == 20);
    CHECK(unique == 20);
    sh_ffi_store_close(s);
}

static void test_window_paging_across_drop(void) {
    current_test = "window paging across a dropped segment";
    sh_store_t *s = open_window(NULL, "windrop", 2 * MINUTE); /* 1-minute segments */
    CHECK(s != NULL);
    if (!s) return;
    CHECK(wput(s, "b", 0, "old", 0) == SH_OK);
    CHECK(wput(s, "a", 1 * MINUTE, "a1", 1 * MINUTE) == SH_OK);
    CHECK(wput(s, "c", 1 * MINUTE, "c1", 1 * MINUTE) == SH_OK);
    /* The page ended at ("b", 0); then its segment was dropped. Resuming must
     * not skip "a", which sorts before "b" in the next segment. */
    CHECK(wput(s, "z", 2 * MINUTE, "z2", 2 * MINUTE) == SH_OK);
    sh_store_iter_t *it = sh_ffi_store_iter_all(s, "b", 1, 0);
    CHECK(it != NULL);
    char text[128] = "";
    size_t n = 0;
    sh_ffi_slice_t k, v;
    int64_t start;
    while (it && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK)
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s@%lld;", (int)k.len, k.data,
                              (long long)(start / MINUTE));
    sh_ffi_store_iter_destroy(it);
    CHECK(strcmp(text, "a@1;c@1;z@2;") == 0);
    sh_ffi_store_close(s);
}

static void test_restore_drops_expired(void) {
    current_test = "restore drops expired windows";
    sh_store_t *s = open_window(NULL, "winrestore", 5 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    /* Changelog records as emitted: key, then the start in 8 big-endian bytes. */
    char key[9] = {'k'};
    int64_t starts[] = {100, 0, 101};
    for (int i = 0; i < 3; i++) {
        uint64_t start = (uint64_t)(starts[i] * MINUTE);
        for (int b = 0; b < 8; b++)
            key[1 + b] = (char)(start >> (56 - 8 * b));
        CHECK(sh_store_restore_put(s, key, sizeof key, "v", 1) == SH_OK);
    }
    char text[128];
    fetch_text(s, "k", 0, INT64_MAX, text, sizeof text);
    CHECK(strcmp(text, "100=v;101=v;") == 0);
    CHECK(sh_store_segment_count(s) == 1); /* 100 and 101 min share a 2.5-min segment */
    sh_ffi_store_close(s);
}

/* Every entry of a store as "key@start=value;" text. */
static void listing(sh_store_t *s, char *out, size_t size) {
    size_t n = 0;
    out[0] = 0;
    sh_store_iter_t *it = sh_ffi_store_iter_all(s, NULL, 0, 0);
    sh_ffi_slice_t k, v;
    int64_t start = 0;
    while (it && n < size && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK)
        n += (size_t)snprintf(out + n, size - n, "%.*s@%lld=%.*s;", (int)k.len, k.data,
                              (long long)start, (int)v.len, v.data);
    sh_ffi_store_iter_destroy(it);
}

/* Writes through one store, then restores its captured changelog into a
 * second in batches: both must list the same entries. */
static void check_batch_restore(int kind) {
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    const char *name = kind == SH_STORE_KV ? "batchkv" : "batchwin";
    char copy_name[32];
    snprintf(copy_name, sizeof copy_name, "%scopy", name);
    sh_store_t *source = sh_ffi_store_open(ctx, state_dir, "app", name, kind, 0, 10 * MINUTE);
    sh_store_t *copy = sh_ffi_store_open(NULL, state_dir, NULL, copy_name, kind, 0, 10 * MINUTE);
    CHECK(source && copy);
    if (!source || !copy) return;
    for (int minute = 0; minute < 30; minute++)
        for (int key = 0; key < 5; key++) {
            char k[16], v[16];
            snprintf(k, sizeof k, "k%d", key);
            snprintf(v, sizeof v, "%d", minute * 10 + key);
            bool drop = (minute + key) % 4 == 0;
            int rc = kind == SH_STORE_KV ? put(source, k, drop ? NULL : v)
                                         : wput(source, k, minute * MINUTE, v, minute * MINUTE + 1);
            if (kind == SH_STORE_WINDOW && drop && minute > 0)
                rc |= wput(source, k, (minute - 1) * MINUTE, NULL, minute * MINUTE + 1);
            CHECK(rc == SH_OK);
        }
    int sink = sh_ffi_sink_add(ctx, sh_store_changelog_topic(source), 0);
    enum { chunk = 7 };
    sh_ffi_record_t batch[chunk];
    char bytes[chunk][64];
    int in_batch = 0, restored = 0, failures = 0;
    for (;;) {
        sh_ffi_record_t rec;
        int more = sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_OK;
        if (more) {
            /* capture_next's record lives only until the next call: copy it. */
            char *p = bytes[in_batch];
            memcpy(p, rec.key, rec.key_len);
            if (rec.value) memcpy(p + rec.key_len, rec.value, rec.value_len);
            batch[in_batch] = rec;
            batch[in_batch].key = p;
            batch[in_batch].value = rec.value ? p + rec.key_len : NULL;
            in_batch++;
        }
        if (in_batch == chunk || (!more && in_batch)) {
            failures += sh_store_restore_batch(copy, batch, in_batch) != SH_OK;
            restored += in_batch;
            in_batch = 0;
        }
        if (!more) break;
    }
    CHECK(failures == 0);
    CHECK(restored >= 150);
    static char want[16384], got[16384];
    listing(source, want, sizeof want);
    listing(copy, got, sizeof got);
    CHECK(strlen(want) > 20 && strcmp(want, got) == 0);
    sh_ffi_store_close(source);
    sh_ffi_store_close(copy);
    sh_ffi_ctx_destroy(ctx);
}

/* A batch that repeats keys ends with each key's last record, a tombstone
 * last deleting it. */
static void test_restore_batch_repeats(void) {
    current_test = "batch restore with repeated keys";
    sh_store_t *s = open_kv(NULL, "repeats", 0);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(put(s, "c", "old") == SH_OK);
    sh_ffi_record_t batch[] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1, .offset = 0},
        {.key = "b", .key_len = 1, .value = "2", .value_len = 1, .offset = 1},
        {.key = "a", .key_len = 1, .value = "3", .value_len = 1, .offset = 2},
        {.key = "b", .key_len = 1, .value = NULL, .value_len = 0, .offset = 3},
        {.key = "c", .key_len = 1, .value = NULL, .value_len = 0, .offset = 4},
        {.key = "c", .key_len = 1, .value = "new", .value_len = 3, .offset = 5},
    };
    CHECK(sh_store_restore_batch(s, batch, 6) == SH_OK);
    sh_ffi_slice_t out;
    CHECK(get(s, "a", &out) == SH_OK && slice_is(out, "3"));
    CHECK(get(s, "b", &out) == SH_ERR_NOT_FOUND);
    CHECK(get(s, "c", &out) == SH_OK && slice_is(out, "new"));
    sh_ffi_store_close(s);
}

static void test_restore_batch(void) {
    current_test = "batch restore of a key-value store";
    check_batch_restore(SH_STORE_KV);
    current_test = "batch restore of a window store";
    check_batch_restore(SH_STORE_WINDOW);
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

static void test_changelog(void) {
    current_test = "changelog emits";
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    sh_store_t *kv = sh_ffi_store_open(ctx, state_dir, "myapp", "counts", SH_STORE_KV, 3, 0);
    sh_store_t *win =
        sh_ffi_store_open(ctx, state_dir, "myapp", "hourly", SH_STORE_WINDOW, 3, 10 * MINUTE);
    CHECK(kv && win);
    if (!kv || !win) return;
    CHECK(strcmp(sh_store_changelog_topic(kv), "myapp-counts-changelog") == 0);
    int kv_sink = -1, win_sink = -1;
    for (int i = 0; i < sh_ffi_sink_count(ctx); i++) {
        if (strcmp(sh_ffi_sink_name(ctx, i), "myapp-counts-changelog") == 0) kv_sink = i;
        if (strcmp(sh_ffi_sink_name(ctx, i), "myapp-hourly-changelog") == 0) win_sink = i;
    }
    CHECK(kv_sink >= 0 && win_sink >= 0);

    CHECK(sh_ffi_store_put(kv, "word", 4, "7", 1, 1234) == SH_OK);
    CHECK(sh_ffi_store_put(kv, "word", 4, NULL, 0, 1235) == SH_OK);
    CHECK(sh_ffi_window_put(win, "page", 4, 2 * MINUTE, "3", 1, 2 * MINUTE + 5) == SH_OK);

    sh_ffi_record_t rec;
    CHECK(sh_ffi_sink_capture_next(ctx, kv_sink, &rec) == SH_OK &&
          bytes_are(rec.key, rec.key_len, "word", 4) &&
          bytes_are(rec.value, rec.value_len, "7", 1) && rec.partition == 3 &&
          rec.timestamp == 1234);
    CHECK(sh_ffi_sink_capture_next(ctx, kv_sink, &rec) == SH_OK &&
          bytes_are(rec.key, rec.key_len, "word", 4) && rec.value == NULL && rec.partition == 3 &&
          rec.timestamp == 1235);
    CHECK(sh_ffi_sink_capture_next(ctx, kv_sink, &rec) == SH_ERR_NOT_FOUND);
    /* Windowed changelog key: the key, then the start as 8 big-endian bytes. */
    const char windowed[] = {'p', 'a', 'g', 'e', 0, 0, 0, 0, 0, 0x01, (char)0xd4, (char)0xc0};
    CHECK(sh_ffi_sink_capture_next(ctx, win_sink, &rec) == SH_OK &&
          bytes_are(rec.key, rec.key_len, windowed, sizeof windowed) &&
          bytes_are(rec.value, rec.value_len, "3", 1) && rec.partition == 3 &&
          rec.timestamp == 2 * MINUTE + 5);
    /* Keep the records to restore from. */
    CHECK(sh_ffi_store_put(kv, "other", 5, "9", 1, 1236) == SH_OK);
    CHECK(sh_ffi_sink_capture_next(ctx, kv_sink, &rec) == SH_OK);
    char restored_key[16];
    size_t restored_key_len = rec.key_len;
    memcpy(restored_key, rec.key, rec.key_len);
    sh_ffi_store_close(kv);
    sh_ffi_store_close(win);

    /* Restoring applies records without emitting them again. */
    sh_store_t *fresh = sh_ffi_store_open(ctx, state_dir, "myapp", "restored", SH_STORE_KV, 3, 0);
    sh_store_t *fresh_win =
        sh_ffi_store_open(ctx, state_dir, "myapp", "restoredwin", SH_STORE_WINDOW, 3, 10 * MINUTE);
    CHECK(fresh && fresh_win);
    if (fresh && fresh_win) {
        int sink = sh_ffi_sink_add(ctx, "myapp-restored-changelog", 0);
        int win_restore_sink = sh_ffi_sink_add(ctx, "myapp-restoredwin-changelog", 0);
        CHECK(sh_store_restore_put(fresh, restored_key, restored_key_len, "9", 1) == SH_OK);
        CHECK(sh_store_restore_put(fresh_win, windowed, sizeof windowed, "3", 1) == SH_OK);
        CHECK(sh_store_restore_put(fresh_win, "abc", 3, "3", 1) == SH_ERR_DECODE);
        sh_ffi_slice_t out;
        CHECK(sh_ffi_store_get(fresh, "other", 5, &out) == SH_OK && slice_is(out, "9"));
        CHECK(sh_ffi_window_get(fresh_win, "page", 4, 2 * MINUTE, &out) == SH_OK &&
              slice_is(out, "3"));
        CHECK(sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_ERR_NOT_FOUND);
        CHECK(sh_ffi_sink_capture_next(ctx, win_restore_sink, &rec) == SH_ERR_NOT_FOUND);
    }
    sh_ffi_store_close(fresh);
    sh_ffi_store_close(fresh_win);
    sh_ffi_ctx_destroy(ctx);
}

/* put_many: the record cache's flush, one write batch; the changelog gets
 * every record, in order, with its timestamp. */
static void test_put_many(void) {
    current_test = "put_many writes and emits in order";
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    sh_store_t *kv = sh_ffi_store_open(ctx, state_dir, "myapp", "many", SH_STORE_KV, 1, 0);
    sh_store_t *win =
        sh_ffi_store_open(ctx, state_dir, "myapp", "manywin", SH_STORE_WINDOW, 1, 10 * MINUTE);
    CHECK(kv && win);
    if (!kv || !win) return;
    int sink = -1;
    for (int i = 0; i < sh_ffi_sink_count(ctx); i++)
        if (strcmp(sh_ffi_sink_name(ctx, i), "myapp-many-changelog") == 0) sink = i;
    CHECK(put(kv, "gone", "1") == SH_OK);
    sh_ffi_record_t rec;
    while (sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_OK) {
    }
    sh_ffi_record_t records[3] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1, .timestamp = 10},
        {.key = "b", .key_len = 1, .value = "22", .value_len = 2, .timestamp = 11},
        {.key = "gone", .key_len = 4, .value = NULL, .value_len = 0, .timestamp = 12},
    };
    CHECK(sh_ffi_store_put_many(kv, records, 3) == SH_OK);
    CHECK(sh_ffi_store_put_many(kv, records, 0) == SH_OK);
    sh_ffi_slice_t out;
    CHECK(sh_ffi_store_get(kv, "a", 1, &out) == SH_OK && slice_is(out, "1"));
    CHECK(sh_ffi_store_get(kv, "b", 1, &out) == SH_OK && slice_is(out, "22"));
    CHECK(sh_ffi_store_get(kv, "gone", 4, &out) == SH_ERR_NOT_FOUND);
    for (int i = 0; i < 3; i++) {
        const sh_ffi_record_t *want = &records[i];
        CHECK(sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_OK &&
              bytes_are(rec.key, rec.key_len, want->key, want->key_len) &&
              rec.timestamp == want->timestamp && rec.partition == 1);
        bool value_ok = want->value
                            ? bytes_are(rec.value, rec.value_len, want->value, want->value_len)
                            : rec.value == NULL;
        CHECK(value_ok);
    }
    CHECK(sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_store_put_many(win, records, 1) == SH_ERR_INVALID); /* not a window store's */
    CHECK(sh_ffi_store_put_many(kv, NULL, 1) == SH_ERR_INVALID);
    sh_ffi_store_close(kv);
    sh_ffi_store_close(win);
    sh_ffi_ctx_destroy(ctx);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_checkpoints(void) {
    current_test = "checkpoints";
    char path[512];
    snprintf(path, sizeof path, "%s/ckpt/0/checkpoint", state_dir);
    sh_store_t *s = open_kv(NULL, "ckpt", 0);
    CHECK(s != NULL);
    if (!s) return;
    int64_t offset = 99;
    /* A store with no checkpoint is rebuilt from the start. */
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    CHECK(put(s, "k", "v") == SH_OK);
    CHECK(sh_store_checkpoint_write(s, 41) == SH_OK);
    CHECK(sh_store_checkpoint_write(s, 42) == SH_OK);
    sh_ffi_store_close(s);

    s = open_kv(NULL, "ckpt", 0);
    CHECK(s != NULL);
    if (!s) return;
    sh_ffi_slice_t out;
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == 42);
    CHECK(get(s, "k", &out) == SH_OK && slice_is(out, "v"));

    /* A checkpoint altered on disk does not verify: wiped, rebuild from -1. */
    sh_ffi_store_close(s);
    FILE *f = fopen(path, "r+");
    CHECK(f != NULL);
    if (f) {
        fseek(f, 31, SEEK_SET); /* the first digit of the offset */
        fputc('7', f);
        fclose(f);
    }
    s = open_kv(NULL, "ckpt", 0);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    CHECK(get(s, "k", &out) == SH_ERR_NOT_FOUND);

    /* A torn checkpoint (cut short) likewise. */
    CHECK(put(s, "k", "v") == SH_OK);
    CHECK(sh_store_checkpoint_write(s, 7) == SH_OK);
    CHECK(truncate(path, 20) == 0);
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    CHECK(get(s, "k", &out) == SH_ERR_NOT_FOUND);

    /* Removed (exactly-once start): the next read rebuilds. */
    CHECK(put(s, "k", "v") == SH_OK);
    CHECK(sh_store_checkpoint_write(s, 8) == SH_OK);
    CHECK(sh_store_checkpoint_remove(s) == SH_OK);
    CHECK(access(path, F_OK) != 0);
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    CHECK(get(s, "k", &out) == SH_ERR_NOT_FOUND);

    /* A wipe is refused while an iterator reads the database. */
    CHECK(sh_store_checkpoint_write(s, 9) == SH_OK);
    write_file(path, "garbage\n");
    sh_store_iter_t *it = sh_ffi_store_iter_all(s, NULL, 0, 0);
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_ERR_STORE);
    sh_ffi_store_iter_destroy(it);
    CHECK(sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    sh_ffi_store_close(s);

    /* The database deleted beside its checkpoint: the checkpoint is not
     * trusted for a database made anew. */
    s = open_kv(NULL, "ckpt", 0);
    CHECK(s && put(s, "k", "v") == SH_OK && sh_store_checkpoint_write(s, 50) == SH_OK);
    sh_ffi_store_close(s);
    char db[512];
    snprintf(db, sizeof db, "%s/ckpt/0/db", state_dir);
    CHECK(sh_store_remove_tree(db) == SH_OK);
    s = open_kv(NULL, "ckpt", 0);
    CHECK(s && sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    sh_ffi_store_close(s);
}

/* RocksDB's IDENTITY file: a new one for every database made from nothing. */
static void identity_of(const char *name, char *out, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/0/db/IDENTITY", state_dir, name);
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    size_t n = fread(out, 1, len - 1, f);
    out[n] = 0;
    fclose(f);
}

/* A database just made has no checkpoint and nothing in it: the restore
 * reads it as it is instead of wiping and reopening it; one written since
 * is still wiped. */
static void test_fresh_store_not_wiped(void) {
    current_test = "a fresh store is not wiped for a missing checkpoint";
    char before[128], after[128];
    int64_t offset = 99;
    sh_store_t *kv = open_kv(NULL, "freshkv", 0);
    sh_store_t *win = open_window(NULL, "freshwin", 5 * MINUTE);
    CHECK(kv && win);
    if (!kv || !win) return;
    identity_of("freshkv", before, sizeof before);
    CHECK(sh_store_checkpoint_read(kv, &offset) == SH_OK && offset == -1);
    identity_of("freshkv", after, sizeof after);
    CHECK(before[0] && strcmp(before, after) == 0);
    identity_of("freshwin", before, sizeof before);
    CHECK(sh_store_checkpoint_read(win, &offset) == SH_OK && offset == -1);
    identity_of("freshwin", after, sizeof after);
    CHECK(before[0] && strcmp(before, after) == 0);

    CHECK(put(kv, "k", "v") == SH_OK);
    identity_of("freshkv", before, sizeof before);
    CHECK(sh_store_checkpoint_read(kv, &offset) == SH_OK && offset == -1);
    identity_of("freshkv", after, sizeof after);
    CHECK(strcmp(before, after) != 0);
    sh_ffi_slice_t out;
    CHECK(get(kv, "k", &out) == SH_ERR_NOT_FOUND);
    sh_ffi_store_close(kv);
    sh_ffi_store_close(win);
}

static void test_corrupt_database(void) {
    current_test = "corrupt database";
    sh_store_t *s = open_kv(NULL, "corrupt", 0);
    CHECK(s && put(s, "k", "v") == SH_OK && sh_store_checkpoint_write(s, 5) == SH_OK);
    sh_ffi_store_close(s);
    /* Point CURRENT at a manifest that is garbage. */
    char path[512];
    snprintf(path, sizeof path, "%s/corrupt/0/db/MANIFEST-999999", state_dir);
    write_file(path, "not a manifest, not at all, definitely corrupt bytes");
    snprintf(path, sizeof path, "%s/corrupt/0/db/CURRENT", state_dir);
    write_file(path, "MANIFEST-999999\n");
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    s = sh_ffi_store_open(ctx, state_dir, "app", "corrupt", SH_STORE_KV, 0, 0);
    CHECK(s != NULL);
    if (!s) fprintf(stderr, "  %s\n", sh_ffi_err_message());
    int64_t offset = 0;
    sh_ffi_slice_t out;
    CHECK(s && sh_store_checkpoint_read(s, &offset) == SH_OK && offset == -1);
    CHECK(s && get(s, "k", &out) == SH_ERR_NOT_FOUND);
    sh_ffi_store_close(s);
    sh_ffi_ctx_destroy(ctx);
}

static void test_shared_and_kind(void) {
    current_test = "shared opens and kinds";
    sh_ctx_t *old_vm = sh_ffi_ctx_new_capture(), *new_vm = sh_ffi_ctx_new_capture();
    sh_store_t *a = open_kv(old_vm, "shared", 1);
    sh_store_t *b = open_kv(new_vm, "shared", 1);
    CHECK(a && b && sh_store_database(a) == sh_store_database(b));
    sh_ffi_slice_t out;
    CHECK(a && put(a, "k", "v") == SH_OK);
    sh_store_iter_t *it = a ? sh_ffi_store_iter_all(a, NULL, 0, 0) : NULL;
    sh_ffi_store_close(a);
    CHECK(b && get(b, "k", &out) == SH_OK && slice_is(out, "v"));
    sh_ffi_store_close(b);
    /* The iterator keeps the database open after both handles closed. */
    sh_ffi_slice_t k, v;
    CHECK(it && sh_ffi_store_iter_next(it, &k, &v, NULL) == SH_OK && slice_is(k, "k"));
    sh_ffi_store_iter_destroy(it);

    CHECK(sh_store_delete_state(state_dir, "shared", 1) == SH_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/shared/1", state_dir);
    CHECK(access(path, F_OK) != 0);

    a = open_kv(old_vm, "kinded", 0);
    CHECK(sh_store_delete_state(state_dir, "kinded", 0) == SH_ERR_INVALID);
    sh_ffi_store_close(a);
    sh_store_t *w =
        sh_ffi_store_open(old_vm, state_dir, "app", "kinded", SH_STORE_WINDOW, 0, MINUTE);
    CHECK(w == NULL && strstr(sh_ffi_err_message(), "key-value store") != NULL);
    sh_ffi_store_close(w);
    CHECK(sh_ffi_store_open(old_vm, state_dir, "app", "../escape", SH_STORE_KV, 0, 0) == NULL);
    CHECK(sh_ffi_store_open(old_vm, state_dir, "app", "win", SH_STORE_WINDOW, 0, 0) == NULL);
    sh_ffi_ctx_destroy(old_vm);
    sh_ffi_ctx_destroy(new_vm);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(state_dir, sizeof state_dir, "%s/streamhost-store-test-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(state_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_kv_put_get_delete();
    test_kv_prefix_keys();
    test_window_fetch_order_and_range();
    test_window_prefix_keys();
    test_window_retention();
    test_kv_paging();
    test_window_paging();
    test_window_paging_across_drop();
    test_restore_drops_expired();
    test_threads();
    test_restore_batch();
    test_changelog();
    test_put_many();
    test_checkpoints();
    test_restore_batch_repeats();
    test_fresh_store_not_wiped();
    test_corrupt_database();
    test_shared_and_kind();
    sh_store_remove_tree(state_dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
