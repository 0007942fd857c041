/*
 * registry.c - open RocksDB databases, shared by the handles on them.
 *
 * A process-wide list maps a store directory to its open database, with a
 * reference count (handles and iterators) and an iterator count: the last
 * reference closes the database, and a database is never wiped under an
 * iterator.
 *
 * Every database has a "meta" column family whose "kind" key records the
 * kind that made it, so a key-value store is never opened as a window
 * store. The other column families (beyond default and meta) belong to the
 * kind, which takes them over in its load hook after every open.
 *
 * The changelog is a store's durability, as in Kafka Streams: writes skip
 * RocksDB's write-ahead log, and a checkpoint flushes the memtables first,
 * so what it vouches for is on disk; anything newer is replayed from the
 * changelog.
 *
 * Opening a database waits on its files (a fresh one syncs ~20 times), so
 * it runs outside registry_lock: the entry is listed first, marked
 * `opening`, and whoever looks the directory up meanwhile waits on
 * registry_opened until it is open (or gone, when the open failed). Stores
 * of different directories thus open in parallel (tasks.c's openers).
 *
 * @locks registry_lock guards the list, the counts and `opening`; a database's contents are the
 * caller's to serialize (tasks.c's lock).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "state/checkpoint.h"
#include "state/insert_hint.h"
#include "state/registry.h"
#include "streamhost_ffi.h"

typedef struct entry {
    sh_db_t db; /* first: an sh_db_t * is its entry */
    struct entry *next;
    char *dir, *db_path;
    const sh_registry_kind_t *const *known;
    int refs;      /* handles + iterators */
    int iterators; /* open iterators */
    bool opening;  /* db_open runs, without registry_lock */
} entry_t;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_opened = PTHREAD_COND_INITIALIZER;
static entry_t *open_dbs;

static const char kind_key[] = "kind";

static char *format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *format(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0) text = NULL;
    va_end(ap);
    return text;
}

int sh_registry_make_dirs(const char *path) {
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

int sh_registry_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? SH_OK : SH_ERR_STORE;
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? SH_OK : SH_ERR_STORE;
}

/* ---- opening and closing ---- */

static void db_close(entry_t *e) {
    if (!e->db.rocks) return;
    if (e->db.kind->unload) e->db.kind->unload(&e->db);
    e->db.kind_state = NULL;
    if (e->db.meta_cf) rocksdb_column_family_handle_destroy(e->db.meta_cf);
    if (e->db.default_cf) rocksdb_column_family_handle_destroy(e->db.default_cf);
    e->db.meta_cf = e->db.default_cf = NULL;
    rocksdb_close(e->db.rocks);
    e->db.rocks = NULL;
}

static bool is_corruption(const char *err) { return err && strstr(err, "Corruption") != NULL; }

/* The kind recorded in meta, written when the database is made. */
static int record_kind(entry_t *e, char **error) {
    rocksdb_put_cf(e->db.rocks, e->db.write, e->db.meta_cf, kind_key, sizeof kind_key - 1,
                   &e->db.kind->tag, 1, error);
    return *error ? SH_ERR_STORE : SH_OK;
}

/* Checks the kind the meta family records, recording it in a new database.
 * *former: the database has the kind's former tag (its load upgrades it). */
static int check_kind(entry_t *e, bool *former, char **error) {
    size_t len = 0;
    char *stored = rocksdb_get_cf(e->db.rocks, e->db.read, e->db.meta_cf, kind_key,
                                  sizeof kind_key - 1, &len, error);
    if (*error) return SH_ERR_STORE;
    char want = e->db.kind->tag;
    int rc = SH_OK;
    *former = stored && len == 1 && e->db.kind->former_tag && stored[0] == e->db.kind->former_tag;
    if (!stored) {
        rc = record_kind(e, error);
    } else if (!*former && (len != 1 || stored[0] != want)) {
        const char *found = "another kind of";
        for (int i = 0; e->known && e->known[i]; i++)
            if (len == 1 && (e->known[i]->tag == stored[0] ||
                             (e->known[i]->former_tag && e->known[i]->former_tag == stored[0])))
                found = e->known[i]->label;
        *error = format("the state on disk belongs to a %s store, not a %s store; delete %s "
                        "(streamhost reset) or rename the store",
                        found, e->db.kind->label, e->dir);
        rc = SH_ERR_STORE;
    }
    free(stored);
    return rc;
}

