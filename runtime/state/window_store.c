/*
 * window_store.c - window stores: values keyed by (key, window start), kept
 * only while the window can still change.
 *
 * Time segments. The windows are split by start time into segments of
 * segment_interval ms (half the retention, at least a minute, fixed when the
 * store is made and kept in its "meta" column family), each in its own
 * RocksDB column family. Dropping a column family deletes its files at once,
 * so disk use stays bounded by about retention + one interval of data under
 * an endless stream, without waiting on compaction to reclaim range
 * tombstones or paying one tombstone per expired window (Kafka Streams'
 * segmented stores do the same with one RocksDB per segment).
 *
 * Retention. Stream time is the largest record timestamp a put has seen. A
 * window whose start is at or below stream time - retention (retention =
 * size + grace) has closed: puts to it are skipped and counted, reads do not
 * see it, and a segment all of whose windows have closed is dropped. Those
 * drops are not written to the changelog; its topic is meant to be created
 * with cleanup.policy=compact,delete and retention.ms = store retention plus
 * a margin, and a restore drops what has expired as it goes. Stream time is
 * saved in the meta column family on close and with each checkpoint; after
 * a crash it is at least the newest segment's start, which only errs towards
 * keeping windows.
 *
 * Keys. Inside a segment an entry's key is the user key with every 0x00
 * byte written as 0x00 0xff, then the terminator 0x00 0x01, then the window
 * start as 8 big-endian bytes with the sign bit flipped. So one key's windows
 * are contiguous and ordered by start, keys keep their byte order, and a key
 * that is a prefix of another ("a", "ab", "a\0") never interleaves with it.
 * The changelog carries the simpler form Kafka Streams uses, the user key
 * then the start as 8 big-endian bytes, which decodes because the suffix has
 * a fixed length.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/store.h"

static const char interval_key[] = "segment-interval";
static const char stream_time_key[] = "stream-time";
static const char segment_prefix[] = "segment-";
static const int64_t min_segment_interval = 60000;

static void put_be64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

static uint64_t get_be64(const char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

/* Flipping the sign bit makes negative starts sort before positive ones. */
static void put_start(char *p, int64_t start) {
    put_be64(p, (uint64_t)start ^ 0x8000000000000000ULL);
}
static int64_t get_start(const char *p) { return (int64_t)(get_be64(p) ^ 0x8000000000000000ULL); }

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t segment_of(const sh_store_db_t *shared, int64_t start) {
    return floor_div(start, shared->segment_interval);
}

/* Writes the escaped key and terminator into buf (NULL: just measures). */
static size_t escape_key(char *buf, const char *key, size_t key_len) {
    size_t n = 0;
    for (size_t i = 0; i < key_len; i++) {
        if (buf) buf[n] = key[i];
        n++;
        if (key[i] == 0) {
            if (buf) buf[n] = (char)0xff;
            n++;
        }
    }
    if (buf) buf[n] = 0, buf[n + 1] = 1;
    return n + 2;
}

/* Encodes (key, start) into the store's scratch buffer. */
static int encode(sh_store_t *store, const char *key, size_t key_len, int64_t start,
                  size_t *out_len) {
    size_t len = escape_key(NULL, key, key_len) + 8;
    if (sh_store_reserve(&store->key_buf, &store->key_cap, len) != SH_OK)
        return sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
    put_start(store->key_buf + escape_key(store->key_buf, key, key_len), start);
    *out_len = len;
    return SH_OK;
}

/* Unescapes an encoded entry key into out (which has room for len bytes);
 * returns the user key's length, or -1 when the bytes are not an entry key. */
static long decode_key(const char *enc, size_t len, char *out, int64_t *start) {
    if (len < 10) return -1;
    size_t n = 0;
    for (size_t i = 0; i + 1 < len - 8; i++) {
        if (enc[i] != 0) {
            out[n++] = enc[i];
            continue;
        }
        if (enc[i + 1] == 1) {
            if (i + 2 != len - 8) return -1;
            *start = get_start(enc + len - 8);
            return (long)n;
        }
        if ((unsigned char)enc[i + 1] != 0xff) return -1;
        out[n++] = 0;
        i++;
    }
    return -1;
}

