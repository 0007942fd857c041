/*
 * store.c - state stores: one RocksDB instance per (store, task partition).
 *
 * A store lives in <state_dir>/<name>/<partition>/: the database in db/ and
 * a checkpoint file beside it. Keeping each task's state in its own
 * directory makes a revoked partition's state something to close and delete
 * as a whole, and a corrupt one something to wipe and rebuild without
 * touching the others.
 *
 * The database has a "meta" column family that records the store's kind, so
 * a key-value store is never opened as a window store. Key-value data lives
 * in the default column family under the raw key; window data lives in time
 * segments managed by window_store.c.
 *
 * Every put is first emitted to the store's changelog sink and only then
 * written: if the emit is refused (queue full) nothing has changed and the
 * put can be retried. The checkpoint file says up to which changelog offset
 * the database is complete; the host restores the rest with
 * sh_store_restore_put. A checkpoint that is missing or does not verify
 * means the directory is wiped and rebuilt from the changelog; a database
 * created from nothing cannot be described by an old checkpoint, so that
 * checkpoint is deleted on open.
 *
 * Open databases are kept in a process-wide list with reference counts:
 * RocksDB allows one open per directory, and a reloaded VM opens its stores
 * while the old VM still holds them.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/store.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static sh_store_db_t *open_dbs;
static sh_store_t *open_handles;

void sh_store_lock(void) { pthread_mutex_lock(&registry_lock); }
void sh_store_unlock(void) { pthread_mutex_unlock(&registry_lock); }

int sh_store_set_error(sh_store_t *store, int code, const char *fmt, ...) {
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return sh_err_set(code, "store %s partition %d: %s", store->name, (int)store->partition,
                      detail);
}

int sh_store_iter_set_error(sh_store_iter_t *iter, int code, const char *fmt, ...) {
    char detail[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return sh_err_set(code, "store %s: iterator: %s", iter->shared->dir, detail);
}

int sh_store_rocksdb_error(sh_store_t *store, const char *what, char *err) {
    sh_store_set_error(store, SH_ERR_STORE, "%s: %s", what, err ? err : "unknown error");
    free(err);
    return SH_ERR_STORE;
}

int sh_store_reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap && *buf) return SH_OK;
    size_t size = *cap ? *cap : 256;
    while (size < need)
        size *= 2;
    char *grown = realloc(*buf, size);
    if (!grown) return SH_ERR_NOMEM;
    *buf = grown;
    *cap = size;
    return SH_OK;
}

static char *format_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format_path(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *path = NULL;
    if (vasprintf(&path, fmt, ap) < 0) path = NULL;
    va_end(ap);
    return path;
}

static int make_dirs(const char *path) {
    char *copy = strdup(path);
    if (!copy) return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(copy, 0755) != 0 && errno != EEXIST ? -1 : 0;
    free(copy);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)ftw;
    return type == FTW_DP ? rmdir(path) : unlink(path);
}

int sh_store_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? SH_OK : SH_ERR_STORE;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? SH_OK : SH_ERR_STORE;
}

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static bool valid_name(const char *name) {
    return name && *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* ---- opening and closing databases ---- */

static const char kind_key[] = "kind";

static void db_close(sh_store_db_t *shared) {
    if (!shared->db) return;
    sh_window_close(shared);
    if (shared->meta_cf) rocksdb_column_family_handle_destroy(shared->meta_cf);
    if (shared->default_cf) rocksdb_column_family_handle_destroy(shared->default_cf);
    shared->meta_cf = shared->default_cf = NULL;
    rocksdb_close(shared->db);
    shared->db = NULL;
}

static bool is_corruption(const char *err) { return err && strstr(err, "Corruption") != NULL; }

/* Opens shared->db_path with every column family it has. Sets *error (malloc'd)
 * on failure. */
