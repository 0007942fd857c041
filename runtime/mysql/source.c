/*
 * source.c - MySQL/MariaDB change events as a source (see engine/source.h).
 *
 * A reader thread owns the database sessions: it decides where to begin
 * (the stored position, or a snapshot per snapshot.mode), runs the
 * snapshot (snapshot.c), then streams the binlog (binlog.c), reconnecting
 * with backoff when the connection drops. Each change event becomes a
 * record - key and value as Debezium's JSON, topic <prefix>.<db>.<table> in
 * the record's topic field - queued for the stream thread, which takes
 * them in poll. A record's offset is a sequence number; the source keeps
 * each one's binlog position until its batch is acked, and only an acked
 * position is stored (through engine/offsets.h, as Kafka Connect stores a
 * source's offsets), so a restart resumes with nothing lost.
 *
 * @locality poll/mark/ack/... on the stream thread; the reader thread only
 * fills the queue, under `lock`.
 */
#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "mysql/binlog.h"
#include "mysql/envelope.h"
#include "mysql/snapshot.h"
#include "mysql/source.h"

enum { QUEUE_MAX = 16384, SAVE_EVERY_MS = 1000, RETRY_MAX_MS = 30000 };

typedef struct queued {
    char *key, *value;
    size_t key_len, value_len;
    const char *topic;
    const char *schemas; /* the table's Debezium Avro schemas (interned) */
    size_t schemas_len;
    int64_t timestamp;
    sh_cdc_position_t position;
} queued_t;

typedef struct pending {
    int64_t seq;
    sh_cdc_position_t position;
} pending_t;

struct sh_source_ack {
    int64_t last_seq; /* -1: no records */
};

typedef struct mysql_source {
    sh_source_t base;
    sh_cdc_config_t config;
    sh_offsets_t *offsets;
    char *offset_key;
    const sh_source_events_t *events;
    char *input;
    int input_index;

    /* the reader thread and what it shares, under lock */
    pthread_t reader;
    bool reader_running;
    volatile sig_atomic_t stop;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    queued_t *queue; /* ring of QUEUE_MAX */
    int head, count;
    char **topics; /* interned topic names, kept until destroy */
    int topic_count;
    char **schemas; /* interned Avro schemas of the tables, kept until destroy */
    int schema_count;
    char fatal[1024];
    bool have_stored;
    sh_cdc_position_t stored; /* the position loaded at start */

    /* the stream thread's */
    queued_t *polled;
    int polled_count, polled_cap;
    pending_t *pending; /* positions of polled records not acked yet, by seq */
    size_t pending_head, pending_count, pending_cap;
    int64_t next_seq;
    sh_cdc_position_t acked;
    bool acked_dirty;
    int64_t last_save_ms;
    sh_ffi_header_t no_headers;
} mysql_source_t;

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the reader thread ---- */

