/*
 * store.h - the state layer's facade for the rest of the core: what the
 * host's tasks, the HTTP endpoint and `streamhost reset` call on a store
 * handle beyond the sh_ffi_store_* / sh_ffi_window_* calls Lua makes
 * (streamhost_ffi.h). Below it: kv_store.c and window_store.c, and under
 * them registry.c and checkpoint.c.
 */
#ifndef SH_STORE_H
#define SH_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "streamhost_ffi.h"

/* Applies one changelog record (key and value exactly as they were emitted;
 * value NULL deletes) without emitting it again. */
int sh_store_restore_put(sh_store_t *store, const char *key, size_t key_len, const char *value,
                         size_t value_len);

/* The same for a batch of changelog records (as consumed), in one RocksDB
 * write: what a restore should use. Only key, key_len, value and value_len
 * (and offset, for messages) are read. */
int sh_store_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count);

/* Records that the store holds everything in its changelog up to and
 * including changelog_offset (-1: nothing yet). Flushes the memtables first
 * (O(memtable size)), then replaces the checkpoint file atomically. */
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
/* The open database the handle shares (an sh_db_t, registry.h); for tests. */
const void *sh_store_database(const sh_store_t *store);
/* A window store's live segments and their width (0 for key-value stores);
 * for tests. */
int sh_store_segment_count(const sh_store_t *store);
int64_t sh_store_segment_interval(const sh_store_t *store);

/* Like sh_ffi_store_iter_all, but every kind in (key, window start) order
 * (a window store's segments merged), starting after (after_key,
 * after_start): what a pager needs to resume where it stopped. Creating it
 * costs a seek per segment, O(log N); the caller decides how far to read. */
sh_store_iter_t *sh_store_iter_sorted(sh_store_t *store, const char *after_key, size_t after_len,
                                      int64_t after_start);

/* Deletes <state_dir>/<name>/<partition>/ (a revoked task's state). Refused
 * with SH_ERR_INVALID while that store is open. */
/* The offset in store name's partition's checkpoint file when its database
 * exists, without opening it (a guess: an open may still find it corrupt);
 * -1 otherwise. */
int64_t sh_store_checkpoint_peek(const char *state_dir, const char *name, int32_t partition);
int sh_store_delete_state(const char *state_dir, const char *name, int32_t partition);

/* Removes a directory tree (streamhost reset); a missing path is not an
 * error. Cost: O(files under path). */
int sh_store_remove_tree(const char *path);

#endif
