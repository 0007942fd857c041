/*
 * insert_hint.cc - RocksDB's memtable insert hint, which its C API leaves
 * out (see insert_hint.h).
 *
 * A flush writes a store's changes as one sorted write batch. Without a
 * hint, RocksDB's skip list reuses the last insert's position only when the
 * next key falls in the very gap it left; with versions of earlier flushes
 * in the memtable between two consecutive keys, every insert searched the
 * skip list from its top: ~97 key comparisons a put in engine-only count,
 * ~66 in hopping (a perf probe on the memtable's comparator). With a hint,
 * the search climbs from the last position only as far as the next key is
 * away: callgrind over records 500,000 to 1,000,000 of bench/engine.lua,
 * count 5,153 -> 4,067 instructions a record, hopping 15,661 -> 12,128. A
 * put of a random key (a join window's, a session's) climbs and costs
 * ~770 instructions more. Inserts with a hint are RocksDB's non-concurrent
 * path, which registry.c chooses (allow_concurrent_memtable_write off).
 *
 * The C API's options handle wraps rocksdb::Options as its only member (its
 * c.cc); this file, built against the same headers as the library, reaches
 * it that way, and checks that layout against one option the C API reads
 * back before it writes: the hint only speeds inserts, so a mismatch goes
 * without it.
 */
#include <rocksdb/c.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>

#include "state/insert_hint.h"

struct rocksdb_options_t {
    rocksdb::Options rep;
};

void sh_rocks_set_insert_hint(rocksdb_options_t *options, size_t prefix_len) {
    if (options->rep.write_buffer_size != rocksdb_options_get_write_buffer_size(options)) return;
    options->rep.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(prefix_len));
}
