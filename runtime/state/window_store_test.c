/*
 * window_store_test.c - window stores against real RocksDB in a temporary
 * directory: fetch order and bounds, key encoding (prefix keys), retention
 * and segment drops under an endless stream, iterator paging (across a
 * dropped segment too), and a restore dropping what has expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "state/store_test_util.h"

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

/* Opens store name's database (partition 0) as it is on disk; NULL when
 * that fails. *families: how many column families it has. */
static rocksdb_t *open_raw(const char *name, rocksdb_column_family_handle_t **handles, int max,
                           int *families, char ***names_out, size_t *count_out) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s/0/db", state_dir, name);
    rocksdb_options_t *options = rocksdb_options_create();
    size_t count = 0;
    char *err = NULL;
    char **names = rocksdb_list_column_families(options, path, &count, &err);
    if (err || (int)count > max) {
        free(err);
        rocksdb_options_destroy(options);
        return NULL;
    }
    const rocksdb_options_t *per_family[16];
    for (size_t i = 0; i < count; i++)
        per_family[i] = options;
    rocksdb_t *db = rocksdb_open_column_families(
        options, path, (int)count, (const char *const *)names, per_family, handles, &err);
    rocksdb_options_destroy(options);
    if (err) {
        free(err);
        rocksdb_list_column_families_destroy(names, count);
        return NULL;
    }
    *families = (int)count;
    *names_out = names;
    *count_out = count;
    return db;
}

static void close_raw(rocksdb_t *db, rocksdb_column_family_handle_t **handles, char **names,
                      size_t count) {
    for (size_t i = 0; i < count; i++)
        rocksdb_column_family_handle_destroy(handles[i]);
    rocksdb_close(db);
    rocksdb_list_column_families_destroy(names, count);
}

/* What store name's database (partition 0) holds on disk: its column
 * families, the entries of its default family (what its windows take), and
 * the kind tag its meta family records. false when it cannot be read. */
typedef struct {
    int families;
    long entries;
    char kind;
} raw_view_t;

static bool inspect_raw(const char *name, raw_view_t *view) {
    rocksdb_column_family_handle_t *handles[16];
    char **names = NULL;
    size_t count = 0;
    *view = (raw_view_t){0};
    rocksdb_t *db = open_raw(name, handles, 16, &view->families, &names, &count);
    if (!db) return false;
    rocksdb_readoptions_t *read = rocksdb_readoptions_create();
    for (size_t i = 0; i < count; i++) {
        if (strcmp(names[i], "default") == 0) {
            rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db, read, handles[i]);
            for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it))
                view->entries++;
            rocksdb_iter_destroy(it);
        } else if (strcmp(names[i], "meta") == 0) {
            size_t len = 0;
            char *err = NULL;
            char *value = rocksdb_get_cf(db, read, handles[i], "kind", 4, &len, &err);
            if (value && len == 1) view->kind = value[0];
            free(value);
            free(err);
        }
    }
    rocksdb_readoptions_destroy(read);
    close_raw(db, handles, names, count);
    return true;
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
    /* 8,640 windows were written; what is left on disk is the live ones (10
     * per key) and those of the one segment not yet all closed (5 per key):
     * dropped segments are gone, and no segment has a family of its own. */
    raw_view_t raw;
    CHECK(inspect_raw("retained", &raw));
    CHECK(raw.families == 2); /* default and meta */
    CHECK(raw.entries >= 30 && raw.entries <= 3 * (10 + 5));

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

/* put_many: one batch in segment, key, then start order, deletes among the puts, and
 * a record late in the batch moving stream time so far that the segment an
 * earlier record wrote to is dropped (the batch is written before the drop,
 * and the window goes with its segment, as with single puts). */
