/*
 * registry.h - the bottom of the state layer: the process's open RocksDB
 * databases, one per store directory, shared by every handle on it.
 *
 * RocksDB allows one open per directory, and a reloaded VM opens its stores
 * while the old VM still holds them (so does the host's own handle on each
 * task), so handles and iterators share one sh_db_t through reference
 * counts. Store kinds (kv_store.c, window_store.c) sit above this file and
 * describe themselves with an sh_registry_kind_t; the registry knows no kind
 * by name.
 */
#ifndef SH_REGISTRY_H
#define SH_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include <rocksdb/c.h>

/* One open database. Kinds read these fields; only registry.c writes them,
 * except kind_state, which belongs to the kind. */
typedef struct sh_db {
    rocksdb_t *rocks; /* NULL after a rebuild failed: every use must check */
    rocksdb_options_t *options;
    rocksdb_readoptions_t *read;
    rocksdb_writeoptions_t *write;
    rocksdb_column_family_handle_t *default_cf;
    rocksdb_column_family_handle_t *meta_cf; /* the kind's metadata */
    const char *dir;                         /* <state_dir>/<name>/<partition> */
    const struct sh_registry_kind *kind;
    void *kind_state;
    /* Whether the last open created the database from nothing, and RocksDB's
     * sequence number right after it (kind metadata included): while that is
     * unchanged the database holds no record, and a rebuild has nothing to
     * wipe (sh_registry_untouched). */
    bool created;
    uint64_t created_seq;
} sh_db_t;

/* What a store kind tells the registry about itself. */
typedef struct sh_registry_kind {
    char tag; /* recorded in the meta family: a database never changes kind */
    /* The tag this kind recorded before its layout changed (0: none). Such a
     * database is the kind's own: load brings it up to date, and the
     * registry then records tag, so that a streamhost from before the change
     * refuses it instead of reading it in the layout it knew. */
    char former_tag;
    const char *label; /* "key-value", "window": for messages */
    /* Memtable inserts keep a hint per key prefix of this many bytes
     * (insert_hint.h); keys shorter than it are inserted without one. */
    size_t insert_hint_prefix;
    /* After every open: builds kind_state, taking over the column families
     * it recognizes among the others (setting their slots to NULL; the
     * registry destroys what is left). Sets *error (malloc'd) on failure.
     * NULL: the kind keeps nothing but the default family. */
    int (*load)(sh_db_t *db, char **names, rocksdb_column_family_handle_t **families, int count,
                int64_t retention_ms, char **error);
    /* Before every close: saves what must outlive it and frees kind_state. */
    void (*unload)(sh_db_t *db);
} sh_registry_kind_t;

/* Opens dir's database as kind (shared when already open). A database
 * RocksDB reports corrupt is wiped and made again, to be rebuilt from the
 * changelog; one created from nothing loses its old checkpoint. known: every
 * kind a database may have been made by (NULL-terminated), so a refusal can
 * name the kind on disk. Returns NULL with *error (malloc'd) on failure. */
sh_db_t *sh_registry_open(const char *dir, const sh_registry_kind_t *kind,
                          const sh_registry_kind_t *const *known, int64_t retention_ms,
                          char **error);
/* Whether the database was created from nothing by its last open and has
 * had no write since: a restore then starts from an empty store as it is. */
bool sh_registry_untouched(sh_db_t *db);
/* Drops a handle's reference; the last one closes the database. */
void sh_registry_release(sh_db_t *db);

/* An iterator keeps the database open, and it may not be wiped meanwhile. */
void sh_registry_iterator_opened(sh_db_t *db);
void sh_registry_iterator_closed(sh_db_t *db);

/* Flushes the default and meta families' memtables to disk (what a
 * checkpoint vouches for). Returns SH_OK, or SH_ERR_STORE with *error. */
int sh_registry_flush(sh_db_t *db, char **error);

/* Deletes the directory's content and opens it afresh (a checkpoint that
 * does not verify). Refused while iterators are open. Returns SH_OK, or an
 * error with *error (malloc'd). Cost: O(files in the directory). */
int sh_registry_wipe(sh_db_t *db, int64_t retention_ms, char **error);

/* Deletes dir (a revoked task's state); SH_ERR_INVALID while it is open. */
int sh_registry_delete(const char *dir);

/* Removes a directory tree; a missing path is not an error. Cost: O(files). */
int sh_registry_remove_tree(const char *path);

/* Creates path and its missing parents. 0 or -1 (errno). */
int sh_registry_make_dirs(const char *path);

#endif
