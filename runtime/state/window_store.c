/*
 * window_store.c - window stores: values keyed by (key, window start), kept
 * only while the window can still change.
 *
 * Time segments. The windows are split by start time into segments of
 * segment_interval ms (half the retention, at least a minute, fixed when the
 * store is made and kept in its "meta" column family). Every key begins with
 * its segment's id, so a segment is one contiguous range of the default
 * column family, and a segment whose windows have all closed goes with one
 * range deletion: one tombstone, not one per expired window, and compaction
 * reclaims its files, so disk use stays bounded by about retention + one
 * interval of data under an endless stream (Kafka Streams' segmented stores
 * bound it the same way with one RocksDB per segment).
 *
 * Segments were once a column family each. Creating or dropping a column
 * family makes RocksDB write, sync and parse back its OPTIONS file and sync
 * its MANIFEST (~3 ms): a hopping app replaying 1,000 s of event time on 64
 * partitions spent about half its time on it (54-90k input records/s end
 * to end, 146-155k in this layout). A database in that layout is moved into
 * this one when it is opened (window_legacy.c), and its kind's tag changes
 * from 'w' to 'W' so that a streamhost from before refuses it.
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
 * Keys. An entry's key is its segment id as 8 big-endian bytes with the sign
 * bit flipped, then the user key with every 0x00 byte written as 0x00 0xff,
 * then the terminator 0x00 0x01, then the window start as 8 big-endian bytes
 * with the sign bit flipped. So inside a segment one key's windows are
 * contiguous and ordered by start, keys keep their byte order, and a key
 * that is a prefix of another ("a", "ab", "a\0") never interleaves with it.
 * The changelog carries the simpler form Kafka Streams uses, the user key
 * then the start as 8 big-endian bytes, which decodes because the suffix has
 * a fixed length.
 *
 * This file writes and keeps the layout (window_layout.h); window_iter.c
 * reads ranges of it. Failures are reported through kind.c, as a key-value
 * store reports them.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "state/kind.h"
#include "state/window_layout.h"
#include "state/window_store.h"

static const char interval_key[] = "segment-interval";
static const char stream_time_key[] = "stream-time";
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

int64_t sh_window_segment_of(const window_db_t *state, int64_t start) {
    return floor_div(start, state->segment_interval);
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

void sh_window_segment_prefix(char *out, int64_t id) { put_start(out, id); }

/* Encodes (segment, key, start) into the handle's scratch buffer; the
 * writers pass the segment they have already worked out. */
static int encode_in(sh_window_t *w, int64_t segment, const char *key, size_t key_len,
                     int64_t start, size_t *out_len) {
    size_t len = SH_WINDOW_PREFIX + escape_key(NULL, key, key_len) + 8;
    if (sh_kind_reserve(&w->key_buf, &w->key_cap, len) != SH_OK) return SH_ERR_NOMEM;
    put_start(w->key_buf, segment);
    put_start(w->key_buf + SH_WINDOW_PREFIX +
                  escape_key(w->key_buf + SH_WINDOW_PREFIX, key, key_len),
              start);
    *out_len = len;
    return SH_OK;
}

int sh_window_encode(sh_window_t *w, const char *key, size_t key_len, int64_t start,
                     size_t *out_len) {
    return encode_in(w, sh_window_segment_of(sh_window_state(w), start), key, key_len, start,
                     out_len);
}

int64_t sh_window_key_segment(const char *enc) { return get_start(enc); }

/* Unescapes an entry key after its segment prefix into out (which has room
 * for len bytes); returns the user key's length, or -1 when the bytes are
 * not one. */
