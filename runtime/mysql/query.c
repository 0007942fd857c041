/*
 * query.c - SQL from Lua (sh_ffi_mysql_*, declared in streamhost_ffi.h):
 * a connection C owns, statements with parameters bound as text, results
 * read whole into C and handed to Lua as slices, freed here.
 *
 * A statement without parameters goes over the text protocol; one with
 * parameters is prepared (cached per connection, conn.c) and its result
 * columns fetched as text, so Lua sees one shape either way. A failure
 * that a new connection may fix (conn.c's sh_mysql_conn_retriable) is
 * SH_ERR_MYSQL_TRANSIENT and drops the connection; the next call
 * reconnects. Any other is SH_ERR_MYSQL. Nothing is retried here: a
 * statement may have run before the connection was lost, and only the
 * caller knows whether running it again is harmless.
 *
 * @locality: one thread at a time per handle (the VM that opened it).
 */
#include <errmsg.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "mysql/conn.h"

enum { MIN_COLUMN_BUFFER = 64 };

struct sh_mysql {
    sh_mysql_conn_t *conn;
    int64_t insert_id;
};

struct sh_mysql_result {
    int columns;
    char **names;
    int *kinds;
    MYSQL_RES *text;  /* text protocol, or */
    MYSQL_STMT *stmt; /* a prepared statement's stored rows */
    MYSQL_BIND *binds;
    char **buffers;
    unsigned long *lengths;
    my_bool *nulls;
};

/* Fails with the server's or client's error `code` (0: not the server's
 * doing: out of memory, misuse): the last error, and a lost connection
 * dropped. */
static void set_error(sh_mysql_t *db, unsigned int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_error(sh_mysql_t *db, unsigned int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    bool transient = sh_mysql_conn_retriable(code);
    sh_err_setv(transient ? SH_ERR_MYSQL_TRANSIENT : code ? SH_ERR_MYSQL : SH_ERR_INVALID, fmt, ap);
    va_end(ap);
    if (transient) sh_mysql_conn_drop(db->conn);
}

sh_mysql_t *sh_ffi_mysql_open(const char *url, const char *user, const char *password) {
    sh_mysql_t *db = calloc(1, sizeof *db);
    char why[1024];
    if (!db) {
        sh_err_set(SH_ERR_NOMEM, "mysql_open: out of memory");
        return NULL;
    }
    if (!(db->conn = sh_mysql_conn_new(url, user, password, why, sizeof why))) {
        sh_err_set(SH_ERR_INVALID, "mysql_open: %s", why);
        free(db);
        return NULL;
    }
    return db;
}

void sh_ffi_mysql_close(sh_mysql_t *db) {
    if (!db) return;
    sh_mysql_conn_free(db->conn);
    free(db);
}

int64_t sh_ffi_mysql_insert_id(sh_mysql_t *db) { return db->insert_id; }

/* The live connection, or NULL with the error set. */
static MYSQL *connected(sh_mysql_t *db) {
    char why[1024];
    unsigned int code;
    if (sh_mysql_conn_open(db->conn, &code, why, sizeof why) != 0) {
        set_error(db, code ? code : CR_OUT_OF_MEMORY, "%s", why);
        return NULL;
    }
    return sh_mysql_conn_handle(db->conn);
}

int sh_ffi_mysql_connect(sh_mysql_t *db) { return connected(db) ? SH_OK : SH_ERR_MYSQL_TRANSIENT; }

/* Prepares sql and binds params; NULL with the error set. */
static MYSQL_STMT *prepared(sh_mysql_t *db, const char *sql, const sh_ffi_slice_t *params,
                            int count) {
    char why[1024];
    unsigned int code;
    MYSQL_STMT *stmt = sh_mysql_conn_prepare(db->conn, sql, &code, why, sizeof why);
    if (!stmt) {
        set_error(db, code, "%s", why);
        return NULL;
    }
    if ((int)mysql_stmt_param_count(stmt) != count) {
        set_error(db, 0, "the statement has %lu parameters, %d given", mysql_stmt_param_count(stmt),
                  count);
        return NULL;
    }
    MYSQL_BIND *binds = calloc((size_t)count + 1, sizeof *binds);
    unsigned long *lengths = calloc((size_t)count + 1, sizeof *lengths);
    my_bool *nulls = calloc((size_t)count + 1, sizeof *nulls);
    int ok = binds && lengths && nulls;
    for (int i = 0; ok && i < count; i++) {
        binds[i].buffer_type = MYSQL_TYPE_STRING;
        binds[i].buffer = (void *)params[i].data;
        lengths[i] = params[i].len;
        binds[i].buffer_length = params[i].len;
        binds[i].length = &lengths[i];
        nulls[i] = params[i].data == NULL;
        binds[i].is_null = &nulls[i];
    }
    /* mysql_stmt_execute reads the bound buffers, so they live until then:
     * the caller executes right away and the arrays are freed after. */
    if (!ok || mysql_stmt_bind_param(stmt, binds) != 0 || mysql_stmt_execute(stmt) != 0) {
        if (ok)
            set_error(db, mysql_stmt_errno(stmt), "%s (%u)", mysql_stmt_error(stmt),
                      mysql_stmt_errno(stmt));
        else
            set_error(db, 0, "out of memory");
        stmt = NULL;
    }
    free(binds);
    free(lengths);
    free(nulls);
    return stmt;
}

int64_t sh_ffi_mysql_exec(sh_mysql_t *db, const char *sql, const sh_ffi_slice_t *params,
                          int count) {
    MYSQL *conn = connected(db);
    if (!conn) return -1;
    if (count == 0) {
        if (mysql_real_query(conn, sql, strlen(sql)) != 0) {
            set_error(db, mysql_errno(conn), "%s (%u)", mysql_error(conn), mysql_errno(conn));
            return -1;
        }
        MYSQL_RES *res = mysql_store_result(conn);
        if (res) mysql_free_result(res);
        db->insert_id = (int64_t)mysql_insert_id(conn);
        return (int64_t)mysql_affected_rows(conn) == -1 ? 0 : (int64_t)mysql_affected_rows(conn);
    }
    MYSQL_STMT *stmt = prepared(db, sql, params, count);
    if (!stmt) return -1;
    int64_t affected = (int64_t)mysql_stmt_affected_rows(stmt);
    db->insert_id = (int64_t)mysql_stmt_insert_id(stmt);
    mysql_stmt_free_result(stmt);
    return affected < 0 ? 0 : affected;
}

static int kind_of(enum enum_field_types type) {
    switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        return 1;
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
        return 2;
    default:
        return 0;
    }
}

