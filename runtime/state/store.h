/*
 * store.h - the state-store layer's internal side: what the host calls to
 * restore and checkpoint stores, and the structures store.c and
 * window_store.c share. Lua sees only the sh_ffi_store_* / sh_ffi_window_*
 * declarations in streamhost_ffi.h.
 */
#ifndef SH_STORE_H
#define SH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "base/err.h"
#include "base/log.h"
#include "engine/ctx.h"

/* ---- for the host ---- */

/* Applies one changelog record (key and value exactly as they were emitted;
 * value NULL deletes) without emitting it again. */
int sh_store_restore_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                         size_t value_len);

/* The same for a batch of changelog records (as consumed), in one RocksDB
 * write: what a restore should use. Only key, key_len, value and value_len
 * are read. */
int sh_store_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count);

/* Records that the store holds everything in its changelog up to and
 * including changelog_offset (-1: nothing yet). Syncs the database's write-ahead
 * log first, then replaces the checkpoint file atomically. */
int sh_store_checkpoint_write(sh_store_t *store, int64_t changelog_offset);

/* Sets *offset to the checkpointed changelog offset. A missing or corrupt
 * checkpoint wipes the store's directory and sets *offset to -1: restore the
 * changelog from its beginning. */
int sh_store_checkpoint_read(sh_store_t *store, int64_t *offset);

/* Deletes the checkpoint, so that a crash before the next
 * sh_store_checkpoint_write makes the next start rebuild from the changelog
 * (what exactly-once needs: local writes past the checkpoint may belong to
 * an aborted transaction). */
int sh_store_checkpoint_remove(sh_store_t *store);

const char *sh_store_name(const sh_store_t *store);
int sh_store_kind(const sh_store_t *store);
int32_t sh_store_partition(const sh_store_t *store);
/* "<app_id>-<name>-changelog", or NULL when the store has no changelog. */
const char *sh_store_changelog_topic(const sh_store_t *store);
sh_ctx_t *sh_store_ctx(const sh_store_t *store);

/* Calls fn for each open store handle made with ctx (ctx NULL: every handle). */
void sh_store_foreach(sh_ctx_t *ctx, void (*fn)(sh_store_t *store, void *arg), void *arg);

/* Deletes <state_dir>/<name>/<partition>/ (a revoked task's state). Refused
 * with SH_ERR_INVALID while that store is open. */
int sh_store_delete_state(const char *state_dir, const char *name, int32_t partition);

/* Removes a directory tree (streamhost reset); a missing path is not an error. */
int sh_store_remove_tree(const char *path);

/* ---- shared by store.c and window_store.c ---- */

/* One time segment of a window store: a column family holding the windows
 * that start in [id * interval, (id + 1) * interval). */
typedef struct sh_segment {
    int64_t id;
    rocksdb_column_family_handle_t *cf;
} sh_segment_t;

/* One open RocksDB instance. Handles and iterators hold references, so a
 * reloaded VM can open the same store while the old one still has it, and an
 * iterator outlives the handle it was made from. */
typedef struct sh_store_db {
    struct sh_store_db *next;
    char *dir;     /* <state_dir>/<name>/<partition> */
    char *db_path; /* dir/db */
    int kind;
    int refs;      /* handles + iterators */
    int iterators; /* open iterators: the database may not be wiped under them */
    rocksdb_t *db;
    rocksdb_options_t *options;
    rocksdb_readoptions_t *read;
    rocksdb_writeoptions_t *write;
    rocksdb_column_family_handle_t *default_cf;
    rocksdb_column_family_handle_t *meta_cf;
    /* window stores */
    int64_t segment_interval;
    int64_t stream_time;    /* INT64_MIN until the first window is seen */
    sh_segment_t *segments; /* sorted by id */
    int segment_count, segment_cap;
    /* dropped segments' handles, destroyed once no iterator may use them */
    rocksdb_column_family_handle_t **dropped;
    int dropped_count, dropped_cap;
} sh_store_db_t;

struct sh_store {
    struct sh_store *next;
    sh_store_db_t *shared;
    sh_ctx_t *ctx;
    char *name;
    char *changelog_topic;
    int changelog_sink; /* -1: no changelog */
    int32_t partition;
    int64_t retention_ms;
    int64_t expired; /* window puts skipped because the window had expired */
    char *value_buf;
    size_t value_cap;
    char *key_buf; /* scratch for encoded keys */
    size_t key_cap;
};

struct sh_store_iter {
    sh_store_db_t *shared;
    int kind;
    rocksdb_iterator_t **iters; /* one per segment (one for key-value stores) */
    int iter_count, current;
    char *prefix; /* fetch: the encoded key every entry must start with */
    size_t prefix_len;
    int64_t to;       /* fetch: last window start wanted */
    int64_t min_live; /* window stores: starts at or below this have expired */
    char *key_buf, *value_buf;
    size_t key_cap, value_cap;
};

/* Fails with code: sets the thread's last error (base/err.h) to
 * "store <name> partition <p>: <fmt...>" and returns code. */
int sh_store_set_error(sh_store_t *store, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Fails an iterator's call the same way; the iterator knows its directory. */
int sh_store_iter_set_error(sh_store_iter_t *iter, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Takes RocksDB's malloc'd error, makes it the last error (SH_ERR_STORE),
 * frees it and returns SH_ERR_STORE. */
int sh_store_rocksdb_error(sh_store_t *store, const char *what, char *err);
int sh_store_reserve(char **buf, size_t *cap, size_t need);
int sh_store_emit_changelog(sh_store_t *store, const char *key, size_t key_len, const char *value,
                            size_t value_len, int64_t timestamp);
void sh_store_lock(void);
void sh_store_unlock(void);
void sh_store_iter_release(sh_store_db_t *shared);
/* Registers a new iterator with the store's database (which it keeps open). */
sh_store_iter_t *sh_store_iter_attach(sh_store_t *store, sh_store_iter_t *iter);
/* Copies one entry into the iterator's buffers. */
int sh_store_iter_copy(sh_store_iter_t *iter, const char *key, size_t key_len, const char *value,
                       size_t value_len, sh_ffi_slice_t *key_out, sh_ffi_slice_t *value_out);
/* SH_OK when the store is of this kind and its database is open. */
int sh_store_check_kind(sh_store_t *store, int kind, const char *call);

/* window_store.c */
int sh_window_open(sh_store_db_t *shared, char **cf_names, rocksdb_column_family_handle_t **cfs,
                   int cf_count, int64_t retention_ms, char **error);
void sh_window_close(sh_store_db_t *shared);
/* Records stream time in the meta column family (window stores only). */
int sh_window_save_stream_time(sh_store_db_t *shared, char **error);
void sh_window_release_dropped(sh_store_db_t *shared);
int sh_window_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count);
/* Writes and destroys the batch. */
int sh_store_write_batch(sh_store_t *store, rocksdb_writebatch_t *batch);
sh_store_iter_t *sh_window_iter_all(sh_store_t *store, const char *after_key, size_t after_len,
                                    int64_t after_start);
int sh_window_iter_next(sh_store_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                        int64_t *window_start);

#endif