static int db_open_once(sh_store_db_t *shared, int64_t retention_ms, char **error) {
    char *current = format_path("%s/CURRENT", shared->db_path);
    if (!current) return SH_ERR_NOMEM;
    bool fresh = access(current, F_OK) != 0;
    free(current);
    if (fresh) {
        /* An old checkpoint cannot describe a database made from nothing. */
        char *checkpoint = format_path("%s/checkpoint", shared->dir);
        if (checkpoint) unlink(checkpoint);
        free(checkpoint);
    }

    char **listed = NULL;
    size_t listed_count = 0;
    const char *fresh_names[] = {"default", "meta"};
    if (!fresh) {
        listed =
            rocksdb_list_column_families(shared->options, shared->db_path, &listed_count, error);
        if (*error) return SH_ERR_STORE;
    }
    int count = fresh ? 2 : (int)listed_count;
    bool has_meta = fresh;
    for (int i = 0; !fresh && i < count; i++)
        has_meta |= strcmp(listed[i], "meta") == 0;
    int total = count + (has_meta ? 0 : 1);
    const char **names = calloc((size_t)total, sizeof *names);
    const rocksdb_options_t **cf_options = calloc((size_t)total, sizeof *cf_options);
    rocksdb_column_family_handle_t **cfs = calloc((size_t)total, sizeof *cfs);
    int rc = SH_ERR_NOMEM;
    if (!names || !cf_options || !cfs) goto done;
    for (int i = 0; i < count; i++)
        names[i] = fresh ? fresh_names[i] : listed[i];
    if (!has_meta) names[count] = "meta";
    for (int i = 0; i < total; i++)
        cf_options[i] = shared->options;

    rc = SH_ERR_STORE;
    shared->db = rocksdb_open_column_families(shared->options, shared->db_path, total, names,
                                              cf_options, cfs, error);
    if (*error) goto done;
    for (int i = 0; i < total; i++) {
        if (strcmp(names[i], "default") == 0)
            shared->default_cf = cfs[i], cfs[i] = NULL;
        else if (strcmp(names[i], "meta") == 0)
            shared->meta_cf = cfs[i], cfs[i] = NULL;
    }

    /* The kind is written once, when the database is made. */
    size_t len = 0;
    char *kind = rocksdb_get_cf(shared->db, shared->read, shared->meta_cf, kind_key,
                                sizeof kind_key - 1, &len, error);
    if (*error) goto done;
    char want = shared->kind == SH_STORE_WINDOW ? 'w' : 'k';
    if (!kind) {
        rocksdb_put_cf(shared->db, shared->write, shared->meta_cf, kind_key, sizeof kind_key - 1,
                       &want, 1, error);
        if (*error) goto done;
    } else if (len != 1 || kind[0] != want) {
        *error = format_path("the state on disk belongs to a %s store, not a %s store; delete "
                             "%s (streamhost reset) or rename the store",
                             len == 1 && kind[0] == 'w' ? "window" : "key-value",
                             want == 'w' ? "window" : "key-value", shared->dir);
        free(kind);
        goto done;
    }
    free(kind);
    if (shared->kind == SH_STORE_WINDOW) {
        rc = sh_window_open(shared, (char **)names, cfs, total, retention_ms, error);
        if (rc != SH_OK) goto done;
    }
    rc = SH_OK;

done:
    for (int i = 0; cfs && i < total; i++)
        if (cfs[i]) rocksdb_column_family_handle_destroy(cfs[i]);
    if (rc != SH_OK) db_close(shared);
    free(names);
    free(cf_options);
    free(cfs);
    if (listed) rocksdb_list_column_families_destroy(listed, listed_count);
    return rc;
}

static int db_wipe(sh_store_db_t *shared) {
    db_close(shared);
    if (sh_store_remove_tree(shared->dir) != SH_OK || make_dirs(shared->dir) != 0)
        return SH_ERR_STORE;
    return SH_OK;
}

/* Opens the database; one that RocksDB reports corrupt is wiped and made
 * again, to be rebuilt from the changelog. */
static int db_open(sh_store_db_t *shared, int64_t retention_ms, char **error) {
    int rc = db_open_once(shared, retention_ms, error);
    if (rc == SH_OK || !is_corruption(*error)) return rc;
    sh_log(SH_LOG_WARN, "state store %s is corrupt (%s); wiping it to rebuild from the changelog",
           shared->dir, *error);
    free(*error);
    *error = NULL;
    if (db_wipe(shared) != SH_OK) {
        *error = format_path("could not wipe %s: %s", shared->dir, strerror(errno));
        return SH_ERR_STORE;
    }
    return db_open_once(shared, retention_ms, error);
}

static void db_free(sh_store_db_t *shared) {
    db_close(shared);
    if (shared->options) rocksdb_options_destroy(shared->options);
    if (shared->read) rocksdb_readoptions_destroy(shared->read);
    if (shared->write) rocksdb_writeoptions_destroy(shared->write);
    free(shared->segments);
    free(shared->dropped);
    free(shared->dir);
    free(shared->db_path);
    free(shared);
}

