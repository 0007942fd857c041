/*
 * sql.c - statement text for the MySQL sink (see sql.h).
 *
 * Identifiers are refused unless they are plain names (letters, digits, '_',
 * '$', '-'), then quoted with backticks anyway, so a field name from a
 * record can never end a quoted identifier or start a new statement. Values
 * are never part of the text: they are bound to '?' parameters.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/sql.h"

enum { IDENT_MAX = 64 }; /* MySQL's limit for table and column names */

void sh_sql_reset(sh_sql_t *s) {
    s->len = 0;
    s->oom = false;
    if (s->data) s->data[0] = 0;
}

void sh_sql_free(sh_sql_t *s) {
    free(s->data);
    *s = (sh_sql_t){0};
}

static bool reserve(sh_sql_t *s, size_t more) {
    if (s->oom) return false;
    if (s->len + more + 1 <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < s->len + more + 1)
        cap *= 2;
    char *grown = realloc(s->data, cap);
    if (!grown) {
        s->oom = true;
        return false;
    }
    s->data = grown;
    s->cap = cap;
    return true;
}

void sh_sql_append_bytes(sh_sql_t *s, const char *bytes, size_t len) {
    if (!reserve(s, len)) return;
    memcpy(s->data + s->len, bytes, len);
    s->len += len;
    s->data[s->len] = 0;
}

void sh_sql_append(sh_sql_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(s, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(s->data + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

void sh_sql_ident(sh_sql_t *s, const char *name, size_t len) {
    /* checked names hold no backtick; doubling keeps this safe regardless */
    sh_sql_append_bytes(s, "`", 1);
    for (size_t i = 0; i < len; i++) {
        if (name[i] == '`') sh_sql_append_bytes(s, "`", 1);
        sh_sql_append_bytes(s, name + i, 1);
    }
    sh_sql_append_bytes(s, "`", 1);
}

void sh_sql_table(sh_sql_t *s, const char *name) {
    const char *dot = strchr(name, '.');
    if (dot) {
        sh_sql_ident(s, name, (size_t)(dot - name));
        sh_sql_append_bytes(s, ".", 1);
        name = dot + 1;
    }
    sh_sql_ident(s, name, strlen(name));
}

/* The name as it can be shown in a message: printable ASCII as is, other
 * bytes as \xNN, cut at 80 bytes. */
static void shown(const char *name, size_t len, char *out, size_t outlen) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)name[i];
        if (i == 80) {
            o += (size_t)snprintf(out + o, outlen - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
    }
    out[o < outlen ? o : outlen - 1] = 0;
}

int sh_sql_check_ident(const char *name, size_t len, char *errbuf, size_t errlen) {
    char show[400];
    if (len == 0) {
        snprintf(errbuf, errlen, "an empty name cannot be a column or table");
        return -1;
    }
    if (len > IDENT_MAX) {
        shown(name, len, show, sizeof show);
        snprintf(errbuf, errlen, "name \"%s\" is longer than %d bytes", show, IDENT_MAX);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '$' || c == '-')
            continue;
        shown(name, len, show, sizeof show);
        snprintf(errbuf, errlen,
                 "name \"%s\" is refused as a column or table name: only letters, digits, "
                 "'_', '$' and '-' are allowed",
                 show);
        return -1;
    }
    return 0;
}

int sh_sql_check_table(const char *name, char *errbuf, size_t errlen) {
    const char *dot = strchr(name, '.');
    if (!dot) return sh_sql_check_ident(name, strlen(name), errbuf, errlen);
    if (sh_sql_check_ident(name, (size_t)(dot - name), errbuf, errlen) != 0) return -1;
    return sh_sql_check_ident(dot + 1, strlen(dot + 1), errbuf, errlen);
}

static void column_list(sh_sql_t *s, const sh_sql_column_t *cols, int n, bool want_key, bool all,
                        const char *sep, const char *suffix) {
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (!all && cols[i].key != want_key) continue;
        if (!first) sh_sql_append(s, "%s", sep);
        first = false;
        sh_sql_ident(s, cols[i].name, cols[i].name_len);
        sh_sql_append(s, "%s", suffix);
    }
}

static int count_keys(const sh_sql_column_t *cols, int n) {
    int keys = 0;
    for (int i = 0; i < n; i++)
        keys += cols[i].key;
    return keys;
}

