/*
 * sql.h - SQL text for the MySQL sink (sql.c): identifiers checked and
 * quoted, and the statements the sink prepares (INSERT, upsert, UPDATE,
 * DELETE, CREATE TABLE, ALTER TABLE ADD COLUMN and MODIFY COLUMN). No value is ever spliced
 * into a statement: values travel as parameters, so only identifiers are
 * text, and every identifier goes through sh_sql_check_ident first.
 *
 * @locality: any thread; a buffer belongs to its caller.
 */
#ifndef SH_MYSQL_SQL_H
#define SH_MYSQL_SQL_H

#include <stdbool.h>
#include <stddef.h>

/* A growing statement. On allocation failure `oom` is set and the text
 * stops growing; check it once at the end. */
typedef struct sh_sql {
    char *data;
    size_t len, cap;
    bool oom;
} sh_sql_t;

void sh_sql_reset(sh_sql_t *s);
void sh_sql_free(sh_sql_t *s);
void sh_sql_append(sh_sql_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sh_sql_append_bytes(sh_sql_t *s, const char *bytes, size_t len);
/* Appends `name` (already checked) between backticks. */
void sh_sql_ident(sh_sql_t *s, const char *name, size_t len);
/* Appends a table name: `db`.`table` when it has one dot, else `table`. */
void sh_sql_table(sh_sql_t *s, const char *name);

/* 0 when name[0..len) may be a column or table name: 1 to 64 bytes of
 * letters, digits, '_', '$' or '-'. Otherwise -1 with errbuf saying what is
 * wrong (the name shown escaped). Refusing rather than escaping keeps
 * hostile names (backticks, quotes, ';', spaces, control bytes) out of
 * every statement. */
int sh_sql_check_ident(const char *name, size_t len, char *errbuf, size_t errlen);
/* As sh_sql_check_ident, for "table" or "db.table". */
int sh_sql_check_table(const char *name, char *errbuf, size_t errlen);
/* A column type from a record's schema ("DECIMAL(10,2)", "DATETIME(3)"):
 * 1 to 40 capital letters, digits, '(', ')' and ','; anything else is
 * refused (-1, errbuf filled), so a type never carries SQL of its own. */
int sh_sql_check_type(const char *type, size_t len, char *errbuf, size_t errlen);

/* One column of a statement. type is the row type letter (sink_row.h). */
typedef struct sh_sql_column {
    const char *name;
    size_t name_len;
    char type;
    bool key;
    /* the column's SQL type when the record's schema gave one (checked by
     * sh_sql_check_type), else NULL: the type letter decides */
    const char *sql_type;
    size_t sql_type_len;
} sh_sql_column_t;

enum { SH_SQL_INSERT, SH_SQL_UPSERT, SH_SQL_UPDATE, SH_SQL_DELETE };

/* The DML for one row shape. Parameters are bound in the order
 * sh_sql_param_order gives. */
void sh_sql_dml(sh_sql_t *s, int kind, const char *table, const sh_sql_column_t *cols, int n);
/* Fills order[0..n) with the column index bound to each '?' of
 * sh_sql_dml(kind); returns the parameter count. */
int sh_sql_param_order(int kind, const sh_sql_column_t *cols, int n, int *order);
/* The column type a value of row type `type` gets in auto.create and
 * auto.evolve (key columns: a bounded VARCHAR, since MySQL indexes need a
 * length). */
const char *sh_sql_column_type(char type, bool key);
void sh_sql_create_table(sh_sql_t *s, const char *table, const sh_sql_column_t *cols, int n);
void sh_sql_add_column(sh_sql_t *s, const char *table, const sh_sql_column_t *col);
/* ALTER TABLE ... MODIFY COLUMN name DOUBLE, keeping NULL-ability and a
 * default (NULL: none). `default_value` is spliced as it is: the caller
 * passes only a checked whole number (sh_sql_whole_number). */
void sh_sql_widen_column(sh_sql_t *s, const char *table, const char *name, bool nullable,
                         const char *default_value);
/* Whether text is a plain whole number ("0", "-12"), safe in a statement. */
bool sh_sql_whole_number(const char *text);

#endif
