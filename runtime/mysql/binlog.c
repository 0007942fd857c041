/*
 * binlog.c - the change stream (binlog.h).
 *
 * The session registers as a replica with database.server.id, asks for
 * MariaDB's GTID events and a heartbeat every second (so a quiet server
 * still lets the reader see *stop), then dumps from a (file, pos) that is
 * always the start of a transaction. Each transaction's rows are counted,
 * so a change's position is (transaction start, row number) and a restart
 * skips exactly the rows already delivered.
 *
 * Tables are described by the TABLE_MAP event that precedes their rows:
 * with binlog_row_metadata=FULL it carries column names, signedness,
 * charsets, ENUM/SET members and the primary key, so an ALTER TABLE is
 * followed from the next row on and old events decode with the columns
 * they were written with, no schema history needed.
 */
/* mysql.h first: mariadb_rpl.h needs its types */
#include <mysql.h>

#include <mariadb_rpl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "mysql/binlog.h"
#include "mysql/envelope.h"
#include "mysql/rows.h"

enum { LAG_LOG_EVERY_MS = 10000, TABLE_CACHE = 1024 };

/* ---- TABLE_MAP to a table ---- */

/* A length-encoded integer of optional metadata; advances *p. */
static uint64_t packed_int(const unsigned char **p, const unsigned char *end) {
    if (*p >= end) return 0;
    unsigned char c = *(*p)++;
    int n = c < 251 ? 0 : c == 252 ? 2 : c == 253 ? 3 : c == 254 ? 8 : 0;
    if (n == 0) return c < 251 ? c : 0;
    uint64_t v = 0;
    for (int i = 0; i < n && *p < end; i++)
        v |= (uint64_t) * (*p)++ << (8 * i);
    return v;
}

static bool is_numeric(int type) {
    switch (type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_YEAR:
        return true;
    default:
        return false;
    }
}

static bool is_character(int type) {
    switch (type) {
    case MYSQL_TYPE_STRING:
    case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR:
    case MYSQL_TYPE_BLOB:
    case MYSQL_TYPE_TINY_BLOB:
    case MYSQL_TYPE_MEDIUM_BLOB:
    case MYSQL_TYPE_LONG_BLOB:
        return true;
    default:
        return false;
    }
}

/* Reads ENUM or SET members from optional metadata into the columns of
 * that type, in order. */
static int read_members(sh_mysql_table_t *t, int type, MARIADB_CONST_DATA data) {
    const unsigned char *p = (const unsigned char *)data.data, *end = p + data.length;
    for (int i = 0; i < t->count && p < end; i++) {
        sh_mysql_column_t *c = &t->columns[i];
        if (c->type != type) continue;
        uint64_t n = packed_int(&p, end);
        if (n > 64 * 1024 || !(c->values = calloc((size_t)n + 1, sizeof *c->values))) return -1;
        for (uint64_t j = 0; j < n; j++) {
            uint64_t len = packed_int(&p, end);
            if (len > (uint64_t)(end - p)) return -1;
            if (!(c->values[j] = strndup((const char *)p, (size_t)len))) return -1;
            c->value_count++;
            p += len;
        }
    }
    return 0;
}

