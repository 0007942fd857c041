/*
 * kv_store.c - key-value stores (see kv_store.h).
 *
 * A put is first emitted to the changelog and only then written, so a
 * refused emit (queue full) leaves nothing changed. A get copies the value
 * out of RocksDB's pinned slice into the handle's buffer, so Lua never
 * holds RocksDB memory. An iterator holds a reference on the database (it
 * may outlive the handle) and sees the store as it was when made.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/kind.h"
#include "state/kv_store.h"

struct sh_kv {
    sh_db_t *db;
    sh_changelog_t *changelog;
    sh_kind_errors_t errors;
    char *value_buf;
    size_t value_cap;
};

struct sh_kv_iter {
    sh_db_t *db;
    rocksdb_iterator_t *it;
    char *key_buf, *value_buf;
    size_t key_cap, value_cap;
    char errmsg[256];
};

/* No kind state: the default column family is all a key-value store uses.
 * One insert hint for all keys (an empty prefix): a flush's batch is sorted
 * as a whole. A key-value store deletes no ranges (see insert_hint.h). */
const sh_registry_kind_t sh_kv_kind = {.tag = 'k', .label = "key-value", .insert_hint_prefix = 0};

sh_kv_t *sh_kv_open(sh_db_t *db, sh_changelog_t *changelog, const char *name, int32_t partition,
                    char *errmsg, size_t errlen) {
    sh_kv_t *kv = calloc(1, sizeof *kv);
    if (!kv) return NULL;
    *kv = (sh_kv_t){.db = db,
                    .changelog = changelog,
                    .errors = {.buf = errmsg, .len = errlen, .name = name, .partition = partition}};
    return kv;
}

void sh_kv_close(sh_kv_t *kv) {
    if (!kv) return;
    free(kv->value_buf);
    free(kv);
}

int sh_kv_get(sh_kv_t *kv, const char *key, size_t key_len, sh_ffi_slice_t *out) {
    char *err = NULL;
    rocksdb_pinnableslice_t *pinned =
        rocksdb_get_pinned_cf(kv->db->rocks, kv->db->read, kv->db->default_cf, key, key_len, &err);
    if (err) return sh_kind_rocksdb_failed(&kv->errors, "get", err);
    if (!pinned) return SH_ERR_NOT_FOUND;
    size_t len = 0;
    const char *value = rocksdb_pinnableslice_value(pinned, &len);
    int rc = sh_kind_reserve(&kv->value_buf, &kv->value_cap, len + 1);
    if (rc == SH_OK) {
        memcpy(kv->value_buf, value, len);
        out->data = kv->value_buf;
        out->len = len;
    } else {
        sh_kind_error(&kv->errors, "out of memory for a value of %zu bytes", len);
    }
    rocksdb_pinnableslice_destroy(pinned);
    return rc;
}

int sh_kv_put(sh_kv_t *kv, const char *key, size_t key_len, const char *value, size_t value_len,
              int64_t timestamp) {
    if (kv->changelog) {
        int rc = sh_changelog_emit(kv->changelog, key, key_len, value, value_len, timestamp);
        if (rc != SH_OK) {
            sh_kind_error(&kv->errors, "changelog %s: %s", kv->changelog->topic,
                          sh_ffi_err_message());
            return rc;
        }
    }
    char *err = NULL;
    if (value)
        rocksdb_put_cf(kv->db->rocks, kv->db->write, kv->db->default_cf, key, key_len, value,
                       value_len, &err);
    else
        rocksdb_delete_cf(kv->db->rocks, kv->db->write, kv->db->default_cf, key, key_len, &err);
    return err ? sh_kind_rocksdb_failed(&kv->errors, value ? "put" : "delete", err) : SH_OK;
}

/* Writes records[0..count) (a NULL value deletes) in one write batch. */
static int write_batch(sh_kv_t *kv, const sh_ffi_record_t *records, int count, const char *what) {
    rocksdb_writebatch_t *batch = rocksdb_writebatch_create();
    for (int i = 0; i < count; i++) {
        const sh_ffi_record_t *r = &records[i];
        if (r->value)
            rocksdb_writebatch_put_cf(batch, kv->db->default_cf, r->key, r->key_len, r->value,
                                      r->value_len);
        else
            rocksdb_writebatch_delete_cf(batch, kv->db->default_cf, r->key, r->key_len);
    }
    char *err = NULL;
    rocksdb_write(kv->db->rocks, kv->db->write, batch, &err);
    rocksdb_writebatch_destroy(batch);
    return err ? sh_kind_rocksdb_failed(&kv->errors, what, err) : SH_OK;
}

