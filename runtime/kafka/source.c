/*
 * source.c - records consumed from Kafka (see engine/source.h).
 *
 * A record's position is its (topic, partition, offset). mark() turns the
 * processed records of a batch into the next offset per partition; ack()
 * stores those offsets, which librdkafka's auto-commit then commits, so a
 * commit never passes a record whose outputs are not delivered (the loop
 * acks only then). Messages stay alive from poll to release, since the
 * records point into them.
 *
 * Tables first: a stream-table join looks rows up as of when the stream
 * record is processed. At each assignment the other partitions are paused
 * until every assigned table partition has been read to the end it had (its
 * high watermark), as a GlobalKTable is bootstrapped.
 *
 * Then Kafka Streams' max.task.idle.ms rule (KIP-695, task_queue.h): with
 * several inputs, records wait in a task queue per partition and a task
 * (one partition number across the inputs) runs only while each of its
 * partitions has a record buffered or is known to be at its end (its
 * fetched high watermark reached) for max.task.idle.ms. A partition holding
 * 20,000 records is paused meanwhile (task_reader.c). Held records are not in a batch, so
 * their offsets are never marked: nothing is committed past them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/cluster.h"
#include "kafka/fetch_wake.h"
#include "kafka/gaps.h"
#include "kafka/resume.h"
#include "kafka/source.h"
#include "kafka/task_reader.h"

enum { COMMIT_WAIT_MS = 10000 };

/* Commits the stored offsets and waits at most COMMIT_WAIT_MS for the
 * answer. librdkafka's synchronous commit can wait for good when the group
 * is rebalancing under a stopping consumer (it retries on the coordinator);
 * a commit that never answers only means records read again. When refused
 * is not NULL and the group refused the commit, *refused is set to the
 * positions it refused (the caller's to destroy).
 * Returns librdkafka's error, RD_KAFKA_RESP_ERR__TIMED_OUT when none came. */
static rd_kafka_resp_err_t commit_bounded(rd_kafka_t *rk,
                                          rd_kafka_topic_partition_list_t **refused) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    if (!q) return rd_kafka_commit(rk, NULL, 0);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk, NULL, q, NULL, NULL);
    if (!err) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, COMMIT_WAIT_MS);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        const rd_kafka_topic_partition_list_t *offsets =
            ev ? rd_kafka_event_topic_partition_list(ev) : NULL;
        if (refused && offsets && err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            *refused = rd_kafka_topic_partition_list_copy(offsets);
        if (ev) rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return err;
}

struct sh_source_ack {
    rd_kafka_topic_partition_list_t *offsets; /* next offset per partition */
};

typedef struct kafka_source {
    sh_source_t base;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    sh_kafka_topics_t *topics;
    const sh_source_events_t *events;
    char **inputs; /* the context's sources, by index */
    int input_count;
    char **tables;
    int table_count;
    rd_kafka_message_t **msgs; /* the last poll's messages */
    rd_kafka_headers_t **msg_headers; /* theirs, or NULL: looked up once, it costs */
    int msg_count, msg_cap;
    sh_ffi_header_t *headers; /* the last poll's headers: grown, never dropped */
    size_t header_cap;
    /* table bootstrapping: table partitions still catching up, and the other
     * partitions, paused meanwhile (NULL when not bootstrapping) */
    rd_kafka_topic_partition_list_t *catching_up, *held;
    char fatal[1100]; /* a failure inside the rebalance callback */
    sh_kafka_cluster_t *cluster; /* which cluster, and whether it answers */
    sh_kafka_gaps_t *gaps;       /* records deleted before they were read */
    sh_fetch_wake_t *waker;      /* keeps the fetcher going (fetch_wake.c) */
    /* order across a task's inputs (max.task.idle.ms): NULL with one input */
    int64_t max_idle_ms;
    sh_kafka_task_reader_t *ordered;
    rd_kafka_message_t **incoming; /* scratch: messages on their way to it */
    /* positions of refused commits, for partitions that come back (resume.h) */
    rd_kafka_topic_partition_list_t *resume;
} kafka_source_t;

