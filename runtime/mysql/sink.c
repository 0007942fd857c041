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
#include "mysql/conn.h"
#include "mysql/sink.h"
#include "mysql/sink_row.h"
#include "mysql/sql.h"

enum { MAX_FIELDS = 512 };

#define ORIGIN_HEADER "__streamhost.origin"

typedef struct row {
    struct row *next;
    void *batch;
    char op; /* 'W' or 'D' */
    int field_count;
    sh_mysql_field_t *fields; /* point into data */
    char *origin_topic;       /* NULL: no input position (timer output) */
    int32_t origin_partition;
    int64_t origin_offset;
    int64_t origin_seq;
    bool skip; /* exactly.once: written before */
    _Alignas(sh_mysql_field_t) char data[];
} row_t;

typedef struct database {
    struct database *next;
    char *url, *user, *password;
    sh_mysql_conn_t *conn;
    int max_retries, backoff_ms;
    char *offsets_table;
    bool offsets_ready;
} database_t;

typedef struct table {
    struct table *next;
    char *sink_name; /* what deliveries name: stable while the sink lives */
    char *name;
    database_t *db;
    int insert_kind; /* SH_SQL_INSERT, _UPSERT, _UPDATE */
    int batch_size;
    bool auto_create, auto_evolve, exactly_once;
    char **columns; /* known columns of the table, once looked up */
    int column_count;
    bool columns_known;
    row_t *head, *tail;
    int pending;
} table_t;