static sh_mysql_result_t *describe(sh_mysql_t *db, MYSQL_RES *meta, sh_mysql_result_t *res) {
    res->columns = (int)mysql_num_fields(meta);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    res->names = calloc((size_t)res->columns + 1, sizeof *res->names);
    res->kinds = calloc((size_t)res->columns + 1, sizeof *res->kinds);
    if (!res->names || !res->kinds) {
        set_error(db, 0, "out of memory");
        return NULL;
    }
    for (int i = 0; i < res->columns; i++) {
        if (!(res->names[i] = strdup(fields[i].name))) {
            set_error(db, 0, "out of memory");
            return NULL;
        }
        res->kinds[i] = kind_of(fields[i].type);
    }
    return res;
}

/* Binds every result column of a stored statement result as text, each
 * buffer as long as the column's longest value. O(columns). */
static sh_mysql_result_t *bind_results(sh_mysql_t *db, MYSQL_STMT *stmt, sh_mysql_result_t *res) {
    MYSQL_RES *meta = mysql_stmt_result_metadata(stmt);
    if (!meta) return res; /* no result set: zero columns */
    sh_mysql_result_t *ok = describe(db, meta, res);
    MYSQL_FIELD *fields = mysql_fetch_fields(meta);
    int n = res->columns;
    if (ok) {
        res->binds = calloc((size_t)n + 1, sizeof *res->binds);
        res->buffers = calloc((size_t)n + 1, sizeof *res->buffers);
        res->lengths = calloc((size_t)n + 1, sizeof *res->lengths);
        res->nulls = calloc((size_t)n + 1, sizeof *res->nulls);
        ok = res->binds && res->buffers && res->lengths && res->nulls ? res : NULL;
        for (int i = 0; ok && i < n; i++) {
            unsigned long size = fields[i].max_length + 1;
            if (size < MIN_COLUMN_BUFFER) size = MIN_COLUMN_BUFFER;
            if (!(res->buffers[i] = malloc(size))) ok = NULL;
            res->binds[i].buffer_type = MYSQL_TYPE_STRING;
            res->binds[i].buffer = res->buffers[i];
            res->binds[i].buffer_length = size;
            res->binds[i].length = &res->lengths[i];
            res->binds[i].is_null = &res->nulls[i];
        }
        if (!ok) set_error(db, 0, "out of memory");
    }
    mysql_free_result(meta);
    if (ok && mysql_stmt_bind_result(stmt, res->binds) != 0) {
        set_error(db, mysql_stmt_errno(stmt), "%s", mysql_stmt_error(stmt));
        ok = NULL;
    }
    return ok;
}

