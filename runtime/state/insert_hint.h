/*
 * insert_hint.h - one setting RocksDB's C API does not reach: a memtable
 * insert that starts from where the last one ended.
 */
#ifndef SH_STATE_INSERT_HINT_H
#define SH_STATE_INSERT_HINT_H

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Has the memtables of databases opened with options keep an insert hint
 * per key prefix of prefix_len bytes (memtable_insert_with_hint_prefix_extractor);
 * a key shorter than prefix_len is inserted without one.
 *
 * RocksDB 7.8 shares a memtable's hints between its point keys and its
 * range deletions, which live in two skip lists: a range deletion whose
 * start key is prefix_len bytes or longer corrupts the hint (an assertion
 * in the skip list of Debian's build). A database that deletes ranges needs
 * a prefix_len longer than their start keys (window_store.c). */
void sh_rocks_set_insert_hint(rocksdb_options_t *options, size_t prefix_len);

#ifdef __cplusplus
}
#endif

#endif
