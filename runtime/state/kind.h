/*
 * kind.h - what the store kinds (kv_store.c, window_store.c) share: how a
 * handle reports a failure, and the scratch buffers values are copied into.
 *
 * A kind reports into the message buffer its caller gave the handle (the
 * facade's, store.c), prefixed with the store and partition; a failing
 * entry point of the facade makes that buffer the thread's last error
 * (base/err.h), the one channel Lua and the host read. An iterator, which
 * may outlive its handle, reports into its own buffer the same way.
 */
#ifndef SH_KIND_H
#define SH_KIND_H

#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

/* A handle's error buffer and what every message names; the caller owns
 * buf, name and keeps them for the handle's life. */
typedef struct {
    char *buf;
    size_t len;
    const char *name;
    int32_t partition;
} sh_kind_errors_t;

/* Writes "store <name> partition <n>: <message>" into the handle's buffer. */
void sh_kind_error(const sh_kind_errors_t *errors, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Takes RocksDB's malloc'd error, reports "<what>: <err>" and frees it.
 * Returns SH_ERR_STORE. */
int sh_kind_rocksdb_failed(const sh_kind_errors_t *errors, const char *what, char *err);

/* For an iterator that is no longer valid: SH_ERR_NOT_FOUND when it simply
 * ended, SH_ERR_STORE with "iterator: <reason>" in errmsg when it failed. */
int sh_kind_iter_failed(rocksdb_iterator_t *it, char *errmsg, size_t errlen);

/* qsort's order of sh_ffi_record_t by key bytes, RocksDB's default order
 * (a key before the longer ones it begins). */
int sh_kind_by_key(const void *a, const void *b);

/* Grows *buf (capacity *cap) to hold need bytes, doubling from 256. SH_OK
 * or SH_ERR_NOMEM, *buf unchanged. */
int sh_kind_reserve(char **buf, size_t *cap, size_t need);

#endif