sh_mysql_table_t *sh_binlog_table(const struct st_mariadb_rpl_table_map_event *m,
                                  const char *prefix, char *errbuf, size_t errlen) {
    sh_mysql_table_t *t = calloc(1, sizeof *t);
    int n = (int)m->column_count;
    if (!t || !(t->columns = calloc((size_t)n + 1, sizeof *t->columns))) goto oom;
    t->count = n;
    if (!(t->db = strndup(m->database.str, m->database.length)) ||
        !(t->name = strndup(m->table.str, m->table.length)) ||
        !(t->topic = sh_mysql_topic_name(prefix, t->db, t->name)))
        goto oom;
    if (m->column_names.length == 0) {
        snprintf(errbuf, errlen,
                 "%s.%s: the binlog carries no column names: the server needs "
                 "binlog_row_metadata=FULL (MariaDB 10.5+, MySQL 8.0+)",
                 t->db, t->name);
        sh_mysql_table_free(t);
        return NULL;
    }
    const unsigned char *meta = (const unsigned char *)m->metadata.str;
    const unsigned char *meta_end = meta + m->metadata.length;
    const unsigned char *names = (const unsigned char *)m->column_names.data;
    const unsigned char *names_end = names + m->column_names.length;
    int numeric = 0;
    for (int i = 0; i < n; i++) {
        sh_mysql_column_t *c = &t->columns[i];
        c->type = (unsigned char)m->column_types.str[i];
        uint64_t len = packed_int(&names, names_end);
        if (len > (uint64_t)(names_end - names)) len = 0;
        if (!(c->name = strndup((const char *)names, (size_t)len))) goto oom;
        names += len;
        int meta_len = 0;
        switch (c->type) {
        case MYSQL_TYPE_FLOAT:
        case MYSQL_TYPE_DOUBLE:
        case MYSQL_TYPE_BLOB:
        case MYSQL_TYPE_GEOMETRY:
        case MYSQL_TYPE_JSON:
        case MYSQL_TYPE_TIME2:
        case MYSQL_TYPE_DATETIME2:
        case MYSQL_TYPE_TIMESTAMP2:
            meta_len = 1;
            break;
        case MYSQL_TYPE_VARCHAR:
        case MYSQL_TYPE_VAR_STRING:
        case MYSQL_TYPE_BIT:
        case MYSQL_TYPE_NEWDECIMAL:
        case MYSQL_TYPE_STRING:
        case MYSQL_TYPE_ENUM:
        case MYSQL_TYPE_SET:
            meta_len = 2;
            break;
        default:
            break;
        }
        if (meta + meta_len > meta_end) goto malformed;
        unsigned b0 = meta_len > 0 ? meta[0] : 0, b1 = meta_len > 1 ? meta[1] : 0;
        meta += meta_len;
        switch (c->type) {
        case MYSQL_TYPE_TIME2:
        case MYSQL_TYPE_DATETIME2:
        case MYSQL_TYPE_TIMESTAMP2:
            c->fsp = (int)b0;
            break;
        case MYSQL_TYPE_VARCHAR:
        case MYSQL_TYPE_VAR_STRING:
            c->meta = b0 | b1 << 8;
            break;
        case MYSQL_TYPE_BIT:
            c->bits = (int)(b1 * 8 + b0);
            break;
        case MYSQL_TYPE_NEWDECIMAL:
            c->precision = (int)b0, c->scale = (int)b1;
            break;
        case MYSQL_TYPE_STRING:
            if (b0 == MYSQL_TYPE_ENUM || b0 == MYSQL_TYPE_SET) {
                c->type = (int)b0;
                c->meta = b1;
            } else if ((b0 & 0x30) != 0x30) { /* CHAR longer than 255 bytes */
                c->meta = (((b0 & 0x30) ^ 0x30) << 4) | b1;
            } else {
                c->meta = b1;
            }
            break;
        default:
            c->meta = b0;
        }
        /* the TABLE_MAP's null bits: bit i of the bitmap, low bit first */
        if (m->null_indicator) c->nullable = m->null_indicator[i / 8] & (1 << (i % 8));
        if (is_numeric(c->type)) {
            if (m->signed_indicator)
                c->is_unsigned = m->signed_indicator[numeric / 8] & (0x80 >> (numeric % 8));
            numeric++;
        }
    }
    /* charsets of the character columns: binary (63) ones are bytes */
    const unsigned char *cs = (const unsigned char *)m->column_charsets.data;
    const unsigned char *cs_end = cs + m->column_charsets.length;
    int character = 0;
    for (int i = 0; i < n; i++) {
        sh_mysql_column_t *c = &t->columns[i];
        if (!is_character(c->type)) continue;
        if (m->default_charset) {
            c->binary = m->default_charset == 63;
        } else if (cs < cs_end) {
            c->binary = packed_int(&cs, cs_end) == 63;
        }
        character++;
    }
    if (m->default_charset && cs < cs_end) { /* (index, charset) exceptions to the default */
        while (cs < cs_end) {
            uint64_t index = packed_int(&cs, cs_end), charset = packed_int(&cs, cs_end);
            int k = 0;
            for (int i = 0; i < n; i++) {
                if (!is_character(t->columns[i].type)) continue;
                if ((uint64_t)k++ == index) t->columns[i].binary = charset == 63;
            }
        }
    }
    (void)character;
    if (read_members(t, MYSQL_TYPE_ENUM, m->enum_values) != 0 ||
        read_members(t, MYSQL_TYPE_SET, m->set_values) != 0)
        goto malformed;
    const unsigned char *pk = (const unsigned char *)m->simple_primary_keys.data;
    const unsigned char *pk_end = pk + m->simple_primary_keys.length;
    while (pk < pk_end) {
        uint64_t i = packed_int(&pk, pk_end);
        if (i < (uint64_t)n && !t->columns[i].in_key) t->columns[i].in_key = true, t->key_count++;
    }
    pk = (const unsigned char *)m->prefixed_primary_keys.data;
    pk_end = pk + m->prefixed_primary_keys.length;
    while (pk < pk_end) {
        uint64_t i = packed_int(&pk, pk_end);
        packed_int(&pk, pk_end); /* prefix length */
        if (i < (uint64_t)n && !t->columns[i].in_key) t->columns[i].in_key = true, t->key_count++;
    }
    return t;
malformed:
    snprintf(errbuf, errlen, "%s.%s: malformed TABLE_MAP metadata", t->db ? t->db : "?",
             t->name ? t->name : "?");
    sh_mysql_table_free(t);
    return NULL;
oom:
    snprintf(errbuf, errlen, "out of memory");
    sh_mysql_table_free(t);
    return NULL;
}