static void free_strings(char **list, int count) {
    for (int i = 0; i < count; i++) free(list[i]);
    free(list);
}

static int source_bind(sh_source_t *src, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    kafka_source_t *s = (kafka_source_t *)src;
    int n = sh_ffi_source_count(ctx);
    char **inputs = calloc((size_t)n + 1, sizeof *inputs);
    for (int i = 0; inputs && i < n; i++)
        if (!(inputs[i] = strdup(sh_ffi_source_name(ctx, i)))) {
            free_strings(inputs, i);
            inputs = NULL;
        }
    if (!inputs) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    free_strings(s->inputs, s->input_count);
    s->inputs = inputs;
    s->input_count = n;
    return sh_kafka_topics_ensure_sources(s->topics, ctx, errbuf, errlen);
}

/* ---- tables first ---- */

static bool is_table(kafka_source_t *s, const char *topic) {
    for (int i = 0; i < s->table_count; i++)
        if (strcmp(s->tables[i], topic) == 0) return true;
    return false;
}

static void end_table_bootstrap(kafka_source_t *s, bool resume) {
    if (s->held && resume) {
        rd_kafka_resume_partitions(s->consumer, s->held);
        sh_log(SH_LOG_INFO, "tables caught up: resuming %d partition(s)", s->held->cnt);
    }
    if (s->held) rd_kafka_topic_partition_list_destroy(s->held);
    if (s->catching_up) rd_kafka_topic_partition_list_destroy(s->catching_up);
    s->held = s->catching_up = NULL;
}

static void start_table_bootstrap(kafka_source_t *s,
                                  const rd_kafka_topic_partition_list_t *partitions) {
    end_table_bootstrap(s, false);
    rd_kafka_topic_partition_list_t *tables = rd_kafka_topic_partition_list_new(partitions->cnt);
    rd_kafka_topic_partition_list_t *others = rd_kafka_topic_partition_list_new(partitions->cnt);
    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &partitions->elems[i];
        rd_kafka_topic_partition_list_add(is_table(s, p->topic) ? tables : others, p->topic,
                                          p->partition);
    }
    if (tables->cnt == 0 || others->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(tables);
        rd_kafka_topic_partition_list_destroy(others);
        return;
    }
    rd_kafka_pause_partitions(s->consumer, others);
    s->catching_up = tables;
    s->held = others;
    sh_log(SH_LOG_INFO, "reading %d table partition(s) to their end before %d other partition(s)",
           tables->cnt, others->cnt);
}

/* True once every table partition has been read up to its high watermark. */
static bool tables_caught_up(kafka_source_t *s) {
    rd_kafka_position(s->consumer, s->catching_up);
    for (int i = 0; i < s->catching_up->cnt; i++) {
        rd_kafka_topic_partition_t *p = &s->catching_up->elems[i];
        int64_t low = -1, high = -1;
        if (rd_kafka_get_watermark_offsets(s->consumer, p->topic, p->partition, &low, &high) ||
            high < 0)
            return false; /* not fetched yet */
        bool empty = high <= low;
        if (!empty && (p->offset < 0 || p->offset < high)) return false;
    }
    return true;
}

/* ---- order across a task's inputs (max.task.idle.ms) ---- */

/* Held while tables bootstrap: they are read first, in full, anyway. */
static bool ordering_on(const kafka_source_t *s) {
    return s->ordered && s->max_idle_ms >= 0 && !s->held;
}

/* Reads what the consumer has, waiting up to wait_ms for the first, into
 * the task reader. Returns 0, or -1 with errbuf filled. */
