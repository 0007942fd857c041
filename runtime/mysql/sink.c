/*
 * sink.c - rows into MySQL tables (see sink.h and engine/sink.h).
 *
 * emit checks a row (its field names must be plain identifiers, sql.h) and
 * queues it on its table; nothing is written yet. A table that reaches its
 * batch.size, or the loop's next poll/flush, writes every queued row of the
 * same database in one transaction:
 *
 *   DDL first (auto.create, auto.evolve; MySQL commits DDL by itself)
 *   START TRANSACTION
 *   exactly.once: lock the tables' stored input positions, skip the rows
 *     already written (their input is at or before the stored position)
 *   per run of rows with the same shape: one prepared statement, executed
 *     once for the whole run with MariaDB's array binding
 *   exactly.once: store each input partition's last position
 *   COMMIT
 *
 * and only then reports the rows delivered, so the source commits offsets
 * only for rows in the database. A lost connection, a deadlock or a lock
 * wait timeout rolls back and retries the whole transaction on a fresh
 * connection with backoff (max.retries, retry.backoff.ms), logged; nothing
 * is dropped. Any other failure fails the rows, which stops the app with
 * their offsets uncommitted.
 *
 * Input positions (exactly.once): to_mysql puts the input record's
 * position in the row's "__streamhost.origin" header as
 * "topic/partition:offset:seq" (seq ranks the rows one input made, as for
 * repartition topics). A replay after a crash produces the same rows with
 * the same positions, so rows at or before the stored position are
 * reported delivered without being written again.
 *
 * The queue's types are in sink_queue.h; auto.create/auto.evolve live in
 * sink_schema.c, the positions of exactly.once in sink_positions.c.
 *
 * @locality: the stream thread that owns the sink; writes block it (that
 * is the backpressure).
 */
#include <errmsg.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "engine/ctx.h"
#include "mysql/sink.h"
#include "mysql/sink_queue.h"

/* ---- set-up ---- */

static const char *prop(sh_ctx_t *ctx, int i, const char *key, const char *fallback) {
    const char *v = sh_ctx_sink_property(ctx, i, key);
    return v ? v : fallback;
}

