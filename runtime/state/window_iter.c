/*
 * window_iter.c - reading ranges of a window store (see window_store.h):
 * one key's windows between two starts (the lookups a session store finds
 * a key's sessions by), and every entry, by segment or merged across the
 * segments in (key, start) order, from a position a pager resumes at.
 *
 * An iterator holds one RocksDB iterator per segment, all made at one
 * instant over the default family, each kept inside its segment's key
 * prefix, and a reference on the database, so it may outlive its handle.
 * It hides windows that had closed when it was made.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/kind.h"
#include "state/window_layout.h"
#include "state/window_store.h"

struct sh_window_iter {
    sh_db_t *db;
    rocksdb_iterator_t **iters; /* one per segment */
    int64_t *ids;               /* the segment each reads */
    int iter_count, current;
    bool merged;  /* read the segments merged, in (key, start) order */
    char *prefix; /* fetch: the encoded key every entry must have after its segment */
    size_t prefix_len;
    int64_t to;       /* fetch: last window start wanted */
    int64_t min_live; /* starts at or below this have expired */
    char *key_buf, *value_buf;
    size_t key_cap, value_cap;
    char errmsg[256];
};

/* An iterator over the segments with ids in [first, last], all seen at one
 * instant (rocksdb_create_iterators gives them one consistent view). It
 * holds a reference on the database, so it may outlive the handle. */
static sh_window_iter_t *iter_over(sh_window_t *w, int64_t first, int64_t last) {
    window_db_t *state = sh_window_state(w);
    sh_window_iter_t *iter = calloc(1, sizeof *iter);
    if (!iter) goto nomem;
    iter->to = INT64_MAX;
    iter->min_live = sh_window_min_live(w);
    int begin = sh_window_segment_index(state, first), end = begin;
    while (end < state->segment_count && state->segments[end].id <= last)
        end++;
    iter->iter_count = end - begin;
    if (iter->iter_count > 0) {
        rocksdb_column_family_handle_t **cfs = calloc((size_t)iter->iter_count, sizeof *cfs);
        iter->iters = calloc((size_t)iter->iter_count, sizeof *iter->iters);
        iter->ids = calloc((size_t)iter->iter_count, sizeof *iter->ids);
        if (!cfs || !iter->iters || !iter->ids) {
            free(cfs);
            free(iter->iters);
            free(iter->ids);
            free(iter);
            goto nomem;
        }
        for (int i = 0; i < iter->iter_count; i++) {
            cfs[i] = w->db->default_cf;
            iter->ids[i] = state->segments[begin + i].id;
        }
        char *err = NULL;
        rocksdb_create_iterators(w->db->rocks, w->db->read, cfs, iter->iters,
                                 (size_t)iter->iter_count, &err);
        free(cfs);
        if (err) {
            free(iter->iters);
            free(iter->ids);
            free(iter);
            sh_kind_rocksdb_failed(&w->errors, "create iterators", err);
            return NULL;
        }
    }
    iter->db = w->db;
    sh_registry_iterator_opened(w->db);
    return iter;
nomem:
    sh_kind_error(&w->errors, "out of memory");
    return NULL;
}

sh_window_iter_t *sh_window_fetch(sh_window_t *w, const char *key, size_t key_len, int64_t from,
                                  int64_t to) {
    window_db_t *state = sh_window_state(w);
    int64_t oldest = sh_window_min_live(w);
    if (oldest != INT64_MIN && from <= oldest) from = oldest + 1;
    /* from > to: an iterator over no segment, which is simply empty. */
    int64_t first = sh_window_segment_of(state, from),
            last = from > to ? first - 1 : sh_window_segment_of(state, to);
    size_t len = 0;
    char *prefix = NULL;
    if (sh_window_encode(w, key, key_len, from, &len) != SH_OK || !(prefix = malloc(len))) {
        sh_kind_error(&w->errors, "out of memory");
        return NULL;
    }
    memcpy(prefix, w->key_buf + SH_WINDOW_PREFIX, len - SH_WINDOW_PREFIX - 8);
    sh_window_iter_t *iter = iter_over(w, first, last);
    if (!iter) {
        free(prefix);
        return NULL;
    }
    iter->to = to;
    iter->prefix = prefix;
    iter->prefix_len = len - SH_WINDOW_PREFIX - 8;
    /* (key, from) in each segment's keys: the later ones start past it anyway */
    for (int i = 0; i < iter->iter_count; i++) {
        sh_window_segment_prefix(w->key_buf, iter->ids[i]);
        rocksdb_iter_seek(iter->iters[i], w->key_buf, len);
    }
    return iter;
}

/* Positions it at the start of segment id. */
static void seek_segment(rocksdb_iterator_t *it, int64_t id) {
    char prefix[SH_WINDOW_PREFIX];
    sh_window_segment_prefix(prefix, id);
    rocksdb_iter_seek(it, prefix, sizeof prefix);
}

/* Positions it just after the encoded position (len bytes in the handle's
 * key buffer). */
static void seek_after(rocksdb_iterator_t *it, const char *position, size_t len) {
    rocksdb_iter_seek(it, position, len);
    size_t found_len = 0;
    const char *found = rocksdb_iter_valid(it) ? rocksdb_iter_key(it, &found_len) : NULL;
    if (found && found_len == len && memcmp(found, position, len) == 0) rocksdb_iter_next(it);
}