static int hold_incoming(kafka_source_t *s, int max, int wait_ms, char *errbuf, size_t errlen) {
    rd_kafka_message_t *first = rd_kafka_consume_queue(s->queue, wait_ms);
    if (s->fatal[0]) {
        if (first) rd_kafka_message_destroy(first);
        snprintf(errbuf, errlen, "%s", s->fatal);
        return -1;
    }
    if (!first) return 0;
    s->incoming[0] = first;
    ssize_t more =
        max > 1 ? rd_kafka_consume_batch_queue(s->queue, 0, s->incoming + 1, (size_t)max - 1) : 0;
    int n = 1 + (more > 0 ? (int)more : 0), held = 0;
    sh_fetch_wake_after_read(s->waker, n, max);
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = s->incoming[i];
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sh_kafka_task_reader_saw(s->ordered, m);
            else if (m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                sh_kafka_cluster_down(s->cluster);
            else
                sh_log(SH_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        sh_kafka_gaps_seen(s->gaps, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        if (sh_kafka_task_reader_hold(s->ordered, m) != 0) {
            for (int j = i + 1; j < n; j++) rd_kafka_message_destroy(s->incoming[j]);
            snprintf(errbuf, errlen, "out of memory holding records for their tasks");
            return -1;
        }
        held++;
    }
    if (held > 0) sh_kafka_cluster_up(s->cluster);
    return 0;
}

static void fill_record(kafka_source_t *s, sh_ffi_record_t *record, const rd_kafka_message_t *m,
                        rd_kafka_topic_t **cache_rkt, int *cache_index);

/* Takes what the task reader lets run now; when nothing may, waits for
 * more records, up to timeout_ms or the next idle deadline. Returns the
 * count. */
static int read_in_task_order(kafka_source_t *s, sh_ffi_record_t *records, int max,
                              int timeout_ms, char *errbuf, size_t errlen) {
    bool enforce = ordering_on(s);
    int64_t wake;
    if (hold_incoming(s, max, 0, errbuf, errlen) != 0) return -1;
    int n = sh_kafka_task_reader_take(s->ordered, enforce, s->msgs, max, &wake, s->held);
    if (n == 0) {
        int64_t now = sh_clock_now_ms();
        int wait = timeout_ms;
        if (wake != INT64_MAX && wake - now < wait) wait = wake > now ? (int)(wake - now) : 0;
        if (hold_incoming(s, max, wait, errbuf, errlen) != 0) return -1;
        n = sh_kafka_task_reader_take(s->ordered, enforce, s->msgs, max, &wake, s->held);
    }
    rd_kafka_topic_t *cache_rkt = NULL;
    int cache_index = -1;
    for (int i = 0; i < n; i++) fill_record(s, &records[i], s->msgs[i], &cache_rkt, &cache_index);
    return n;
}

/* ---- rebalance: the loop restores before, and delivers before, a move ---- */

/* Where each assigned partition goes on: its committed offset, so a jump
 * past it (retention) is seen, or where this consumer left it when the
 * group refused its commit then (resume.h), set in partitions. Returns the
 * partitions that resume so (the caller's to destroy), or NULL if none. */
static rd_kafka_topic_partition_list_t *place_assigned(kafka_source_t *s, rd_kafka_t *rk,
                                                       rd_kafka_topic_partition_list_t *partitions) {
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(partitions);
    bool known = rd_kafka_committed(rk, committed, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_t *resumed = rd_kafka_topic_partition_list_new(1);
    if (resumed && sh_kafka_resume_apply(s->resume, partitions, known ? committed : NULL,
                                         resumed) == 0) {
        rd_kafka_topic_partition_list_destroy(resumed);
        resumed = NULL;
    }
    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &partitions->elems[i];
        const rd_kafka_topic_partition_t *c =
            known ? rd_kafka_topic_partition_list_find(committed, p->topic, p->partition) : NULL;
        int64_t next = p->offset >= 0 ? p->offset : c && c->offset >= 0 ? c->offset : -1;
        if (p->offset >= 0 || c) sh_kafka_gaps_expect(s->gaps, p->topic, p->partition, next);
    }
    rd_kafka_topic_partition_list_destroy(committed);
    return resumed;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    kafka_source_t *s = opaque;
    const sh_source_events_t *ev = s->events;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sh_log(SH_LOG_INFO, "assigned %d partition(s)", partitions->cnt);
        /* Stores first: no batch of a partition runs before its state is
         * back. A long restore counts against max.poll.interval.ms. All
         * are announced first, so their stores open while others restore. */
        for (int i = 0; ev->assigning && i < partitions->cnt; i++)
            ev->assigning(ev->loop, partitions->elems[i].topic, partitions->elems[i].partition);
        for (int i = 0; i < partitions->cnt && !s->fatal[0]; i++) {
            char why[1024];
            if (ev->assigned(ev->loop, partitions->elems[i].topic, partitions->elems[i].partition,
                             why, sizeof why) != 0)
                snprintf(s->fatal, sizeof s->fatal, "restore: %s", why);
        }
        ev->assignment_done(ev->loop);
        rd_kafka_topic_partition_list_t *resumed = place_assigned(s, rk, partitions);
        if (cooperative)
            rd_kafka_incremental_assign(rk, partitions);
        else
            rd_kafka_assign(rk, partitions);
        if (resumed) {
            sh_kafka_resume_store(rk, resumed);
            rd_kafka_topic_partition_list_destroy(resumed);
        }
        start_table_bootstrap(s, partitions);
        for (int i = 0; s->ordered && i < partitions->cnt; i++)
            if (sh_kafka_task_reader_assign(s->ordered, partitions->elems[i].topic,
                                            partitions->elems[i].partition) != 0)
                snprintf(s->fatal, sizeof s->fatal, "out of memory for the task reader");
        return;
    }
    sh_log(SH_LOG_INFO, "revoking %d partition(s): delivering outputs and committing",
           partitions->cnt);
    end_table_bootstrap(s, false);
    ev->revoking(ev->loop);
    /* A real broker takes this commit while the group prepares its
     * rebalance; librdkafka's mock cluster (streamhost broker) refuses it
     * (REBALANCE_IN_PROGRESS). The partitions' next owner then reads again
     * from the last commit that went through, unless it is this consumer,
     * which goes on from the refused positions (resume.h). */
    rd_kafka_topic_partition_list_t *refused = NULL;
    rd_kafka_resp_err_t cerr = commit_bounded(rk, &refused);
    if (cerr && cerr != RD_KAFKA_RESP_ERR__NO_OFFSET)
        sh_log(SH_LOG_WARN, "commit before revocation failed (%s): the records since the last "
               "commit will be processed again unless the partitions come back to this thread",
               rd_kafka_err2str(cerr));
    if (refused) {
        if (sh_kafka_resume_keep(s->resume, refused, partitions) != 0)
            sh_log(SH_LOG_WARN, "out of memory keeping refused positions");
        rd_kafka_topic_partition_list_destroy(refused);
    }
    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &partitions->elems[i];
        ev->revoked(ev->loop, p->topic, p->partition);
        /* held records were never marked: the next owner reads them again */
        if (s->ordered) sh_kafka_task_reader_revoke(s->ordered, p->topic, p->partition);
    }
    if (cooperative)
        rd_kafka_incremental_unassign(rk, partitions);
    else
        rd_kafka_assign(rk, NULL);
}