static void set_fatal(mysql_source_t *s, const char *fmt, const char *detail) {
    pthread_mutex_lock(&s->lock);
    if (!s->fatal[0]) snprintf(s->fatal, sizeof s->fatal, fmt, detail);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static const char *intern_topic(mysql_source_t *s, const char *topic) {
    for (int i = s->topic_count - 1; i >= 0; i--)
        if (strcmp(s->topics[i], topic) == 0) return s->topics[i];
    char **grown = realloc(s->topics, sizeof *grown * (size_t)(s->topic_count + 1));
    if (!grown) return NULL;
    s->topics = grown;
    if (!(s->topics[s->topic_count] = strdup(topic))) return NULL;
    return s->topics[s->topic_count++];
}

/* The table's Debezium schemas, built once per table definition and
 * interned: a record points at them until the source is destroyed, after
 * the table itself may be gone. O(schema size x tables) on a table's first
 * event, nothing after. @locality the reader thread. */
static const char *schemas_of(mysql_source_t *s, const sh_mysql_table_t *table) {
    if (table->schemas) return table->schemas;
    sh_text_t text = {0};
    sh_debezium_schemas(&text, &s->config, table);
    if (text.failed) {
        sh_text_free(&text);
        return NULL;
    }
    const char *found = NULL;
    pthread_mutex_lock(&s->lock);
    for (int i = s->schema_count - 1; i >= 0 && !found; i--)
        if (strcmp(s->schemas[i], text.data) == 0) found = s->schemas[i];
    if (!found) {
        char **grown = realloc(s->schemas, sizeof *grown * (size_t)(s->schema_count + 1));
        char *taken = grown ? sh_text_take(&text) : NULL;
        if (grown) s->schemas = grown;
        if (taken) found = s->schemas[s->schema_count++] = taken;
    }
    pthread_mutex_unlock(&s->lock);
    sh_text_free(&text);
    /* the table is the reader thread's own: it caches the interned text */
    if (found) {
        ((sh_mysql_table_t *)table)->schemas = found;
        ((sh_mysql_table_t *)table)->schemas_len = strlen(found);
    }
    return found;
}

/* Queues one record; waits while the queue is full. -1 when stopping. */
static int enqueue(mysql_source_t *s, const sh_mysql_table_t *table, const char *key, char *value,
                   int64_t timestamp, const sh_cdc_position_t *position) {
    const char *topic = table->topic;
    const char *schemas = schemas_of(s, table); /* sets table->schemas_len */
    queued_t q = {.value = value,
                  .schemas = schemas,
                  .schemas_len = table->schemas_len,
                  .value_len = value ? strlen(value) : 0,
                  .timestamp = timestamp,
                  .position = *position};
    if (!q.schemas || (key && !(q.key = strdup(key)))) goto oom;
    q.key_len = key ? strlen(key) : 0;
    pthread_mutex_lock(&s->lock);
    while (s->count == QUEUE_MAX && !s->stop)
        pthread_cond_wait(&s->changed, &s->lock);
    if (s->stop || !(q.topic = intern_topic(s, topic))) {
        pthread_mutex_unlock(&s->lock);
        free(q.key);
        free(q.value);
        return -1;
    }
    s->queue[(s->head + s->count) % QUEUE_MAX] = q;
    s->count++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return 0;
oom:
    free(value);
    set_fatal(s, "%s", "out of memory");
    return -1;
}

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The emit callback of the snapshot and the binlog reader. */
static int on_event(void *arg, const sh_cdc_event_t *e) {
    mysql_source_t *s = arg;
    int64_t now = wall_ms();
    sh_text_t value = {0};
    sh_envelope_value(&value, &s->config, e, now);
    char *bytes = sh_text_take(&value);
    if (!bytes) {
        set_fatal(s, "%s", "out of memory");
        return -1;
    }
    int64_t ts = e->op == 'r' ? now : e->ts_ms;
    if (e->op != 'd' || !s->config.tombstones_on_delete)
        return enqueue(s, e->table, e->key, bytes, ts, e->position);
    /* delete, then its tombstone: only the tombstone completes the row */
    sh_cdc_position_t before = *e->position;
    before.row--;
    if (enqueue(s, e->table, e->key, bytes, ts, &before) != 0) return -1;
    return enqueue(s, e->table, e->key, NULL, ts, e->position);
}

static MYSQL *connect_db(mysql_source_t *s, unsigned *code, char *errbuf, size_t errlen) {
    MYSQL *conn = mysql_init(NULL);
    if (!conn) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    unsigned timeout = 10;
    mysql_optionsv(conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    const sh_cdc_config_t *c = &s->config;
    if (!mysql_real_connect(conn, c->host, c->user, c->password, NULL, c->port, NULL, 0)) {
        snprintf(errbuf, errlen, "cannot connect to %s@%s:%u: %s", c->user, c->host, c->port,
                 mysql_error(conn));
        *code = mysql_errno(conn);
        mysql_close(conn);
        return NULL;
    }
    return conn;
}

/* Whether the server still has binlog file `file`; -1 on failure. */
static int has_binlog(MYSQL *conn, const char *file, char *first, size_t first_len, char *errbuf,
                      size_t errlen) {
    if (mysql_query(conn, "SHOW BINARY LOGS")) {
        snprintf(errbuf, errlen, "SHOW BINARY LOGS: %s", mysql_error(conn));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result(conn);
    int found = 0;
    MYSQL_ROW row;
    bool any = false;
    while (res && (row = mysql_fetch_row(res))) {
        if (!any && first) snprintf(first, first_len, "%s", row[0]);
        any = true;
        if (file && strcmp(row[0], file) == 0) found = 1;
    }
    if (res) mysql_free_result(res);
    return found;
}

static void sleep_ms(int ms, volatile sig_atomic_t *stop) {
    for (int i = 0; i < ms / 50 && !*stop; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Where to begin: sets *need_snapshot or *from. -1 with errbuf: fatal. */
static int plan_start(mysql_source_t *s, MYSQL *conn, bool *need_snapshot, sh_cdc_position_t *from,
                      char *errbuf, size_t errlen) {
    sh_snapshot_mode_t mode = s->config.snapshot_mode;
    char first[128] = "";
    *need_snapshot = false;
    if (!s->have_stored || s->stored.snapshot) {
        if (s->have_stored)
            sh_log(SH_LOG_INFO, "mysql_cdc: the last snapshot did not finish: %s",
                   mode == SH_SNAPSHOT_NEVER ? "streaming from where it began"
                                             : "snapshotting again");
        if (mode != SH_SNAPSHOT_NEVER) {
            *need_snapshot = true;
            return 0;
        }
        if (s->have_stored) {
            *from = s->stored;
            from->snapshot = false;
            return 0;
        }
        if (has_binlog(conn, NULL, first, sizeof first, errbuf, errlen) < 0) return -1;
        *from = (sh_cdc_position_t){.pos = 4};
        snprintf(from->file, sizeof from->file, "%s", first);
        sh_log(SH_LOG_INFO,
               "mysql_cdc: snapshot.mode = never and no stored position: streaming "
               "from the oldest binlog, %s",
               first);
        return 0;
    }
    int found = has_binlog(conn, s->stored.file, first, sizeof first, errbuf, errlen);
    if (found < 0) return -1;
    if (found) {
        *from = s->stored;
        return 0;
    }
    if (mode == SH_SNAPSHOT_WHEN_NEEDED) {
        sh_log(SH_LOG_WARN,
               "mysql_cdc: the stored position %s:%llu is gone from the server "
               "(oldest binlog: %s): snapshotting again (snapshot.mode = when_needed)",
               s->stored.file, (unsigned long long)s->stored.pos, first);
        *need_snapshot = true;
        return 0;
    }
    snprintf(errbuf, errlen,
             "the stored position %s:%llu is gone from the server (oldest "
             "binlog: %s); changes since were lost. Set snapshot.mode = when_needed to "
             "snapshot again",
             s->stored.file, (unsigned long long)s->stored.pos, first);
    return -1;
}

/* Errors worth reconnecting for: the client's own (connection lost,
 * server gone, cannot connect: 2000 and up), and the server killing the
 * session, shutting down, or refusing for load. Anything else (access
 * denied, a missing privilege, a row we cannot decode) stays wrong. */
static bool retryable(unsigned code) {
    return code >= 2000 || code == 1927 /* killed */ || code == 1053 /* shutdown */ ||
           code == 1040 /* too many connections */ || code == 1205 || code == 1213;
}

static void *reader_main(void *arg) {
    mysql_source_t *s = arg;
    char err[1024];
    bool planned = false, need_snapshot = false, snapshot_only_done = false;
    sh_cdc_position_t from = {0};
    int backoff = 500;
    while (!s->stop) {
        unsigned code = 0;
        MYSQL *conn = connect_db(s, &code, err, sizeof err);
        if (!conn && !retryable(code)) {
            set_fatal(s, "%s", err);
            break;
        }
        if (!conn) {
            sh_log(SH_LOG_WARN, "mysql_cdc: %s; retrying in %d ms", err, backoff);
            sleep_ms(backoff, &s->stop);
            backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
            continue;
        }
        if (!planned) {
            if (plan_start(s, conn, &need_snapshot, &from, err, sizeof err) != 0) {
                mysql_close(conn);
                set_fatal(s, "%s", err);
                break;
            }
            planned = true;
        }
        int rc = 0;
        if (need_snapshot) {
            bool stopped;
            rc = sh_snapshot_run(conn, &s->config, &s->stop, on_event, s, &from, &stopped, err,
                                 sizeof err);
            if (rc == 0 && !stopped) {
                need_snapshot = false;
                from.snapshot = false;
                from.row = 0;
                if (s->config.snapshot_mode == SH_SNAPSHOT_INITIAL_ONLY) snapshot_only_done = true;
            }
        } else if (snapshot_only_done || (s->have_stored && !s->stored.snapshot &&
                                          s->config.snapshot_mode == SH_SNAPSHOT_INITIAL_ONLY)) {
            sh_log(SH_LOG_INFO, "mysql_cdc: snapshot.mode = initial_only: the snapshot is done, "
                                "no changes are streamed");
            mysql_close(conn);
            while (!s->stop)
                sleep_ms(1000, &s->stop);
            break;
        } else {
            sh_cdc_position_t at;
            rc = sh_binlog_stream(conn, &s->config, &from, &s->stop, on_event, s, &at, err,
                                  sizeof err);
            from = at; /* records up to here are queued: resume after them */
        }
        code = mysql_errno(conn);
        mysql_close(conn);
        if (rc != 0 && !s->stop) {
            if (code == 1236 && s->config.snapshot_mode == SH_SNAPSHOT_WHEN_NEEDED) {
                sh_log(SH_LOG_WARN, "mysql_cdc: %s: snapshotting again (when_needed)", err);
                need_snapshot = true;
                continue;
            }
            if (!retryable(code)) { /* code 0: ours, e.g. a row that cannot be decoded */
                set_fatal(s, "%s", err);
                break;
            }
            sh_log(SH_LOG_WARN, "mysql_cdc: %s; reconnecting in %d ms", err, backoff);
            sleep_ms(backoff, &s->stop);
            backoff = backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : backoff * 2;
        } else {
            backoff = 500;
        }
    }
    mysql_thread_end();
    return NULL;
}

/* ---- the source interface ---- */

static int source_bind(sh_source_t *src, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    mysql_source_t *s = (mysql_source_t *)src;
    if (sh_ffi_source_count(ctx) != 1) {
        snprintf(errbuf, errlen, "an app with b:mysql_cdc reads only that source (it has %d)",
                 sh_ffi_source_count(ctx));
        return -1;
    }
    free(s->input);
    if (!(s->input = strdup(sh_ffi_source_name(ctx, 0)))) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    s->input_index = 0;
    return 0;
}

static int source_start(sh_source_t *src, const sh_source_events_t *events, char *errbuf,
                        size_t errlen) {
    mysql_source_t *s = (mysql_source_t *)src;
    s->events = events;
    char *stored = NULL;
    if (s->offsets->ops->load(s->offsets, s->offset_key, &stored, errbuf, errlen) != 0) return -1;
    if (stored) {
        s->have_stored = sh_cdc_position_parse(stored, &s->stored);
        sh_log(SH_LOG_INFO, "mysql_cdc: stored position %s", stored);
        free(stored);
    }
    /* one task: partition 0 of the CDC input */
    if (events->assigned(events->loop, s->input, 0, errbuf, errlen) != 0) return -1;
    events->assignment_done(events->loop);
    if (pthread_create(&s->reader, NULL, reader_main, s) != 0) {
        snprintf(errbuf, errlen, "cannot start the binlog reader thread: %s", strerror(errno));
        return -1;
    }
    s->reader_running = true;
    return 0;
}

static void save_acked(mysql_source_t *s, bool force) {
    int64_t now = mono_ms();
    if (!s->acked_dirty || (!force && now - s->last_save_ms < SAVE_EVERY_MS)) return;
    s->last_save_ms = now;
    char *json = sh_cdc_position_json(&s->acked), err[512];
    if (json && s->offsets->ops->save(s->offsets, s->offset_key, json, err, sizeof err) == 0)
        s->acked_dirty = false;
    else
        sh_log(SH_LOG_WARN, "mysql_cdc: cannot store the position: %s",
               json ? err : "out of memory");
    free(json);
}

static int grow_pending(mysql_source_t *s, size_t more) {
    if (s->pending_count + more <= s->pending_cap) return 0;
    size_t cap = s->pending_cap ? s->pending_cap : 1024;
    while (cap < s->pending_count + more)
        cap *= 2;
    pending_t *grown = malloc(sizeof *grown * cap);
    if (!grown) return -1;
    for (size_t i = 0; i < s->pending_count; i++)
        grown[i] = s->pending[(s->pending_head + i) % s->pending_cap];
    free(s->pending);
    s->pending = grown;
    s->pending_cap = cap;
    s->pending_head = 0;
    return 0;
}

static int source_poll(sh_source_t *src, sh_ffi_record_t *records, int max, int timeout_ms,
                       char *errbuf, size_t errlen) {
    mysql_source_t *s = (mysql_source_t *)src;
    save_acked(s, false);
    if (max > s->polled_cap) {
        queued_t *grown = realloc(s->polled, sizeof *grown * (size_t)max);
        if (!grown) goto oom;
        s->polled = grown;
        s->polled_cap = max;
    }
    pthread_mutex_lock(&s->lock);
    if (s->count == 0 && !s->fatal[0] && timeout_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&s->changed, &s->lock, &until);
    }
    if (s->fatal[0] && s->count == 0) {
        snprintf(errbuf, errlen, "%s", s->fatal);
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    int n = s->count < max ? s->count : max;
    for (int i = 0; i < n; i++)
        s->polled[i] = s->queue[(s->head + i) % QUEUE_MAX];
    s->head = (s->head + n) % QUEUE_MAX;
    s->count -= n;
    if (n > 0) pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    s->polled_count = n;
    if (grow_pending(s, (size_t)n) != 0) goto oom;
    for (int i = 0; i < n; i++) {
        queued_t *q = &s->polled[i];
        int64_t seq = s->next_seq++;
        records[i] = (sh_ffi_record_t){.key = q->key,
                                       .key_len = q->key_len,
                                       .value = q->value,
                                       .value_len = q->value_len,
                                       .timestamp = q->timestamp,
                                       .offset = seq,
                                       .partition = 0,
                                       .source = s->input_index,
                                       .topic = q->topic,
                                       .topic_len = strlen(q->topic),
                                       .schema = q->schemas,
                                       .schema_len = q->schemas_len};
        s->pending[(s->pending_head + s->pending_count) % s->pending_cap] =
            (pending_t){.seq = seq, .position = q->position};
        s->pending_count++;
    }
    return n;
oom:
    snprintf(errbuf, errlen, "out of memory");
    return -1;
}

static sh_source_ack_t *source_mark(sh_source_t *src, const sh_ffi_record_t *records, int n) {
    (void)src;
    sh_source_ack_t *ack = malloc(sizeof *ack);
    if (!ack) return NULL;
    ack->last_seq = -1;
    for (int i = 0; i < n; i++)
        if (records[i].offset > ack->last_seq) ack->last_seq = records[i].offset;
    return ack;
}

static void source_ack(sh_source_t *src, sh_source_ack_t *ack) {
    mysql_source_t *s = (mysql_source_t *)src;
    while (s->pending_count > 0 && s->pending[s->pending_head].seq <= ack->last_seq) {
        s->acked = s->pending[s->pending_head].position;
        s->acked_dirty = true;
        s->pending_head = (s->pending_head + 1) % s->pending_cap;
        s->pending_count--;
    }
    free(ack);
}

static void source_discard(sh_source_t *src, sh_source_ack_t *ack) {
    (void)src;
    free(ack);
}

static void source_release(sh_source_t *src) {
    mysql_source_t *s = (mysql_source_t *)src;
    for (int i = 0; i < s->polled_count; i++) {
        free(s->polled[i].key);
        free(s->polled[i].value);
    }
    s->polled_count = 0;
}

static int source_commit(sh_source_t *src, char *errbuf, size_t errlen) {
    mysql_source_t *s = (mysql_source_t *)src;
    save_acked(s, true);
    return s->offsets->ops->flush(s->offsets, 10000, errbuf, errlen);
}

static void stop_reader(mysql_source_t *s) {
    if (!s->reader_running) return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->reader, NULL);
    s->reader_running = false;
}

static void source_close(sh_source_t *src) {
    mysql_source_t *s = (mysql_source_t *)src;
    stop_reader(s);
    source_release(src);
}

static void source_destroy(sh_source_t *src) {
    mysql_source_t *s = (mysql_source_t *)src;
    stop_reader(s);
    source_release(src);
    for (int i = 0; i < s->count; i++) {
        free(s->queue[(s->head + i) % QUEUE_MAX].key);
        free(s->queue[(s->head + i) % QUEUE_MAX].value);
    }
    for (int i = 0; i < s->topic_count; i++)
        free(s->topics[i]);
    free(s->topics);
    for (int i = 0; i < s->schema_count; i++)
        free(s->schemas[i]);
    free(s->schemas);
    free(s->queue);
    free(s->polled);
    free(s->pending);
    free(s->input);
    free(s->offset_key);
    if (s->offsets) s->offsets->ops->destroy(s->offsets);
    sh_cdc_config_free(&s->config);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
    free(s);
}

static const sh_source_ops_t mysql_source_ops = {
    .kind = "mysql",
    .bind = source_bind,
    .start = source_start,
    .poll = source_poll,
    .mark = source_mark,
    .ack = source_ack,
    .discard = source_discard,
    .release = source_release,
    .commit = source_commit,
    .close = source_close,
    .destroy = source_destroy,
};

sh_source_t *sh_mysql_source_new(const char *connector_name, const sh_kv_t *props, int count,
                                 sh_offsets_t *offsets, char *errbuf, size_t errlen) {
    /* not thread-safe: once, before the reader thread's mysql_init */
    mysql_library_init(0, NULL, NULL);
    mysql_source_t *s = calloc(1, sizeof *s);
    if (!s || !(s->queue = calloc(QUEUE_MAX, sizeof *s->queue))) {
        free(s);
        if (offsets) offsets->ops->destroy(offsets);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &mysql_source_ops;
    s->offsets = offsets;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    if (sh_cdc_config_parse(&s->config, connector_name, props, count, errbuf, errlen) != 0) {
        source_destroy(&s->base);
        return NULL;
    }
    /* Kafka Connect's offset key for a Debezium MySQL connector */
    if (asprintf(&s->offset_key, "[\"%s\",{\"server\":\"%s\"}]", connector_name, s->config.prefix) <
        0) {
        s->offset_key = NULL;
        source_destroy(&s->base);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    return &s->base;
}