static void test_window_put_many(void) {
    current_test = "window put_many";
    sh_store_t *s = open_window(NULL, "winmany", 60 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    CHECK(wput(s, "k", 20 * MINUTE, "old", 20 * MINUTE) == SH_OK);
    sh_ffi_record_t records[] = {
        {.key = "k", .key_len = 1, .value = "k10", .value_len = 3, .timestamp = 21 * MINUTE},
        {.key = "j", .key_len = 1, .value = "j10", .value_len = 3, .timestamp = 21 * MINUTE},
        {.key = "k", .key_len = 1, .value = NULL, .value_len = 0, .timestamp = 22 * MINUTE},
        {.key = "k", .key_len = 1, .value = "k5", .value_len = 2, .timestamp = 21 * MINUTE},
    };
    int64_t starts[] = {10 * MINUTE, 10 * MINUTE, 20 * MINUTE, 5 * MINUTE};
    CHECK(sh_ffi_window_put_many(s, records, starts, 4) == SH_OK);
    char text[256];
    fetch_text(s, "k", 0, 100 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "5=k5;10=k10;") == 0);
    fetch_text(s, "j", 0, 100 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "10=j10;") == 0);
    CHECK(sh_ffi_window_put_many(s, records, starts, 0) == SH_OK);

    sh_ffi_record_t far[] = {
        {.key = "a", .key_len = 1, .value = "a", .value_len = 1, .timestamp = 23 * MINUTE},
        {.key = "b", .key_len = 1, .value = "b", .value_len = 1, .timestamp = 100 * MINUTE},
    };
    int64_t far_starts[] = {1 * MINUTE, 100 * MINUTE};
    CHECK(sh_ffi_window_put_many(s, far, far_starts, 2) == SH_OK);
    fetch_text(s, "a", 0, 200 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "") == 0);
    fetch_text(s, "b", 0, 200 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "100=b;") == 0);
    CHECK(sh_ffi_window_put_many(NULL, far, far_starts, 1) == SH_ERR_INVALID);
    CHECK(sh_ffi_window_put_many(s, far, NULL, 1) == SH_ERR_INVALID);
    sh_ffi_store_close(s);
}

/* put_many's order (the changelog's): key bytes, then a shorter key before
 * a longer one it begins, then start; keys past 8 bytes, holding 0x00 or
 * bytes above 0x7f, and a (key, start) given twice (kept in its given
 * order) included. */
static void test_window_put_many_order(void) {
    current_test = "window put_many order";
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    sh_store_t *s = ctx ? open_window(ctx, "winorder", 60 * MINUTE) : NULL;
    CHECK(s != NULL);
    if (!s) {
        if (ctx) sh_ffi_ctx_destroy(ctx);
        return;
    }
    int sink = -1;
    for (int i = 0; i < sh_ffi_sink_count(ctx); i++)
        if (strcmp(sh_ffi_sink_name(ctx, i), "app-winorder-changelog") == 0) sink = i;
    CHECK(sink >= 0);
    /* key, length, start (minutes), value: listed in the order expected */
    static const struct {
        const char *key;
        size_t len;
        int64_t start;
        const char *value;
    } want[] = {
        {"", 0, 3, "e3"},
        {"a", 1, 1, "a1"},
        {"a", 1, 2, "a2"},
        {"a\0", 2, 1, "a01"},
        {"a\0b", 3, 1, "a0b1"},
        {"abcdefgh", 8, 2, "h2"},
        {"abcdefgh\0", 9, 1, "h01"},
        {"abcdefghi", 9, 1, "i1"},
        {"abcdefghi", 9, 2, "i2-first"},
        {"abcdefghi", 9, 2, "i2-second"},
        {"abcdefghj", 9, 1, "j1"},
        {"b", 1, 1, "b1"},
        {"\x80", 1, 1, "x1"},
    };
    enum { N = sizeof want / sizeof *want };
    /* given in a scrambled order that keeps the two (abcdefghi, 2) in theirs */
    static const int given[N] = {12, 8, 3, 0, 11, 6, 1, 9, 5, 10, 2, 7, 4};
    sh_ffi_record_t records[N];
    int64_t starts[N];
    for (int i = 0; i < N; i++) {
        int w = given[i];
        records[i] = (sh_ffi_record_t){.key = want[w].key,
                                       .key_len = want[w].len,
                                       .value = want[w].value,
                                       .value_len = strlen(want[w].value),
                                       .timestamp = 5 * MINUTE};
        starts[i] = want[w].start * MINUTE;
    }
    CHECK(sh_ffi_window_put_many(s, records, starts, N) == SH_OK);
    for (int i = 0; i < N; i++) {
        sh_ffi_record_t rec;
        CHECK(sh_ffi_sink_capture_next(ctx, sink, &rec) == SH_OK);
        CHECK(rec.key_len == want[i].len + 8 && memcmp(rec.key, want[i].key, want[i].len) == 0);
        CHECK(rec.value_len == strlen(want[i].value) &&
              memcmp(rec.value, want[i].value, rec.value_len) == 0);
    }
    sh_ffi_store_close(s);
    sh_ffi_ctx_destroy(ctx);
}

