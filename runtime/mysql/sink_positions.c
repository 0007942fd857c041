/*
 * sink_positions.c - exactly.once for the MySQL sink (see sink_queue.h).
 *
 * Each row carries the position of the input record behind it (topic,
 * partition, offset, and its rank among that record's rows). Per table and
 * input partition the last written position is kept in a table of the same
 * database (exactly.once.table), read FOR UPDATE and written in the
 * transaction of the rows, so after a crash the rows at or before it are
 * recognised and not written again. Cost per transaction: one SELECT and
 * one INSERT per input partition in the queue, O(rows x partitions) here.
 */
#include <stdlib.h>
#include <string.h>

#include "mysql/sink_queue.h"

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

int sh_mysql_sink_positions_prepare(mysql_sink_t *s, database_t *db, failure_t *f) {
    if (db->offsets_ready) return 0;
    sh_sql_reset(&s->sql);
    sh_sql_append(&s->sql, "CREATE TABLE IF NOT EXISTS ");
    sh_sql_table(&s->sql, db->offsets_table);
    sh_sql_append(&s->sql, " (consumer VARCHAR(255) NOT NULL, table_name VARCHAR(255) NOT NULL, "
                           "topic VARCHAR(255) NOT NULL, kafka_partition INT NOT NULL, "
                           "last_offset BIGINT NOT NULL, last_seq BIGINT NOT NULL, "
                           "PRIMARY KEY (consumer, table_name, topic, kafka_partition))");
    if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
    if (sh_mysql_sink_exec(s, db, s->sql.data, f) != 0) return -1;
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
int sh_mysql_sink_positions_skip(mysql_sink_t *s, table_t *t, failure_t *f) {
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
        if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
        if (mysql_real_query(db, s->sql.data, s->sql.len) != 0)
            return sh_mysql_sink_fail(f, mysql_errno(db), "%s: %s", s->sql.data, mysql_error(db));
        MYSQL_RES *res = mysql_store_result(db);
        if (!res)
            return sh_mysql_sink_fail(f, mysql_errno(db), "%s: %s", s->sql.data, mysql_error(db));
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
int sh_mysql_sink_positions_store(mysql_sink_t *s, table_t *t, failure_t *f) {
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
        if (s->sql.oom) return sh_mysql_sink_fail(f, 0, "out of memory");
        if (sh_mysql_sink_exec(s, t->db, s->sql.data, f) != 0) return -1;
    }
    return 0;
}

/* One attempt at the whole transaction of db's queued rows. */
