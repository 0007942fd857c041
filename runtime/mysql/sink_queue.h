/*
 * sink_queue.h - what the MySQL sink keeps between emit and COMMIT, shared
 * by its files: sink.c (set-up, queue, transactions, retries),
 * sink_schema.c (auto.create, auto.evolve) and sink_positions.c
 * (exactly.once). Internal to runtime/mysql/.
 *
 * @locality: the stream thread that owns the sink.
 */
#ifndef SH_MYSQL_SINK_QUEUE_H
#define SH_MYSQL_SINK_QUEUE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/sink.h"
#include "mysql/conn.h"
#include "mysql/sink_row.h"
#include "mysql/sql.h"

enum { SH_MYSQL_MAX_FIELDS = 512 };

#define SH_MYSQL_ORIGIN_HEADER "__streamhost.origin"

/* One output waiting for its transaction's COMMIT. */
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

/* One connection's settings; its tables are written in one transaction. */
typedef struct database {
    struct database *next;
    char *url, *user, *password;
    sh_mysql_conn_t *conn;
    int max_retries, backoff_ms;
    char *offsets_table;
    bool offsets_ready;
} database_t;

/* A column of a table as information_schema shows it. */
typedef struct known_column {
    char *name;
    char data_type[24]; /* DATA_TYPE, lower case: "bigint", "double", "text" */
    bool nullable;
    char *default_value; /* COLUMN_DEFAULT when a whole number, else NULL */
    char why_fixed[96];  /* why MODIFY COLUMN would lose something ("" none) */
} known_column_t;

/* A context sink of kind mysql: one table and its queue. */
typedef struct table {
    struct table *next;
    char *sink_name; /* what deliveries name: stable while the sink lives */
    char *name;
    database_t *db;
    int insert_kind; /* SH_SQL_INSERT, _UPSERT, _UPDATE */
    int batch_size;
    bool auto_create, auto_evolve, exactly_once;
    known_column_t *columns; /* the table's columns, once looked up */
    int column_count;
    bool columns_known;
    bool columns_fresh; /* looked up since the last transaction: no other
                         * thread's DDL can have been missed in between */
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
    sh_mysql_field_t scratch[SH_MYSQL_MAX_FIELDS];
    sh_sql_t sql;
    long long written, skipped;
} mysql_sink_t;

/* Why a transaction failed: the server's or client's error code (decides
 * whether to retry) and a sentence. */
typedef struct failure {
    unsigned int code;
    char message[1024];
} failure_t;

static inline int sh_mysql_sink_fail(failure_t *f, unsigned int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int sh_mysql_sink_fail(failure_t *f, unsigned int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->message, sizeof f->message, fmt, ap);
    va_end(ap);
    f->code = code;
    return -1;
}

static inline int sh_mysql_sink_exec(mysql_sink_t *s, database_t *db, const char *sql,
                                     failure_t *f) {
    (void)s;
    char why[1024];
    unsigned int code;
    if (sh_mysql_conn_exec(db->conn, sql, &code, why, sizeof why) == 0) return 0;
    return sh_mysql_sink_fail(f, code, "%s: %s", sql, why);
}

/* sink_schema.c: the table exists with a column for every queued field,
 * and no queued fraction is bound for an integer column, creating, adding
 * to or widening it as auto.create / auto.evolve allow. */
int sh_mysql_sink_schema_ensure(mysql_sink_t *s, table_t *t, failure_t *f);
/* At emit, without auto.evolve: -1 with errbuf when the row brings a
 * fraction for a column the table has as an integer (the record is refused
 * and on_error decides), else 0. Looks the columns up when they are not
 * known yet and the row has a fraction; a failed look-up leaves the check
 * to the transaction. */
int sh_mysql_sink_schema_check(mysql_sink_t *s, table_t *t, char op, const sh_mysql_field_t *f,
                               int n, char *errbuf, size_t errlen);
/* Frees what the table knows of its columns. */
void sh_mysql_sink_schema_forget(table_t *t);

/* sink_positions.c (exactly.once): the positions table exists (outside a
 * transaction); inside it, rows at or before the stored positions are
 * marked skip, and after the writes the new positions are stored. */
int sh_mysql_sink_positions_prepare(mysql_sink_t *s, database_t *db, failure_t *f);
int sh_mysql_sink_positions_skip(mysql_sink_t *s, table_t *t, failure_t *f);
int sh_mysql_sink_positions_store(mysql_sink_t *s, table_t *t, failure_t *f);

#endif