/* Opens the database with every column family it has. Sets *error
 * (malloc'd) on failure. Cost: O(column families). */
static int db_open_once(entry_t *e, int64_t retention_ms, char **error) {
    char *current = format("%s/CURRENT", e->db_path);
    if (!current) return SH_ERR_NOMEM;
    bool fresh = access(current, F_OK) != 0;
    free(current);
    /* An old checkpoint cannot describe a database made from nothing. */
    if (fresh) sh_checkpoint_remove(e->dir);

    char **listed = NULL;
    size_t listed_count = 0;
    const char *fresh_names[] = {"default", "meta"};
    if (!fresh) {
        listed = rocksdb_list_column_families(e->db.options, e->db_path, &listed_count, error);
        if (*error) return SH_ERR_STORE;
    }
    int count = fresh ? 2 : (int)listed_count;
    bool has_meta = fresh;
    for (int i = 0; !fresh && i < count; i++)
        has_meta |= strcmp(listed[i], "meta") == 0;
    int total = count + (has_meta ? 0 : 1);
    const char **names = calloc((size_t)total, sizeof *names);
    const rocksdb_options_t **options = calloc((size_t)total, sizeof *options);
    rocksdb_column_family_handle_t **families = calloc((size_t)total, sizeof *families);
    int rc = SH_ERR_NOMEM;
    if (!names || !options || !families) {
        *error = strdup("out of memory opening the database");
        goto out;
    }
    for (int i = 0; i < count; i++)
        names[i] = fresh ? fresh_names[i] : listed[i];
    if (!has_meta) names[count] = "meta";
    for (int i = 0; i < total; i++)
        options[i] = e->db.options;

    rc = SH_ERR_STORE;
    e->db.rocks = rocksdb_open_column_families(e->db.options, e->db_path, total, names, options,
                                               families, error);
    if (*error) goto out;
    for (int i = 0; i < total; i++) {
        if (strcmp(names[i], "default") == 0)
            e->db.default_cf = families[i], families[i] = NULL;
        else if (strcmp(names[i], "meta") == 0)
            e->db.meta_cf = families[i], families[i] = NULL;
    }
    bool former = false;
    if ((rc = check_kind(e, &former, error)) != SH_OK) goto out;
    if (e->db.kind->load)
        rc = e->db.kind->load(&e->db, (char **)names, families, total, retention_ms, error);
    if (rc == SH_OK && former) rc = record_kind(e, error);
    e->db.created = fresh && rc == SH_OK;
    e->db.created_seq = e->db.created ? rocksdb_get_latest_sequence_number(e->db.rocks) : 0;

out:
    for (int i = 0; families && i < total; i++)
        if (families[i]) rocksdb_column_family_handle_destroy(families[i]);
    if (rc != SH_OK) db_close(e);
    free(names);
    free(options);
    free(families);
    if (listed) rocksdb_list_column_families_destroy(listed, listed_count);
    return rc;
}

static int db_wipe(entry_t *e) {
    db_close(e);
    if (sh_registry_remove_tree(e->dir) != SH_OK || sh_registry_make_dirs(e->dir) != 0)
        return SH_ERR_STORE;
    return SH_OK;
}

/* Opens the database; one that RocksDB reports corrupt is wiped and made
 * again, to be rebuilt from the changelog. */