/* ---- the stream ---- */

typedef struct cached_table {
    uint64_t id;
    sh_mysql_table_t *table; /* NULL: not captured */
    bool used;
} cached_table_t;

typedef struct stream {
    const sh_cdc_config_t *config;
    /* tables by TABLE_MAP id, which the server never reuses while it runs
     * (a reconnect starts afresh); at most TABLE_CACHE, the oldest dropped */
    cached_table_t tables[TABLE_CACHE];
    int count, next_slot;
    sh_mysql_row_t before, after;
    sh_text_t before_json, after_json, key_json;
} stream_t;

static void forget_tables(stream_t *s) {
    for (int i = 0; i < s->count; i++) {
        sh_mysql_table_free(s->tables[i].table);
        s->tables[i] = (cached_table_t){0};
    }
    s->count = s->next_slot = 0;
}

/* O(tables seen since the last DDL) */
static cached_table_t *find_table(stream_t *s, uint64_t id) {
    for (int i = 0; i < s->count; i++)
        if (s->tables[i].used && s->tables[i].id == id) return &s->tables[i];
    return NULL;
}

static int remember_table(stream_t *s, const MARIADB_RPL_EVENT *ev, char *errbuf, size_t errlen) {
    const struct st_mariadb_rpl_table_map_event *m = &ev->event.table_map;
    if (find_table(s, m->table_id)) return 0; /* ids change with the table's definition */
    cached_table_t *slot = &s->tables[s->next_slot];
    s->next_slot = (s->next_slot + 1) % TABLE_CACHE;
    if (s->count < TABLE_CACHE) s->count++;
    sh_mysql_table_free(slot->table);
    *slot = (cached_table_t){.id = m->table_id, .used = true};
    char db[256], name[256];
    snprintf(db, sizeof db, "%.*s", (int)m->database.length, m->database.str);
    snprintf(name, sizeof name, "%.*s", (int)m->table.length, m->table.str);
    if (!sh_cdc_config_captures(s->config, db, name)) return 0;
    if (!(slot->table = sh_binlog_table(m, s->config->prefix, errbuf, errlen))) return -1;
    return 0;
}

static bool is_ddl(const MARIADB_RPL_EVENT *ev) {
    const MARIADB_STRING *q = &ev->event.query.statement;
    return !(q->length >= 5 && strncasecmp(q->str, "BEGIN", 5) == 0) &&
           !(q->length >= 6 && strncasecmp(q->str, "COMMIT", 6) == 0);
}

/* COMMIT (non-transactional tables) or a DDL statement, which is a
 * transaction of its own; BEGIN opens one. */
static bool ends_transaction(const MARIADB_RPL_EVENT *ev) {
    const MARIADB_STRING *q = &ev->event.query.statement;
    return !(q->length >= 5 && strncasecmp(q->str, "BEGIN", 5) == 0);
}

/* ROTATE's next file and position, read from the raw event: Connector/C
 * 3.3 misreads the one that starts each new file (position 0x2e676f6c6e6962,
 * "binlog.0", and file "0"). raw: an OK byte, the 19-byte header, the
 * 8-byte position, the name, then the checksum when there is one. */