/* ---- segments ---- */

static int segment_index(const sh_store_db_t *shared, int64_t id) {
    int lo = 0, hi = shared->segment_count;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (shared->segments[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static rocksdb_column_family_handle_t *segment_find(const sh_store_db_t *shared, int64_t id) {
    int i = segment_index(shared, id);
    return i < shared->segment_count && shared->segments[i].id == id ? shared->segments[i].cf
                                                                     : NULL;
}

static int segment_insert(sh_store_db_t *shared, int64_t id, rocksdb_column_family_handle_t *cf) {
    if (shared->segment_count == shared->segment_cap) {
        int cap = shared->segment_cap ? shared->segment_cap * 2 : 8;
        sh_segment_t *grown = realloc(shared->segments, sizeof *grown * (size_t)cap);
        if (!grown) return SH_ERR_NOMEM;
        shared->segments = grown;
        shared->segment_cap = cap;
    }
    int i = segment_index(shared, id);
    memmove(&shared->segments[i + 1], &shared->segments[i],
            sizeof *shared->segments * (size_t)(shared->segment_count - i));
    shared->segments[i] = (sh_segment_t){.id = id, .cf = cf};
    shared->segment_count++;
    return SH_OK;
}

static rocksdb_column_family_handle_t *segment_create(sh_store_t *store, int64_t id) {
    sh_store_db_t *shared = store->shared;
    char name[64];
    snprintf(name, sizeof name, "%s%" PRId64, segment_prefix, id);
    char *err = NULL;
    rocksdb_column_family_handle_t *cf =
        rocksdb_create_column_family(shared->db, shared->options, name, &err);
    if (err) {
        sh_store_rocksdb_error(store, "create segment", err);
        return NULL;
    }
    if (segment_insert(shared, id, cf) != SH_OK) {
        rocksdb_column_family_handle_destroy(cf);
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return cf;
}

void sh_window_release_dropped(sh_store_db_t *shared) {
    for (int i = 0; i < shared->dropped_count; i++)
        rocksdb_column_family_handle_destroy(shared->dropped[i]);
    shared->dropped_count = 0;
}

/* A dropped segment's handle waits for iterators that may still read it. */
static void segment_retire(sh_store_db_t *shared, rocksdb_column_family_handle_t *cf) {
    sh_store_lock();
    if (shared->iterators == 0) {
        rocksdb_column_family_handle_destroy(cf);
    } else {
        if (shared->dropped_count == shared->dropped_cap) {
            int cap = shared->dropped_cap ? shared->dropped_cap * 2 : 4;
            void *grown = realloc(shared->dropped, sizeof *shared->dropped * (size_t)cap);
            if (!grown) {
                /* Leaking one handle beats destroying it under a reader. */
                sh_store_unlock();
                return;
            }
            shared->dropped = grown;
            shared->dropped_cap = cap;
        }
        shared->dropped[shared->dropped_count++] = cf;
    }
    sh_store_unlock();
}

static int64_t min_live(const sh_store_t *store) {
    int64_t now = store->shared->stream_time;
    return now == INT64_MIN || now < INT64_MIN + store->retention_ms ? INT64_MIN
                                                                     : now - store->retention_ms;
}

/* Moves stream time forward and drops the segments whose windows have all
 * closed. */
static void advance(sh_store_t *store, int64_t timestamp) {
    sh_store_db_t *shared = store->shared;
    if (timestamp <= shared->stream_time) return;
    shared->stream_time = timestamp;
    int64_t oldest_live = min_live(store);
    if (oldest_live == INT64_MIN) return;
    /* Segment id holds starts up to (id + 1) * interval - 1. */
    int64_t last_dead = floor_div(oldest_live + 1, shared->segment_interval) - 1;
    int dropped = 0;
    while (dropped < shared->segment_count && shared->segments[dropped].id <= last_dead) {
        char *err = NULL;
        rocksdb_drop_column_family(shared->db, shared->segments[dropped].cf, &err);
        if (err) {
            /* Kept, and tried again on the next advance; reads still hide it. */
            sh_log(SH_LOG_WARN, "store %s partition %d: dropping segment %" PRId64 ": %s",
                   store->name, (int)store->partition, shared->segments[dropped].id, err);
            free(err);
            break;
        }
        segment_retire(shared, shared->segments[dropped].cf);
        dropped++;
    }
    if (!dropped) return;
    memmove(shared->segments, shared->segments + dropped,
            sizeof *shared->segments * (size_t)(shared->segment_count - dropped));
    shared->segment_count -= dropped;
}

/* ---- opening and closing ---- */

int sh_window_open(sh_store_db_t *shared, char **cf_names, rocksdb_column_family_handle_t **cfs,
                   int cf_count, int64_t retention_ms, char **error) {
    size_t len = 0;
    char *stored = rocksdb_get_cf(shared->db, shared->read, shared->meta_cf, interval_key,
                                  sizeof interval_key - 1, &len, error);
    if (*error) return SH_ERR_STORE;
    if (stored && len == 8) {
        shared->segment_interval = (int64_t)get_be64(stored);
    } else {
        shared->segment_interval =
            retention_ms / 2 > min_segment_interval ? retention_ms / 2 : min_segment_interval;
        char bytes[8];
        put_be64(bytes, (uint64_t)shared->segment_interval);
        rocksdb_put_cf(shared->db, shared->write, shared->meta_cf, interval_key,
                       sizeof interval_key - 1, bytes, 8, error);
    }
    free(stored);
    if (*error) return SH_ERR_STORE;
    if (shared->segment_interval <= 0) {
        *error = strdup("corrupt segment interval in the store's metadata");
        return SH_ERR_STORE;
    }

    for (int i = 0; i < cf_count; i++) {
        if (!cfs[i] || strncmp(cf_names[i], segment_prefix, sizeof segment_prefix - 1) != 0)
            continue;
        char *end = NULL;
        errno = 0;
        long long id = strtoll(cf_names[i] + sizeof segment_prefix - 1, &end, 10);
        if (errno || !end || *end) continue;
        if (segment_insert(shared, (int64_t)id, cfs[i]) != SH_OK) return SH_ERR_NOMEM;
        cfs[i] = NULL;
    }
    if (shared->segment_count > 0) {
        int64_t newest = shared->segments[shared->segment_count - 1].id;
        shared->stream_time = newest * shared->segment_interval;
    }
    stored = rocksdb_get_cf(shared->db, shared->read, shared->meta_cf, stream_time_key,
                            sizeof stream_time_key - 1, &len, error);
    if (*error) return SH_ERR_STORE;
    if (stored && len == 8 && (int64_t)get_be64(stored) > shared->stream_time)
        shared->stream_time = (int64_t)get_be64(stored);
    free(stored);
    return SH_OK;
}

int sh_window_save_stream_time(sh_store_db_t *shared, char **error) {
    if (!shared->db || shared->kind != SH_STORE_WINDOW || shared->segment_interval <= 0 ||
        shared->stream_time == INT64_MIN)
        return SH_OK;
    char bytes[8];
    put_be64(bytes, (uint64_t)shared->stream_time);
    rocksdb_put_cf(shared->db, shared->write, shared->meta_cf, stream_time_key,
                   sizeof stream_time_key - 1, bytes, 8, error);
    return *error ? SH_ERR_STORE : SH_OK;
}

void sh_window_close(sh_store_db_t *shared) {
    char *err = NULL;
    if (sh_window_save_stream_time(shared, &err) != SH_OK) {
        sh_log(SH_LOG_WARN, "state store %s: saving stream time: %s", shared->dir, err);
        free(err);
    }
    for (int i = 0; i < shared->segment_count; i++)
        rocksdb_column_family_handle_destroy(shared->segments[i].cf);
    shared->segment_count = 0;
    sh_window_release_dropped(shared);
}

/* ---- reads and writes ---- */

static int window_write(sh_store_t *store, const char *key, size_t key_len, int64_t start,
                        const char *value, size_t value_len) {
    sh_store_db_t *shared = store->shared;
    int64_t id = segment_of(shared, start);
    rocksdb_column_family_handle_t *cf = segment_find(shared, id);
    if (!cf && !value) return SH_OK; /* nothing there to delete */
    if (!cf && !(cf = segment_create(store, id))) return SH_ERR_STORE;
    size_t len = 0;
    if (encode(store, key, key_len, start, &len) != SH_OK) {
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return SH_ERR_NOMEM;
    }
    char *err = NULL;
    if (value)
        rocksdb_put_cf(shared->db, shared->write, cf, store->key_buf, len, value, value_len, &err);
    else
        rocksdb_delete_cf(shared->db, shared->write, cf, store->key_buf, len, &err);
    return err ? sh_store_rocksdb_error(store, value ? "window put" : "window delete", err) : SH_OK;
}

int sh_ffi_window_put(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      const char *value, size_t value_len, int64_t timestamp) {
    if (!store || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID, "window_put: a store and a key are required");
    int rc = sh_store_check_kind(store, SH_STORE_WINDOW, "window_put");
    if (rc != SH_OK) return rc;
    advance(store, timestamp);
    if (window_start <= min_live(store)) {
        store->expired++;
        return SH_OK;
    }
    if (store->changelog_sink >= 0) {
        if (sh_store_reserve(&store->key_buf, &store->key_cap, key_len + 8) != SH_OK) {
            sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
            return SH_ERR_NOMEM;
        }
        if (key_len) memcpy(store->key_buf, key, key_len);
        put_be64(store->key_buf + key_len, (uint64_t)window_start);
        rc = sh_store_emit_changelog(store, store->key_buf, key_len + 8, value, value_len,
                                     timestamp);
        if (rc != SH_OK) return rc;
    }
    return window_write(store, key, key_len, window_start, value, value_len);
}

int sh_window_restore_batch(sh_store_t *store, const sh_ffi_record_t *records, int count) {
    /* Stream time moves first, to the newest start in the batch, so that no
     * segment the batch writes to is dropped under it. A window's start is
     * at or before its records' timestamps: a lower bound for stream time,
     * which is all a restore knows. */
    int64_t newest = INT64_MIN;
    for (int i = 0; i < count; i++) {
        if (records[i].key_len < 8) {
            sh_store_set_error(store, SH_ERR_DECODE,
                               "changelog key of %zu bytes (offset %" PRId64
                               ") is too short for a windowed key (key + 8-byte start)",
                               records[i].key_len, records[i].offset);
            return SH_ERR_DECODE;
        }
        int64_t start = (int64_t)get_be64(records[i].key + records[i].key_len - 8);
        if (start > newest) newest = start;
    }
    if (count > 0) advance(store, newest);
    int64_t oldest_live = min_live(store);

    sh_store_db_t *shared = store->shared;
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    for (int i = 0; i < count; i++) {
        const sh_ffi_record_t *r = &records[i];
        size_t key_len = r->key_len - 8, len = 0;
        int64_t start = (int64_t)get_be64(r->key + key_len);
        if (start <= oldest_live) continue;
        int64_t id = segment_of(shared, start);
        rocksdb_column_family_handle_t *cf = segment_find(shared, id);
        if (!cf && !r->value) continue;
        if ((!cf && !(cf = segment_create(store, id))) ||
            encode(store, r->key, key_len, start, &len) != SH_OK) {
            rocksdb_writebatch_destroy(batch);
            return cf ? SH_ERR_NOMEM : SH_ERR_STORE;
        }
        if (r->value)
            rocksdb_writebatch_put_cf(batch, cf, store->key_buf, len, r->value, r->value_len);
        else
            rocksdb_writebatch_delete_cf(batch, cf, store->key_buf, len);
    }
    return sh_store_write_batch(store, batch);
}

int sh_ffi_window_get(sh_store_t *store, const char *key, size_t key_len, int64_t window_start,
                      sh_ffi_slice_t *out) {
    if (!store || !out || (!key && key_len))
        return sh_err_set(SH_ERR_INVALID,
                          "window_get: a store, an out slice and a key are required");
    int rc = sh_store_check_kind(store, SH_STORE_WINDOW, "window_get");
    if (rc != SH_OK) return rc;
    sh_store_db_t *shared = store->shared;
    if (window_start <= min_live(store)) return SH_ERR_NOT_FOUND;
    rocksdb_column_family_handle_t *cf = segment_find(shared, segment_of(shared, window_start));
    if (!cf) return SH_ERR_NOT_FOUND;
    size_t len = 0;
    if (encode(store, key, key_len, window_start, &len) != SH_OK) return SH_ERR_NOMEM;
    char *err = NULL;
    rocksdb_pinnableslice_t *pinned =
        rocksdb_get_pinned_cf(shared->db, shared->read, cf, store->key_buf, len, &err);
    if (err) return sh_store_rocksdb_error(store, "window get", err);
    if (!pinned) return SH_ERR_NOT_FOUND;
    size_t value_len = 0;
    const char *value = rocksdb_pinnableslice_value(pinned, &value_len);
    rc = sh_store_reserve(&store->value_buf, &store->value_cap, value_len + 1);
    if (rc == SH_OK) {
        memcpy(store->value_buf, value, value_len);
        out->data = store->value_buf;
        out->len = value_len;
    }
    rocksdb_pinnableslice_destroy(pinned);
    return rc;
}

int64_t sh_ffi_store_stream_time(sh_store_t *store) {
    return store ? store->shared->stream_time : INT64_MIN;
}

int64_t sh_ffi_store_expired_count(sh_store_t *store) { return store ? store->expired : 0; }

/* ---- iterators ---- */

/* An iterator over the segments with ids in [first, last], all seen at one
 * instant (rocksdb_create_iterators gives them one consistent view). */
static sh_store_iter_t *iter_over(sh_store_t *store, int64_t first, int64_t last) {
    sh_store_db_t *shared = store->shared;
    sh_store_iter_t *iter = calloc(1, sizeof *iter);
    if (!iter) goto nomem;
    iter->kind = SH_STORE_WINDOW;
    iter->to = INT64_MAX;
    iter->min_live = min_live(store);
    int begin = segment_index(shared, first), end = begin;
    while (end < shared->segment_count && shared->segments[end].id <= last)
        end++;
    iter->iter_count = end - begin;
    if (iter->iter_count == 0) return iter;
    rocksdb_column_family_handle_t **cfs = calloc((size_t)iter->iter_count, sizeof *cfs);
    iter->iters = calloc((size_t)iter->iter_count, sizeof *iter->iters);
    if (!cfs || !iter->iters) {
        free(cfs);
        free(iter->iters);
        free(iter);
        goto nomem;
    }
    for (int i = 0; i < iter->iter_count; i++)
        cfs[i] = shared->segments[begin + i].cf;
    char *err = NULL;
    rocksdb_create_iterators(shared->db, shared->read, cfs, iter->iters, (size_t)iter->iter_count,
                             &err);
    free(cfs);
    if (err) {
        free(iter->iters);
        free(iter);
        sh_store_rocksdb_error(store, "create iterators", err);
        return NULL;
    }
    return iter;
nomem:
    sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
    return NULL;
}

sh_store_iter_t *sh_ffi_window_fetch(sh_store_t *store, const char *key, size_t key_len,
                                     int64_t from, int64_t to) {
    if (!store || (!key && key_len)) {
        sh_err_set(SH_ERR_INVALID, "window_fetch: a store and a key are required");
        return NULL;
    }
    if (sh_store_check_kind(store, SH_STORE_WINDOW, "window_fetch") != SH_OK) return NULL;
    sh_store_db_t *shared = store->shared;
    int64_t oldest = min_live(store);
    if (oldest != INT64_MIN && from <= oldest) from = oldest + 1;
    /* from > to: an iterator over no segment, which is simply empty. */
    int64_t first = segment_of(shared, from), last = from > to ? first - 1 : segment_of(shared, to);
    size_t len = 0;
    if (encode(store, key, key_len, from, &len) != SH_OK) {
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    char *prefix = malloc(len);
    if (!prefix) {
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(prefix, store->key_buf, len - 8);
    sh_store_iter_t *iter = iter_over(store, first, last);
    if (!iter) {
        free(prefix);
        return NULL;
    }
    iter->to = to;
    iter->prefix = prefix;
    iter->prefix_len = len - 8;
    for (int i = 0; i < iter->iter_count; i++)
        rocksdb_iter_seek(iter->iters[i], store->key_buf, len);
    return sh_store_iter_attach(store, iter);
}

sh_store_iter_t *sh_window_iter_all(sh_store_t *store, const char *after_key, size_t after_len,
                                    int64_t after_start) {
    sh_store_db_t *shared = store->shared;
    int64_t first = after_key ? segment_of(shared, after_start) : INT64_MIN;
    size_t len = 0;
    if (after_key && encode(store, after_key, after_len, after_start, &len) != SH_OK) {
        sh_store_set_error(store, SH_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* Only the position's own segment needs a seek; if it has been dropped,
     * the next segment is read from its beginning. */
    bool seek_first = after_key && segment_find(shared, first) != NULL;
    sh_store_iter_t *iter = iter_over(store, first, INT64_MAX);
    if (!iter) return NULL;
    for (int i = 0; i < iter->iter_count; i++) {
        rocksdb_iterator_t *it = iter->iters[i];
        if (i > 0 || !seek_first) {
            rocksdb_iter_seek_to_first(it);
            continue;
        }
        rocksdb_iter_seek(it, store->key_buf, len);
        size_t found_len = 0;
        const char *found = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &found_len) : NULL;
        if (found && found_len == len && memcmp(found, store->key_buf, len) == 0)
            rocksdb_iter_next(it);
    }
    return iter;
}

int sh_window_iter_next(sh_store_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                        int64_t *window_start) {
    while (iter->current < iter->iter_count) {
        rocksdb_iterator_t *it = iter->iters[iter->current];
        if (!rocksdb_iter_valid(it)) {
            char *err = NULL;
            rocksdb_iter_get_error(it, &err);
            if (err) {
                sh_store_iter_set_error(iter, SH_ERR_STORE, "%s", err);
                free(err);
                return SH_ERR_STORE;
            }
            iter->current++;
            continue;
        }
        size_t enc_len = 0, value_len = 0;
        const char *enc = rocksdb_iter_key(it, &enc_len);
        if (iter->prefix &&
            (enc_len != iter->prefix_len + 8 || memcmp(enc, iter->prefix, iter->prefix_len) != 0)) {
            iter->current++; /* past this key's windows in this segment */
            continue;
        }
        if (sh_store_reserve(&iter->key_buf, &iter->key_cap, enc_len) != SH_OK) {
            return sh_store_iter_set_error(iter, SH_ERR_NOMEM, "out of memory");
        }
        int64_t start = 0;
        long key_len = decode_key(enc, enc_len, iter->key_buf, &start);
        if (key_len < 0) {
            return sh_store_iter_set_error(iter, SH_ERR_STORE, "corrupt window key of %zu bytes",
                                           enc_len);
        }
        if (start > iter->to) {
            iter->current++;
            continue;
        }
        if (start <= iter->min_live) {
            rocksdb_iter_next(it);
            continue;
        }
        const char *v = rocksdb_iter_value(it, &value_len);
        if (sh_store_reserve(&iter->value_buf, &iter->value_cap, value_len + 1) != SH_OK) {
            return sh_store_iter_set_error(iter, SH_ERR_NOMEM, "out of memory");
        }
        memcpy(iter->value_buf, v, value_len);
        if (key) key->data = iter->key_buf, key->len = (size_t)key_len;
        if (value) value->data = iter->value_buf, value->len = value_len;
        if (window_start) *window_start = start;
        rocksdb_iter_next(it);
        return SH_OK;
    }
    return SH_ERR_NOT_FOUND;
}
