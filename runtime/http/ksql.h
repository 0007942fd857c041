/*
 * ksql.h - ksqlDB's pull-query shape (ksql.c): the statement of a
 * `POST /query` body, parsed, and the answer rendered as ksqlDB's /query
 * endpoint does (a header with the schema, then one row per result).
 *
 * What is understood, case-insensitively:
 *
 *   SELECT * | col [, col]... FROM table
 *   WHERE ROWKEY = literal | keycol = literal
 *         [AND WINDOWSTART (=|>=|>|<=|<) n]... [AND WINDOWSTART BETWEEN n AND m]
 *   [;]
 *
 * A literal is a number or a 'quoted string'. Everything else is refused
 * with a message saying what is supported.
 */
#ifndef SH_HTTP_KSQL_H
#define SH_HTTP_KSQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SH_KSQL_MAX_COLUMNS = 32, SH_KSQL_NAME_MAX = 128, SH_KSQL_KEY_MAX = 1024 };

typedef struct sh_ksql_query {
    char table[SH_KSQL_NAME_MAX];
    bool star;
    int column_count;
    char columns[SH_KSQL_MAX_COLUMNS][SH_KSQL_NAME_MAX]; /* as written */
    char key_column[SH_KSQL_NAME_MAX];                   /* ROWKEY or the key's name */
    char key[SH_KSQL_KEY_MAX];                           /* the literal, unquoted */
    int64_t window_from, window_to;                      /* WINDOWSTART bounds, inclusive */
} sh_ksql_query_t;

/* What every refusal ends with. */
#define SH_KSQL_SUPPORTED                                                                      \
    "supported: pull queries on one key, SELECT * or named columns FROM a table (a store) "  \
    "WHERE ROWKEY = <key> (or the key column's name), and on windowed tables AND "           \
    "WINDOWSTART =, >=, >, <=, < or BETWEEN bounds (ms since the epoch)"

/* Parses sql. Returns 0, or -1 with errbuf saying what is wrong and what
 * is supported. */
int sh_ksql_parse(const char *sql, sh_ksql_query_t *query, char *errbuf, size_t errlen);

/* The "ksql" string of a JSON request body, unescaped into out. Returns 0,
 * or -1 when the body is not a JSON object with a "ksql" string. */
int sh_ksql_statement(const char *body, size_t len, char *out, size_t cap);

/* One result: the key as JSON (rendered with the store's key serde), its
 * window for a windowed store, the stored JSON value. */
typedef struct sh_ksql_row {
    const char *key;
    size_t key_len;
    int64_t window_start, window_end; /* window_end < 0: unknown */
    const char *value;
    size_t value_len;
} sh_ksql_row_t;

/* ksqlDB's answer: [{"header":{"queryId":..,"schema":..}}, {"row":{"columns":
 * [..]}}...]. key_type is the key's SQL type (INTEGER, BIGINT, STRING).
 * Returns a malloc'd string, or NULL with errbuf (a column that is in no
 * row's value, or out of memory). O(rows x columns). */
char *sh_ksql_render(const sh_ksql_query_t *query, const char *key_type, bool windowed,
                     const sh_ksql_row_t *rows, int count, char *errbuf, size_t errlen);

/* ksqlDB's error body for a refused statement. Caller frees. */
char *sh_ksql_error(int code, const char *message, const char *statement);

#endif