/* Client-level errors, served from the consumer's poll. */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    kafka_source_t *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) sh_kafka_cluster_down(s->cluster);
    else if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_fatal_error(rk, why, sizeof why);
        snprintf(s->fatal, sizeof s->fatal, "the consumer failed for good: %s", why);
    }
    (void)reason; /* librdkafka's log line says it already */
}

static int source_start(sh_source_t *src, const sh_source_events_t *events, char *errbuf,
                        size_t errlen) {
    kafka_source_t *s = (kafka_source_t *)src;
    s->events = events;
    if (s->input_count == 0) return 0; /* timers only: nothing to subscribe to */
    if (s->input_count > 1 && !s->ordered &&
        !(s->ordered = sh_kafka_task_reader_new(s->consumer, s->max_idle_ms))) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(s->input_count);
    for (int i = 0; i < s->input_count; i++)
        rd_kafka_topic_partition_list_add(topics, s->inputs[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(s->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        snprintf(errbuf, errlen, "cannot subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

/* ---- records ---- */

static int input_index(kafka_source_t *s, rd_kafka_topic_t *rkt, rd_kafka_topic_t **cache_rkt,
                       int *cache_index) {
    if (rkt == *cache_rkt) return *cache_index;
    const char *name = rd_kafka_topic_name(rkt);
    *cache_rkt = rkt;
    *cache_index = -1;
    for (int i = 0; i < s->input_count; i++)
        if (strcmp(s->inputs[i], name) == 0) *cache_index = i;
    return *cache_index;
}

/* Whether a message may carry headers. rd_kafka_message_headers costs
 * ~1,000 instructions even for a message without any (librdkafka 2.0.2 wraps
 * the serialized headers in a freshly allocated buffer to read their count),
 * and most records have none. In the v2 record format a record's headers
 * follow its value directly, starting with their count as a zigzag varint, so
 * a zero byte there means none; a non-zero one (or a null value, where there
 * is nothing to look past) is left to librdkafka. Legacy formats (v0/v1, before
 * Kafka 0.11) have no headers and put the next message's big-endian offset
 * there, whose first byte is zero too. */
static bool may_have_headers(const rd_kafka_message_t *msg) {
    return !msg->payload || ((const unsigned char *)msg->payload)[msg->len] != 0;
}

/* Headers of every message kept, in one array grown as needed: a record's
 * headers (replay markers among them) are never dropped. Returns -1 when
 * out of memory. */
static int collect_headers(kafka_source_t *s, sh_ffi_record_t *records, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (!may_have_headers(s->msgs[i]) ||
            rd_kafka_message_headers(s->msgs[i], &s->msg_headers[i]) != RD_KAFKA_RESP_ERR_NO_ERROR)
            s->msg_headers[i] = NULL;
        else
            total += rd_kafka_header_cnt(s->msg_headers[i]);
    }
    if (total > s->header_cap) {
        sh_ffi_header_t *grown = realloc(s->headers, total * sizeof *grown);
        if (!grown) return -1;
        s->headers = grown;
        s->header_cap = total;
    }
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        rd_kafka_headers_t *hdrs = s->msg_headers[i];
        if (!hdrs) continue;
        size_t count = rd_kafka_header_cnt(hdrs);
        records[i].headers = &s->headers[used];
        records[i].header_count = (int32_t)count;
        for (size_t j = 0; j < count; j++, used++) {
            const void *value;
            rd_kafka_header_get_all(hdrs, j, &s->headers[used].name, &value,
                                    &s->headers[used].value_len);
            s->headers[used].value = value;
        }
    }
    return 0;
}

static void fill_record(kafka_source_t *s, sh_ffi_record_t *record, const rd_kafka_message_t *m,
                        rd_kafka_topic_t **cache_rkt, int *cache_index) {
    *record = (sh_ffi_record_t){
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .value_len = m->len,
        .timestamp = rd_kafka_message_timestamp(m, NULL),
        .offset = m->offset,
        .partition = m->partition,
        .source = input_index(s, m->rkt, cache_rkt, cache_index),
    };
}

/* Waits up to timeout_ms for the first message, then takes whatever else is
 * already queued without waiting: batches grow under load, and a lone
 * record is not held back until a batch fills. What was read still counts
 * for the task queue, which takes over when the rule is on again. */
static int read_direct(kafka_source_t *s, sh_ffi_record_t *records, int max, int timeout_ms,
                       char *errbuf, size_t errlen) {
    rd_kafka_message_t *first = rd_kafka_consume_queue(s->queue, timeout_ms);
    if (s->fatal[0]) {
        if (first) rd_kafka_message_destroy(first);
        snprintf(errbuf, errlen, "%s", s->fatal);
        return -1;
    }
    if (!first) return 0;
    s->msgs[0] = first;
    ssize_t more = max > 1 ? rd_kafka_consume_batch_queue(s->queue, 0, s->msgs + 1, (size_t)max - 1) : 0;
    int n = 1 + (more > 0 ? (int)more : 0), count = 0;
    sh_fetch_wake_after_read(s->waker, n, max);
    rd_kafka_topic_t *cache_rkt = NULL;
    int cache_index = -1;
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = s->msgs[i];
        bool tracked = s->ordered && s->max_idle_ms >= 0;
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
                sh_kafka_cluster_down(s->cluster);
            else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF && tracked)
                sh_kafka_task_reader_saw(s->ordered, m);
            else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sh_log(SH_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (tracked) sh_kafka_task_reader_saw(s->ordered, m);
        fill_record(s, &records[count], m, &cache_rkt, &cache_index);
        sh_kafka_gaps_seen(s->gaps, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        s->msgs[count++] = m; /* kept aligned with records */
    }
    if (count > 0) sh_kafka_cluster_up(s->cluster);
    return count;
}

static int source_poll(sh_source_t *src, sh_ffi_record_t *records, int max, int timeout_ms,
                       char *errbuf, size_t errlen) {
    kafka_source_t *s = (kafka_source_t *)src;
    if (s->held && tables_caught_up(s)) end_table_bootstrap(s, true);
    if (max > s->msg_cap) {
        rd_kafka_message_t **grown = realloc(s->msgs, (size_t)max * sizeof *grown);
        if (grown) s->msgs = grown;
        rd_kafka_headers_t **grown_headers =
            grown ? realloc(s->msg_headers, (size_t)max * sizeof *grown_headers) : NULL;
        if (grown_headers) s->msg_headers = grown_headers;
        rd_kafka_message_t **grown_incoming =
            grown_headers ? realloc(s->incoming, (size_t)max * sizeof *grown_incoming) : NULL;
        if (!grown_incoming) {
            snprintf(errbuf, errlen, "out of memory");
            return -1;
        }
        s->incoming = grown_incoming;
        s->msg_cap = max;
    }
    if (sh_kafka_cluster_check(s->cluster, s->consumer, s->fatal, sizeof s->fatal) != 0) {
        snprintf(errbuf, errlen, "%s", s->fatal);
        return -1;
    }
    int count = ordering_on(s) || (s->ordered && sh_kafka_task_reader_held(s->ordered) > 0)
                    ? read_in_task_order(s, records, max, timeout_ms, errbuf, errlen)
                    : read_direct(s, records, max, timeout_ms, errbuf, errlen);
    if (count < 0) return -1;
    s->msg_count = count;
    if (collect_headers(s, records, count) != 0) {
        snprintf(errbuf, errlen, "out of memory for the headers of %d records", count);
        return -1;
    }
    return count;
}

static sh_source_ack_t *source_mark(sh_source_t *src, const sh_ffi_record_t *records, int n) {
    kafka_source_t *s = (kafka_source_t *)src;
    sh_source_ack_t *ack = malloc(sizeof *ack);
    if (!ack || !(ack->offsets = rd_kafka_topic_partition_list_new(8))) {
        free(ack);
        return NULL;
    }
    rd_kafka_topic_partition_t *tp = NULL;
    for (int i = 0; i < n; i++) {
        /* a batch comes in runs of one partition: look up only on a change */
        if (records[i].source < 0 || records[i].source >= s->input_count) continue;
        const char *topic = s->inputs[records[i].source];
        if (!tp || records[i].partition != tp->partition || strcmp(tp->topic, topic) != 0) {
            tp = rd_kafka_topic_partition_list_find(ack->offsets, topic, records[i].partition);
            if (!tp) tp = rd_kafka_topic_partition_list_add(ack->offsets, topic, records[i].partition);
        }
        if (records[i].offset + 1 > tp->offset) tp->offset = records[i].offset + 1;
    }
    return ack;
}

static void source_ack(sh_source_t *src, sh_source_ack_t *ack) {
    kafka_source_t *s = (kafka_source_t *)src;
    if (ack->offsets->cnt > 0) {
        rd_kafka_resp_err_t err = rd_kafka_offsets_store(s->consumer, ack->offsets);
        /* _STATE: the partition moved meanwhile; its new owner reads again */
        if (err && err != RD_KAFKA_RESP_ERR__STATE)
            sh_log(SH_LOG_WARN, "cannot store offsets: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(ack->offsets);
    free(ack);
}

static void source_discard(sh_source_t *src, sh_source_ack_t *ack) {
    (void)src;
    rd_kafka_topic_partition_list_destroy(ack->offsets);
    free(ack);
}

static void source_release(sh_source_t *src) {
    kafka_source_t *s = (kafka_source_t *)src;
    for (int i = 0; i < s->msg_count; i++) rd_kafka_message_destroy(s->msgs[i]);
    s->msg_count = 0;
}

static int source_commit(sh_source_t *src, char *errbuf, size_t errlen) {
    kafka_source_t *s = (kafka_source_t *)src;
    rd_kafka_resp_err_t err = commit_bounded(s->consumer, NULL);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        snprintf(errbuf, errlen, "%s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static void source_close(sh_source_t *src) {
    kafka_source_t *s = (kafka_source_t *)src;
    end_table_bootstrap(s, false);
    source_release(src);
    sh_fetch_wake_free(s->waker);
    s->waker = NULL;
    rd_kafka_consumer_close(s->consumer);
}

static void source_destroy(sh_source_t *src) {
    kafka_source_t *s = (kafka_source_t *)src;
    end_table_bootstrap(s, false);
    source_release(src);
    sh_fetch_wake_free(s->waker);
    if (s->queue) rd_kafka_queue_destroy(s->queue);
    if (s->consumer) rd_kafka_destroy(s->consumer);
    free_strings(s->inputs, s->input_count);
    free_strings(s->tables, s->table_count);
    sh_kafka_cluster_free(s->cluster);
    sh_kafka_gaps_free(s->gaps);
    rd_kafka_topic_partition_list_destroy(s->resume);
    sh_kafka_task_reader_free(s->ordered);
    free(s->incoming);
    free(s->msgs);
    free(s->msg_headers);
    free(s->headers);
    free(s);
}

static const sh_source_ops_t kafka_source_ops = {
    .kind = "kafka",
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

sh_source_t *sh_kafka_source_new(rd_kafka_conf_t *conf, sh_kafka_topics_t *topics,
                                 const char *const *table_topics, int table_count, char *errbuf,
                                 size_t errlen) {
    kafka_source_t *s = calloc(1, sizeof *s);
    char **tables = calloc((size_t)table_count + 1, sizeof *tables);
    for (int i = 0; tables && i < table_count; i++)
        if (!(tables[i] = strdup(table_topics[i]))) {
            free_strings(tables, i);
            tables = NULL;
        }
    char bootstrap[1024] = "?";
    size_t bootstrap_len = sizeof bootstrap;
    rd_kafka_conf_get(conf, "bootstrap.servers", bootstrap, &bootstrap_len);
    if (s) {
        s->cluster = sh_kafka_cluster_new(bootstrap);
        s->gaps = sh_kafka_gaps_new();
        s->resume = rd_kafka_topic_partition_list_new(4);
    }
    if (!s || !tables || !s->cluster || !s->gaps || !s->resume) {
        if (s) {
            sh_kafka_cluster_free(s->cluster);
            sh_kafka_gaps_free(s->gaps);
            if (s->resume) rd_kafka_topic_partition_list_destroy(s->resume);
        }
        free(s);
        free(tables);
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &kafka_source_ops;
    s->topics = topics;
    s->tables = tables;
    s->table_count = table_count;
    /* a fetch that reaches a partition's end says so: its lag is then known
     * to be 0 (max.task.idle.ms); the loop never sees these events */
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char queued_min[32] = "100000"; /* librdkafka's default */
    size_t queued_min_len = sizeof queued_min;
    rd_kafka_conf_get(conf, "queued.min.messages", queued_min, &queued_min_len);
    if (!(s->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen))) {
        rd_kafka_conf_destroy(conf);
        source_destroy(&s->base);
        return NULL;
    }
    rd_kafka_poll_set_consumer(s->consumer);
    s->queue = rd_kafka_queue_get_consumer(s->consumer);
    s->waker = sh_fetch_wake_new(s->consumer, s->queue, atol(queued_min));
    return &s->base;
}

rd_kafka_t *sh_kafka_source_handle(sh_source_t *src) { return ((kafka_source_t *)src)->consumer; }

void sh_kafka_source_set_max_task_idle(sh_source_t *src, int64_t max_idle_ms) {
    ((kafka_source_t *)src)->max_idle_ms = max_idle_ms;
}
