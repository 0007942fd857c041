/*
 * sink_schema.c - auto.create and auto.evolve for the MySQL sink (see
 * sink_queue.h). The table's columns (name, data type, NULL-ability) are
 * read once from information_schema and kept; CREATE TABLE takes every
 * field of the queued rows (a column's type from its first non-null value,
 * DOUBLE when whole numbers and fractions mix), ALTER TABLE ADD COLUMN each
 * field the table lacks, and ALTER TABLE MODIFY COLUMN ... DOUBLE widens an
 * integer column a row brings a fraction for (a column created BIGINT from
 * whole numbers, then 12.25: MySQL would round it). Without auto.evolve
 * that row is refused instead, never rounded. Types a record's schema gave
 * (Avro sql_type) are left as they are. DDL commits by itself in MySQL, so
 * this runs before the transaction of the rows.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "mysql/sink_queue.h"

static known_column_t *find_column(const table_t *t, const char *name, size_t len) {
    for (int i = 0; i < t->column_count; i++)
        if (strlen(t->columns[i].name) == len && strncasecmp(t->columns[i].name, name, len) == 0)
            return &t->columns[i];
    return NULL;
}

void sh_mysql_sink_schema_forget(table_t *t) {
    for (int i = 0; i < t->column_count; i++) {
        free(t->columns[i].name);
        free(t->columns[i].default_value);
    }
    free(t->columns);
    t->columns = NULL;
    t->column_count = 0;
    t->columns_known = t->columns_fresh = false;
}

/* r: COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA; or NULL
 * for a column auto.evolve added (nullable, no default) as `type`. */
static int add_known_column(table_t *t, const char *name, size_t len, MYSQL_ROW r, const char *type,
                            size_t type_len) {
    known_column_t *grown = realloc(t->columns, sizeof *grown * (size_t)(t->column_count + 1));
    if (!grown) return -1;
    t->columns = grown;
    known_column_t *c = &grown[t->column_count];
    *c = (known_column_t){.nullable = true};
    if (!(c->name = strndup(name, len))) return -1;
    t->column_count++;
    /* "BIGINT", "DECIMAL(10,2)" (not NUL-terminated) or DATA_TYPE: lower case, no size */
    const char *text = r ? (r[1] ? r[1] : "") : type;
    size_t text_len = r ? strlen(text) : type_len, i = 0;
    for (; i < text_len && i + 1 < sizeof c->data_type && text[i] != '('; i++)
        c->data_type[i] = (char)tolower((unsigned char)text[i]);
    c->data_type[i] = 0;
    if (!r) return 0;
    c->nullable = r[2] && strcmp(r[2], "YES") == 0;
    /* MariaDB shows "no default" of a nullable column as the text NULL */
    if (r[3] && strcmp(r[3], "NULL") != 0) {
        if (sh_sql_whole_number(r[3])) {
            if (!(c->default_value = strdup(r[3]))) return -1;
        } else {
            snprintf(c->why_fixed, sizeof c->why_fixed, "its default %.60s", r[3]);
        }
    }
    if (r[4] && r[4][0]) snprintf(c->why_fixed, sizeof c->why_fixed, "%.80s", r[4]);
    return 0;
}

/* Table names were checked to be plain identifiers: they can sit in a
 * quoted literal as they are. */