static int db_open(entry_t *e, int64_t retention_ms, char **error) {
    int rc = db_open_once(e, retention_ms, error);
    if (rc == SH_OK || !is_corruption(*error)) return rc;
    sh_log(SH_LOG_WARN, "state store %s is corrupt (%s); wiping it to rebuild from the changelog",
           e->dir, *error);
    free(*error);
    *error = NULL;
    if (db_wipe(e) != SH_OK) {
        *error = format("could not wipe %s: %s", e->dir, strerror(errno));
        return SH_ERR_STORE;
    }
    return db_open_once(e, retention_ms, error);
}

static void entry_free(entry_t *e) {
    db_close(e);
    if (e->db.options) rocksdb_options_destroy(e->db.options);
    if (e->db.read) rocksdb_readoptions_destroy(e->db.read);
    if (e->db.write) rocksdb_writeoptions_destroy(e->db.write);
    free(e->dir);
    free(e->db_path);
    free(e);
}

static entry_t *entry_new(const char *dir, const sh_registry_kind_t *kind,
                          const sh_registry_kind_t *const *known) {
    entry_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->db.kind = kind;
    e->known = known;
    e->dir = strdup(dir);
    e->db.dir = e->dir;
    e->db_path = format("%s/db", dir);
    e->db.options = rocksdb_options_create();
    e->db.read = rocksdb_readoptions_create();
    e->db.write = rocksdb_writeoptions_create();
    if (!e->dir || !e->db_path || !e->db.options || !e->db.read || !e->db.write) {
        entry_free(e);
        return NULL;
    }
    rocksdb_options_set_create_if_missing(e->db.options, 1);
    rocksdb_options_set_create_missing_column_families(e->db.options, 1);
    /* The changelog is the store's durability (see above): no WAL. */
    rocksdb_writeoptions_disable_WAL(e->db.write, 1);
    /* Puts insert a version rather than update in place (RocksDB's
     * inplace_update_support, whose every put first searches the memtable's
     * skip list from its top: ~11,000 instructions a key). Aggregations
     * write through the record cache (store.lua), once per key or window per
     * flush and sorted. Sessions and join windows, written per update,
     * mostly put new keys (a session's new end, a record's timestamp); where
     * they rewrite one (a session re-put after its delete, a join list grown
     * by a record of the same timestamp), an in-place update would not have
     * applied either: it needs the newest version to be a value no smaller
     * than the new one. Checkpoints (every 10,000 changelog records or 10 s,
     * tasks.h) flush the memtable, so the versions in it stay few. One
     * thread writes a store at a time (tasks.c's lock): no concurrent
     * memtable writes. */
    rocksdb_options_set_allow_concurrent_memtable_write(e->db.options, 0);
    /* Each insert starts from where the last one with its prefix went: a
     * flush's sorted batch walks the skip list instead of searching it from
     * the top per key (insert_hint.cc). */
    sh_rocks_set_insert_hint(e->db.options, kind->insert_hint_prefix);
    /* RocksDB's info log dumps every option on each column family's
     * creation: that cost most of a window put's time and grew the disk
     * without bound. */
    rocksdb_options_set_info_log_level(e->db.options, 2 /* warnings and worse */);
    rocksdb_options_set_keep_log_file_num(e->db.options, 2);
    rocksdb_options_set_max_log_file_size(e->db.options, 1 << 20);
    /* RocksDB opens a database's table files on up to 16 threads, made for
     * each open and joined (15 per store, ~1,000 for a 64-task restore);
     * a task's store has few files, and its opens are on the restore's path. */
    rocksdb_options_set_max_file_opening_threads(e->db.options, 1);
    /* Nor does an open read every table file's properties for statistics. */
    rocksdb_options_set_skip_stats_update_on_db_open(e->db.options, 1);
    return e;
}

static void release_locked(entry_t *e);

/* The listed entry of dir, opening or open. @locks registry_lock */
static entry_t *find(const char *dir) {
    entry_t *e = open_dbs;
    while (e && strcmp(e->dir, dir) != 0)
        e = e->next;
    return e;
}