typedef struct mysql_sink {
    sh_sink_t base;
    char *consumer;
    database_t *databases;
    table_t *tables;
    table_t **by_index; /* context sink index -> table, NULL: not a MySQL table */
    int count;
    sh_mysql_field_t scratch[MAX_FIELDS];
    sh_sql_t sql;
    long long written, skipped;
} mysql_sink_t;

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
        if (strcmp(h->name, ORIGIN_HEADER) != 0 || !h->value) continue;
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
    int n = sh_mysql_sink_row_parse(r->value, r->value_len, &op, s->scratch, MAX_FIELDS, why,
                                    sizeof why);
    if (n < 0 || check_row(t, op, s->scratch, n, why, sizeof why) != 0) {
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

typedef struct failure {
    unsigned int code;
    char message[1024];
} failure_t;

static int fail(failure_t *f, unsigned int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(failure_t *f, unsigned int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    f->code = code;
    return -1;
}

static int exec(mysql_sink_t *s, database_t *db, const char *sql, failure_t *f) {
    (void)s;
    char why[1024];
    unsigned int code;
    if (sh_mysql_conn_exec(db->conn, sql, &code, why, sizeof why) == 0) return 0;
    return fail(f, code, "%s: %s", sql, why);
}

static bool has_column(const table_t *t, const char *name, size_t len) {
    for (int i = 0; i < t->column_count; i++)
        if (strlen(t->columns[i]) == len && strncasecmp(t->columns[i], name, len) == 0) return true;
    return false;
}

static int add_known_column(table_t *t, const char *name, size_t len) {
    char **grown = realloc(t->columns, sizeof *grown * (size_t)(t->column_count + 1));
    if (!grown) return -1;
    t->columns = grown;
    if (!(grown[t->column_count] = strndup(name, len))) return -1;
    t->column_count++;
    return 0;
}

/* Table names were checked to be plain identifiers: they can sit in a
 * quoted literal as they are. */
static int load_columns(mysql_sink_t *s, table_t *t, failure_t *f) {
    for (int i = 0; i < t->column_count; i++)
        free(t->columns[i]);
    t->column_count = 0;
    const char *dot = strchr(t->name, '.');
    sh_sql_reset(&s->sql);
    sh_sql_append(&s->sql,
                  "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    if (dot)
        sh_sql_append(&s->sql, "'%.*s' AND TABLE_NAME = '%s'", (int)(dot - t->name), t->name,
                      dot + 1);
    else
        sh_sql_append(&s->sql, "DATABASE() AND TABLE_NAME = '%s'", t->name);
    MYSQL *db = sh_mysql_conn_handle(t->db->conn);
    if (mysql_real_query(db, s->sql.data, s->sql.len) != 0)
        return fail(f, mysql_errno(db), "cannot read the columns of %s: %s", t->name,
                    mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    if (!res) return fail(f, mysql_errno(db), "cannot read the columns of %s", t->name);
    MYSQL_ROW r;
    int rc = 0;
    while ((r = mysql_fetch_row(res)))
        if (add_known_column(t, r[0], strlen(r[0])) != 0) rc = fail(f, 0, "out of memory");
    mysql_free_result(res);
    t->columns_known = rc == 0;
    return rc;
}

/* auto.create / auto.evolve from the queued rows: O(rows x fields x
 * columns), with consecutive rows of one shape checked once. */
static int ensure_schema(mysql_sink_t *s, table_t *t, failure_t *f) {
    if (!t->columns_known && load_columns(s, t, f) != 0) return -1;
    if (t->column_count == 0) {
        if (!t->auto_create)
            return fail(f, 0, "table %s does not exist in %s and auto.create is false", t->name,
                        sh_mysql_conn_name(t->db->conn));
        sh_sql_column_t cols[MAX_FIELDS];
        int n = 0;
        for (row_t *r = t->head; r; r = r->next)
            for (int i = 0; i < r->field_count; i++) {
                const sh_mysql_field_t *x = &r->fields[i];
                int j = 0;
                while (j < n && !(cols[j].name_len == x->name_len &&
                                  strncasecmp(cols[j].name, x->name, x->name_len) == 0))
                    j++;
                if (j == n && n < MAX_FIELDS)
                    cols[n++] = (sh_sql_column_t){x->name, x->name_len, x->type, x->key};
                else if (j < n && (cols[j].type == 'n' || (cols[j].type == 'i' && x->type == 'f')))
                    cols[j].type = x->type; /* a whole number first, a fraction later: DOUBLE */
            }
        sh_sql_create_table(&s->sql, t->name, cols, n);
        if (s->sql.oom) return fail(f, 0, "out of memory");
        if (exec(s, t->db, s->sql.data, f) != 0) return -1;
        sh_log(SH_LOG_INFO, "mysql sink: created table %s (auto.create) in %s", t->name,
               sh_mysql_conn_name(t->db->conn));
        return load_columns(s, t, f);
    }
    const row_t *prev = NULL;
    for (row_t *r = t->head; r; prev = r, r = r->next) {
        if (prev && prev->field_count == r->field_count) {
            bool shape = true;
            for (int i = 0; shape && i < r->field_count; i++)
                shape = prev->fields[i].name_len == r->fields[i].name_len &&
                        memcmp(prev->fields[i].name, r->fields[i].name, r->fields[i].name_len) == 0;
            if (shape) continue;
        }
        for (int i = 0; i < r->field_count; i++) {
            const sh_mysql_field_t *x = &r->fields[i];
            if (has_column(t, x->name, x->name_len)) continue;
            if (!t->auto_evolve)
                return fail(f, 0, "table %s has no column \"%.*s\" and auto.evolve is false",
                            t->name, (int)x->name_len, x->name);
            char type = x->type;
            for (row_t *later = r; type == 'n' && later; later = later->next)
                for (int j = 0; j < later->field_count; j++)
                    if (later->fields[j].name_len == x->name_len &&
                        strncasecmp(later->fields[j].name, x->name, x->name_len) == 0 &&
                        later->fields[j].type != 'n')
                        type = later->fields[j].type;
            sh_sql_column_t col = {x->name, x->name_len, type, false};
            sh_sql_add_column(&s->sql, t->name, &col);
            if (s->sql.oom) return fail(f, 0, "out of memory");
            if (exec(s, t->db, s->sql.data, f) != 0) return -1;
            sh_log(SH_LOG_INFO, "mysql sink: added column %.*s %s to %s (auto.evolve)",
                   (int)x->name_len, x->name, sh_sql_column_type(type, false), t->name);
            if (add_known_column(t, x->name, x->name_len) != 0) return fail(f, 0, "out of memory");
        }
    }
    return 0;
}

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
    sh_sql_column_t cols[MAX_FIELDS];
    int order[MAX_FIELDS];
    for (int i = 0; i < n; i++)
        cols[i] = (sh_sql_column_t){first->fields[i].name, first->fields[i].name_len,
                                    first->fields[i].type, first->fields[i].key};
    if (kind == SH_SQL_DELETE) { /* a delete row may carry more than its key */
        int k = 0;
        for (int i = 0; i < n; i++)
            if (cols[i].key) cols[k++] = cols[i];
        n = k;
    }
    sh_sql_dml(&s->sql, kind, t->name, cols, n);
    if (s->sql.oom) return fail(f, 0, "out of memory");
    int params = sh_sql_param_order(kind, cols, n, order);
    unsigned int code;
    char why[1024];
    MYSQL_STMT *stmt = sh_mysql_conn_prepare(t->db->conn, s->sql.data, &code, why, sizeof why);
    if (!stmt) return fail(f, code, "%s: %s", s->sql.data, why);

    /* column-wise arrays: per parameter, count pointers, lengths, indicators */
    MYSQL_BIND *binds = calloc((size_t)params, sizeof *binds);
    char **values = calloc((size_t)params * (size_t)count, sizeof *values);
    unsigned long *lengths = calloc((size_t)params * (size_t)count, sizeof *lengths);
    char *indicators = calloc((size_t)params * (size_t)count, 1);
    int rc = 0;
    if (!binds || !values || !lengths || !indicators) {
        rc = fail(f, 0, "out of memory");
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
        rc = fail(f, mysql_stmt_errno(stmt), "%s: %s (%u)", s->sql.data, mysql_stmt_error(stmt),
                  mysql_stmt_errno(stmt));
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

/* ---- exactly.once: input positions stored with the rows ---- */

static void escaped(mysql_sink_t *s, MYSQL *db, const char *text) {
    size_t len = strlen(text);
    char *buf = malloc(len * 2 + 1);
    if (!buf) {
        s->sql.oom = true;
        return;
    }
    mysql_real_escape_string(db, buf, text, len);
    sh_sql_append(&s->sql, "'%s'", buf);
    free(buf);
}

static int ensure_offsets_table(mysql_sink_t *s, database_t *db, failure_t *f) {
    if (db->offsets_ready) return 0;
    sh_sql_reset(&s->sql);
    sh_sql_append(&s->sql, "CREATE TABLE IF NOT EXISTS ");
    sh_sql_table(&s->sql, db->offsets_table);
    sh_sql_append(&s->sql, " (consumer VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, "
                           "topic VARCHAR(255) NOT NULL, kafka_partition INT NOT NULL, "
                           "last_offset BIGINT NOT NULL, last_seq BIGINT NOT NULL, "
                           "PRIMARY KEY (consumer, table_name, topic, kafka_partition))");
    if (s->sql.oom) return fail(f, 0, "out of memory");
    if (exec(s, db, s->sql.data, f) != 0) return -1;
    db->offsets_ready = true;
    return 0;
}

static void position_where(mysql_sink_t *s, MYSQL *db, const table_t *t, const row_t *r) {
    sh_sql_append(&s->sql, " WHERE consumer = ");
    escaped(s, db, s->consumer);
    sh_sql_append(&s->sql, " AND table_name = ");
    escaped(s, db, t->name);
    sh_sql_append(&s->sql, " AND topic = ");
    escaped(s, db, r->origin_topic);
    sh_sql_append(&s->sql, " AND kafka_partition = %d", (int)r->origin_partition);
}

static bool same_partition(const row_t *a, const row_t *b) {
    return a->origin_partition == b->origin_partition &&
           strcmp(a->origin_topic, b->origin_topic) == 0;
}

/* Locks each input partition's stored position (FOR UPDATE) and marks the
 * rows at or before it. One query per input partition in the queue. */
static int skip_written(mysql_sink_t *s, table_t *t, failure_t *f) {
    MYSQL *db = sh_mysql_conn_handle(t->db->conn);
    for (row_t *r = t->head; r; r = r->next) {
        if (!r->origin_topic) continue;
        bool seen = false;
        for (row_t *q = t->head; q != r && !seen; q = q->next)
            seen = q->origin_topic && same_partition(q, r);
        if (seen) continue;
        sh_sql_reset(&s->sql);
        sh_sql_append(&s->sql, "SELECT last_offset, last_seq FROM ");
        sh_sql_table(&s->sql, t->db->offsets_table);
        position_where(s, db, t, r);
        sh_sql_append(&s->sql, " FOR UPDATE");
        if (s->sql.oom) return fail(f, 0, "out of memory");
        if (mysql_real_query(db, s->sql.data, s->sql.len) != 0)
            return fail(f, mysql_errno(db), "%s: %s", s->sql.data, mysql_error(db));
        MYSQL_RES *res = mysql_store_result(db);
        if (!res) return fail(f, mysql_errno(db), "%s: %s", s->sql.data, mysql_error(db));
        MYSQL_ROW stored = mysql_fetch_row(res);
        if (stored) {
            long long offset = strtoll(stored[0], NULL, 10), seq = strtoll(stored[1], NULL, 10);
            for (row_t *q = r; q; q = q->next)
                if (q->origin_topic && same_partition(q, r) &&
                    (q->origin_offset < offset ||
                     (q->origin_offset == offset && q->origin_seq <= seq)))
                    q->skip = true;
        }
        mysql_free_result(res);
    }
    return 0;
}

/* Stores, per input partition, the position of its last row in the queue. */
static int store_positions(mysql_sink_t *s, table_t *t, failure_t *f) {
    MYSQL *db = sh_mysql_conn_handle(t->db->conn);
    for (row_t *r = t->head; r; r = r->next) {
        if (!r->origin_topic) continue;
        bool later = false;
        for (row_t *q = r->next; q && !later; q = q->next)
            later = q->origin_topic && same_partition(q, r);
        if (later) continue; /* rows come in input order: the last one is the latest */
        sh_sql_reset(&s->sql);
        sh_sql_append(&s->sql, "INSERT INTO ");
        sh_sql_table(&s->sql, t->db->offsets_table);
        sh_sql_append(&s->sql, " (consumer, table_name, topic, kafka_partition, last_offset, "
                               "last_seq) VALUES (");
        escaped(s, db, s->consumer);
        sh_sql_append(&s->sql, ", ");
        escaped(s, db, t->name);
        sh_sql_append(&s->sql, ", ");
        escaped(s, db, r->origin_topic);
        sh_sql_append(&s->sql,
                      ", %d, %lld, %lld) ON DUPLICATE KEY UPDATE last_offset = "
                      "IF(VALUES(last_offset) > last_offset OR (VALUES(last_offset) = last_offset "
                      "AND VALUES(last_seq) > last_seq), VALUES(last_offset), last_offset), "
                      "last_seq = IF(VALUES(last_offset) = last_offset, GREATEST(last_seq, "
                      "VALUES(last_seq)), VALUES(last_seq))",
                      (int)r->origin_partition, (long long)r->origin_offset,
                      (long long)r->origin_seq);
        if (s->sql.oom) return fail(f, 0, "out of memory");
        if (exec(s, t->db, s->sql.data, f) != 0) return -1;
    }
    return 0;
}

/* One attempt at the whole transaction of db's queued rows. */
static int write_database(mysql_sink_t *s, database_t *db, failure_t *f) {
    char why[1024];
    unsigned int code;
    if (sh_mysql_conn_open(db->conn, &code, why, sizeof why) != 0) return fail(f, code, "%s", why);
    bool exactly_once = false;
    for (table_t *t = s->tables; t; t = t->next) {
        if (t->db != db || !t->head) continue;
        for (row_t *r = t->head; r; r = r->next)
            r->skip = false;
        if (ensure_schema(s, t, f) != 0) return -1;
        exactly_once |= t->exactly_once;
    }
    if (exactly_once && ensure_offsets_table(s, db, f) != 0) return -1;
    if (exec(s, db, "START TRANSACTION", f) != 0) return -1;
    for (table_t *t = s->tables; t; t = t->next) {
        if (t->db != db || !t->head) continue;
        if (t->exactly_once && skip_written(s, t, f) != 0) goto rollback;
        if (write_rows(s, t, f) != 0) goto rollback;
        if (t->exactly_once && store_positions(s, t, f) != 0) goto rollback;
    }
    if (exec(s, db, "COMMIT", f) != 0) goto rollback;
    return 0;
rollback:;
    failure_t ignored = {0};
    if (sh_mysql_conn_handle(db->conn)) exec(s, db, "ROLLBACK", &ignored);
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
        for (int i = 0; i < t->column_count; i++)
            free(t->columns[i]);
        free(t->columns);
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
