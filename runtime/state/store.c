/*
 * store.c - the state layer's facade: every sh_ffi_store_* and
 * sh_ffi_window_* entry point, and what the host's tasks call, on one kind
 * of handle for both store kinds.
 *
 * A store lives in <state_dir>/<name>/<partition>/: the database in db/
 * (registry.c) and a checkpoint file beside it (checkpoint.c). Keeping each
 * task's state in its own directory makes a revoked partition's state
 * something to close and delete as a whole, and a corrupt one something to
 * wipe and rebuild without touching the others.
 *
 * A handle is a reference on its directory's shared database, a changelog
 * sink when it has an app id (changelog.c), and a handle of its kind
 * (kv_store.c or window_store.c), to which each call is dispatched after
 * its arguments and the store's kind are checked here. Errors from every
 * layer land in the handle's message buffer, which a failing entry point
 * makes the thread's last error (sh_ffi_err_message).
 *
 * The checkpoint says up to which changelog offset the database is
 * complete; the host restores the rest (restore.c). A checkpoint that is
 * missing or does not verify means the directory is wiped and rebuilt from
 * the changelog.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/ctx.h"
#include "state/checkpoint.h"
#include "state/kind.h"
#include "state/kv_store.h"
#include "state/registry.h"
#include "state/store.h"
#include "state/window_store.h"

struct sh_store {
    int kind;
    sh_db_t *db;
    sh_kv_t *kv;         /* kind SH_STORE_KV */
    sh_window_t *window; /* kind SH_STORE_WINDOW */
    sh_ctx_t *ctx;
    char *name;
    int32_t partition;
    int64_t retention_ms;
    bool has_changelog;
    sh_changelog_t changelog;
    char errmsg[512];
};

struct sh_store_iter {
    sh_kv_iter_t *kv;
    sh_window_iter_t *window;
};