static sh_store_db_t *db_new(const char *dir, int kind) {
    sh_store_db_t *shared = calloc(1, sizeof *shared);
    if (!shared) return NULL;
    shared->kind = kind;
    shared->stream_time = INT64_MIN;
    shared->dir = strdup(dir);
    shared->db_path = format_path("%s/db", dir);
    shared->options = rocksdb_options_create();
    shared->read = rocksdb_readoptions_create();
    shared->write = rocksdb_writeoptions_create();
    if (!shared->dir || !shared->db_path || !shared->options || !shared->read || !shared->write) {
        db_free(shared);
        return NULL;
    }
    rocksdb_options_set_create_if_missing(shared->options, 1);
    rocksdb_options_set_create_missing_column_families(shared->options, 1);
    /* The changelog is the store's durability, as in Kafka Streams: no
     * write-ahead log. A checkpoint flushes the memtables first, so what it
     * vouches for is on disk; anything newer is replayed from the changelog. */
    rocksdb_writeoptions_disable_WAL(shared->write, 1);
    /* Aggregates rewrite the same keys over and over: updating them in the
     * memtable keeps one version per key there instead of one per update,
     * which otherwise makes every lookup walk a long skip list. */
    rocksdb_options_set_allow_concurrent_memtable_write(shared->options, 0);
    rocksdb_options_set_inplace_update_support(shared->options, 1);
    /* RocksDB's info log dumps every option on each segment's creation: that
     * cost most of a window put's time and grew the disk without bound. */
    rocksdb_options_set_info_log_level(shared->options, 2 /* warnings and worse */);
    rocksdb_options_set_keep_log_file_num(shared->options, 2);
    rocksdb_options_set_max_log_file_size(shared->options, 1 << 20);
    return shared;
}

/* Drops a reference; the last one closes the database. Called locked. */
static void db_release(sh_store_db_t *shared) {
    if (--shared->refs > 0) return;
    for (sh_store_db_t **p = &open_dbs; *p; p = &(*p)->next) {
        if (*p != shared) continue;
        *p = shared->next;
        break;
    }
    db_free(shared);
}

void sh_store_iter_release(sh_store_db_t *shared) {
    sh_store_lock();
    if (--shared->iterators == 0) sh_window_release_dropped(shared);
    db_release(shared);
    sh_store_unlock();
}

/* ---- handles ---- */

/* Sets the last error; a handle opened without a context (restore, reset)
 * also logs it, since its callers report only that the open failed. */
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
    if (!ctx) sh_log(SH_LOG_ERROR, "%s", sh_ffi_err_message());
}

static void handle_free(sh_store_t *store) {
    free(store->name);
    free(store->changelog_topic);
    free(store->value_buf);
    free(store->key_buf);
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
    char *dir = format_path("%s/%s/%" PRId32, state_dir, name, partition);
    if (!store || !dir || !(store->name = strdup(name)) ||
        (app_id && !(store->changelog_topic = format_path("%s-%s-changelog", app_id, name)))) {
        open_failed(ctx, SH_ERR_NOMEM, name, partition, "out of memory");
        goto fail;
    }
    store->ctx = ctx;
    store->partition = partition;
    store->retention_ms = retention_ms;
    store->changelog_sink = -1;
    if (store->changelog_topic) {
        store->changelog_sink = sh_ffi_sink_add(ctx, store->changelog_topic, 0);
        if (store->changelog_sink < 0) {
            open_failed(ctx, sh_ffi_err_code(), name, partition, "changelog sink %s: %s",
                        store->changelog_topic, sh_ffi_err_message());
            goto fail;
        }
    }

    sh_store_lock();
    sh_store_db_t *shared = open_dbs;
    while (shared && strcmp(shared->dir, dir) != 0)
        shared = shared->next;
    if (shared && shared->kind != kind) {
        sh_store_unlock();
        open_failed(ctx, SH_ERR_INVALID, name, partition, "already open as a %s store",
                    shared->kind == SH_STORE_WINDOW ? "window" : "key-value");
        goto fail;
    }
    if (!shared) {
        char *error = NULL;
        if (make_dirs(dir) != 0) {
            sh_store_unlock();
            open_failed(ctx, SH_ERR_STORE, name, partition, "cannot create %s: %s", dir,
                        strerror(errno));
            goto fail;
        }
        if (!(shared = db_new(dir, kind))) {
            sh_store_unlock();
            open_failed(ctx, SH_ERR_NOMEM, name, partition, "out of memory");
            goto fail;
        }
        if (db_open(shared, retention_ms, &error) != SH_OK) {
            sh_store_unlock();
            open_failed(ctx, error ? SH_ERR_STORE : SH_ERR_NOMEM, name, partition, "%s: %s", dir,
                        error ? error : "out of memory");
            free(error);
            db_free(shared);
            goto fail;
        }
        shared->next = open_dbs;
        open_dbs = shared;
    }
    shared->refs++;
    store->shared = shared;
    store->next = open_handles;
    open_handles = store;
    sh_store_unlock();
    free(dir);
    return store;

fail:
    free(dir);
    if (store) handle_free(store);
    return NULL;
}