sh_db_t *sh_registry_open(const char *dir, const sh_registry_kind_t *kind,
                          const sh_registry_kind_t *const *known, int64_t retention_ms,
                          char **error) {
    *error = NULL;
    pthread_mutex_lock(&registry_lock);
    entry_t *e = find(dir);
    while (e && e->opening) { /* another thread opens it: wait for the outcome */
        pthread_cond_wait(&registry_opened, &registry_lock);
        e = find(dir);
    }
    if (e && e->db.kind != kind) {
        *error = format("already open as a %s store", e->db.kind->label);
        e = NULL;
    } else if (e) {
        e->refs++;
    } else if (sh_registry_make_dirs(dir) != 0) {
        *error = format("cannot create %s: %s", dir, strerror(errno));
    } else if (!(e = entry_new(dir, kind, known))) {
        *error = strdup("out of memory");
    } else {
        e->opening = true;
        e->refs = 1;
        e->next = open_dbs;
        open_dbs = e;
        pthread_mutex_unlock(&registry_lock);
        int rc = db_open(e, retention_ms, error);
        pthread_mutex_lock(&registry_lock);
        e->opening = false;
        if (rc != SH_OK) {
            char *reason = *error;
            *error = format("%s: %s", dir, reason ? reason : "out of memory");
            free(reason);
            release_locked(e);
            e = NULL;
        }
        pthread_cond_broadcast(&registry_opened);
    }
    pthread_mutex_unlock(&registry_lock);
    return e ? &e->db : NULL;
}

/* @locks registry_lock */
static void release_locked(entry_t *e) {
    if (--e->refs > 0) return;
    for (entry_t **p = &open_dbs; *p; p = &(*p)->next) {
        if (*p != e) continue;
        *p = e->next;
        break;
    }
    entry_free(e);
}

void sh_registry_release(sh_db_t *db) {
    if (!db) return;
    pthread_mutex_lock(&registry_lock);
    release_locked((entry_t *)db);
    pthread_mutex_unlock(&registry_lock);
}

void sh_registry_iterator_opened(sh_db_t *db) {
    entry_t *e = (entry_t *)db;
    pthread_mutex_lock(&registry_lock);
    e->refs++;
    e->iterators++;
    pthread_mutex_unlock(&registry_lock);
}

void sh_registry_iterator_closed(sh_db_t *db) {
    entry_t *e = (entry_t *)db;
    pthread_mutex_lock(&registry_lock);
    e->iterators--;
    release_locked(e);
    pthread_mutex_unlock(&registry_lock);
}

int sh_registry_flush(sh_db_t *db, char **error) {
    if (!db->rocks) {
        *error = strdup("the database is closed after a failed rebuild");
        return SH_ERR_STORE;
    }
    rocksdb_flushoptions_t *flush = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(flush, 1);
    rocksdb_flush_cf(db->rocks, flush, db->default_cf, error);
    if (!*error) rocksdb_flush_cf(db->rocks, flush, db->meta_cf, error);
    rocksdb_flushoptions_destroy(flush);
    return *error ? SH_ERR_STORE : SH_OK;
}

bool sh_registry_untouched(sh_db_t *db) {
    return db->rocks && db->created &&
           rocksdb_get_latest_sequence_number(db->rocks) == db->created_seq;
}

int sh_registry_wipe(sh_db_t *db, int64_t retention_ms, char **error) {
    entry_t *e = (entry_t *)db;
    *error = NULL;
    pthread_mutex_lock(&registry_lock);
    int rc;
    if (e->iterators > 0) {
        *error = format("cannot wipe %s for a rebuild while %d iterators are open", e->dir,
                        e->iterators);
        rc = SH_ERR_STORE;
    } else if ((rc = db_wipe(e)) != SH_OK) {
        *error = format("could not wipe %s: %s", e->dir, strerror(errno));
    } else {
        rc = db_open(e, retention_ms, error);
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

int sh_registry_delete(const char *dir) {
    pthread_mutex_lock(&registry_lock);
    int rc = find(dir) ? SH_ERR_INVALID : sh_registry_remove_tree(dir);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}
