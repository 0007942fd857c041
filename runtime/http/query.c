/*
 * query.c - POST /query: ksqlDB's pull queries ({"ksql": "select ... where
 * rowkey=15;"}), parsed and answered in ksqlDB's JSON by ksql.c, over the
 * same stores as GET /stores (query.h). A table name means a store:
 * compared case-insensitively, '-' and '_' alike. A query reads one key, as
 * a lookup does, under each stream thread's lock in turn.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"
#include "http/keys.h"
#include "http/ksql.h"
#include "http/query.h"
#include "http/respond.h"
#include "http/server.h"
#include "http/window_row.h"

static enum MHD_Result respond_ksql_error(struct MHD_Connection *c, unsigned status,
                                          const char *message, const char *statement) {
    char *body = sh_ksql_error(status == 400 ? 40001 : (int)status * 100, message, statement);
    if (!body) return sh_http_respond(c, 500, "application/json", "{}", 2);
    enum MHD_Result rc = sh_http_respond(c, status, "application/json", body, strlen(body));
    free(body);
    return rc;
}

typedef struct query_rows {
    sh_ksql_row_t *rows;
    int count, cap;
    bool failed;
} query_rows_t;

static void add_row(query_rows_t *q, const char *key, size_t key_len, int64_t start, int64_t end,
                    const char *value, size_t value_len) {
    if (q->failed) return;
    if (q->count == q->cap) {
        int cap = q->cap ? q->cap * 2 : 8;
        sh_ksql_row_t *grown = realloc(q->rows, sizeof *grown * (size_t)cap);
        if (!grown) {
            q->failed = true;
            return;
        }
        q->rows = grown;
        q->cap = cap;
    }
    /* aggregations append "\n" and their origin markers (see sh_http_body_value) */
    const char *nl = value ? memchr(value, '\n', value_len) : NULL;
    if (nl) value_len = (size_t)(nl - value);
    char *copy = malloc(value_len + 1);
    if (!copy) {
        q->failed = true;
        return;
    }
    if (value_len) memcpy(copy, value, value_len);
    copy[value_len] = 0;
    q->rows[q->count++] = (sh_ksql_row_t){.key = key,
                                          .key_len = key_len,
                                          .window_start = start,
                                          .window_end = end,
                                          .value = copy,
                                          .value_len = value_len};
}

/* The store a ksqlDB table name means: names compare case-insensitively,
 * '-' and '_' alike (CURRENT_STOCK is the store current-stock). */
static bool find_store(sh_http_t *http, const char *table, sh_store_decl_t *d, char *name,
                       size_t name_len, char *key_serde, size_t serde_len) {
    if (http->task_groups == 0) return false;
    sh_tasks_t *first = http->tasks[0];
    bool found = false;
    sh_tasks_lock(first);
    for (int i = 0; !found && i < sh_tasks_declaration_count(first); i++) {
        const sh_store_decl_t *decl = sh_tasks_declaration_at(first, i);
        const char *a = decl->name, *b = table;
        for (; *a && *b; a++, b++) {
            char x = (char)tolower((unsigned char)(*a == '-' ? '_' : *a));
            char y = (char)tolower((unsigned char)(*b == '-' ? '_' : *b));
            if (x != y) break;
        }
        if (*a || *b) continue;
        found = true;
        *d = *decl;
        snprintf(name, name_len, "%s", decl->name);
        snprintf(key_serde, serde_len, "%s", decl->key_serde);
        d->name = name;
        d->key_serde = key_serde;
        d->source_topic = d->value_serde = NULL;
    }
    sh_tasks_unlock(first);
    return found;
}

/* One key, like GET /stores/NAME/KEY: a get per task, or one key's windows
 * within the bounds; locks held as long as there. */