sh_mysql_result_t *sh_ffi_mysql_query(sh_mysql_t *db, const char *sql, const sh_ffi_slice_t *params,
                                      int count) {
    MYSQL *conn = connected(db);
    if (!conn) return NULL;
    sh_mysql_result_t *res = calloc(1, sizeof *res);
    if (!res) {
        set_error(db, 0, "out of memory");
        return NULL;
    }
    if (count == 0) {
        if (mysql_real_query(conn, sql, strlen(sql)) != 0) {
            set_error(db, mysql_errno(conn), "%s (%u)", mysql_error(conn), mysql_errno(conn));
            goto fail;
        }
        if (!(res->text = mysql_store_result(conn))) {
            if (mysql_errno(conn)) {
                set_error(db, mysql_errno(conn), "%s", mysql_error(conn));
                goto fail;
            }
            return res; /* a statement without a result set */
        }
        if (!describe(db, res->text, res)) goto fail;
        return res;
    }
    my_bool update_max = 1;
    char why[1024];
    unsigned int code;
    MYSQL_STMT *stmt = sh_mysql_conn_prepare(db->conn, sql, &code, why, sizeof why);
    if (!stmt) {
        set_error(db, code, "%s", why);
        goto fail;
    }
    mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &update_max);
    if (!prepared(db, sql, params, count)) goto fail;
    if (mysql_stmt_store_result(stmt) != 0) {
        set_error(db, mysql_stmt_errno(stmt), "%s", mysql_stmt_error(stmt));
        goto fail;
    }
    res->stmt = stmt;
    if (!bind_results(db, stmt, res)) goto fail;
    return res;
fail:
    sh_ffi_mysql_result_free(res);
    return NULL;
}

int sh_ffi_mysql_result_columns(sh_mysql_result_t *res) { return res->columns; }

const char *sh_ffi_mysql_result_column_name(sh_mysql_result_t *res, int column) {
    return column >= 0 && column < res->columns ? res->names[column] : NULL;
}

int sh_ffi_mysql_result_column_kind(sh_mysql_result_t *res, int column) {
    return column >= 0 && column < res->columns ? res->kinds[column] : 0;
}

int sh_ffi_mysql_next_row(sh_mysql_result_t *res, sh_ffi_slice_t *values) {
    if (res->text) {
        MYSQL_ROW row = mysql_fetch_row(res->text);
        if (!row) return SH_ERR_NOT_FOUND;
        unsigned long *lengths = mysql_fetch_lengths(res->text);
        for (int i = 0; i < res->columns; i++)
            values[i] = (sh_ffi_slice_t){row[i], row[i] ? lengths[i] : 0};
        return SH_OK;
    }
    if (!res->stmt || res->columns == 0) return SH_ERR_NOT_FOUND;
    int rc = mysql_stmt_fetch(res->stmt);
    if (rc == MYSQL_NO_DATA || rc == 1) return SH_ERR_NOT_FOUND;
    for (int i = 0; i < res->columns; i++)
        values[i] = res->nulls[i] ? (sh_ffi_slice_t){NULL, 0}
                                  : (sh_ffi_slice_t){res->buffers[i], res->lengths[i]};
    return SH_OK;
}

void sh_ffi_mysql_result_free(sh_mysql_result_t *res) {
    if (!res) return;
    if (res->text) mysql_free_result(res->text);
    if (res->stmt) mysql_stmt_free_result(res->stmt); /* the statement stays cached */
    for (int i = 0; i < res->columns; i++) {
        if (res->names) free(res->names[i]);
        if (res->buffers) free(res->buffers[i]);
    }
    free(res->names);
    free(res->kinds);
    free(res->binds);
    free(res->buffers);
    free(res->lengths);
    free(res->nulls);
    free(res);
}
