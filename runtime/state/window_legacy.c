/*
 * window_legacy.c - moves a window store made by an earlier streamhost, one
 * RocksDB column family per time segment ("segment-<id>"), into the layout
 * window_store.c keeps now: every entry in the default family, its key
 * prefixed with its segment's id. Done once, when such a database is opened;
 * the entries' own bytes (user key, terminator, start) do not change.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "state/window_layout.h"

static const char legacy_prefix[] = "segment-";

/* Entries per write batch: bounds the memory a large segment takes. */
enum { BATCH_ENTRIES = 10000 };

/* The segment id a family name gives, or false when it names none. */
static bool legacy_id(const char *name, int64_t *id) {
    if (strncmp(name, legacy_prefix, sizeof legacy_prefix - 1) != 0) return false;
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(name + sizeof legacy_prefix - 1, &end, 10);
    if (errno || !end || end == name + sizeof legacy_prefix - 1 || *end) return false;
    *id = (int64_t)parsed;
    return true;
}

/* Copies one family's entries into the default family under id's prefix.
 * Returns the number copied, or -1 with *error set. */
static long copy_family(sh_db_t *db, rocksdb_column_family_handle_t *family, int64_t id,
                        char **error) {
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(db->rocks, db->read, family);
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    char *key = NULL;
    size_t cap = 0;
    long copied = 0;
    bool failed = false; /* also when even the message could not be allocated */
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t len = 0, value_len = 0;
        const char *old = rocksdb_iter_key(it, &len);
        const char *value = rocksdb_iter_value(it, &value_len);
        if (cap < SH_WINDOW_PREFIX + len) {
            char *grown = realloc(key, SH_WINDOW_PREFIX + len);
            if (!grown) {
                *error = strdup("out of memory");
                failed = true;
                break;
            }
            key = grown;
            cap = SH_WINDOW_PREFIX + len;
        }
        sh_window_segment_prefix(key, id);
        memcpy(key + SH_WINDOW_PREFIX, old, len);
        rocksdb_writebatch_put_cf(batch, db->default_cf, key, SH_WINDOW_PREFIX + len, value,
                                  value_len);
        copied++;
        if (rocksdb_writebatch_count(batch) >= BATCH_ENTRIES) {
            rocksdb_write(db->rocks, db->write, batch, error);
            rocksdb_writebatch_clear(batch);
            if (*error) break;
        }
    }
    if (!failed && !*error) rocksdb_iter_get_error(it, error);
    if (!failed && !*error) rocksdb_write(db->rocks, db->write, batch, error);
    free(key);
    rocksdb_writebatch_destroy(batch);
    rocksdb_iter_destroy(it);
    return failed || *error ? -1 : copied;
}

int sh_window_migrate_legacy(sh_db_t *db, char **names, rocksdb_column_family_handle_t **families,
                             int count, char **error) {
    long moved = 0;
    int segments = 0;
    for (int i = 0; i < count; i++) {
        int64_t id = 0;
        if (!families[i] || !legacy_id(names[i], &id)) continue;
        long copied = copy_family(db, families[i], id, error);
        /* The copy is durable before the family goes: writes skip the WAL. */
        if (copied >= 0) {
            rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create();
            rocksdb_flushoptions_set_wait(flush, 1);
            rocksdb_flush_cf(db->rocks, flush, db->default_cf, error);
            rocksdb_flushoptions_destroy(flush);
        }
        if (copied >= 0 && !*error) rocksdb_drop_column_family(db->rocks, families[i], error);
        if (copied < 0 || *error) {
            char *why = *error;
            size_t n = (why ? strlen(why) : 0) + strlen(names[i]) + 64;
            if ((*error = malloc(n)))
                snprintf(*error, n, "moving %s into the default column family: %s", names[i],
                         why ? why : "out of memory");
            free(why);
            return SH_ERR_STORE;
        }
        rocksdb_column_family_handle_destroy(families[i]);
        families[i] = NULL;
        moved += copied;
        segments++;
    }
    if (segments)
        sh_log(SH_LOG_INFO,
               "state store %s: moved %ld window(s) out of %d per-segment column "
               "families, an earlier layout, into the default one",
               db->dir, moved, segments);
    return SH_OK;
}