void sh_ffi_store_close(sh_store_t *store) {
    if (!store) return;
    sh_store_lock();
    for (sh_store_t **p = &open_handles; *p; p = &(*p)->next) {
        if (*p != store) continue;
        *p = store->next;
        break;
    }
    db_release(store->shared);
    sh_store_unlock();
    handle_free(store);
}

const char *sh_store_name(const sh_store_t *store) { return store->name; }
int sh_store_kind(const sh_store_t *store) { return store->shared->kind; }
int32_t sh_store_partition(const sh_store_t *store) { return store->partition; }
const char *sh_store_changelog_topic(const sh_store_t *store) { return store->changelog_topic; }
sh_ctx_t *sh_store_ctx(const sh_store_t *store) { return store->ctx; }

void sh_store_foreach(sh_ctx_t *ctx, void (*fn)(sh_store_t *store, void *arg), void *arg) {
    /* Collected first, so that fn may close the handle it is given. */
    sh_store_lock();
    int count = 0;
    for (sh_store_t *s = open_handles; s; s = s->next)
        count += !ctx || s->ctx == ctx;
    sh_store_t **list = count ? calloc((size_t)count, sizeof *list) : NULL;
    int n = 0;
    for (sh_store_t *s = open_handles; s && list; s = s->next)
        if (!ctx || s->ctx == ctx) list[n++] = s;
    sh_store_unlock();
    for (int i = 0; i < n; i++)
        fn(list[i], arg);
    free(list);
}

int sh_store_delete_state(const char *state_dir, const char *name, int32_t partition) {
    if (!state_dir || !valid_name(name) || partition < 0) return SH_ERR_INVALID;
    char *dir = format_path("%s/%s/%" PRId32, state_dir, name, partition);
    if (!dir) return SH_ERR_NOMEM;
    sh_store_lock();
    sh_store_db_t *shared = open_dbs;
    while (shared && strcmp(shared->dir, dir) != 0)
        shared = shared->next;
    int rc = shared ? SH_ERR_INVALID : sh_store_remove_tree(dir);
    sh_store_unlock();
    free(dir);
    return rc;
}

/* ---- key-value reads and writes ---- */

int sh_store_emit_changelog(sh_store_t *store, const char *key, size_t key_len, const char *value,
                            size_t value_len, int64_t timestamp) {
    if (store->changelog_sink < 0) return SH_OK;
    int rc = sh_ffi_sink_emit(store->ctx, store->changelog_sink, key, key_len, value, value_len,
                              timestamp, store->partition, NULL, 0);
    if (rc != SH_OK)
        sh_store_set_error(store, rc, "changelog %s: %s", store->changelog_topic,
                           sh_ffi_err_message());
    return rc;
}

int sh_store_check_kind(sh_store_t *store, int kind, const char *call) {
    if (!store->shared->db)
        return sh_store_set_error(store, SH_ERR_STORE, "closed after a failed rebuild");
    if (store->shared->kind == kind) return SH_OK;
    return sh_store_set_error(store, SH_ERR_INVALID, "a %s store; %s does not apply",
                              store->shared->kind == SH_STORE_WINDOW ? "window" : "key-value",
                              call);
}

