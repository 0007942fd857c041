/*
 * snapshot.c - the initial snapshot (snapshot.h).
 *
 * On MariaDB, START TRANSACTION WITH CONSISTENT SNAPSHOT also fixes the
 * binlog position of that snapshot (status binlog_snapshot_file/_position),
 * so no lock is taken at all. Elsewhere a global read lock is held only
 * while the transaction starts and SHOW MASTER STATUS is read, as Debezium
 * does. Rows stream from the server (mysql_use_result), a table at a time,
 * converted from the text protocol to the same JSON the binlog reader
 * writes (value.c); the session runs in UTC so TIMESTAMPs read as stored.
 *
 * The last row is held back one step so its event can say snapshot "last"
 * and carry the streaming position: once it is acknowledged, a restart
 * streams instead of snapshotting again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "mysql/envelope.h"
#include "mysql/snapshot.h"

enum { PROGRESS_EVERY_MS = 10000 };

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int query(MYSQL *conn, const char *sql, char *errbuf, size_t errlen) {
    if (mysql_query(conn, sql) == 0) return 0;
    snprintf(errbuf, errlen, "%s: %s", sql, mysql_error(conn));
    return -1;
}

/* The first row's columns of a one-row query, into out[0..n). */
static int query_row(MYSQL *conn, const char *sql, char **out, int n, char *errbuf, size_t errlen) {
    if (query(conn, sql, errbuf, errlen) != 0) return -1;
    MYSQL_RES *res = mysql_store_result(conn);
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    for (int i = 0; i < n; i++)
        out[i] = row && row[i] ? strdup(row[i]) : NULL;
    if (res) mysql_free_result(res);
    return 0;
}