static int read_rotate(const MARIADB_RPL_EVENT *ev, bool checksum, char *file, size_t file_len,
                       uint64_t *pos) {
    const unsigned char *raw = ev->raw_data;
    size_t header = 1 + 19, tail = checksum ? 4 : 0;
    if (!raw || ev->raw_data_size < header + 8 + tail + 1) return -1;
    uint64_t p = 0;
    for (int i = 7; i >= 0; i--)
        p = p << 8 | raw[header + (size_t)i];
    size_t name_len = ev->raw_data_size - header - 8 - tail;
    if (name_len >= file_len) return -1;
    memcpy(file, raw + header + 8, name_len);
    file[name_len] = '\0';
    *pos = p;
    return 0;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sh_binlog_stream(MYSQL *conn, const sh_cdc_config_t *config, const sh_cdc_position_t *from,
                     volatile sig_atomic_t *stop, sh_cdc_emit_fn emit, void *arg,
                     sh_cdc_position_t *at, char *errbuf, size_t errlen) {
    stream_t s = {.config = config};
    MARIADB_RPL *rpl = NULL;
    MARIADB_RPL_EVENT *ev = NULL;
    int rc = -1;
    *at = *from;
    at->snapshot = false;
    /* rows of the first transaction already delivered */
    uint32_t skip = from->row;
    uint64_t last_end = from->pos;
    uint32_t row_in_txn = 0;
    int64_t last_lag_log = now_ms(), last_event_ms = 0;
    bool caught_up = false;

    static const char *const setup[] = {
        "SET @master_binlog_checksum = @@global.binlog_checksum",
        "SET @mariadb_slave_capability = 4",
        "SET @master_heartbeat_period = 1000000000",
    };
    for (size_t i = 0; i < sizeof setup / sizeof *setup; i++)
        if (mysql_query(conn, setup[i])) {
            snprintf(errbuf, errlen, "%s: %s", setup[i], mysql_error(conn));
            goto out;
        }
    bool checksum = true;
    if (mysql_query(conn, "SELECT @@global.binlog_checksum") == 0) {
        MYSQL_RES *res = mysql_store_result(conn);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        checksum = !(row && row[0] && strcasecmp(row[0], "NONE") == 0);
        if (res) mysql_free_result(res);
    }
    if (!(rpl = mariadb_rpl_init(conn))) {
        snprintf(errbuf, errlen, "cannot start replication: %s", mysql_error(conn));
        goto out;
    }
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_SERVER_ID, (unsigned int)config->server_id);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FILENAME, from->file, strlen(from->file));
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_START, (unsigned long)from->pos);
    mariadb_rpl_optionsv(rpl, MARIADB_RPL_FLAGS, 0u);
    if (mariadb_rpl_open(rpl)) {
        snprintf(errbuf, errlen, "cannot read the binlog from %s:%llu: %s", from->file,
                 (unsigned long long)from->pos, mysql_error(conn));
        goto out;
    }
    sh_log(SH_LOG_INFO, "mysql_cdc: streaming the binlog from %s:%llu%s", from->file,
           (unsigned long long)from->pos, skip ? " (skipping rows already delivered)" : "");
    while (!*stop) {
        if (!(ev = mariadb_rpl_fetch(rpl, ev))) {
            if (*stop) break;
            snprintf(errbuf, errlen, "binlog read failed at %s:%llu: %s", at->file,
                     (unsigned long long)last_end,
                     mysql_errno(conn) ? mysql_error(conn) : mariadb_rpl_error(rpl));
            goto out;
        }
        switch (ev->event_type) {
        case ROTATE_EVENT:
            if (read_rotate(ev, checksum, at->file, sizeof at->file, &last_end) != 0) {
                snprintf(errbuf, errlen, "malformed ROTATE event after %s:%llu", at->file,
                         (unsigned long long)last_end);
                goto out;
            }
            at->pos = last_end; /* rotations fall between transactions */
            at->row = 0;
            continue;
        case HEARTBEAT_LOG_EVENT:
            caught_up = true;
            break; /* sent only when idle */
        case GTID_EVENT:
            at->pos = last_end; /* the transaction starts here */
            snprintf(at->gtid, sizeof at->gtid, "%u-%u-%llu", ev->event.gtid.domain_id,
                     ev->server_id, (unsigned long long)ev->event.gtid.sequence_nr);
            row_in_txn = 0;
            break;
        case GTID_LOG_EVENT: /* MySQL's: untested here, no MySQL server on this machine */
        case ANONYMOUS_GTID_LOG_EVENT: {
            at->pos = last_end;
            const unsigned char *u = (const unsigned char *)ev->event.gtid_log.source_id;
            at->gtid[0] = '\0';
            if (ev->event_type == GTID_LOG_EVENT)
                snprintf(
                    at->gtid, sizeof at->gtid,
                    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x:%llu",
                    u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                    u[13], u[14], u[15], (unsigned long long)ev->event.gtid_log.sequence_nr);
            row_in_txn = 0;
            break;
        }
        case QUERY_EVENT:
            if (is_ddl(ev)) forget_tables(&s); /* the next TABLE_MAPs describe the new shape */
            break;
        case TABLE_MAP_EVENT:
            if (remember_table(&s, ev, errbuf, errlen) != 0) goto out;
            break;
        case WRITE_ROWS_EVENT_V1:
        case UPDATE_ROWS_EVENT_V1:
        case DELETE_ROWS_EVENT_V1:
        case WRITE_ROWS_EVENT:
        case UPDATE_ROWS_EVENT:
        case DELETE_ROWS_EVENT: {
            const struct st_mariadb_rpl_rows_event *r = &ev->event.rows;
            cached_table_t *ct = find_table(&s, r->table_id);
            const unsigned char *p = r->row_data, *end = p + r->row_data_size;
            bool update = r->type == UPDATE_ROWS;
            char op = r->type == WRITE_ROWS ? 'c' : update ? 'u' : 'd';
            while (p < end) {
                row_in_txn++;
                sh_mysql_table_t *t = ct ? ct->table : NULL;
                if (!t) { /* not captured: its rows still count for the position */
                    if (!ct) {
                        snprintf(errbuf, errlen, "rows of unknown table id %llu at %s:%llu",
                                 (unsigned long long)r->table_id, at->file,
                                 (unsigned long long)last_end);
                        goto out;
                    }
                    break;
                }
                if ((int)r->column_count != t->count) {
                    snprintf(errbuf, errlen, "%s.%s: rows have %u columns, the map %d", t->db,
                             t->name, r->column_count, t->count);
                    goto out;
                }
                long used = sh_mysql_rows_decode(t, r->column_bitmap, p, (size_t)(end - p),
                                                 config->decimal_mode, &s.before, errbuf, errlen);
                if (used < 0) goto out;
                p += used;
                sh_mysql_row_t *after_row = &s.before, *before_row = NULL;
                if (update) {
                    used = sh_mysql_rows_decode(t, r->column_update_bitmap, p, (size_t)(end - p),
                                                config->decimal_mode, &s.after, errbuf, errlen);
                    if (used < 0) goto out;
                    p += used;
                    before_row = &s.before, after_row = &s.after;
                } else if (op == 'd') {
                    before_row = &s.before, after_row = NULL;
                }
                if (row_in_txn <= skip) continue; /* delivered before the restart */
                sh_text_clear(&s.before_json);
                sh_text_clear(&s.after_json);
                sh_text_clear(&s.key_json);
                if (before_row) sh_envelope_row(&s.before_json, t, before_row);
                if (after_row) sh_envelope_row(&s.after_json, t, after_row);
                sh_envelope_key(&s.key_json, t, after_row ? after_row : before_row);
                at->row = row_in_txn;
                sh_cdc_event_t e = {.table = t,
                                    .op = op,
                                    .before = before_row ? s.before_json.data : NULL,
                                    .after = after_row ? s.after_json.data : NULL,
                                    .key = s.key_json.len ? s.key_json.data : NULL,
                                    .ts_ms = (int64_t)ev->timestamp * 1000,
                                    .position = at,
                                    .snapshot = "false",
                                    .server_id = ev->server_id,
                                    .event_pos = (int64_t)last_end};
                if (s.before_json.failed || s.after_json.failed || s.key_json.failed) {
                    snprintf(errbuf, errlen, "out of memory");
                    goto out;
                }
                if (emit(arg, &e) != 0) {
                    rc = 0;
                    goto out;
                }
            }
            last_event_ms = (int64_t)ev->timestamp * 1000;
            caught_up = false;
            break;
        }
        default:
            break;
        }
        if (ev->next_event_pos) last_end = ev->next_event_pos;
        if (ev->event_type == XID_EVENT ||
            (ev->event_type == QUERY_EVENT && ends_transaction(ev))) {
            /* the transaction is complete: a restart begins after it */
            at->pos = last_end;
            at->row = 0;
            skip = 0;
        }
        int64_t now = now_ms();
        if (now - last_lag_log >= LAG_LOG_EVERY_MS) {
            last_lag_log = now;
            if (caught_up)
                sh_log(SH_LOG_INFO, "mysql_cdc: binlog at %s:%llu, caught up with the server",
                       at->file, (unsigned long long)last_end);
            else if (last_event_ms)
                sh_log(SH_LOG_INFO,
                       "mysql_cdc: binlog at %s:%llu, %lld ms behind the server "
                       "(the last change read was written then)",
                       at->file, (unsigned long long)last_end, (long long)(now - last_event_ms));
        }
    }
    rc = 0;
out:
    if (ev) mariadb_free_rpl_event(ev);
    if (rpl) mariadb_rpl_close(rpl);
    forget_tables(&s);
    sh_mysql_row_free(&s.before);
    sh_mysql_row_free(&s.after);
    sh_text_free(&s.before_json);
    sh_text_free(&s.after_json);
    sh_text_free(&s.key_json);
    return rc;
}