static int kv_write(sh_store_t *store, const char *key, size_t key_len, const char *value,
                    size_t value_len) {
    sh_store_db_t *shared = store->shared;
    char *err = NULL;
    if (value)
        rocksdb_put_cf(shared->db, shared->write, shared->default_cf, key, key_len, value,
                       value_len, &err);
    else
        rocksdb_delete_cf(shared->db, shared->write, shared->default_cf, key, key_len, &err);
    return err ? sh_store_rocksdb_error(store, value ? "put" : "delete", err) : SH_OK;
}

int sh_ffi_store_get(sh_store_t *store, const char *key, size_t key_len, sh_ffi_slice_t *out) {
    if (!store || !out || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID,
                          "store_get: a store, an out slice and a key are required");
    int rc = sh_store_check_kind(store, SH_STORE_KV, "get");
    if (rc != SH_OK) return rc;
    sh_store_db_t *shared = store->shared;
    char *err = NULL;
    rocksdb_pinnableslice_t *pinned =
        rocksdb_get_pinned_cf(shared->db, shared->read, shared->default_cf, key, key_len, &err);
    if (err) return sh_store_rocksdb_error(store, "get", err);
    if (!pinned) return SH_ERR_NOT_FOUND;
    size_t len = 0;
    const char *value = rocksdb_pinnableslice_value(pinned, &len);
    rc = sh_store_reserve(&store->value_buf, &store->value_cap, len + 1);
    if (rc == SH_OK) {
        memcpy(store->value_buf, value, len);
        out->data = store->value_buf;
        out->len = len;
    }
    rocksdb_pinnableslice_destroy(pinned);
    return rc;
}

int sh_ffi_store_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp) {
    if (!store || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "store_put: a store and a key are required");
    int rc = sh_store_check_kind(store, SH_STORE_KV, "put");
    if (rc != SH_OK) return rc;
    rc = sh_store_emit_changelog(store, key, key_len, value, value_len, timestamp);
    return rc != SH_OK ? rc : kv_write(store, key, key_len, value, value_len);
}

int sh_store_restore_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                         size_t value_len) {
    sh_ffi_record_t record = {
        .key = key, .key_len = key_len, .value = value, .value_len = value_len, .offset = -1};
    return sh_store_restore_batch(store, &record, 1);
}

int sh_store_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count) {
    if (!store || count < 0 || (!records && count))
        return sh_err_set(SH_ERR_INVALID, "restore: a store and %d records are required", count);
    int rc = sh_store_check_kind(store, store->shared->kind, "restore");
    if (rc != SH_OK) return rc;
    for (int i = 0; i < count; i++)
        if (!records[i].key && records[i].key_len)
            return sh_store_set_error(store, SH_ERR_INVALID, "restore: record %d has no key", i);
    if (store->shared->kind == SH_STORE_WINDOW)
        return sh_window_restore_batch(store, records, count);
    sh_store_db_t *shared = store->shared;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    for (int i = 0; i < count; i++) {
        const sh_ffi_record_t *r = &records[i];
        if (r->value)
            rocksdb_writebatch_put_cf(batch, shared->default_cf, r->key, r->key_len, r->value,
                                      r->value_len);
        else
            rocksdb_writebatch_delete_cf(batch, shared->default_cf, r->key, r->key_len);
    }
    return sh_store_write_batch(store, batch);
}

int sh_store_write_batch(sh_store_t *store, rocksdb_writebatch_t *batch) {
    char *err = NULL;
    rocksdb_write(store->shared->db, store->shared->write, batch, &err);
    rocksdb_writebatch_destroy(batch);
    return err ? sh_store_rocksdb_error(store, "restore", err) : SH_OK;
}

/* ---- iterators ---- */

static sh_store_iter_t *kv_iter_all(sh_store_t *store, const char *after_key, size_t after_len) {
    sh_store_db_t *shared = store->shared;
    sh_store_iter_t *iter = calloc(1, sizeof *iter);
    if (iter) iter->iters = calloc(1, sizeof *iter->iters);
    if (!iter || !iter->iters) {
        if (iter) free(iter);
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    iter->kind = SH_STORE_KV;
    iter->iter_count = 1;
    iter->iters[0] = rocksdb_create_iterator_cf(shared->db, shared->read, shared->default_cf);
    rocksdb_iterator_t *it = iter->iters[0];
    if (!after_key) {
        rocksdb_iter_seek_to_first(it);
    } else {
        rocksdb_iter_seek(it, after_key, after_len);
        size_t len = 0;
        const char *k = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &len) : NULL;
        if (k && len == after_len && memcmp(k, after_key, len) == 0) rocksdb_iter_next(it);
    }
    return iter;
}