void sh_sql_dml(sh_sql_t *s, int kind, const char *table, const sh_sql_column_t *cols, int n) {
    sh_sql_reset(s);
    int keys = count_keys(cols, n);
    switch (kind) {
    case SH_SQL_INSERT:
    case SH_SQL_UPSERT:
        sh_sql_append(s, "INSERT INTO ");
        sh_sql_table(s, table);
        sh_sql_append(s, " (");
        column_list(s, cols, n, false, true, ",", "");
        sh_sql_append(s, ") VALUES (");
        for (int i = 0; i < n; i++)
            sh_sql_append(s, i ? ",?" : "?");
        sh_sql_append(s, ")");
        if (kind == SH_SQL_UPSERT) {
            sh_sql_append(s, " ON DUPLICATE KEY UPDATE ");
            if (keys == n) { /* nothing but the key: the row exists, leave it */
                sh_sql_ident(s, cols[0].name, cols[0].name_len);
                sh_sql_append(s, "=");
                sh_sql_ident(s, cols[0].name, cols[0].name_len);
            }
            bool first = true;
            for (int i = 0; i < n; i++) {
                if (cols[i].key) continue;
                if (!first) sh_sql_append(s, ",");
                first = false;
                sh_sql_ident(s, cols[i].name, cols[i].name_len);
                sh_sql_append(s, "=VALUES(");
                sh_sql_ident(s, cols[i].name, cols[i].name_len);
                sh_sql_append(s, ")");
            }
        }
        break;
    case SH_SQL_UPDATE:
        sh_sql_append(s, "UPDATE ");
        sh_sql_table(s, table);
        sh_sql_append(s, " SET ");
        column_list(s, cols, n, false, false, ",", "=?");
        sh_sql_append(s, " WHERE ");
        column_list(s, cols, n, true, false, " AND ", "=?");
        break;
    case SH_SQL_DELETE:
        sh_sql_append(s, "DELETE FROM ");
        sh_sql_table(s, table);
        sh_sql_append(s, " WHERE ");
        column_list(s, cols, n, true, false, " AND ", "=?");
        break;
    }
}

int sh_sql_param_order(int kind, const sh_sql_column_t *cols, int n, int *order) {
    int p = 0;
    if (kind == SH_SQL_INSERT || kind == SH_SQL_UPSERT) {
        for (int i = 0; i < n; i++)
            order[p++] = i;
        return p;
    }
    if (kind == SH_SQL_UPDATE)
        for (int i = 0; i < n; i++)
            if (!cols[i].key) order[p++] = i;
    for (int i = 0; i < n; i++)
        if (cols[i].key) order[p++] = i;
    return p;
}

int sh_sql_check_type(const char *type, size_t len, char *errbuf, size_t errlen) {
    bool ok = len >= 1 && len <= 40;
    for (size_t i = 0; ok && i < len; i++) {
        char c = type[i];
        ok = (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '(' || c == ')' || c == ',';
    }
    if (!ok) snprintf(errbuf, errlen, "not a column type: \"%.*s\"", (int)(len > 40 ? 40 : len), type);
    return ok ? 0 : -1;
}

const char *sh_sql_column_type(char type, bool key) {
    switch (type) {
    case 'i':
        return "BIGINT";
    case 'f':
        return "DOUBLE";
    case 'b':
        return "BOOLEAN";
    case 'j':
        return key ? "VARCHAR(255)" : "LONGTEXT";
    default:
        return key ? "VARCHAR(255)" : "TEXT"; /* strings, and columns only seen null */
    }
}

void sh_sql_create_table(sh_sql_t *s, const char *table, const sh_sql_column_t *cols, int n) {
    sh_sql_reset(s);
    sh_sql_append(s, "CREATE TABLE IF NOT EXISTS ");
    sh_sql_table(s, table);
    sh_sql_append(s, " (");
    for (int i = 0; i < n; i++) {
        if (i) sh_sql_append(s, ", ");
        sh_sql_ident(s, cols[i].name, cols[i].name_len);
        if (cols[i].sql_type)
            sh_sql_append(s, " %.*s %s", (int)cols[i].sql_type_len, cols[i].sql_type,
                          cols[i].key ? "NOT NULL" : "NULL");
        else
            sh_sql_append(s, " %s %s", sh_sql_column_type(cols[i].type, cols[i].key),
                          cols[i].key ? "NOT NULL" : "NULL");
    }
    if (count_keys(cols, n) > 0) {
        sh_sql_append(s, ", PRIMARY KEY (");
        column_list(s, cols, n, true, false, ",", "");
        sh_sql_append(s, ")");
    }
    sh_sql_append(s, ")");
}

void sh_sql_add_column(sh_sql_t *s, const char *table, const sh_sql_column_t *col) {
    sh_sql_reset(s);
    sh_sql_append(s, "ALTER TABLE ");
    sh_sql_table(s, table);
    sh_sql_append(s, " ADD COLUMN ");
    sh_sql_ident(s, col->name, col->name_len);
    /* auto.evolve only ever adds nullable columns (rows written before have
     * no value for it), as Confluent's sink */
    if (col->sql_type)
        sh_sql_append(s, " %.*s NULL", (int)col->sql_type_len, col->sql_type);
    else
        sh_sql_append(s, " %s NULL", sh_sql_column_type(col->type, false));
}

bool sh_sql_whole_number(const char *text) {
    if (*text == '-') text++;
    size_t len = strlen(text);
    if (len == 0 || len > 20) return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] < '0' || text[i] > '9') return false;
    return true;
}

void sh_sql_widen_column(sh_sql_t *s, const char *table, const char *name, bool nullable,
                         const char *default_value) {
    sh_sql_reset(s);
    sh_sql_append(s, "ALTER TABLE ");
    sh_sql_table(s, table);
    sh_sql_append(s, " MODIFY COLUMN ");
    sh_sql_ident(s, name, strlen(name));
    sh_sql_append(s, " DOUBLE %s", nullable ? "NULL" : "NOT NULL");
    if (default_value && sh_sql_whole_number(default_value))
        sh_sql_append(s, " DEFAULT %s", default_value);
}