static void set_error(sh_store_t *store, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(sh_store_t *store, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(store->errmsg, sizeof store->errmsg, fmt, ap);
    va_end(ap);
}

/* The kinds below report into the handle's buffer; a failing entry point
 * makes that the thread's last error (base/err.h), the one channel Lua and
 * the host read. NOT_FOUND is an answer, not a failure. */
static int publish(sh_store_t *store, int rc) {
    if (rc == SH_OK || rc == SH_ERR_NOT_FOUND) return rc;
    return sh_err_set(rc, "%s", store->errmsg[0] ? store->errmsg : sh_ffi_err_describe(rc));
}

static bool valid_name(const char *name) {
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static char *store_dir(const char *state_dir, const char *name, int32_t partition) {
    char *dir = NULL;
    return asprintf(&dir, "%s/%s/%" PRId32, state_dir, name, partition) < 0 ? NULL : dir;
}

static const char *kind_label(int kind) { return kind == SH_STORE_WINDOW ? "window" : "key-value"; }

/* SH_OK when the store is of this kind and its database is open. */
static int check(sh_store_t *store, int kind, const char *call) {
    if (!store->db->rocks) {
        set_error(store, "store %s partition %d is closed after a failed rebuild", store->name,
                  (int)store->partition);
        return SH_ERR_STORE;
    }
    if (store->kind == kind) return SH_OK;
    set_error(store, "store %s partition %d: a %s store; %s does not apply", store->name,
              (int)store->partition, kind_label(store->kind), call);
    return SH_ERR_INVALID;
}

/* ---- opening and closing ---- */

static void open_failed(sh_ctx_t *ctx, int code, const char *name, int32_t partition,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void open_failed(sh_ctx_t *ctx, int code, const char *name, int32_t partition,
                        const char *fmt, ...) {
    char reason[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    sh_err_set(code, "cannot open store %s partition %d: %s", name ? name : "(null)",
               (int)partition, reason);
    /* a handle opened without a context (restore, reset): its callers only
     * learn that the open failed */
    if (!ctx) sh_log(SH_LOG_ERROR, "%s", sh_ffi_err_message());
}

static void handle_free(sh_store_t *store) {
    sh_kv_close(store->kv);
    sh_window_close(store->window);
    sh_registry_release(store->db);
    if (store->has_changelog) sh_changelog_fini(&store->changelog);
    free(store->name);
    free(store);
}

sh_store_t *sh_ffi_store_open(sh_ctx_t *ctx, const char *state_dir, const char *app_id,
                              const char *name, int kind, int32_t partition, int64_t retention_ms) {
    if (!state_dir || !*state_dir || !valid_name(name) || partition < 0 ||
        (kind != SH_STORE_KV && kind != SH_STORE_WINDOW) ||
        (kind == SH_STORE_WINDOW && retention_ms <= 0) || (app_id && !ctx)) {
        open_failed(ctx, SH_ERR_INVALID, name, partition,
                    "invalid arguments (state_dir and a name without '/' are required, "
                    "partition >= 0, kind 0 or 1, window stores need retention_ms > 0, "
                    "a changelog needs a context)");
        return NULL;
    }
    sh_store_t *store = calloc(1, sizeof *store);
    char *dir = store_dir(state_dir, name, partition);
    if (!store || !dir || !(store->name = strdup(name))) {
        open_failed(ctx, SH_ERR_NOMEM, name, partition, "out of memory");
        free(store);
        free(dir);
        return NULL;
    }
    store->kind = kind;
    store->ctx = ctx;
    store->partition = partition;
    store->retention_ms = retention_ms;
    if (app_id) {
        if (sh_changelog_init(&store->changelog, ctx, app_id, name, partition, store->errmsg,
                              sizeof store->errmsg) != SH_OK) {
            open_failed(ctx, SH_ERR_INVALID, name, partition, "%s", store->errmsg);
            goto fail;
        }
        store->has_changelog = true;
    }
    char *error = NULL;
    static const sh_registry_kind_t *const kinds[] = {&sh_kv_kind, &sh_window_kind, NULL};
    store->db = sh_registry_open(dir, kinds[kind == SH_STORE_WINDOW], kinds, retention_ms, &error);
    if (!store->db) {
        open_failed(ctx, error ? SH_ERR_STORE : SH_ERR_NOMEM, name, partition, "%s",
                    error ? error : "out of memory");
        free(error);
        goto fail;
    }
    sh_changelog_t *changelog = store->has_changelog ? &store->changelog : NULL;
    if (kind == SH_STORE_WINDOW)
        store->window = sh_window_open(store->db, changelog, store->name, partition, retention_ms,
                                       store->errmsg, sizeof store->errmsg);
    else
        store->kv = sh_kv_open(store->db, changelog, store->name, partition, store->errmsg,
                               sizeof store->errmsg);
    if (!store->window && !store->kv) {
        open_failed(ctx, SH_ERR_NOMEM, name, partition, "out of memory");
        goto fail;
    }
    free(dir);
    return store;
fail:
    free(dir);
    handle_free(store);
    return NULL;
}

void sh_ffi_store_close(sh_store_t *store) {
    if (store) handle_free(store);
}


const char *sh_store_name(const sh_store_t *store) { return store->name; }
int sh_store_kind(const sh_store_t *store) { return store->kind; }
int32_t sh_store_partition(const sh_store_t *store) { return store->partition; }
const char *sh_store_changelog_topic(const sh_store_t *store) {
    return store->has_changelog ? store->changelog.topic : NULL;
}
sh_ctx_t *sh_store_ctx(const sh_store_t *store) { return store->ctx; }
const void *sh_store_database(const sh_store_t *store) { return store->db; }
int sh_store_segment_count(const sh_store_t *store) {
    return store->window ? sh_window_segment_count(store->window) : 0;
}
int64_t sh_store_segment_interval(const sh_store_t *store) {
    return store->window ? sh_window_segment_interval(store->window) : 0;
}

int sh_store_delete_state(const char *state_dir, const char *name, int32_t partition) {
    if (!state_dir || !valid_name(name) || partition < 0) return SH_ERR_INVALID;
    char *dir = store_dir(state_dir, name, partition);
    if (!dir) return SH_ERR_NOMEM;
    int rc = sh_registry_delete(dir);
    free(dir);
    return rc;
}

int sh_store_remove_tree(const char *path) { return sh_registry_remove_tree(path); }

/* ---- reads and writes ---- */

int sh_ffi_store_get(sh_store_t *store, const char *key, size_t key_len, sh_ffi_slice_t *out) {
    if (!store || !out || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "store_get: a store, an out slice and a key are required");
    int rc = check(store, SH_STORE_KV, "get");
    return publish(store, rc != SH_OK ? rc : sh_kv_get(store->kv, key, key_len, out));
}

int sh_ffi_store_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp) {
    if (!store || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "store_put: a store and a key are required");
    int rc = check(store, SH_STORE_KV, "put");
    return publish(store,
                   rc != SH_OK ? rc : sh_kv_put(store->kv, key, key_len, value, value_len, timestamp));
}

int sh_ffi_store_put_many(sh_store_t *store, const sh_ffi_record_t *records, int count) {
    if (!store || count < 0 || (count > 0 && !records))
        return sh_err_set(SH_ERR_INVALID, "store_put_many: a store and its records are required");
    int rc = check(store, SH_STORE_KV, "put_many");
    return publish(store, rc != SH_OK ? rc : sh_kv_put_many(store->kv, records, count));
}

int sh_ffi_window_get(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      sh_ffi_slice_t *out) {
    if (!store || !out || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "window_get: a store, an out slice and a key are required");
    int rc = check(store, SH_STORE_WINDOW, "window_get");
    return publish(store,
                   rc != SH_OK ? rc : sh_window_get(store->window, key, key_len, window_start, out));
}

int sh_ffi_window_put(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      const char *value, size_t value_len, int64_t timestamp) {
    if (!store || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "window_put: a store and a key are required");
    int rc = check(store, SH_STORE_WINDOW, "window_put");
    return publish(store, rc != SH_OK ? rc
                                      : sh_window_put(store->window, key, key_len, window_start,
                                                      value, value_len, timestamp));
}

int sh_ffi_window_put_many(sh_store_t *store, const sh_ffi_record_t *records,
                           const int64_t *starts, int count) {
    if (!store || count < 0 || (count > 0 && (!records || !starts)))
        return sh_err_set(SH_ERR_INVALID, "window_put_many: a store and its records are required");
    int rc = check(store, SH_STORE_WINDOW, "window_put_many");
    return publish(store,
                   rc != SH_OK ? rc : sh_window_put_many(store->window, records, starts, count));
}

int64_t sh_ffi_store_stream_time(sh_store_t *store) {
    return store && store->window && store->db->rocks ? sh_window_stream_time(store->window)
                                                      : INT64_MIN;
}

int64_t sh_ffi_store_expired_count(sh_store_t *store) {
    return store && store->window ? sh_window_expired_count(store->window) : 0;
}

int sh_store_restore_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                         size_t value_len) {
    sh_ffi_record_t record = {
        .key = key, .key_len = key_len, .value = value, .value_len = value_len, .offset = -1};
    return sh_store_restore_batch(store, &record, 1);
}

static uint64_t key_hash(const char *key, size_t len) {
    uint64_t hash = 14695981039346656037ULL; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)key[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

/* Copies into out the last record of each key among records (in their
 * order), and returns how many: a changelog repeats a hot key many times in
 * a batch, and only its last value survives the write anyway. -1 when out of
 * memory. Cost: O(count) with a hash table of 2 * count slots. */
static int last_per_key(const sh_ffi_record_t *records, int count, sh_ffi_record_t *out) {
    size_t slots = 16;
    while (slots < 2 * (size_t)count) slots *= 2;
    int *table = malloc(slots * sizeof *table);
    bool *superseded = calloc((size_t)count, sizeof *superseded);
    if (!table || !superseded) {
        free(table);
        free(superseded);
        return -1;
    }
    memset(table, -1, slots * sizeof *table);
    for (int i = 0; i < count; i++) {
        const sh_ffi_record_t *r = &records[i];
        size_t at = key_hash(r->key, r->key_len) & (slots - 1);
        for (;; at = (at + 1) & (slots - 1)) {
            int seen = table[at];
            if (seen < 0) break;
            if (records[seen].key_len == r->key_len &&
                (r->key_len == 0 || memcmp(records[seen].key, r->key, r->key_len) == 0)) {
                superseded[seen] = true;
                break;
            }
        }
        table[at] = i;
    }
    int kept = 0;
    for (int i = 0; i < count; i++)
        if (!superseded[i]) out[kept++] = records[i];
    free(table);
    free(superseded);
    return kept;
}

int sh_store_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count) {
    if (!store || count < 0 || (!records && count))
        return sh_err_set(SH_ERR_INVALID, "restore: a store and %d records are required", count);
    int rc = check(store, store->kind, "restore");
    if (rc != SH_OK) return publish(store, rc);
    for (int i = 0; i < count; i++)
        if (!records[i].key && records[i].key_len)
            return sh_err_set(SH_ERR_INVALID, "restore: record %d has no key", i);
    sh_ffi_record_t *last = count > 1 ? malloc((size_t)count * sizeof *last) : NULL;
    int kept = last ? last_per_key(records, count, last) : -1;
    if (kept < 0) { /* one record, or no memory to sort them out: write them all */
        kept = count;
    } else {
        /* Keys are unique now: in RocksDB's order, each memtable insert
         * starts where the one before it ended (random order cost ~2x). */
        if (!store->window) qsort(last, (size_t)kept, sizeof *last, sh_kind_by_key);
        records = last;
    }
    rc = store->window ? sh_window_restore(store->window, records, kept)
                       : sh_kv_restore(store->kv, records, kept);
    free(last);
    return publish(store, rc);
}

/* ---- iterators ---- */

static sh_store_iter_t *wrap(sh_store_t *store, sh_kv_iter_t *kv, sh_window_iter_t *window) {
    if (!kv && !window) { /* the kind said why */
        publish(store, SH_ERR_STORE);
        return NULL;
    }
    sh_store_iter_t *iter = calloc(1, sizeof *iter);
    if (!iter) {
        sh_kv_iter_destroy(kv);
        sh_window_iter_destroy(window);
        set_error(store, "out of memory for an iterator");
        publish(store, SH_ERR_NOMEM);
        return NULL;
    }
    iter->kv = kv;
    iter->window = window;
    return iter;
}

sh_store_iter_t *sh_ffi_window_fetch(sh_store_t *store, const char *key, size_t key_len,
                                     int64_t from, int64_t to) {
    if (!store || (!key && key_len)) {
        sh_err_set(SH_ERR_INVALID, "window_fetch: a store and a key are required");
        return NULL;
    }
    int rc = check(store, SH_STORE_WINDOW, "window_fetch");
    if (rc != SH_OK) {
        publish(store, rc);
        return NULL;
    }
    return wrap(store, NULL, sh_window_fetch(store->window, key, key_len, from, to));
}

sh_store_iter_t *sh_ffi_store_iter_all(sh_store_t *store, const char *after_key, size_t after_len,
                                       int64_t after_start) {
    if (!store) {
        sh_err_set(SH_ERR_INVALID, "store_iter_all: a store is required");
        return NULL;
    }
    int rc = check(store, store->kind, "iter_all");
    if (rc != SH_OK) {
        publish(store, rc);
        return NULL;
    }
    if (store->window)
        return wrap(store, NULL,
                    sh_window_iter_all(store->window, after_key, after_len, after_start));
    return wrap(store, sh_kv_iter(store->kv, after_key, after_len), NULL);
}

sh_store_iter_t *sh_store_iter_sorted(sh_store_t *store, const char *after_key, size_t after_len,
                                      int64_t after_start) {
    if (!store) {
        sh_err_set(SH_ERR_INVALID, "store_iter_sorted: a store is required");
        return NULL;
    }
    int rc = check(store, store->kind, "iter_sorted");
    if (rc != SH_OK) {
        publish(store, rc);
        return NULL;
    }
    if (store->window)
        return wrap(store, NULL,
                    sh_window_iter_sorted(store->window, after_key, after_len, after_start));
    return wrap(store, sh_kv_iter(store->kv, after_key, after_len), NULL);
}

int sh_ffi_store_iter_next(sh_store_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                           int64_t *window_start) {
    if (!iter) return sh_err_set(SH_ERR_INVALID, "store_iter_next: an iterator is required");
    int rc = iter->window ? sh_window_iter_next(iter->window, key, value, window_start)
                          : sh_kv_iter_next(iter->kv, key, value);
    if (rc == SH_OK && !iter->window && window_start) *window_start = 0;
    if (rc == SH_OK || rc == SH_ERR_NOT_FOUND) return rc;
    return sh_err_set(rc, "%s",
                      iter->window ? sh_window_iter_errmsg(iter->window) : sh_kv_iter_errmsg(iter->kv));
}

void sh_ffi_store_iter_destroy(sh_store_iter_t *iter) {
    if (!iter) return;
    sh_kv_iter_destroy(iter->kv);
    sh_window_iter_destroy(iter->window);
    free(iter);
}

/* ---- checkpoints ---- */

int sh_store_checkpoint_write(sh_store_t *store, int64_t changelog_offset) {
    if (!store || changelog_offset < -1) return SH_ERR_INVALID;
    int rc = check(store, store->kind, "checkpoint");
    if (rc != SH_OK) return publish(store, rc);
    if (store->window && (rc = sh_window_flush(store->window)) != SH_OK) return publish(store, rc);
    char *error = NULL;
    if (sh_registry_flush(store->db, &error) != SH_OK) {
        set_error(store, "store %s partition %d: flush memtables: %s", store->name,
                  (int)store->partition, error ? error : "unknown error");
        free(error);
        return publish(store, SH_ERR_STORE);
    }
    char why[512];
    if (sh_checkpoint_write(store->db->dir, changelog_offset, why, sizeof why) != 0) {
        set_error(store, "store %s partition %d: %s", store->name, (int)store->partition, why);
        return publish(store, SH_ERR_STORE);
    }
    return SH_OK;
}

int sh_store_checkpoint_read(sh_store_t *store, int64_t *offset) {
    if (!store || !offset) return SH_ERR_INVALID;
    int found = sh_checkpoint_read(store->db->dir, offset);
    if (found == SH_CHECKPOINT_OK) return SH_OK;
    if (found == SH_CHECKPOINT_INVALID)
        sh_log(SH_LOG_WARN, "state store %s: checkpoint does not verify; rebuilding from %s",
               store->db->dir, store->has_changelog ? store->changelog.topic : "nothing");
    *offset = -1;
    /* A database this open has just made holds nothing to wipe: wiping and
     * reopening it cost most of a fresh restore's time. */
    if (found == SH_CHECKPOINT_MISSING && sh_registry_untouched(store->db)) return SH_OK;
    char *error = NULL;
    int rc = sh_registry_wipe(store->db, store->retention_ms, &error);
    if (rc != SH_OK) {
        set_error(store, "store %s partition %d: rebuilding %s: %s", store->name,
                  (int)store->partition, store->db->dir, error ? error : strerror(errno));
        free(error);
    }
    return publish(store, rc);
}

int64_t sh_store_checkpoint_peek(const char *state_dir, const char *name, int32_t partition) {
    char *dir = store_dir(state_dir, name, partition), *current = NULL;
    int64_t offset = -1;
    if (dir && asprintf(&current, "%s/db/CURRENT", dir) >= 0 && access(current, F_OK) == 0 &&
        sh_checkpoint_read(dir, &offset) != SH_CHECKPOINT_OK)
        offset = -1;
    free(current);
    free(dir);
    return offset;
}

int sh_store_checkpoint_remove(sh_store_t *store) {
    if (!store) return SH_ERR_INVALID;
    if (sh_checkpoint_remove(store->db->dir) == 0) return SH_OK;
    set_error(store, "store %s: removing %s/checkpoint: %s", store->name, store->db->dir,
              strerror(errno));
    return publish(store, SH_ERR_STORE);
}