sh_store_iter_t *sh_ffi_store_iter_all(sh_store_t *store, const char *after_key, size_t after_len,
                                       int64_t after_start) {
    if (!store) {
        sh_err_set(SH_ERR_INVALID, "store_iter_all: a store is required");
        return NULL;
    }
    if (sh_store_check_kind(store, store->shared->kind, "iter_all") != SH_OK) return NULL;
    sh_store_iter_t *iter = store->shared->kind == SH_STORE_WINDOW
                                ? sh_window_iter_all(store, after_key, after_len, after_start)
                                : kv_iter_all(store, after_key, after_len);
    return iter ? sh_store_iter_attach(store, iter) : NULL;
}

sh_store_iter_t *sh_store_iter_attach(sh_store_t *store, sh_store_iter_t *iter) {
    sh_store_lock();
    iter->shared = store->shared;
    store->shared->refs++;
    store->shared->iterators++;
    sh_store_unlock();
    return iter;
}

int sh_store_iter_copy(sh_store_iter_t *iter, const char *key, size_t key_len, const char *value,
                       size_t value_len, sh_ffi_slice_t *key_out, sh_ffi_slice_t *value_out) {
    if (sh_store_reserve(&iter->key_buf, &iter->key_cap, key_len + 1) != SH_OK ||
        sh_store_reserve(&iter->value_buf, &iter->value_cap, value_len + 1) != SH_OK) {
        return sh_store_iter_set_error(iter, SH_ERR_NOMEM, "out of memory");
    }
    memcpy(iter->key_buf, key, key_len);
    memcpy(iter->value_buf, value, value_len);
    if (key_out) key_out->data = iter->key_buf, key_out->len = key_len;
    if (value_out) value_out->data = iter->value_buf, value_out->len = value_len;
    return SH_OK;
}

int sh_ffi_store_iter_next(sh_store_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                           int64_t *window_start) {
    if (!iter) return sh_err_set(SH_ERR_INVALID, "store_iter_next: an iterator is required");
    if (iter->kind == SH_STORE_WINDOW) return sh_window_iter_next(iter, key, value, window_start);
    rocksdb_iterator_t *it = iter->iters[0];
    if (!rocksdb_iter_valid(it)) {
        char *err = NULL;
        rocksdb_iter_get_error(it, &err);
        if (!err) return SH_ERR_NOT_FOUND;
        sh_store_iter_set_error(iter, SH_ERR_STORE, "%s", err);
        free(err);
        return SH_ERR_STORE;
    }
    size_t key_len = 0, value_len = 0;
    const char *k = rocksdb_iter_key(it, &key_len);
    const char *v = rocksdb_iter_value(it, &value_len);
    int rc = sh_store_iter_copy(iter, k, key_len, v, value_len, key, value);
    if (rc == SH_OK && window_start) *window_start = 0;
    rocksdb_iter_next(it);
    return rc;
}

void sh_ffi_store_iter_destroy(sh_store_iter_t *iter) {
    if (!iter) return;
    for (int i = 0; i < iter->iter_count; i++)
        if (iter->iters[i]) rocksdb_iter_destroy(iter->iters[i]);
    free(iter->iters);
    free(iter->prefix);
    free(iter->key_buf);
    free(iter->value_buf);
    if (iter->shared) sh_store_iter_release(iter->shared);
    free(iter);
}

/* ---- checkpoints ---- */

/* FNV-1a: enough to tell a torn or edited file from one we wrote. */
static uint64_t checksum(const char *data, size_t len) {
    uint64_t hash = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        hash ^= (unsigned char)data[i];
        hash *= 1099511628211ULL;
    }
    return hash;
}

/* The one text a checkpoint for this offset may contain. */
static int checkpoint_text(char *buf, size_t size, int64_t offset) {
    int body = snprintf(buf, size, "streamhost-checkpoint 1\noffset %" PRId64 "\n", offset);
    uint64_t sum = checksum(buf, (size_t)body);
    return body + snprintf(buf + body, size - (size_t)body, "checksum %016" PRIx64 "\n", sum);
}

