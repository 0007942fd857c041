/*
 * window_layout.h - how a window store lays out its data, shared by the
 * file that writes it (window_store.c: segments, key encoding, stream time)
 * and the one that reads ranges of it (window_iter.c). See window_store.c
 * for the segments and the key encoding. Included by those two files only.
 */
#ifndef SH_WINDOW_LAYOUT_H
#define SH_WINDOW_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "state/kind.h"
#include "state/window_store.h"

/* One time segment: a column family holding the windows that start in
 * [id * interval, (id + 1) * interval). */
typedef struct {
    int64_t id;
    rocksdb_column_family_handle_t *cf;
} segment_t;

/* What every handle on one database shares (the database's kind_state):
 * a reloaded VM's handle and the host's see the same segments and time. */
typedef struct {
    int64_t segment_interval;
    int64_t stream_time; /* INT64_MIN until the first window is seen */
    segment_t *segments; /* sorted by id */
    int segment_count, segment_cap;
} window_db_t;

struct sh_window {
    sh_db_t *db;
    sh_changelog_t *changelog;
    sh_kind_errors_t errors; /* names the store and partition, too */
    int64_t retention_ms;
    int64_t expired; /* puts skipped because the window had expired */
    char *key_buf;   /* scratch for encoded keys */
    size_t key_cap;
    char *value_buf;
    size_t value_cap;
};

static inline window_db_t *sh_window_state(const sh_window_t *w) { return w->db->kind_state; }

/* The segment holding windows that start at start. */
int64_t sh_window_segment_of(const window_db_t *state, int64_t start);
/* Where segment id is, or would be inserted, in state->segments. */
int sh_window_segment_index(const window_db_t *state, int64_t id);
/* Segment id's column family, NULL when there is none. */
rocksdb_column_family_handle_t *sh_window_segment_find(const window_db_t *state, int64_t id);
/* Window starts at or below this have closed (INT64_MIN: none has). */
int64_t sh_window_min_live(const sh_window_t *w);
/* Encodes (key, start) into w's key buffer; *out_len its length.
 * SH_ERR_NOMEM when the buffer cannot grow. */
int sh_window_encode(sh_window_t *w, const char *key, size_t key_len, int64_t start,
                     size_t *out_len);
/* Unescapes an encoded entry key into out (which has room for len bytes);
 * returns the user key's length, or -1 when the bytes are not an entry key. */
long sh_window_decode_key(const char *enc, size_t len, char *out, int64_t *start);

#endif