static int query_rows(sh_http_t *http, const sh_store_decl_t *d, const char *key, size_t key_len,
                      const char *key_json, size_t key_json_len, const sh_ksql_query_t *q,
                      query_rows_t *out) {
    for (int g = 0; g < http->task_groups; g++) {
        sh_tasks_t *tasks = http->tasks[g];
        sh_tasks_lock(tasks);
        for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
             t = sh_tasks_next_readable(tasks, d->name, t)) {
            if (d->kind == SH_STORE_KV) {
                sh_ffi_slice_t value;
                int rc = sh_ffi_store_get(sh_task_store(t), key, key_len, &value);
                if (rc == SH_ERR_NOT_FOUND) continue;
                if (rc == SH_OK) add_row(out, key_json, key_json_len, 0, -1, value.data, value.len);
                sh_tasks_unlock(tasks);
                return rc == SH_OK ? 0 : -1;
            }
            int64_t fetch_from, fetch_to;
            sh_window_row_fetch_bounds(d, q->window_from, q->window_to, &fetch_from, &fetch_to);
            sh_store_iter_t *it =
                sh_ffi_window_fetch(sh_task_store(t), key, key_len, fetch_from, fetch_to);
            sh_ffi_slice_t k, v;
            int64_t start;
            int rc = it ? SH_OK : SH_ERR_STORE;
            while (rc == SH_OK && (rc = sh_ffi_store_iter_next(it, &k, &v, &start)) == SH_OK) {
                sh_window_row_t row;
                sh_window_row_read(d, start, v.data, v.len, &row);
                if (row.start >= q->window_from && row.start <= q->window_to)
                    add_row(out, key_json, key_json_len, row.start, row.end, row.value,
                            row.value_len);
            }
            sh_ffi_store_iter_destroy(it);
            if (rc != SH_ERR_NOT_FOUND) {
                sh_tasks_unlock(tasks);
                return -1;
            }
        }
        sh_tasks_unlock(tasks);
    }
    return 0;
}

enum MHD_Result sh_http_query_post(struct MHD_Connection *c, sh_http_t *http,
                                   sh_http_query_body_t *body) {
    if (body->too_long) return respond_ksql_error(c, 413, "the request body is over 64 KiB", NULL);
    char *sql = malloc(SH_HTTP_QUERY_BODY_MAX);
    if (!sql) return respond_ksql_error(c, 500, "out of memory", NULL);
    enum MHD_Result rc;
    char err[2048], name[256], key_serde[32], key[4096];
    sh_ksql_query_t q;
    sh_store_decl_t d;
    query_rows_t rows = {0};
    sh_http_body_t key_json = {0};
    if (sh_ksql_statement(body->data, body->len, sql, SH_HTTP_QUERY_BODY_MAX) != 0) {
        rc = respond_ksql_error(c, 400,
                                "the body must be a JSON object with a \"ksql\" string, "
                                "e.g. {\"ksql\": \"select * from t where rowkey=1;\"}",
                                NULL);
        goto out;
    }
    if (sh_ksql_parse(sql, &q, err, sizeof err) != 0) {
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    if (!find_store(http, q.table, &d, name, sizeof name, key_serde, sizeof key_serde)) {
        snprintf(err, sizeof err, "%s does not exist: no store of this app is named so", q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    bool windowed = d.kind != SH_STORE_KV;
    if (!windowed && (q.window_from != INT64_MIN || q.window_to != INT64_MAX)) {
        snprintf(err, sizeof err, "%s is not windowed: no WINDOWSTART bounds", q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    long key_len = sh_http_parse_key(d.key_serde, q.key, strlen(q.key), key, sizeof key);
    if (key_len < 0) {
        snprintf(err, sizeof err, "key %.200s does not parse as %s (the key of %s)", q.key,
                 d.key_serde, q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    sh_http_body_key(&key_json, d.key_serde, key, (size_t)key_len);
    if (key_json.failed ||
        query_rows(http, &d, key, (size_t)key_len, key_json.data, key_json.len, &q, &rows) != 0 ||
        rows.failed) {
        rc = respond_ksql_error(
            c, 500, key_json.failed || rows.failed ? "out of memory" : sh_ffi_err_message(), sql);
        goto out;
    }
    const char *key_type = strcmp(d.key_serde, "int") == 0    ? "INTEGER"
                           : strcmp(d.key_serde, "long") == 0 ? "BIGINT"
                                                              : "STRING";
    char *answer = sh_ksql_render(&q, key_type, windowed, rows.rows, rows.count, err, sizeof err);
    if (!answer) {
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    rc = sh_http_respond(c, 200, "application/json", answer, strlen(answer));
    free(answer);
out:
    for (int i = 0; i < rows.count; i++)
        free((char *)rows.rows[i].value);
    free(rows.rows);
    free(key_json.data);
    free(sql);
    return rc;
}