static int load_columns(mysql_sink_t *s, table_t *t, failure_t *f) {
    sh_mysql_sink_schema_forget(t);
    const char *dot = strchr(t->name, '.');
    sh_sql_reset(&s->sql);
    sh_sql_append(&s->sql, "SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA "
                           "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ");
    if (dot)
        sh_sql_append(&s->sql, "'%.*s' AND TABLE_NAME = '%s'", (int)(dot - t->name), t->name,
                      dot + 1);
    else
        sh_sql_append(&s->sql, "DATABASE() AND TABLE_NAME = '%s'", t->name);
    if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
    MYSQL *db = sh_mysql_conn_handle(t->db->conn);
    if (!db)
        return sh_mysql_sink_fail(f, 0, "cannot read the columns of %s: not connected", t->name);
    if (mysql_real_query(db, s->sql.data, s->sql.len) != 0)
        return sh_mysql_sink_fail(f, mysql_errno(db), "cannot read the columns of %s: %s", t->name,
                                  mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    if (!res)
        return sh_mysql_sink_fail(f, mysql_errno(db), "cannot read the columns of %s", t->name);
    MYSQL_ROW r;
    int rc = 0;
    while (rc == 0 && (r = mysql_fetch_row(res)))
        if (add_known_column(t, r[0], strlen(r[0]), r, NULL, 0) != 0)
            rc = sh_mysql_sink_fail(f, 0, "out of memory");
    mysql_free_result(res);
    t->columns_known = t->columns_fresh = rc == 0;
    return rc;
}

static bool integer_type(const char *data_type) {
    static const char *const names[] = {"tinyint", "smallint", "mediumint", "int", "bigint"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(data_type, names[i]) == 0) return true;
    return false;
}

/* The first field of a written row that brings a fraction (without a type
 * from the record's schema) for an integer column; NULL when none. */
static const sh_mysql_field_t *narrowed(const table_t *t, char op, const sh_mysql_field_t *f, int n,
                                        known_column_t **column) {
    if (op != 'W') return NULL; /* a delete only compares its key */
    for (int i = 0; i < n; i++) {
        if (f[i].type != 'f' || f[i].sql_type) continue;
        known_column_t *c = find_column(t, f[i].name, f[i].name_len);
        if (c && integer_type(c->data_type)) {
            *column = c;
            return &f[i];
        }
    }
    return NULL;
}

static void narrowed_message(const table_t *t, const known_column_t *c, const sh_mysql_field_t *x,
                             char *buf, size_t len) {
    snprintf(buf, len,
             "column %s of table %s is %s and the value %.*s is a fraction (double); "
             "auto.evolve is false, so the column is not widened and the value not rounded",
             c->name, t->name, c->data_type, (int)(x->value_len > 40 ? 40 : x->value_len),
             x->value);
}

int sh_mysql_sink_schema_check(mysql_sink_t *s, table_t *t, char op, const sh_mysql_field_t *f,
                               int n, char *errbuf, size_t errlen) {
    if (t->auto_evolve || op != 'W') return 0;
    bool fraction = false;
    for (int i = 0; !fraction && i < n; i++)
        fraction = f[i].type == 'f' && !f[i].sql_type;
    if (!fraction) return 0;
    for (int attempt = 0;; attempt++) {
        if (!t->columns_known || (attempt > 0 && !t->columns_fresh)) {
            failure_t ignored = {0};
            unsigned int code;
            if (sh_mysql_conn_open(t->db->conn, &code, ignored.message, sizeof ignored.message) !=
                    0 ||
                load_columns(s, t, &ignored) != 0)
                return 0; /* the transaction looks again, and says why it cannot */
        }
        known_column_t *c = NULL;
        const sh_mysql_field_t *x = narrowed(t, op, f, n, &c);
        if (!x) return 0;
        /* another thread may have widened it since: look once more */
        if (!t->columns_fresh) continue;
        narrowed_message(t, c, x, errbuf, errlen);
        return -1;
    }
}

/* ALTER TABLE MODIFY COLUMN c DOUBLE, keeping NULL-ability and a whole
 * number default; refused when that would drop more (AUTO_INCREMENT, a
 * generated column, another default). */
static int widen(mysql_sink_t *s, table_t *t, known_column_t *c, failure_t *f) {
    if (c->why_fixed[0])
        return sh_mysql_sink_fail(f, 0,
                                  "column %s of table %s is %s and a row brings a fraction; "
                                  "auto.evolve does not widen it to DOUBLE because MODIFY COLUMN "
                                  "would drop %s: alter the column by hand",
                                  c->name, t->name, c->data_type, c->why_fixed);
    sh_sql_widen_column(&s->sql, t->name, c->name, c->nullable, c->default_value);
    if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
    if (sh_mysql_sink_exec(s, t->db, s->sql.data, f) != 0) return -1;
    sh_log(SH_LOG_INFO, "mysql sink: widened column %s of %s from %s to double (auto.evolve)",
           c->name, t->name, c->data_type);
    snprintf(c->data_type, sizeof c->data_type, "double");
    return 0;
}

/* Every fraction bound for an integer column: widened under auto.evolve,
 * else the transaction fails saying which. O(rows x fields x columns) for
 * the fields that hold fractions. */
static int widen_for_rows(mysql_sink_t *s, table_t *t, failure_t *f) {
    for (const row_t *r = t->head; r; r = r->next) {
        known_column_t *c = NULL;
        const sh_mysql_field_t *x;
        while ((x = narrowed(t, r->op, r->fields, r->field_count, &c))) {
            if (!t->columns_fresh) { /* another thread may have widened it */
                if (load_columns(s, t, f) != 0) return -1;
                continue;
            }
            if (!t->auto_evolve) {
                narrowed_message(t, c, x, f->message, sizeof f->message);
                f->code = 0;
                return -1;
            }
            if (widen(s, t, c, f) != 0) return -1;
        }
    }
    return 0;
}

/* auto.create / auto.evolve from the queued rows: O(rows x fields x
 * columns), with consecutive rows of one shape checked once. */
int sh_mysql_sink_schema_ensure(mysql_sink_t *s, table_t *t, failure_t *f) {
    if (!t->columns_known && load_columns(s, t, f) != 0) return -1;
    if (t->column_count == 0) {
        if (!t->auto_create)
            return sh_mysql_sink_fail(f, 0,
                                      "table %s does not exist in %s and auto.create is false",
                                      t->name, sh_mysql_conn_name(t->db->conn));
        sh_sql_column_t cols[SH_MYSQL_MAX_FIELDS];
        int n = 0;
        for (row_t *r = t->head; r; r = r->next)
            for (int i = 0; i < r->field_count; i++) {
                const sh_mysql_field_t *x = &r->fields[i];
                int j = 0;
                while (j < n && !(cols[j].name_len == x->name_len &&
                                  strncasecmp(cols[j].name, x->name, x->name_len) == 0))
                    j++;
                if (j == n && n < SH_MYSQL_MAX_FIELDS)
                    cols[n++] = (sh_sql_column_t){x->name, x->name_len, x->type, x->key,
                                                  x->sql_type, x->sql_type_len};
                else if (j < n && !cols[j].sql_type && x->sql_type)
                    cols[j].sql_type = x->sql_type, cols[j].sql_type_len = x->sql_type_len;
                else if (j < n && (cols[j].type == 'n' || (cols[j].type == 'i' && x->type == 'f')))
                    cols[j].type = x->type; /* a whole number first, a fraction later: DOUBLE */
            }
        sh_sql_create_table(&s->sql, t->name, cols, n);
        if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
        if (sh_mysql_sink_exec(s, t->db, s->sql.data, f) != 0) return -1;
        sh_log(SH_LOG_INFO, "mysql sink: created table %s (auto.create) in %s", t->name,
               sh_mysql_conn_name(t->db->conn));
        /* another thread may have created it first: its columns decide */
        if (load_columns(s, t, f) != 0) return -1;
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
            if (find_column(t, x->name, x->name_len)) continue;
            if (!t->columns_fresh) { /* another thread may have added it */
                if (load_columns(s, t, f) != 0) return -1;
                if (find_column(t, x->name, x->name_len)) continue;
            }
            if (!t->auto_evolve)
                return sh_mysql_sink_fail(
                    f, 0, "table %s has no column \"%.*s\" and auto.evolve is false", t->name,
                    (int)x->name_len, x->name);
            char type = x->type;
            /* the first non-null value's type; a fraction after whole numbers: DOUBLE */
            for (row_t *later = r; (type == 'n' || type == 'i') && later; later = later->next)
                for (int j = 0; j < later->field_count; j++)
                    if (later->fields[j].name_len == x->name_len &&
                        strncasecmp(later->fields[j].name, x->name, x->name_len) == 0 &&
                        (type == 'n' || later->fields[j].type == 'f'))
                        type = later->fields[j].type;
            sh_sql_column_t col = {x->name, x->name_len, type, false, x->sql_type, x->sql_type_len};
            sh_sql_add_column(&s->sql, t->name, &col);
            if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
            if (sh_mysql_sink_exec(s, t->db, s->sql.data, f) != 0) return -1;
            const char *shown = x->sql_type ? x->sql_type : sh_sql_column_type(type, false);
            size_t shown_len = x->sql_type ? x->sql_type_len : strlen(shown);
            sh_log(SH_LOG_INFO, "mysql sink: added column %.*s %.*s to %s (auto.evolve)",
                   (int)x->name_len, x->name, (int)shown_len, shown, t->name);
            if (add_known_column(t, x->name, x->name_len, NULL, shown, shown_len) != 0)
                return sh_mysql_sink_fail(f, 0, "out of memory");
        }
    }
    return widen_for_rows(s, t, f);
}
