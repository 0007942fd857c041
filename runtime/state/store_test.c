/*
 * store_test.c - the state-store facade against real RocksDB in a temporary
 * directory, for both kinds: the changelog records every write emits (read
 * back through a capture context) and restores from them, checkpoints and
 * rebuilds, shared opens and kind checks. Each kind's own reads and writes
 * are tested in kv_store_test.c and window_store_test.c.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "state/store_test_util.h"

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
 * every record, in key order, with its timestamp. */
static void test_put_many(void) {
    current_test = "put_many writes and emits in key order";
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
    /* given out of order: put_many sorts a copy, the caller's array stays */
    sh_ffi_record_t shuffled[3] = {records[2], records[0], records[1]};
    CHECK(sh_ffi_store_put_many(kv, shuffled, 3) == SH_OK);
    CHECK(shuffled[0].key == records[2].key && shuffled[1].key == records[0].key);
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
    store_test_begin();
    test_restore_batch();
    test_changelog();
    test_put_many();
    test_checkpoints();
    test_restore_batch_repeats();
    test_fresh_store_not_wiped();
    test_corrupt_database();
    test_shared_and_kind();
    return store_test_end("store_test");
}
