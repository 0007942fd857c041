/*
 * window_layout.h - how a window store lays out its data, shared by the
 * file that writes it (window_store.c: segments, key encoding, stream time)
 * and the one that reads ranges of it (window_iter.c). See window_store.c
 * for the segments and the key encoding. Included by those two files only.
 */
#ifndef SH_WINDOW_LAYOUT_H
#define SH_WINDOW_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/kind.h"
#include "state/window_store.h"

/* Every entry's key begins with its segment's id in this many bytes. */
enum { SH_WINDOW_PREFIX = 8 };

/* One time segment: the windows that start in [id * interval,
 * (id + 1) * interval), the default family's keys that begin with id. */
typedef struct {
    int64_t id;
} segment_t;

/* What every handle on one database shares (the database's kind_state):
 * a reloaded VM's handle and the host's see the same segments and time. */
typedef struct {
    int64_t segment_interval;
    int64_t stream_time; /* INT64_MIN until the first window is seen */
    segment_t *segments; /* sorted by id: those written to and not yet dropped */
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
/* Whether segment id is listed. */
bool sh_window_segment_has(const window_db_t *state, int64_t id);
/* Window starts at or below this have closed (INT64_MIN: none has). */
int64_t sh_window_min_live(const sh_window_t *w);
/* Encodes (key, start) under the segment start falls in into w's key
 * buffer; *out_len its length. SH_ERR_NOMEM when the buffer cannot grow. A
 * seek into another segment rewrites the prefix (sh_window_segment_prefix). */
int sh_window_encode(sh_window_t *w, const char *key, size_t key_len, int64_t start,
                     size_t *out_len);
/* Writes segment id's key prefix (SH_WINDOW_PREFIX bytes) to out. */
void sh_window_segment_prefix(char *out, int64_t id);
/* The segment an encoded entry key (at least SH_WINDOW_PREFIX bytes) is in. */
int64_t sh_window_key_segment(const char *enc);
/* Unescapes an encoded entry key after its segment prefix into out (which
 * has room for len bytes); returns the user key's length, or -1 when the
 * bytes are not an entry key. */
long sh_window_decode_key(const char *enc, size_t len, char *out, int64_t *start);

/* Moves the entries of a database in the old layout, one column family per
 * segment ("segment-<id>", keys without the prefix), into the default
 * family, and drops those families (clearing their slots). SH_OK when there
 * were none; else SH_ERR_STORE with *error (malloc'd). window_legacy.c. */
int sh_window_migrate_legacy(sh_db_t *db, char **names, rocksdb_column_family_handle_t **families,
                             int count, char **error);

#endif