static bool prop_bool(sh_ctx_t *ctx, int i, const char *key) {
    const char *v = prop(ctx, i, key, "false");
    return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

static int prop_int(sh_ctx_t *ctx, int i, const char *key, int fallback) {
    const char *v = sh_ctx_sink_property(ctx, i, key);
    return v && atoi(v) > 0 ? atoi(v) : fallback;
}

static bool same(const char *a, const char *b) {
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static database_t *database_for(mysql_sink_t *s, sh_ctx_t *ctx, int i, char *errbuf,
                                size_t errlen) {
    const char *url = prop(ctx, i, "connection.url", NULL);
    const char *user = sh_ctx_sink_property(ctx, i, "connection.user");
    const char *password = sh_ctx_sink_property(ctx, i, "connection.password");
    for (database_t *d = s->databases; d; d = d->next)
        if (same(d->url, url) && same(d->user, user) && same(d->password, password)) return d;
    database_t *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    if (!(d->conn = sh_mysql_conn_new(url, user, password, errbuf, errlen))) {
        free(d);
        return NULL;
    }
    d->url = url ? strdup(url) : NULL;
    d->user = user ? strdup(user) : NULL;
    d->password = password ? strdup(password) : NULL;
    d->max_retries = atoi(prop(ctx, i, "max.retries", "10"));
    d->backoff_ms = prop_int(ctx, i, "retry.backoff.ms", 3000);
    d->offsets_table = strdup(prop(ctx, i, "exactly.once.table", "streamhost_sink_offsets"));
    d->next = s->databases;
    s->databases = d;
    return d;
}

static int insert_kind(const char *mode) {
    if (strcasecmp(mode, "insert") == 0) return SH_SQL_INSERT;
    if (strcasecmp(mode, "upsert") == 0) return SH_SQL_UPSERT;
    if (strcasecmp(mode, "update") == 0) return SH_SQL_UPDATE;
    return -1;
}

/* Tables outlive a reload (queued rows point at them); bind only adds. */
static table_t *table_for(mysql_sink_t *s, sh_ctx_t *ctx, int i, char *errbuf, size_t errlen) {
    const char *sink_name = sh_ffi_sink_name(ctx, i);
    const char *name = prop(ctx, i, "table", NULL);
    if (!name) {
        snprintf(errbuf, errlen, "MySQL sink %s has no table", sink_name);
        return NULL;
    }
    if (sh_sql_check_table(name, errbuf, errlen) != 0) return NULL;
    if (sh_sql_check_table(prop(ctx, i, "exactly.once.table", "streamhost_sink_offsets"), errbuf,
                           errlen) != 0)
        return NULL;
    int kind = insert_kind(prop(ctx, i, "insert.mode", "insert"));
    if (kind < 0) {
        snprintf(errbuf, errlen, "MySQL sink %s: insert.mode must be insert, upsert or update",
                 sink_name);
        return NULL;
    }
    database_t *db = database_for(s, ctx, i, errbuf, errlen);
    if (!db) return NULL;
    table_t *t = NULL;
    for (table_t *x = s->tables; x; x = x->next)
        if (strcmp(x->sink_name, sink_name) == 0) t = x;
    if (!t) {
        if (!(t = calloc(1, sizeof *t)) || !(t->sink_name = strdup(sink_name))) {
            free(t);
            snprintf(errbuf, errlen, "out of memory");
            return NULL;
        }
        t->next = s->tables;
        s->tables = t;
    }
    if (!t->name || strcmp(t->name, name) != 0 || t->db != db) {
        char *copy = strdup(name);
        if (!copy) {
            snprintf(errbuf, errlen, "out of memory");
            return NULL;
        }
        free(t->name);
        t->name = copy;
        t->columns_known = false; /* a reload may point the sink elsewhere */
    }
    t->db = db;
    t->insert_kind = kind;
    t->batch_size = prop_int(ctx, i, "batch.size", 3000);
    t->auto_create = prop_bool(ctx, i, "auto.create");
    t->auto_evolve = prop_bool(ctx, i, "auto.evolve");
    t->exactly_once = prop_bool(ctx, i, "exactly.once");
    return t;
}

static int sink_bind(sh_sink_t *sink, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    mysql_sink_t *s = (mysql_sink_t *)sink;
    int n = sh_ffi_sink_count(ctx);
    table_t **by_index = calloc((size_t)n + 1, sizeof *by_index);
    if (!by_index) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (strcmp(sh_ctx_sink_kind(ctx, i), "mysql") != 0) continue;
        if (!(by_index[i] = table_for(s, ctx, i, errbuf, errlen))) {
            free(by_index);
            return -1;
        }
    }
    free(s->by_index);
    s->by_index = by_index;
    s->count = n;
    return 0;
}

/* ---- emit: check and queue ---- */

/* "topic/partition:offset:seq" from to_mysql; false when absent or not a
 * record's position (a timer's outputs have offset -1). */
static bool parse_origin(const sh_ffi_record_t *r, const char **topic, size_t *topic_len,
                         int32_t *partition, int64_t *offset, int64_t *seq) {
    for (int i = 0; i < r->header_count; i++) {
        const sh_ffi_header_t *h = &r->headers[i];
        if (strcmp(h->name, SH_MYSQL_ORIGIN_HEADER) != 0 || !h->value) continue;
        char text[512];
        if (h->value_len >= sizeof text) return false;
        memcpy(text, h->value, h->value_len);
        text[h->value_len] = 0;
        char *last = strrchr(text, ':');
        if (!last) return false;
        *last = 0;
        char *mid = strrchr(text, ':');
        char *slash = mid ? (*mid = 0, strrchr(text, '/')) : NULL;
        if (!slash) return false;
        *partition = (int32_t)atoi(slash + 1);
        *offset = strtoll(mid + 1, NULL, 10);
        *seq = strtoll(last + 1, NULL, 10);
        *topic = h->value;
        *topic_len = (size_t)(slash - text);
        return *offset >= 0;
    }
    return false;
}

/* Checks a parsed row against its table's settings. 0, or -1 with errbuf. */
static int check_row(const table_t *t, char op, const sh_mysql_field_t *f, int n, char *errbuf,
                     size_t errlen) {
    int keys = 0;
    char why[512];
    for (int i = 0; i < n; i++) {
        if (sh_sql_check_ident(f[i].name, f[i].name_len, why, sizeof why) != 0) {
            snprintf(errbuf, errlen, "%s; no statement ran", why);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (f[j].name_len == f[i].name_len &&
                strncasecmp(f[j].name, f[i].name, f[i].name_len) == 0) {
                snprintf(errbuf, errlen, "field \"%.*s\" appears twice; no statement ran",
                         (int)f[i].name_len, f[i].name);
                return -1;
            }
        keys += f[i].key;
    }
    if (n == 0) {
        snprintf(errbuf, errlen, "the row has no fields");
        return -1;
    }
    if (keys == 0 && (op == 'D' || t->insert_kind != SH_SQL_INSERT)) {
        snprintf(errbuf, errlen, "%s needs a primary key: set pk.mode (and pk.fields)",
                 op == 'D' ? "a delete" : "insert.mode upsert/update");
        return -1;
    }
    if (op == 'W' && t->insert_kind == SH_SQL_UPDATE && keys == n) {
        snprintf(errbuf, errlen, "insert.mode update: the row has no field besides its key");
        return -1;
    }
    return 0;
}

static int flush_database(mysql_sink_t *s, database_t *db);

static int sink_emit(sh_sink_t *sink, int index, const sh_ffi_record_t *r, void *batch,
                     char *errbuf, size_t errlen) {
    mysql_sink_t *s = (mysql_sink_t *)sink;
    table_t *t = index >= 0 && index < s->count ? s->by_index[index] : NULL;
    if (!t) {
        snprintf(errbuf, errlen, "sink %d is not a MySQL table", index);
        return SH_ERR_INVALID;
    }
    char op, why[1024];
    int n = sh_mysql_sink_row_parse(r->value, r->value_len, &op, s->scratch, SH_MYSQL_MAX_FIELDS,
                                    why, sizeof why);
    if (n < 0 || check_row(t, op, s->scratch, n, why, sizeof why) != 0 ||
        sh_mysql_sink_schema_check(s, t, op, s->scratch, n, why, sizeof why) != 0) {
        snprintf(errbuf, errlen, "record for MySQL table %s refused: %s", t->name, why);
        return SH_ERR_INVALID;
    }
    const char *topic = NULL;
    size_t topic_len = 0;
    int32_t partition = 0;
    int64_t offset = -1, seq = 0;
    bool has_origin = parse_origin(r, &topic, &topic_len, &partition, &offset, &seq);
    size_t size = sizeof(row_t) + sizeof(sh_mysql_field_t) * (size_t)n + r->value_len +
                  (has_origin ? topic_len + 1 : 0);
    row_t *row = malloc(size);
    if (!row) {
        snprintf(errbuf, errlen, "out of memory");
        return SH_ERR_NOMEM;
    }
    *row = (row_t){.batch = batch, .op = op, .field_count = n};
    row->fields = (sh_mysql_field_t *)row->data;
    char *bytes = row->data + sizeof(sh_mysql_field_t) * (size_t)n;
    memcpy(bytes, r->value, r->value_len);
    for (int i = 0; i < n; i++) { /* same fields, pointing into the copy */
        row->fields[i] = s->scratch[i];
        row->fields[i].name = bytes + (s->scratch[i].name - r->value);
        row->fields[i].value = bytes + (s->scratch[i].value - r->value);
        if (s->scratch[i].sql_type)
            row->fields[i].sql_type = bytes + (s->scratch[i].sql_type - r->value);
    }
    if (has_origin) {
        row->origin_topic = bytes + r->value_len;
        memcpy(row->origin_topic, topic, topic_len);
        row->origin_topic[topic_len] = 0;
        row->origin_partition = partition;
        row->origin_offset = offset;
        row->origin_seq = seq;
    }
    if (t->tail)
        t->tail->next = row;
    else
        t->head = row;
    t->tail = row;
    if (++t->pending >= t->batch_size) flush_database(s, t->db);
    return SH_OK;
}

/* ---- writing a transaction ---- */

static bool same_shape(const row_t *a, const row_t *b) {
    if (a->op != b->op || a->field_count != b->field_count) return false;
    for (int i = 0; i < a->field_count; i++)
        if (a->fields[i].key != b->fields[i].key ||
            a->fields[i].name_len != b->fields[i].name_len ||
            memcmp(a->fields[i].name, b->fields[i].name, a->fields[i].name_len) != 0)
            return false;
    return true;
}

/* Executes rows first..(count of them) of one shape as one array-bound
 * statement. */
static int exec_run(mysql_sink_t *s, table_t *t, row_t *first, int count, failure_t *f) {
    int kind = first->op == 'D' ? SH_SQL_DELETE : t->insert_kind;
    int n = first->field_count;
    sh_sql_column_t cols[SH_MYSQL_MAX_FIELDS];
    int order[SH_MYSQL_MAX_FIELDS];
    for (int i = 0; i < n; i++)
        cols[i] = (sh_sql_column_t){.name = first->fields[i].name,
                                    .name_len = first->fields[i].name_len,
                                    .type = first->fields[i].type,
                                    .key = first->fields[i].key};
    if (kind == SH_SQL_DELETE) { /* a delete row may carry more than its key */
        int k = 0;
        for (int i = 0; i < n; i++)
            if (cols[i].key) cols[k++] = cols[i];
        n = k;
    }
    sh_sql_dml(&s->sql, kind, t->name, cols, n);
    if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
    int params = sh_sql_param_order(kind, cols, n, order);
    unsigned int code;
    char why[1024];
    MYSQL_STMT *stmt = sh_mysql_conn_prepare(t->db->conn, s->sql.data, &code, why, sizeof why);
    if (!stmt) return sh_mysql_sink_fail(f, code, "%s: %s", s->sql.data, why);

    /* column-wise arrays: per parameter, count pointers, lengths, indicators */
    MYSQL_BIND *binds = calloc((size_t)params, sizeof *binds);
    char **values = calloc((size_t)params * (size_t)count, sizeof *values);
    unsigned long *lengths = calloc((size_t)params * (size_t)count, sizeof *lengths);
    char *indicators = calloc((size_t)params * (size_t)count, 1);
    int rc = 0;
    if (!binds || !values || !lengths || !indicators) {
        rc = sh_mysql_sink_fail(f, 0, "out of memory");
        goto out;
    }
    int r = 0;
    for (row_t *row = first; r < count; row = row->next) {
        if (row->skip) continue;
        for (int p = 0; p < params; p++) {
            /* the column's field in this row: same shape, same position, but
             * a delete's cols were compacted: find it by name */
            const sh_mysql_field_t *x = NULL;
            for (int i = 0; !x && i < row->field_count; i++)
                if (row->fields[i].name_len == cols[order[p]].name_len &&
                    memcmp(row->fields[i].name, cols[order[p]].name, cols[order[p]].name_len) == 0)
                    x = &row->fields[i];
            size_t at = (size_t)p * (size_t)count + (size_t)r;
            if (!x || x->type == 'n') {
                indicators[at] = STMT_INDICATOR_NULL;
            } else {
                values[at] = (char *)x->value;
                lengths[at] = x->value_len;
                indicators[at] = STMT_INDICATOR_NONE;
            }
        }
        r++;
    }
    for (int p = 0; p < params; p++) {
        binds[p].buffer_type = MYSQL_TYPE_STRING;
        binds[p].buffer = values + (size_t)p * (size_t)count;
        binds[p].length = lengths + (size_t)p * (size_t)count;
        binds[p].u.indicator = indicators + (size_t)p * (size_t)count;
    }
    unsigned int size = (unsigned int)count;
    if (mysql_stmt_attr_set(stmt, STMT_ATTR_ARRAY_SIZE, &size) != 0 ||
        mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0) {
        rc = sh_mysql_sink_fail(f, mysql_stmt_errno(stmt), "%s: %s (%u)", s->sql.data,
                                mysql_stmt_error(stmt), mysql_stmt_errno(stmt));
        goto out;
    }
    mysql_stmt_free_result(stmt);
out:
    free(binds);
    free(values);
    free(lengths);
    free(indicators);
    return rc;
}

static int write_rows(mysql_sink_t *s, table_t *t, failure_t *f) {
    row_t *r = t->head;
    while (r) {
        if (r->skip) {
            r = r->next;
            continue;
        }
        row_t *first = r, *last = r;
        int count = 1;
        for (r = r->next; r; r = r->next) {
            if (r->skip) continue;
            if (!same_shape(first, r) || count == t->batch_size) break;
            last = r;
            count++;
        }
        (void)last;
        if (exec_run(s, t, first, count, f) != 0) return -1;
    }
    return 0;
}

static int write_database(mysql_sink_t *s, database_t *db, failure_t *f) {
    char why[1024];
    unsigned int code;
    if (sh_mysql_conn_open(db->conn, &code, why, sizeof why) != 0)
        return sh_mysql_sink_fail(f, code, "%s", why);
    bool exactly_once = false;
    for (table_t *t = s->tables; t; t = t->next) {
        if (t->db != db || !t->head) continue;
        for (row_t *r = t->head; r; r = r->next)
            r->skip = false;
        if (sh_mysql_sink_schema_ensure(s, t, f) != 0) return -1;
        exactly_once |= t->exactly_once;
    }
    if (exactly_once && sh_mysql_sink_positions_prepare(s, db, f) != 0) return -1;
    if (sh_mysql_sink_exec(s, db, "START TRANSACTION", f) != 0) return -1;
    for (table_t *t = s->tables; t; t = t->next) {
        if (t->db != db || !t->head) continue;
        if (t->exactly_once && sh_mysql_sink_positions_skip(s, t, f) != 0) goto rollback;
        if (write_rows(s, t, f) != 0) goto rollback;
        if (t->exactly_once && sh_mysql_sink_positions_store(s, t, f) != 0) goto rollback;
    }
    if (sh_mysql_sink_exec(s, db, "COMMIT", f) != 0) goto rollback;
    return 0;
rollback:;
    failure_t ignored = {0};
    if (sh_mysql_conn_handle(db->conn)) sh_mysql_sink_exec(s, db, "ROLLBACK", &ignored);
    return -1;
}

static void deliver(mysql_sink_t *s, database_t *db, const char *err) {
    for (table_t *t = s->tables; t; t = t->next) {
        if (t->db != db) continue;
        row_t *r = t->head;
        t->head = t->tail = NULL;
        t->pending = 0;
        while (r) {
            row_t *next = r->next;
            if (!err) {
                if (r->skip)
                    s->skipped++;
                else
                    s->written++;
            }
            s->base.events->delivered(s->base.events->loop, r->batch, t->sink_name, 0, -1, err);
            free(r);
            r = next;
        }
    }
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Writes db's queue, retrying what a new connection may fix. Returns 0, or
 * -1 after the rows were reported failed. */
static int flush_database(mysql_sink_t *s, database_t *db) {
    failure_t f;
    /* from here on another thread's DDL may change the tables unseen */
    for (table_t *t = s->tables; t; t = t->next)
        if (t->db == db) t->columns_fresh = false;
    for (int attempt = 1;; attempt++) {
        f.code = 0;
        f.message[0] = 0;
        if (write_database(s, db, &f) == 0) {
            if (attempt > 1)
                sh_log(SH_LOG_INFO, "mysql sink: %s written after %d attempts",
                       sh_mysql_conn_name(db->conn), attempt);
            deliver(s, db, NULL);
            return 0;
        }
        bool retriable = sh_mysql_conn_retriable(f.code);
        if (retriable) {
            sh_mysql_conn_drop(db->conn);
            for (table_t *t = s->tables; t; t = t->next)
                if (t->db == db) t->columns_known = false;
            db->offsets_ready = false;
        }
        if (!retriable || attempt > db->max_retries) break;
        int wait = sh_mysql_conn_backoff_ms(attempt, db->backoff_ms);
        sh_log(SH_LOG_WARN, "mysql sink: %s: %s; retry %d of %d in %d ms",
               sh_mysql_conn_name(db->conn), f.message, attempt, db->max_retries, wait);
        sleep_ms(wait);
    }
    char err[1200];
    snprintf(err, sizeof err, "MySQL %s: %s", sh_mysql_conn_name(db->conn), f.message);
    sh_log(SH_LOG_ERROR, "mysql sink: %s", err);
    deliver(s, db, err);
    return -1;
}

static int flush_all(mysql_sink_t *s) {
    for (database_t *db = s->databases; db; db = db->next) {
        bool queued = false;
        for (table_t *t = s->tables; t && !queued; t = t->next)
            queued = t->db == db && t->head;
        if (queued) flush_database(s, db);
    }
    return 0;
}

static void sink_poll(sh_sink_t *sink, int timeout_ms) {
    (void)timeout_ms; /* writes are synchronous: nothing to wait for after */
    flush_all((mysql_sink_t *)sink);
}

static int sink_flush(sh_sink_t *sink, int timeout_ms) {
    (void)timeout_ms;
    return flush_all((mysql_sink_t *)sink);
}

static void sink_destroy(sh_sink_t *sink) {
    mysql_sink_t *s = (mysql_sink_t *)sink;
    if (s->written || s->skipped)
        sh_log(SH_LOG_DEBUG, "mysql sink: %lld rows written, %lld already written (exactly.once)",
               s->written, s->skipped);
    while (s->tables) {
        table_t *t = s->tables;
        s->tables = t->next;
        for (row_t *r = t->head, *next; r; r = next) { /* never delivered: read again */
            next = r->next;
            free(r);
        }
        sh_mysql_sink_schema_forget(t);
        free(t->sink_name);
        free(t->name);
        free(t);
    }
    while (s->databases) {
        database_t *d = s->databases;
        s->databases = d->next;
        sh_mysql_conn_free(d->conn);
        free(d->url);
        free(d->user);
        free(d->password);
        free(d->offsets_table);
        free(d);
    }
    sh_sql_free(&s->sql);
    free(s->by_index);
    free(s->consumer);
    free(s);
}

static const sh_sink_ops_t mysql_sink_ops = {
    .kind = "mysql",
    .bind = sink_bind,
    .emit = sink_emit,
    .poll = sink_poll,
    .flush = sink_flush,
    .destroy = sink_destroy,
};

sh_sink_t *sh_mysql_sink_new(const char *consumer) {
    /* before any stream thread connects: the client library's global set-up
     * is not meant to race (it is idempotent) */
    mysql_library_init(0, NULL, NULL);
    mysql_sink_t *s = calloc(1, sizeof *s);
    if (!s || !(s->consumer = strdup(consumer ? consumer : ""))) {
        free(s);
        return NULL;
    }
    s->base.ops = &mysql_sink_ops;
    return &s->base;
}
