/*
 * stores.c - GET /stores/NAME/KEY: one key of a store, {"key": K, "value":
 * V}, or a window store's {"key": K, "windows": [{"start", "end",
 * "value"}]} (?from=&to= bound the window starts); and the routing of GET
 * /stores/NAME to the pager (paging.c).
 *
 * A key lives in the one task (partition) its producer chose, so a lookup
 * asks every task of the store this instance holds, each under its stream
 * thread's lock: one get per task, or one key's windows.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/keys.h"
#include "http/paging.h"
#include "http/respond.h"
#include "http/server.h"
#include "http/stores.h"
#include "http/window_row.h"

/* A lookup holds each stream thread's lock for one get per task, or for
 * one key's windows: work bounded by the key, not by the store. */
static enum MHD_Result get_key(struct MHD_Connection *c, sh_http_t *http, const sh_store_decl_t *d,
                               const char *text) {
    char key[4096];
    long key_len = sh_http_url_key(d->key_serde, text, key, sizeof key);
    if (key_len < 0)
        return sh_http_respond_error(c, 400,
                                     "key '%s' does not parse as %s (the key serde of store %s)",
                                     text, d->key_serde, d->name);
    sh_http_body_t b = {0};
    sh_http_body_str(&b, "{\"key\": ");
    sh_http_body_key(&b, d->key_serde, key, (size_t)key_len);
    if (d->kind == SH_STORE_KV) {
        for (int g = 0; g < http->task_groups; g++) {
            sh_tasks_t *tasks = http->tasks[g];
            sh_tasks_lock(tasks);
            for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
                 t = sh_tasks_next_readable(tasks, d->name, t)) {
                sh_ffi_slice_t value;
                int rc = sh_ffi_store_get(sh_task_store(t), key, (size_t)key_len, &value);
                if (rc == SH_ERR_NOT_FOUND) continue;
                if (rc != SH_OK) {
                    char why[512];
                    snprintf(why, sizeof why, "%s", sh_ffi_err_message());
                    sh_tasks_unlock(tasks);
                    free(b.data);
                    return sh_http_respond_error(c, 500, "reading key %s: %s", text, why);
                }
                sh_http_body_str(&b, ", \"value\": ");
                sh_http_body_value(&b, value.data, value.len);
                sh_http_body_str(&b, "}");
                sh_tasks_unlock(tasks);
                return sh_http_respond_json(c, 200, &b);
            }
            sh_tasks_unlock(tasks);
        }
        free(b.data);
        return sh_http_respond_error(c, 404, "no key %s in store %s", text, d->name);
    }
    int64_t from = INT64_MIN, to = INT64_MAX;
    if (!sh_http_arg_int64(c, "from", &from) || !sh_http_arg_int64(c, "to", &to)) {
        free(b.data);
        return sh_http_respond_error(c, 400, "from and to are window starts in ms since the epoch");
    }
    sh_http_body_str(&b, ", \"windows\": [");
    int found = 0;
    for (int g = 0; g < http->task_groups; g++) {
        sh_tasks_t *tasks = http->tasks[g];
        sh_tasks_lock(tasks);
        for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
             t = sh_tasks_next_readable(tasks, d->name, t)) {
            int64_t fetch_from, fetch_to;
            sh_window_row_fetch_bounds(d, from, to, &fetch_from, &fetch_to);
            sh_store_iter_t *it =
                sh_ffi_window_fetch(sh_task_store(t), key, (size_t)key_len, fetch_from, fetch_to);
            sh_ffi_slice_t k, v;
            int64_t start;
            int rc = it ? SH_OK : SH_ERR_STORE;
            while (rc == SH_OK && (rc = sh_ffi_store_iter_next(it, &k, &v, &start)) == SH_OK) {
                sh_window_row_t row;
                sh_window_row_read(d, start, v.data, v.len, &row);
                if (row.start < from || row.start > to) continue;
                sh_http_body_printf(&b, "%s{\"start\": %" PRId64 ", \"end\": ", found++ ? ", " : "",
                                    row.start);
                if (row.end >= 0)
                    sh_http_body_printf(&b, "%" PRId64, row.end);
                else
                    sh_http_body_str(&b, "null");
                sh_http_body_str(&b, ", \"value\": ");
                sh_http_body_value(&b, row.value, row.value_len);
                sh_http_body_str(&b, "}");
            }
            if (rc != SH_ERR_NOT_FOUND) b.failed = true; /* a partial answer is no answer */
            sh_ffi_store_iter_destroy(it);
        }
        sh_tasks_unlock(tasks);
    }
    sh_http_body_str(&b, "]}");
    if (!found && !b.failed) {
        free(b.data);
        return sh_http_respond_error(c, 404, "no windows for key %s in store %s", text, d->name);
    }
    return sh_http_respond_json(c, 200, &b);
}

enum MHD_Result sh_http_stores_get(struct MHD_Connection *c, sh_http_t *http, const char *path) {
    const char *slash = strchr(path, '/');
    char name[256];
    size_t name_len = slash ? (size_t)(slash - path) : strlen(path);
    if (name_len == 0 || name_len >= sizeof name)
        return sh_http_respond_error(c, 404, "no store named");
    size_t decoded_len = sh_http_unescape(path, name_len, name);
    if (strlen(name) != decoded_len)
        return sh_http_respond_error(c, 404, "no store named so (a byte 0 in its name)");
    /* every stream thread runs the same topology: group 0's declarations serve;
     * a copy, since the groups are locked one at a time below */
    if (http->task_groups == 0)
        return sh_http_respond_error(c, 404, "no store %s in this app", name);
    sh_tasks_t *first = http->tasks[0];
    sh_tasks_lock(first);
    const sh_store_decl_t *found = sh_tasks_declaration(first, name);
    sh_store_decl_t d = {0};
    char key_serde[32] = "";
    if (found) {
        d = *found;
        snprintf(key_serde, sizeof key_serde, "%s", found->key_serde);
    }
    sh_tasks_unlock(first);
    if (!found) return sh_http_respond_error(c, 404, "no store %s in this app", name);
    d.name = name;
    d.key_serde = key_serde;
    d.source_topic = d.value_serde = NULL;
    if (slash && slash[1]) return get_key(c, http, &d, slash + 1);
    return sh_http_paging_get(c, http, &d);
}