int sh_kv_put_many(sh_kv_t *kv, const sh_ffi_record_t *records, int count) {
    /* In key order: each memtable insert then starts where the one before
     * it ended (random order cost ~2x). Sorted here rather than by the
     * caller: Lua's table.sort of the keys cost ~2,300 instructions a key
     * in string comparisons through the VM, qsort ~600. O(count log count);
     * without the memory to sort, the records go as given. */
    sh_ffi_record_t *sorted = count > 1 ? malloc((size_t)count * sizeof *sorted) : NULL;
    if (sorted) {
        memcpy(sorted, records, (size_t)count * sizeof *sorted);
        qsort(sorted, (size_t)count, sizeof *sorted, sh_kind_by_key);
        records = sorted;
    }
    int rc = SH_OK, sent = 0;
    for (; kv->changelog && sent < count; sent++) {
        const sh_ffi_record_t *r = &records[sent];
        rc = sh_changelog_emit(kv->changelog, r->key, r->key_len, r->value, r->value_len,
                               r->timestamp);
        if (rc != SH_OK) {
            sh_kind_error(&kv->errors, "changelog %s: %s", kv->changelog->topic,
                          sh_ffi_err_message());
            break;
        }
    }
    /* only what the changelog took is written */
    int written = write_batch(kv, records, kv->changelog ? sent : count, "put");
    free(sorted);
    return written != SH_OK ? written : rc;
}

int sh_kv_restore(sh_kv_t *kv, const sh_ffi_record_t *records, int count) {
    return write_batch(kv, records, count, "restore");
}

/* ---- iterators ---- */

sh_kv_iter_t *sh_kv_iter(sh_kv_t *kv, const char *after_key, size_t after_len) {
    sh_kv_iter_t *iter = calloc(1, sizeof *iter);
    if (!iter) {
        sh_kind_error(&kv->errors, "out of memory for an iterator");
        return NULL;
    }
    iter->db = kv->db;
    iter->it = rocksdb_create_iterator_cf(kv->db->rocks, kv->db->read, kv->db->default_cf);
    if (!after_key) {
        rocksdb_iter_seek_to_first(iter->it);
    } else {
        rocksdb_iter_seek(iter->it, after_key, after_len);
        size_t len = 0;
        const char *k = rocksdb_iter_valid(iter->it) ? rocksdb_iter_key(iter->it, &len) : NULL;
        if (k && len == after_len && memcmp(k, after_key, len) == 0) rocksdb_iter_next(iter->it);
    }
    sh_registry_iterator_opened(kv->db);
    return iter;
}

int sh_kv_iter_next(sh_kv_iter_t *iter, sh_ffi_slice_t *key, sh_ffi_slice_t *value) {
    if (!rocksdb_iter_valid(iter->it)) {
        return sh_kind_iter_failed(iter->it, iter->errmsg, sizeof iter->errmsg);
    }
    size_t key_len = 0, value_len = 0;
    const char *k = rocksdb_iter_key(iter->it, &key_len);
    const char *v = rocksdb_iter_value(iter->it, &value_len);
    if (sh_kind_reserve(&iter->key_buf, &iter->key_cap, key_len + 1) != SH_OK ||
        sh_kind_reserve(&iter->value_buf, &iter->value_cap, value_len + 1) != SH_OK) {
        snprintf(iter->errmsg, sizeof iter->errmsg, "out of memory");
        return SH_ERR_NOMEM;
    }
    memcpy(iter->key_buf, k, key_len);
    memcpy(iter->value_buf, v, value_len);
    if (key) key->data = iter->key_buf, key->len = key_len;
    if (value) value->data = iter->value_buf, value->len = value_len;
    rocksdb_iter_next(iter->it);
    return SH_OK;
}

const char *sh_kv_iter_errmsg(const sh_kv_iter_t *iter) { return iter->errmsg; }

void sh_kv_iter_destroy(sh_kv_iter_t *iter) {
    if (!iter) return;
    rocksdb_iter_destroy(iter->it);
    free(iter->key_buf);
    free(iter->value_buf);
    sh_registry_iterator_closed(iter->db);
    free(iter);
}