/* The snapshot's binlog position, read inside the started transaction. */
static int start_transaction(MYSQL *conn, sh_cdc_position_t *at, char *errbuf, size_t errlen) {
    bool mariadb = strstr(mysql_get_server_info(conn), "MariaDB") != NULL;
    if (query(conn, "SET SESSION time_zone = '+00:00'", errbuf, errlen) ||
        query(conn, "SET SESSION net_write_timeout = 3600", errbuf, errlen) ||
        query(conn, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", errbuf, errlen))
        return -1;
    char *file = NULL, *pos = NULL, *gtid = NULL;
    if (mariadb) {
        char *v[2];
        if (query(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT", errbuf, errlen) ||
            query_row(conn, "SHOW STATUS LIKE 'binlog_snapshot_file'", v, 2, errbuf, errlen))
            return -1;
        free(v[0]);
        file = v[1];
        if (query_row(conn, "SHOW STATUS LIKE 'binlog_snapshot_position'", v, 2, errbuf, errlen))
            return -1;
        free(v[0]);
        pos = v[1];
        query_row(conn, "SELECT @@gtid_binlog_pos", &gtid, 1, errbuf, errlen);
    } else {
        char *v[2] = {0};
        if (query(conn, "FLUSH TABLES WITH READ LOCK", errbuf, errlen) ||
            query(conn, "START TRANSACTION WITH CONSISTENT SNAPSHOT", errbuf, errlen) ||
            query_row(conn, "SHOW MASTER STATUS", v, 2, errbuf, errlen) ||
            query(conn, "UNLOCK TABLES", errbuf, errlen))
            return -1;
        file = v[0], pos = v[1];
    }
    int rc = 0;
    if (!file || !file[0] || !pos) {
        snprintf(errbuf, errlen,
                 "the server has no binlog position: start it with log_bin "
                 "(scripts/mariadb.sh does)");
        rc = -1;
    } else {
        *at = (sh_cdc_position_t){.pos = strtoull(pos, NULL, 10)};
        snprintf(at->file, sizeof at->file, "%s", file);
        snprintf(at->gtid, sizeof at->gtid, "%s", gtid ? gtid : "");
    }
    free(file);
    free(pos);
    free(gtid);
    return rc;
}

/* ---- text protocol values to Debezium's JSON ---- */

static bool is_binary(const MYSQL_FIELD *f) { return f->charsetnr == 63; }

static void value_json(sh_text_t *t, const MYSQL_FIELD *f, const char *v, unsigned long len,
                       sh_decimal_mode_t mode) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    char frac[8] = "";
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        sh_text_add(t, v, len);
        return;
    case MYSQL_TYPE_FLOAT:
        sh_text_addf(t, "%.9g", (double)strtof(v, NULL));
        return;
    case MYSQL_TYPE_DOUBLE:
        sh_text_addf(t, "%.17g", strtod(v, NULL));
        return;
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_DECIMAL:
        sh_mysql_json_decimal(t, mode, v, len, (int)f->decimals);
        return;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
        sscanf(v, "%d-%d-%d", &y, &mo, &d);
        sh_mysql_json_date(t, y, mo, d);
        return;
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP: {
        sscanf(v, "%d-%d-%d %d:%d:%d.%6[0-9]", &y, &mo, &d, &h, &mi, &s, frac);
        size_t n = strlen(frac);
        while (n < 6)
            frac[n++] = '0';
        frac[6] = '\0';
        long micros = atol(frac);
        int fsp = f->decimals > 6 ? 0 : (int)f->decimals;
        if (f->type == MYSQL_TYPE_DATETIME) {
            sh_mysql_json_datetime(t, fsp, y, mo, d, h, mi, s, micros);
        } else if (mo == 0 || d == 0) {
            sh_mysql_json_timestamp(t, fsp, 0, 0);
        } else {
            struct tm tm = {.tm_year = y - 1900,
                            .tm_mon = mo - 1,
                            .tm_mday = d,
                            .tm_hour = h,
                            .tm_min = mi,
                            .tm_sec = s};
            sh_mysql_json_timestamp(t, fsp, (int64_t)timegm(&tm), micros);
        }
        return;
    }
    case MYSQL_TYPE_TIME: {
        bool negative = v[0] == '-';
        sscanf(v + negative, "%d:%d:%d.%6[0-9]", &h, &mi, &s, frac);
        size_t n = strlen(frac);
        while (n < 6)
            frac[n++] = '0';
        frac[6] = '\0';
        sh_mysql_json_time(t, negative, h, mi, s, atol(frac));
        return;
    }
    case MYSQL_TYPE_JSON:
        sh_text_json_string(t, v, len);
        return;
    case MYSQL_TYPE_BIT:
        sh_mysql_json_bits(t, (int)f->length, (const unsigned char *)v, len);
        return;
    default:
        if (is_binary(f) && !(f->flags & (ENUM_FLAG | SET_FLAG)))
            sh_text_json_base64(t, (const unsigned char *)v, len);
        else
            sh_text_json_string(t, v, len);
    }
}

/* ---- the held-back event ---- */

typedef struct held {
    bool full;
    sh_mysql_table_t *table;
    sh_text_t key, after;
    bool has_key;
    sh_cdc_position_t position;
} held_t;

static int release_held(held_t *h, const sh_cdc_config_t *c, sh_cdc_emit_fn emit, void *arg,
                        bool last, const sh_cdc_position_t *stream_from) {
    if (!h->full) return 0;
    h->full = false;
    sh_cdc_position_t p = last ? *stream_from : h->position;
    p.snapshot = !last;
    sh_cdc_event_t e = {.table = h->table,
                        .op = 'r',
                        .after = h->after.data,
                        .key = h->has_key ? h->key.data : NULL,
                        .ts_ms = wall_ms(),
                        .position = &p,
                        .snapshot = last ? "last" : "true",
                        .server_id = 0,
                        .event_pos = (int64_t)stream_from->pos};
    (void)c;
    return emit(arg, &e);
}

/* One table's description from its result's fields. */
static sh_mysql_table_t *table_of(const char *prefix, const char *db, const char *name,
                                  MYSQL_FIELD *fields, unsigned n) {
    sh_mysql_table_t *t = calloc(1, sizeof *t);
    if (!t || !(t->columns = calloc(n + 1, sizeof *t->columns)) || !(t->db = strdup(db)) ||
        !(t->name = strdup(name)) || !(t->topic = sh_mysql_topic_name(prefix, db, name))) {
        sh_mysql_table_free(t);
        return NULL;
    }
    t->count = (int)n;
    for (unsigned i = 0; i < n; i++) {
        sh_mysql_column_t *c = &t->columns[i];
        if (!(c->name = strdup(fields[i].name))) {
            sh_mysql_table_free(t);
            return NULL;
        }
        const MYSQL_FIELD *f = &fields[i];
        c->type = f->type;
        c->in_key = f->flags & PRI_KEY_FLAG;
        /* what the binlog's TABLE_MAP says of a column (binlog.c), from the
         * result's metadata, so both describe a table alike */
        c->nullable = !(f->flags & NOT_NULL_FLAG);
        c->is_unsigned = f->flags & UNSIGNED_FLAG;
        c->binary = is_binary(f);
        if (f->flags & ENUM_FLAG) c->type = MYSQL_TYPE_ENUM;
        if (f->flags & SET_FLAG) c->type = MYSQL_TYPE_SET;
        c->fsp = f->decimals > 6 ? 0 : (int)f->decimals;
        c->scale = (int)f->decimals;
        c->precision = (int)f->length - (f->decimals > 0) - !(f->flags & UNSIGNED_FLAG);
        c->bits = (int)f->length;
        if (c->in_key) t->key_count++;
    }
    return t;
}

static int snapshot_table(MYSQL *conn, const sh_cdc_config_t *c, const char *db, const char *name,
                          volatile sig_atomic_t *stop, held_t *held, sh_cdc_emit_fn emit, void *arg,
                          const sh_cdc_position_t *stream_from, sh_mysql_table_t **table_out,
                          char *errbuf, size_t errlen) {
    char sql[1200], qdb[520], qname[520];
    /* identifiers from information_schema, quoted: a backtick doubles */
    size_t j = 0;
    for (const char *p = db; *p && j < sizeof qdb - 2; p++) {
        if (*p == '`') qdb[j++] = '`';
        qdb[j++] = *p;
    }
    qdb[j] = '\0';
    j = 0;
    for (const char *p = name; *p && j < sizeof qname - 2; p++) {
        if (*p == '`') qname[j++] = '`';
        qname[j++] = *p;
    }
    qname[j] = '\0';
    snprintf(sql, sizeof sql, "SELECT * FROM `%s`.`%s`", qdb, qname);
    if (query(conn, sql, errbuf, errlen) != 0) return -1;
    MYSQL_RES *res = mysql_use_result(conn);
    if (!res) {
        snprintf(errbuf, errlen, "%s: %s", sql, mysql_error(conn));
        return -1;
    }
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    sh_mysql_table_t *t = table_of(c->prefix, db, name, fields, n);
    *table_out = t;
    if (!t) {
        mysql_free_result(res);
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    int64_t started = mono_ms(), last_progress = started;
    long long rows = 0;
    int rc = 0;
    sh_mysql_row_t row = {0};
    MYSQL_ROW values;
    while (!*stop && (values = mysql_fetch_row(res))) {
        unsigned long *lengths = mysql_fetch_lengths(res);
        if (sh_mysql_row_reset(&row, (int)n) != 0) {
            rc = -1;
            snprintf(errbuf, errlen, "out of memory");
            break;
        }
        for (unsigned i = 0; i < n; i++) {
            sh_mysql_row_begin(&row, (int)i);
            if (!values[i])
                sh_text_adds(&row.json, "null");
            else
                value_json(&row.json, &fields[i], values[i], lengths[i], c->decimal_mode);
            sh_mysql_row_end(&row, (int)i);
        }
        if ((rc = release_held(held, c, emit, arg, false, stream_from)) != 0) break;
        sh_text_clear(&held->key);
        sh_text_clear(&held->after);
        sh_envelope_key(&held->key, t, &row);
        sh_envelope_row(&held->after, t, &row);
        if (held->key.failed || held->after.failed || row.json.failed) {
            rc = -1;
            snprintf(errbuf, errlen, "out of memory");
            break;
        }
        held->has_key = held->key.len > 0;
        held->table = t;
        held->position = *stream_from;
        held->full = true;
        rows++;
        int64_t now = mono_ms();
        if (now - last_progress >= PROGRESS_EVERY_MS) {
            last_progress = now;
            sh_log(SH_LOG_INFO, "mysql_cdc: snapshot of %s.%s: %lld rows so far, %.0f rows/s", db,
                   name, rows, rows * 1000.0 / (double)(now - started));
        }
    }
    if (rc == 0 && !*stop && mysql_errno(conn)) {
        snprintf(errbuf, errlen, "%s: %s", sql, mysql_error(conn));
        rc = -1;
    }
    mysql_free_result(res);
    sh_mysql_row_free(&row);
    if (rc == 0 && !*stop) {
        double secs = (double)(mono_ms() - started) / 1000.0;
        sh_log(SH_LOG_INFO, "mysql_cdc: snapshot of %s.%s: %lld rows in %.2f s (%.0f rows/s)", db,
               name, rows, secs, secs > 0 ? rows / secs : (double)rows);
    }
    return rc;
}

int sh_snapshot_run(MYSQL *conn, const sh_cdc_config_t *c, volatile sig_atomic_t *stop,
                    sh_cdc_emit_fn emit, void *arg, sh_cdc_position_t *stream_from, bool *stopped,
                    char *errbuf, size_t errlen) {
    *stopped = false;
    if (start_transaction(conn, stream_from, errbuf, errlen) != 0) return -1;
    sh_log(SH_LOG_INFO, "mysql_cdc: snapshot at binlog %s:%llu (gtid %s)", stream_from->file,
           (unsigned long long)stream_from->pos, stream_from->gtid);
    if (query(conn,
              "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES "
              "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME",
              errbuf, errlen) != 0)
        return -1;
    MYSQL_RES *list = mysql_store_result(conn);
    if (!list) {
        snprintf(errbuf, errlen, "listing tables: %s", mysql_error(conn));
        return -1;
    }
    held_t held = {0};
    sh_mysql_table_t **tables = calloc(mysql_num_rows(list) + 1, sizeof *tables);
    int table_count = 0, rc = tables ? 0 : -1;
    int64_t started = mono_ms();
    MYSQL_ROW r;
    while (rc == 0 && !*stop && (r = mysql_fetch_row(list))) {
        if (!sh_cdc_config_captures(c, r[0], r[1])) continue;
        rc = snapshot_table(conn, c, r[0], r[1], stop, &held, emit, arg, stream_from,
                            &tables[table_count++], errbuf, errlen);
    }
    if (rc == 0 && !*stop) rc = release_held(&held, c, emit, arg, true, stream_from);
    if (*stop) *stopped = true;
    mysql_free_result(list);
    mysql_query(conn, "COMMIT");
    for (int i = 0; tables && i < table_count; i++)
        sh_mysql_table_free(tables[i]);
    free(tables);
    sh_text_free(&held.key);
    sh_text_free(&held.after);
    if (rc == 0 && !*stopped)
        sh_log(SH_LOG_INFO, "mysql_cdc: snapshot done: %d table(s) in %.2f s", table_count,
               (double)(mono_ms() - started) / 1000.0);
    return rc == 0 || *stopped ? 0 : -1; /* emit refuses only when stopping */
}