/* A database made when every segment had a column family of its own
 * ("segment-<id>", keys without the segment prefix, kind tag 'w') opens
 * with its windows, moved into the default family, and tagged 'W' so that
 * a streamhost from before refuses it. */
static void test_window_legacy_layout(void) {
    current_test = "window legacy layout";
    sh_store_t *s = open_window(NULL, "legacy", 60 * MINUTE); /* 30-minute segments */
    CHECK(s != NULL);
    if (!s) return;
    sh_ffi_store_close(s); /* made, with its metadata, and empty */

    rocksdb_column_family_handle_t *handles[16];
    char **names = NULL;
    size_t count = 0;
    int families = 0;
    rocksdb_t *db = open_raw("legacy", handles, 16, &families, &names, &count);
    CHECK(db != NULL);
    if (!db) return;
    rocksdb_options_t *options = rocksdb_options_create();
    rocksdb_writeoptions_t *write = rocksdb_writeoptions_create();
    char *err = NULL;
    static const struct {
        const char *key;
        size_t len;
        int64_t start_min;
    } old[] = {{"k", 1, 0}, {"k", 1, 10}, {"a\0b", 3, 10}, {"k", 1, 40}};
    rocksdb_column_family_handle_t *segment[2] = {
        rocksdb_create_column_family(db, options, "segment-0", &err), NULL};
    CHECK(err == NULL);
    segment[1] = rocksdb_create_column_family(db, options, "segment-1", &err);
    CHECK(err == NULL);
    for (size_t i = 0; !err && i < count; i++)
        if (strcmp(names[i], "meta") == 0)
            rocksdb_put_cf(db, write, handles[i], "kind", 4, "w", 1, &err);
    CHECK(err == NULL);
    for (size_t i = 0; !err && i < sizeof old / sizeof *old; i++) {
        char key[32];
        size_t n = 0;
        for (size_t j = 0; j < old[i].len; j++) {
            key[n++] = old[i].key[j];
            if (old[i].key[j] == 0) key[n++] = (char)0xff;
        }
        key[n++] = 0, key[n++] = 1;
        uint64_t start = (uint64_t)(old[i].start_min * MINUTE) ^ 0x8000000000000000ULL;
        for (int b = 7; b >= 0; b--)
            key[n + (size_t)b] = (char)(start & 0xff), start >>= 8;
        n += 8;
        char value[16];
        snprintf(value, sizeof value, "v%lld", (long long)old[i].start_min);
        rocksdb_put_cf(db, write, segment[old[i].start_min >= 30], key, n, value, strlen(value),
                       &err);
    }
    CHECK(err == NULL);
    free(err);
    rocksdb_column_family_handle_destroy(segment[0]);
    rocksdb_column_family_handle_destroy(segment[1]);
    rocksdb_writeoptions_destroy(write);
    rocksdb_options_destroy(options);
    close_raw(db, handles, names, count);

    s = open_window(NULL, "legacy", 60 * MINUTE);
    CHECK(s != NULL);
    if (!s) return;
    char text[256];
    fetch_text(s, "k", 0, 100 * MINUTE, text, sizeof text);
    CHECK(strcmp(text, "0=v0;10=v10;40=v40;") == 0);
    sh_ffi_slice_t out;
    CHECK(sh_ffi_window_get(s, "a\0b", 3, 10 * MINUTE, &out) == SH_OK && slice_is(out, "v10"));
    CHECK(sh_store_segment_count(s) == 2);
    sh_ffi_store_close(s);
    raw_view_t raw;
    CHECK(inspect_raw("legacy", &raw));
    CHECK(raw.entries == 4 && raw.families == 2);
    CHECK(raw.kind == 'W');
}

int main(void) {
    store_test_begin();
    test_window_fetch_order_and_range();
    test_window_prefix_keys();
    test_window_retention();
    test_window_paging();
    test_window_paging_across_drop();
    test_restore_drops_expired();
    test_window_put_many();
    test_window_put_many_order();
    test_window_legacy_layout();
    return store_test_end("window_store_test");
}