int sh_store_checkpoint_write(sh_store_t *store, int64_t changelog_offset) {
    if (!store || changelog_offset < -1) return SH_ERR_INVALID;
    sh_store_db_t *shared = store->shared;
    char *err = NULL;
    if (sh_window_save_stream_time(shared, &err) != SH_OK)
        return sh_store_rocksdb_error(store, "save stream time", err);
    rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(flush, 1);
    rocksdb_flush_cf(shared->db, flush, shared->default_cf, &err);
    if (!err && shared->meta_cf) rocksdb_flush_cf(shared->db, flush, shared->meta_cf, &err);
    for (int i = 0; !err && i < shared->segment_count; i++)
        rocksdb_flush_cf(shared->db, flush, shared->segments[i].cf, &err);
    rocksdb_flushoptions_destroy(flush);
    if (err) return sh_store_rocksdb_error(store, "flush memtables", err);

    char text[128];
    int len = checkpoint_text(text, sizeof text, changelog_offset);
    char *path = format_path("%s/checkpoint", shared->dir);
    char *tmp = format_path("%s/checkpoint.tmp", shared->dir);
    int rc = SH_ERR_STORE;
    int fd = -1;
    if (!path || !tmp) {
        rc = sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        goto done;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) != 0) goto failed;
    if (close(fd) != 0) {
        fd = -1;
        goto failed;
    }
    fd = -1;
    if (rename(tmp, path) != 0 || sync_dir(shared->dir) != 0) goto failed;
    rc = SH_OK;
    goto done;
failed:
    sh_store_set_error(store, rc, "writing %s: %s", path, strerror(errno));
done:
    if (fd >= 0) close(fd);
    if (rc != SH_OK && tmp) unlink(tmp);
    free(path);
    free(tmp);
    return rc;
}

/* Reads the checkpoint; false when it is missing or does not verify. */
static bool checkpoint_load(const char *path, int64_t *offset) {
    char text[256];
    FILE *f = fopen(path, "re");
    if (!f) return false;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    long long parsed;
    if (sscanf(text, "streamhost-checkpoint 1\noffset %lld\n", &parsed) != 1 || parsed < -1)
        return false;
    char expected[128];
    int expected_len = checkpoint_text(expected, sizeof expected, (int64_t)parsed);
    if ((size_t)expected_len != len || memcmp(expected, text, len) != 0) return false;
    *offset = (int64_t)parsed;
    return true;
}

int sh_store_checkpoint_read(sh_store_t *store, int64_t *offset) {
    if (!store || !offset) return SH_ERR_INVALID;
    sh_store_db_t *shared = store->shared;
    char *path = format_path("%s/checkpoint", shared->dir);
    if (!path) return SH_ERR_NOMEM;
    bool exists = access(path, F_OK) == 0;
    bool loaded = checkpoint_load(path, offset);
    free(path);
    if (loaded) return SH_OK;

    if (exists)
        sh_log(SH_LOG_WARN, "state store %s: checkpoint does not verify; rebuilding from %s",
               shared->dir, store->changelog_topic ? store->changelog_topic : "nothing");
    *offset = -1;
    sh_store_lock();
    if (shared->iterators > 0) {
        sh_store_unlock();
        sh_store_set_error(store, SH_ERR_STORE,
                           "cannot wipe for a rebuild while %d iterators are open",
                           shared->iterators);
        return SH_ERR_STORE;
    }
    char *error = NULL;
    int rc = db_wipe(shared);
    if (rc == SH_OK) {
        shared->stream_time = INT64_MIN;
        rc = db_open(shared, store->retention_ms, &error);
    }
    sh_store_unlock();
    if (rc != SH_OK) {
        sh_store_set_error(store, rc, "rebuilding %s: %s", shared->dir,
                           error ? error : strerror(errno));
        free(error);
    }
    return rc;
}

int sh_store_checkpoint_remove(sh_store_t *store) {
    if (!store) return SH_ERR_INVALID;
    char *path = format_path("%s/checkpoint", store->shared->dir);
    if (!path) return SH_ERR_NOMEM;
    int rc = unlink(path) == 0 || errno == ENOENT ? SH_OK : SH_ERR_STORE;
    if (rc == SH_OK && sync_dir(store->shared->dir) != 0) rc = SH_ERR_STORE;
    if (rc != SH_OK) sh_store_set_error(store, rc, "removing %s: %s", path, strerror(errno));
    free(path);
    return rc;
}