long sh_window_decode_key(const char *enc, size_t len, char *out, int64_t *start) {
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

int sh_window_segment_index(const window_db_t *state, int64_t id) {
    int lo = 0, hi = state->segment_count;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (state->segments[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool sh_window_segment_has(const window_db_t *state, int64_t id) {
    int i = sh_window_segment_index(state, id);
    return i < state->segment_count && state->segments[i].id == id;
}

/* Lists segment id (which must not be listed yet). */
static int segment_insert(window_db_t *state, int64_t id) {
    if (state->segment_count == state->segment_cap) {
        int cap = state->segment_cap ? state->segment_cap * 2 : 8;
        segment_t *grown = realloc(state->segments, sizeof *grown * (size_t)cap);
        if (!grown) return SH_ERR_NOMEM;
        state->segments = grown;
        state->segment_cap = cap;
    }
    int i = sh_window_segment_index(state, id);
    memmove(&state->segments[i + 1], &state->segments[i],
            sizeof *state->segments * (size_t)(state->segment_count - i));
    state->segments[i] = (segment_t){.id = id};
    state->segment_count++;
    return SH_OK;
}

/* Makes sure segment id is listed before a write to it. */
static int segment_use(sh_window_t *w, int64_t id) {
    window_db_t *state = sh_window_state(w);
    if (sh_window_segment_has(state, id)) return SH_OK;
    if (segment_insert(state, id) == SH_OK) return SH_OK;
    sh_kind_error(&w->errors, "out of memory");
    return SH_ERR_NOMEM;
}

int64_t sh_window_min_live(const sh_window_t *w) {
    int64_t now = sh_window_state(w)->stream_time;
    return now == INT64_MIN || now < INT64_MIN + w->retention_ms ? INT64_MIN
                                                                 : now - w->retention_ms;
}

/* Moves stream time forward and drops the segments whose windows have all
 * closed. Cost: O(segments) when one is dropped. */
static void advance(sh_window_t *w, int64_t timestamp) {
    window_db_t *state = sh_window_state(w);
    if (timestamp <= state->stream_time) return;
    state->stream_time = timestamp;
    int64_t oldest_live = sh_window_min_live(w);
    if (oldest_live == INT64_MIN) return;
    /* Segment id holds starts up to (id + 1) * interval - 1. */
    int64_t last_dead = floor_div(oldest_live + 1, state->segment_interval) - 1;
    int dropped = 0;
    while (dropped < state->segment_count && state->segments[dropped].id <= last_dead)
        dropped++;
    if (!dropped) return;
    /* One range from the lowest id possible, so that nothing older is left
     * behind either. */
    char from[SH_WINDOW_PREFIX], to[SH_WINDOW_PREFIX];
    put_start(from, INT64_MIN);
    put_start(to, state->segments[dropped - 1].id + 1);
    char *err = NULL;
    rocksdb_delete_range_cf(w->db->rocks, w->db->write, w->db->default_cf, from, sizeof from, to,
                            sizeof to, &err);
    if (err) {
        /* Kept, and tried again on the next advance; reads still hide it. */
        sh_log(SH_LOG_WARN, "store %s partition %d: dropping segments up to %" PRId64 ": %s",
               w->errors.name, (int)w->errors.partition, state->segments[dropped - 1].id, err);
        free(err);
        return;
    }
    memmove(state->segments, state->segments + dropped,
            sizeof *state->segments * (size_t)(state->segment_count - dropped));
    state->segment_count -= dropped;
}

/* ---- the registry's hooks: every open and close of a database ---- */

static int save_stream_time(sh_db_t *db, char **error) {
    window_db_t *state = db->kind_state;
    if (!db->rocks || !state || state->stream_time == INT64_MIN) return SH_OK;
    char bytes[8];
    put_be64(bytes, (uint64_t)state->stream_time);
    rocksdb_put_cf(db->rocks, db->write, db->meta_cf, stream_time_key, sizeof stream_time_key - 1,
                   bytes, 8, error);
    return *error ? SH_ERR_STORE : SH_OK;
}

static void unload(sh_db_t *db) {
    window_db_t *state = db->kind_state;
    if (!state) return;
    char *err = NULL;
    if (save_stream_time(db, &err) != SH_OK) {
        sh_log(SH_LOG_WARN, "state store %s: saving stream time: %s", db->dir, err);
        free(err);
    }
    free(state->segments);
    free(state);
    db->kind_state = NULL;
}

/* Lists the segments the default family holds: one seek per segment. */
static int list_segments(sh_db_t *db, window_db_t *state, char **error) {
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db->rocks, db->read, db->default_cf);
    rocksdb_iter_seek_to_first(it);
    while (rocksdb_iter_valid(it)) {
        size_t len = 0;
        const char *key = rocksdb_iter_key(it, &len);
        if (len < SH_WINDOW_PREFIX) { /* not a window's key: passed over */
            rocksdb_iter_next(it);
            continue;
        }
        int64_t id = get_start(key);
        if (segment_insert(state, id) != SH_OK) {
            rocksdb_iter_destroy(it);
            *error = strdup("out of memory");
            return SH_ERR_NOMEM;
        }
        if (id == INT64_MAX) break;
        char next[SH_WINDOW_PREFIX];
        put_start(next, id + 1);
        rocksdb_iter_seek(it, next, sizeof next);
    }
    rocksdb_iter_get_error(it, error);
    rocksdb_iter_destroy(it);
    return *error ? SH_ERR_STORE : SH_OK;
}

/* Reads the segment interval (fixed when the store is made) and stream
 * time from meta, moves a database in the old layout into this one, and
 * lists the segments. */
static int load(sh_db_t *db, char **names, rocksdb_column_family_handle_t **families, int count,
                int64_t retention_ms, char **error) {
    window_db_t *state = calloc(1, sizeof *state);
    if (!state) {
        *error = strdup("out of memory");
        return SH_ERR_NOMEM;
    }
    state->stream_time = INT64_MIN;
    db->kind_state = state;
    size_t len = 0;
    char *stored = rocksdb_get_cf(db->rocks, db->read, db->meta_cf, interval_key,
                                  sizeof interval_key - 1, &len, error);
    if (*error) return SH_ERR_STORE;
    if (stored && len == 8) {
        state->segment_interval = (int64_t)get_be64(stored);
    } else {
        state->segment_interval =
            retention_ms / 2 > min_segment_interval ? retention_ms / 2 : min_segment_interval;
        char bytes[8];
        put_be64(bytes, (uint64_t)state->segment_interval);
        rocksdb_put_cf(db->rocks, db->write, db->meta_cf, interval_key, sizeof interval_key - 1,
                       bytes, 8, error);
    }
    free(stored);
    if (*error) return SH_ERR_STORE;
    if (state->segment_interval <= 0) {
        *error = strdup("corrupt segment interval in the store's metadata");
        return SH_ERR_STORE;
    }
    if (sh_window_migrate_legacy(db, names, families, count, error) != SH_OK ||
        list_segments(db, state, error) != SH_OK)
        return SH_ERR_STORE;
    if (state->segment_count > 0) {
        int64_t newest = state->segments[state->segment_count - 1].id;
        state->stream_time = newest * state->segment_interval;
    }
    stored = rocksdb_get_cf(db->rocks, db->read, db->meta_cf, stream_time_key,
                            sizeof stream_time_key - 1, &len, error);
    if (*error) return SH_ERR_STORE;
    if (stored && len == 8 && (int64_t)get_be64(stored) > state->stream_time)
        state->stream_time = (int64_t)get_be64(stored);
    free(stored);
    return SH_OK;
}

/* Insert hints per segment and first key byte: 9 bytes, longer than the
 * 8-byte segment bound of the range deletion advance() writes when a
 * segment expires. RocksDB 7.8
 * keeps one hint map for a memtable's point keys and its range deletions,
 * two skip lists: a range deletion inserted with a hint left it pointing
 * into the other list (an assertion in RocksDB's skip list; later RocksDB
 * gives range deletions no hint). */
const sh_registry_kind_t sh_window_kind = {.tag = 'W',
                                           .former_tag = 'w',
                                           .label = "window",
                                           .insert_hint_prefix = SH_WINDOW_PREFIX + 1,
                                           .load = load,
                                           .unload = unload};

/* ---- handles ---- */

sh_window_t *sh_window_open(sh_db_t *db, sh_changelog_t *changelog, const char *name,
                            int32_t partition, int64_t retention_ms, char *errmsg, size_t errlen) {
    sh_window_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    *w = (sh_window_t){
        .db = db,
        .changelog = changelog,
        .errors = {.buf = errmsg, .len = errlen, .name = name, .partition = partition},
        .retention_ms = retention_ms};
    return w;
}

void sh_window_close(sh_window_t *w) {
    if (!w) return;
    free(w->key_buf);
    free(w->value_buf);
    free(w);
}

int sh_window_flush(sh_window_t *w) {
    char *err = NULL;
    if (save_stream_time(w->db, &err) != SH_OK)
        return sh_kind_rocksdb_failed(&w->errors, "save stream time", err);
    return SH_OK;
}

int sh_window_segment_count(const sh_window_t *w) { return sh_window_state(w)->segment_count; }
int64_t sh_window_segment_interval(const sh_window_t *w) {
    return sh_window_state(w)->segment_interval;
}

/* ---- reads and writes ---- */

static int window_write(sh_window_t *w, const char *key, size_t key_len, int64_t start,
                        const char *value, size_t value_len) {
    window_db_t *state = sh_window_state(w);
    int64_t id = sh_window_segment_of(state, start);
    if (!value && !sh_window_segment_has(state, id)) return SH_OK; /* nothing to delete */
    if (segment_use(w, id) != SH_OK) return SH_ERR_NOMEM;
    size_t len = 0;
    if (encode_in(w, id, key, key_len, start, &len) != SH_OK) {
        sh_kind_error(&w->errors, "out of memory");
        return SH_ERR_NOMEM;
    }
    char *err = NULL;
    if (value)
        rocksdb_put_cf(w->db->rocks, w->db->write, w->db->default_cf, w->key_buf, len, value,
                       value_len, &err);
    else
        rocksdb_delete_cf(w->db->rocks, w->db->write, w->db->default_cf, w->key_buf, len, &err);
    return err ? sh_kind_rocksdb_failed(&w->errors, value ? "window put" : "window delete", err)
               : SH_OK;
}

int sh_window_put(sh_window_t *w, const char *key, size_t key_len, int64_t start, const char *value,
                  size_t value_len, int64_t timestamp) {
    advance(w, timestamp);
    if (start <= sh_window_min_live(w)) {
        w->expired++;
        return SH_OK;
    }
    if (w->changelog) {
        if (sh_kind_reserve(&w->key_buf, &w->key_cap, key_len + 8) != SH_OK) {
            sh_kind_error(&w->errors, "out of memory");
            return SH_ERR_NOMEM;
        }
        if (key_len) memcpy(w->key_buf, key, key_len);
        put_be64(w->key_buf + key_len, (uint64_t)start);
        int rc =
            sh_changelog_emit(w->changelog, w->key_buf, key_len + 8, value, value_len, timestamp);
        if (rc != SH_OK) {
            sh_kind_error(&w->errors, "changelog %s: %s", w->changelog->topic,
                          sh_ffi_err_message());
            return rc;
        }
    }
    return window_write(w, key, key_len, start, value, value_len);
}

/* Whether moving stream time to timestamp drops a segment (see advance). */
static bool drops_segment(const sh_window_t *w, int64_t timestamp) {
    const window_db_t *state = sh_window_state(w);
    if (timestamp <= state->stream_time || state->segment_count == 0 ||
        timestamp < INT64_MIN + w->retention_ms)
        return false;
    int64_t last_dead = floor_div(timestamp - w->retention_ms + 1, state->segment_interval) - 1;
    return state->segments[0].id <= last_dead;
}

static int write_pending(sh_window_t *w, rocksdb_writebatch_t *batch) {
    if (rocksdb_writebatch_count(batch) == 0) return SH_OK;
    char *err = NULL;
    rocksdb_write(w->db->rocks, w->db->write, batch, &err);
    rocksdb_writebatch_clear(batch);
    return err ? sh_kind_rocksdb_failed(&w->errors, "window put", err) : SH_OK;
}

/* A put's place in the order the flush writes, which is the memtable's
 * (a sorted run inserts at a fraction of the cost of a scattered one):
 * segment, then key bytes, then start, then the caller's index (ties only when one (key, start)
 * comes twice, which keeps their order as a stable sort would). prefix is the key's first 8 bytes,
 * big-endian, zero-padded: when two prefixes differ they order the keys as memcmp then length would
 * (a padding 0 sits where the shorter key ended, below any byte of the longer one, or the keys
 * differ before it), so most comparisons read this struct only, not the keys' bytes, which lie
 * apart in the caller's memory. */
typedef struct {
    int64_t segment;
    uint64_t prefix;
    int64_t start;
    int index;
} put_order_t;

static uint64_t key_prefix(const char *key, size_t key_len) {
    uint64_t p = 0;
    for (size_t i = 0; i < 8; i++)
        p = p << 8 | (i < key_len ? (unsigned char)key[i] : 0);
    return p;
}

static bool put_before(const put_order_t *x, const put_order_t *y, const sh_ffi_record_t *records) {
    if (x->segment != y->segment) return x->segment < y->segment;
    if (x->prefix != y->prefix) return x->prefix < y->prefix;
    const sh_ffi_record_t *a = &records[x->index], *b = &records[y->index];
    if (a->key_len > 8 || b->key_len > 8 || a->key_len != b->key_len) {
        size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
        int d = n ? memcmp(a->key, b->key, n) : 0;
        if (d) return d < 0;
        if (a->key_len != b->key_len) return a->key_len < b->key_len;
    }
    if (x->start != y->start) return x->start < y->start;
    return x->index < y->index;
}

/* Sorts order[0..count) by put_before: a bottom-up merge sort through tmp
 * (count entries). O(count log count) comparisons, each inline. */
static void sort_puts(put_order_t *order, put_order_t *tmp, int count,
                      const sh_ffi_record_t *records) {
    put_order_t *from = order, *to = tmp;
    for (int width = 1; width < count; width *= 2) {
        for (int lo = 0; lo < count; lo += 2 * width) {
            int mid = lo + width < count ? lo + width : count;
            int hi = lo + 2 * width < count ? lo + 2 * width : count;
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                to[k++] = put_before(&from[j], &from[i], records) ? from[j++] : from[i++];
            while (i < mid)
                to[k++] = from[i++];
            while (j < hi)
                to[k++] = from[j++];
        }
        put_order_t *swap = from;
        from = to;
        to = swap;
    }
    if (from != order) memcpy(order, from, sizeof *order * (size_t)count);
}

int sh_window_put_many(sh_window_t *w, const sh_ffi_record_t *records, const int64_t *starts,
                       int count) {
    if (count == 0) return SH_OK;
    /* order, then the merge sort's scratch, in one block */
    put_order_t *order = malloc(sizeof *order * 2 * (size_t)count);
    rocksdb_writebatch_t *batch = order ? rocksdb_writebatch_create() : NULL;
    if (!batch) {
        free(order);
        sh_kind_error(&w->errors, "out of memory");
        return SH_ERR_NOMEM;
    }
    window_db_t *state = sh_window_state(w);
    for (int i = 0; i < count; i++)
        order[i] = (put_order_t){sh_window_segment_of(state, starts[i]),
                                 key_prefix(records[i].key, records[i].key_len), starts[i], i};
    sort_puts(order, order + count, count, records);
    int rc = SH_OK;
    for (int n = 0; n < count; n++) {
        const sh_ffi_record_t *r = &records[order[n].index];
        int64_t start = order[n].start;
        /* a segment this batch writes to must not be dropped under it */
        if (drops_segment(w, r->timestamp) && (rc = write_pending(w, batch)) != SH_OK) break;
        advance(w, r->timestamp);
        if (start <= sh_window_min_live(w)) {
            w->expired++;
            continue;
        }
        if (w->changelog) {
            if (sh_kind_reserve(&w->key_buf, &w->key_cap, r->key_len + 8) != SH_OK) {
                sh_kind_error(&w->errors, "out of memory");
                rc = SH_ERR_NOMEM;
                break;
            }
            if (r->key_len) memcpy(w->key_buf, r->key, r->key_len);
            put_be64(w->key_buf + r->key_len, (uint64_t)start);
            rc = sh_changelog_emit(w->changelog, w->key_buf, r->key_len + 8, r->value, r->value_len,
                                   r->timestamp);
            if (rc != SH_OK) {
                sh_kind_error(&w->errors, "changelog %s: %s", w->changelog->topic,
                              sh_ffi_err_message());
                break;
            }
        }
        int64_t id = sh_window_segment_of(state, start);
        if (!r->value && !sh_window_segment_has(state, id)) continue; /* nothing to delete */
        if ((rc = segment_use(w, id)) != SH_OK) break;
        size_t len = 0;
        if (encode_in(w, id, r->key, r->key_len, start, &len) != SH_OK) {
            sh_kind_error(&w->errors, "out of memory");
            rc = SH_ERR_NOMEM;
            break;
        }
        if (r->value)
            rocksdb_writebatch_put_cf(batch, w->db->default_cf, w->key_buf, len, r->value,
                                      r->value_len);
        else
            rocksdb_writebatch_delete_cf(batch, w->db->default_cf, w->key_buf, len);
    }
    /* what the changelog took is written, also after a failure */
    int written = write_pending(w, batch);
    rocksdb_writebatch_destroy(batch);
    free(order);
    return rc != SH_OK ? rc : written;
}

int sh_window_restore(sh_window_t *w, const sh_ffi_record_t *records, int count) {
    /* Stream time moves first, to the newest start in the batch, so that no
     * segment the batch writes to is dropped under it. A window's start is
     * at or before its records' timestamps: a lower bound for stream time,
     * which is all a restore knows. */
    int64_t newest = INT64_MIN;
    for (int i = 0; i < count; i++) {
        if (records[i].key_len < 8) {
            sh_kind_error(&w->errors,
                          "changelog key of %zu bytes (offset %" PRId64
                          ") is too short for a windowed key (key + 8-byte start)",
                          records[i].key_len, records[i].offset);
            return SH_ERR_DECODE;
        }
        int64_t start = (int64_t)get_be64(records[i].key + records[i].key_len - 8);
        if (start > newest) newest = start;
    }
    if (count > 0) advance(w, newest);
    int64_t oldest_live = sh_window_min_live(w);

    window_db_t *state = sh_window_state(w);
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    for (int i = 0; i < count; i++) {
        const sh_ffi_record_t *r = &records[i];
        size_t key_len = r->key_len - 8, len = 0;
        int64_t start = (int64_t)get_be64(r->key + key_len);
        if (start <= oldest_live) continue;
        int64_t id = sh_window_segment_of(state, start);
        if (!r->value && !sh_window_segment_has(state, id)) continue;
        if (segment_use(w, id) != SH_OK ||
            encode_in(w, id, r->key, key_len, start, &len) != SH_OK) {
            rocksdb_writebatch_destroy(batch);
            sh_kind_error(&w->errors, "out of memory");
            return SH_ERR_NOMEM;
        }
        if (r->value)
            rocksdb_writebatch_put_cf(batch, w->db->default_cf, w->key_buf, len, r->value,
                                      r->value_len);
        else
            rocksdb_writebatch_delete_cf(batch, w->db->default_cf, w->key_buf, len);
    }
    char *err = NULL;
    rocksdb_write(w->db->rocks, w->db->write, batch, &err);
    rocksdb_writebatch_destroy(batch);
    return err ? sh_kind_rocksdb_failed(&w->errors, "restore", err) : SH_OK;
}

int sh_window_get(sh_window_t *w, const char *key, size_t key_len, int64_t start,
                  sh_ffi_slice_t *out) {
    window_db_t *state = sh_window_state(w);
    if (start <= sh_window_min_live(w)) return SH_ERR_NOT_FOUND;
    int64_t id = sh_window_segment_of(state, start);
    if (!sh_window_segment_has(state, id)) return SH_ERR_NOT_FOUND;
    size_t len = 0;
    if (encode_in(w, id, key, key_len, start, &len) != SH_OK) {
        sh_kind_error(&w->errors, "out of memory");
        return SH_ERR_NOMEM;
    }
    char *err = NULL;
    rocksdb_pinnableslice_t *pinned =
        rocksdb_get_pinned_cf(w->db->rocks, w->db->read, w->db->default_cf, w->key_buf, len, &err);
    if (err) return sh_kind_rocksdb_failed(&w->errors, "window get", err);
    if (!pinned) return SH_ERR_NOT_FOUND;
    size_t value_len = 0;
    const char *value = rocksdb_pinnableslice_value(pinned, &value_len);
    int rc = sh_kind_reserve(&w->value_buf, &w->value_cap, value_len + 1);
    if (rc == SH_OK) {
        memcpy(w->value_buf, value, value_len);
        out->data = w->value_buf;
        out->len = value_len;
    } else {
        sh_kind_error(&w->errors, "out of memory for a value of %zu bytes", value_len);
    }
    rocksdb_pinnableslice_destroy(pinned);
    return rc;
}

int64_t sh_window_stream_time(const sh_window_t *w) { return sh_window_state(w)->stream_time; }
int64_t sh_window_expired_count(const sh_window_t *w) { return w->expired; }
