/*
 * window_store.h - window stores: values keyed by (key, window start), kept
 * only while the window can still change, in time segments (ranges of the
 * default column family, each dropped whole). Reached through the facade (store.c); the caller
 * serializes use of a handle and of its database.
 */
#ifndef SH_WINDOW_STORE_H
#define SH_WINDOW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "state/changelog.h"
#include "state/registry.h"

typedef struct sh_window sh_window_t;
typedef struct sh_window_iter sh_window_iter_t;

extern const sh_registry_kind_t sh_window_kind;

/* A handle on db (the caller keeps db's reference); retention_ms = window
 * size + grace. As sh_kv_open for changelog, name and errmsg. */
sh_window_t *sh_window_open(sh_db_t *db, sh_changelog_t *changelog, const char *name,
                            int32_t partition, int64_t retention_ms, char *errmsg, size_t errlen);
void sh_window_close(sh_window_t *window);

int sh_window_get(sh_window_t *window, const char *key, size_t key_len, int64_t start,
                  sh_ffi_slice_t *out);
/* timestamp advances stream time (dropping segments whose windows have all
 * closed, one range deletion); a put to an expired window is skipped and counted. */
int sh_window_put(sh_window_t *window, const char *key, size_t key_len, int64_t start,
                  const char *value, size_t value_len, int64_t timestamp);
/* sh_window_put for each record (key, value, timestamp) at starts[i], in
 * one write batch, in segment, key, then start order (the memtable's: it
 * inserts a sorted run at a fraction of the cost). On a failure, what the changelog took is
 * written. */
int sh_window_put_many(sh_window_t *window, const sh_ffi_record_t *records, const int64_t *starts,
                       int count);
/* Applies changelog records (key = user key + 8-byte big-endian start). */
int sh_window_restore(sh_window_t *window, const sh_ffi_record_t *records, int count);
int64_t sh_window_stream_time(const sh_window_t *window);
int64_t sh_window_expired_count(const sh_window_t *window);
/* Saves stream time: the window store's part of a checkpoint (the
 * registry's flush writes the segments with the default family). */
int sh_window_flush(sh_window_t *window);

/* One key's windows with from <= start <= to, by start. */
sh_window_iter_t *sh_window_fetch(sh_window_t *window, const char *key, size_t key_len,
                                  int64_t from, int64_t to);
/* Every entry by segment, then key, then start, after (after_key,
 * after_start) when after_key is not NULL. */
sh_window_iter_t *sh_window_iter_all(sh_window_t *window, const char *after_key, size_t after_len,
                                     int64_t after_start);
/* Every entry by (key, start), the segments merged, after (after_key,
 * after_start): what a pager resumes with. A seek per segment to create. */
sh_window_iter_t *sh_window_iter_sorted(sh_window_t *window, const char *after_key,
                                        size_t after_len, int64_t after_start);
int sh_window_iter_next(sh_window_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                        int64_t *start);
const char *sh_window_iter_errmsg(const sh_window_iter_t *iter);
void sh_window_iter_destroy(sh_window_iter_t *iter);

/* For tests: the live segments and their width. */
int sh_window_segment_count(const sh_window_t *window);
int64_t sh_window_segment_interval(const sh_window_t *window);

#endif
