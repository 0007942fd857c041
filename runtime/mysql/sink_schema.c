/*
 * sink_schema.c - auto.create and auto.evolve for the MySQL sink (see
 * sink_queue.h). The table's columns are read once from
 * information_schema and kept; CREATE TABLE takes every field of the queued
 * rows (a column's type from its first non-null value, DOUBLE when whole
 * numbers and fractions mix), ALTER TABLE ADD COLUMN each field the table
 * lacks. DDL commits by itself in MySQL, so this runs before the
 * transaction of the rows.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "mysql/sink_queue.h"

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
        return sh_mysql_sink_fail(f, mysql_errno(db), "cannot read the columns of %s: %s", t->name,
                                  mysql_error(db));
    MYSQL_RES *res = mysql_store_result(db);
    if (!res)
        return sh_mysql_sink_fail(f, mysql_errno(db), "cannot read the columns of %s", t->name);
    MYSQL_ROW r;
    int rc = 0;
    while ((r = mysql_fetch_row(res)))
        if (add_known_column(t, r[0], strlen(r[0])) != 0)
            rc = sh_mysql_sink_fail(f, 0, "out of memory");
    mysql_free_result(res);
    t->columns_known = rc == 0;
    return rc;
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
                return sh_mysql_sink_fail(
                    f, 0, "table %s has no column \"%.*s\" and auto.evolve is false", t->name,
                    (int)x->name_len, x->name);
            char type = x->type;
            for (row_t *later = r; type == 'n' && later; later = later->next)
                for (int j = 0; j < later->field_count; j++)
                    if (later->fields[j].name_len == x->name_len &&
                        strncasecmp(later->fields[j].name, x->name, x->name_len) == 0 &&
                        later->fields[j].type != 'n')
                        type = later->fields[j].type;
            sh_sql_column_t col = {x->name, x->name_len, type, false, x->sql_type, x->sql_type_len};
            sh_sql_add_column(&s->sql, t->name, &col);
            if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
            if (sh_mysql_sink_exec(s, t->db, s->sql.data, f) != 0) return -1;
            sh_log(SH_LOG_INFO, "mysql sink: added column %.*s %.*s to %s (auto.evolve)",
                   (int)x->name_len, x->name,
                   x->sql_type ? (int)x->sql_type_len : (int)strlen(sh_sql_column_type(type, false)),
                   x->sql_type ? x->sql_type : sh_sql_column_type(type, false), t->name);
            if (add_known_column(t, x->name, x->name_len) != 0)
                return sh_mysql_sink_fail(f, 0, "out of memory");
        }
    }
    return 0;
}