sh_window_iter_t *sh_window_iter_all(sh_window_t *w, const char *after_key, size_t after_len,
                                     int64_t after_start) {
    window_db_t *state = sh_window_state(w);
    int64_t first = after_key ? sh_window_segment_of(state, after_start) : INT64_MIN;
    size_t len = 0;
    if (after_key && sh_window_encode(w, after_key, after_len, after_start, &len) != SH_OK) {
        sh_kind_error(&w->errors, "out of memory");
        return NULL;
    }
    /* Only the position's own segment needs a seek; if it has been dropped,
     * the next segment is read from its beginning. */
    bool seek_first = after_key && sh_window_segment_has(state, first);
    sh_window_iter_t *iter = iter_over(w, first, INT64_MAX);
    if (!iter) return NULL;
    for (int i = 0; i < iter->iter_count; i++) {
        if (i > 0 || !seek_first)
            seek_segment(iter->iters[i], iter->ids[i]);
        else
            seek_after(iter->iters[i], w->key_buf, len);
    }
    return iter;
}

sh_window_iter_t *sh_window_iter_sorted(sh_window_t *w, const char *after_key, size_t after_len,
                                        int64_t after_start) {
    size_t len = 0;
    if (after_key && sh_window_encode(w, after_key, after_len, after_start, &len) != SH_OK) {
        sh_kind_error(&w->errors, "out of memory");
        return NULL;
    }
    /* Every segment may hold keys after the position: seek each, to the
     * position in that segment's keys. */
    sh_window_iter_t *iter = iter_over(w, INT64_MIN, INT64_MAX);
    if (!iter) return NULL;
    iter->merged = true;
    for (int i = 0; i < iter->iter_count; i++) {
        if (!after_key) {
            seek_segment(iter->iters[i], iter->ids[i]);
        } else {
            sh_window_segment_prefix(w->key_buf, iter->ids[i]);
            seek_after(iter->iters[i], w->key_buf, len);
        }
    }
    return iter;
}

/* RocksDB's bytewise order: memcmp, then the shorter first. */
static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Segment i's iterator's entry key, without its segment prefix; NULL past
 * the segment's end (*failed: on an error, iter->errmsg says which). */
static const char *segment_key(sh_window_iter_t *iter, int i, size_t *len, bool *failed) {
    rocksdb_iterator_t *it = iter->iters[i];
    *failed = false;
    if (!rocksdb_iter_valid(it)) {
        *failed = sh_kind_iter_failed(it, iter->errmsg, sizeof iter->errmsg) != SH_ERR_NOT_FOUND;
        return NULL;
    }
    size_t enc_len = 0;
    const char *enc = rocksdb_iter_key(it, &enc_len);
    if (enc_len < SH_WINDOW_PREFIX || sh_window_key_segment(enc) != iter->ids[i]) return NULL;
    *len = enc_len - SH_WINDOW_PREFIX;
    return enc + SH_WINDOW_PREFIX;
}

/* The segment iterator to read next: iter->current, or for a merged
 * iterator the one at the smallest key (a scan over the segments, of which
 * there are a few). Returns iter_count at the end, -1 on error. */
static int next_segment(sh_window_iter_t *iter) {
    if (!iter->merged) return iter->current;
    int best = iter->iter_count;
    const char *best_key = NULL;
    size_t best_len = 0;
    for (int i = 0; i < iter->iter_count; i++) {
        size_t len = 0;
        bool failed = false;
        const char *key = segment_key(iter, i, &len, &failed);
        if (failed) return -1;
        if (key && (!best_key || compare_bytes(key, len, best_key, best_len) < 0))
            best = i, best_key = key, best_len = len;
    }
    return best;
}

int sh_window_iter_next(sh_window_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value,
                        int64_t *window_start) {
    for (;;) {
        int segment = next_segment(iter);
        if (segment < 0) return SH_ERR_STORE;
        if (segment >= iter->iter_count) break;
        rocksdb_iterator_t *it = iter->iters[segment];
        size_t enc_len = 0, value_len = 0;
        bool failed = false;
        const char *enc = segment_key(iter, segment, &enc_len, &failed);
        if (failed) return SH_ERR_STORE;
        if (!enc) { /* past the segment's end */
            iter->current++;
            continue;
        }
        if (iter->prefix &&
            (enc_len != iter->prefix_len + 8 || memcmp(enc, iter->prefix, iter->prefix_len) != 0)) {
            iter->current++; /* past this key's windows in this segment */
            continue;
        }
        if (sh_kind_reserve(&iter->key_buf, &iter->key_cap, enc_len) != SH_OK) {
            snprintf(iter->errmsg, sizeof iter->errmsg, "out of memory");
            return SH_ERR_NOMEM;
        }
        int64_t start = 0;
        long key_len = sh_window_decode_key(enc, enc_len, iter->key_buf, &start);
        if (key_len < 0) {
            snprintf(iter->errmsg, sizeof iter->errmsg, "corrupt window key of %zu bytes", enc_len);
            return SH_ERR_STORE;
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
        if (sh_kind_reserve(&iter->value_buf, &iter->value_cap, value_len + 1) != SH_OK) {
            snprintf(iter->errmsg, sizeof iter->errmsg, "out of memory");
            return SH_ERR_NOMEM;
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

const char *sh_window_iter_errmsg(const sh_window_iter_t *iter) { return iter->errmsg; }

void sh_window_iter_destroy(sh_window_iter_t *iter) {
    if (!iter) return;
    for (int i = 0; i < iter->iter_count; i++)
        if (iter->iters[i]) rocksdb_iter_destroy(iter->iters[i]);
    free(iter->iters);
    free(iter->ids);
    free(iter->prefix);
    free(iter->key_buf);
    free(iter->value_buf);
    sh_registry_iterator_closed(iter->db);
    free(iter);
}
