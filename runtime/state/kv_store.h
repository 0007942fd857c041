/*
 * kv_store.h - key-value stores: one value per key, in the database's
 * default column family under the raw key. Reached through the facade
 * (store.c); the caller serializes use of a handle and of its database.
 */
#ifndef SH_KV_STORE_H
#define SH_KV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "state/changelog.h"
#include "state/registry.h"

typedef struct sh_kv sh_kv_t;
typedef struct sh_kv_iter sh_kv_iter_t;

extern const sh_registry_kind_t sh_kv_kind;

/* A handle on db (the caller keeps db's reference). changelog NULL: writes
 * are not emitted (the host's restore handles). Errors are written to
 * errmsg (errlen bytes), which, like name and changelog, the caller owns
 * and keeps for the handle's life. NULL when out of memory. */
sh_kv_t *sh_kv_open(sh_db_t *db, sh_changelog_t *changelog, const char *name, int32_t partition,
                    char *errmsg, size_t errlen);
void sh_kv_close(sh_kv_t *kv);

/* SH_OK and *out (valid until the next call on kv), or SH_ERR_NOT_FOUND. */
int sh_kv_get(sh_kv_t *kv, const char *key, size_t key_len, sh_ffi_slice_t *out);
/* Emits to the changelog, then writes (value NULL deletes): a refused emit
 * changes nothing, so the put can be retried. */
int sh_kv_put(sh_kv_t *kv, const char *key, size_t key_len, const char *value, size_t value_len,
              int64_t timestamp);
/* sh_kv_put for count records (key, value, timestamp) in one write batch,
 * emitted in order first; a refused emit writes those before it. */
int sh_kv_put_many(sh_kv_t *kv, const sh_ffi_record_t *records, int count);
/* Applies changelog records in one write, without emitting them. */
int sh_kv_restore(sh_kv_t *kv, const sh_ffi_record_t *records, int count);

/* Every entry in key order, after after_key when it is not NULL (a seek:
 * O(log N) to create; the caller decides how far to read). */
sh_kv_iter_t *sh_kv_iter(sh_kv_t *kv, const char *after_key, size_t after_len);
/* SH_OK and the entry (valid until the next call), SH_ERR_NOT_FOUND at the end. */
int sh_kv_iter_next(sh_kv_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value);
const char *sh_kv_iter_errmsg(const sh_kv_iter_t *iter);
void sh_kv_iter_destroy(sh_kv_iter_t *iter);

#endif
