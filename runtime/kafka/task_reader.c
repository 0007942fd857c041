/*
 * task_reader.c - a Kafka consumer's records held per partition until their
 * task may run them (task_reader.h).
 *
 * The task queue (task_queue.c) decides; this file speaks librdkafka to it:
 * topics become stable numbers (a reload may reorder the inputs, never the
 * numbers), a partition's lag is its high watermark as the last fetch
 * reported it minus what was read (records, and partition-end events, which
 * the source asks for), and a partition holding HELD_MAX records is paused
 * until it drains to half, as Kafka Streams pauses a partition past
 * buffered.records.per.partition.
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/task_queue.h"
#include "kafka/task_reader.h"

enum { HELD_MAX = 20000 };

struct sh_kafka_task_reader {
    rd_kafka_t *consumer;
    int64_t max_idle_ms;
    sh_task_queue_t *queue;
    char **topics; /* the queue's topic numbers: names, only ever appended */
    int topic_count;
    rd_kafka_topic_t *last_rkt; /* the last message's topic and its number */
    int last_topic;
    rd_kafka_topic_partition_list_t *full; /* paused for holding HELD_MAX */
    bool was_holding;                      /* the last take took nothing but held some */
};

static void drop_message(void *m) { rd_kafka_message_destroy(m); }

/* A topic's number, added on first sight; -1 when out of memory. */
static int topic_number(sh_kafka_task_reader_t *r, const char *topic) {
    for (int i = 0; i < r->topic_count; i++)
        if (strcmp(r->topics[i], topic) == 0) return i;
    char **grown = realloc(r->topics, (size_t)(r->topic_count + 1) * sizeof *grown);
    if (!grown) return -1;
    r->topics = grown;
    if (!(r->topics[r->topic_count] = strdup(topic))) return -1;
    return r->topic_count++;
}

static int message_topic(sh_kafka_task_reader_t *r, const rd_kafka_message_t *m) {
    if (!m->rkt) return -1;
    if (m->rkt != r->last_rkt) {
        r->last_topic = topic_number(r, rd_kafka_topic_name(m->rkt));
        r->last_rkt = r->last_topic >= 0 ? m->rkt : NULL;
    }
    return r->last_topic;
}

/* The partition's high watermark as its last fetch said, -1 if unknown. */
static int64_t fetched_end(void *opaque, int topic, int32_t partition) {
    sh_kafka_task_reader_t *r = opaque;
    int64_t low = -1, high = -1;
    if (rd_kafka_get_watermark_offsets(r->consumer, r->topics[topic], partition, &low, &high))
        return -1;
    return high;
}

sh_kafka_task_reader_t *sh_kafka_task_reader_new(rd_kafka_t *consumer, int64_t max_idle_ms) {
    sh_kafka_task_reader_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->consumer = consumer;
    r->max_idle_ms = max_idle_ms;
    r->queue = sh_task_queue_new(max_idle_ms, fetched_end, r);
    r->full = rd_kafka_topic_partition_list_new(4);
    if (!r->queue || !r->full) {
        sh_kafka_task_reader_free(r);
        return NULL;
    }
    return r;
}

void sh_kafka_task_reader_free(sh_kafka_task_reader_t *r) {
    if (!r) return;
    sh_task_queue_free(r->queue, drop_message);
    if (r->full) rd_kafka_topic_partition_list_destroy(r->full);
    for (int i = 0; i < r->topic_count; i++)
        free(r->topics[i]);
    free(r->topics);
    free(r);
}

int sh_kafka_task_reader_assign(sh_kafka_task_reader_t *r, const char *topic, int32_t partition) {
    int number = topic_number(r, topic);
    return number < 0 ? -1 : sh_task_queue_assign(r->queue, number, partition);
}

void sh_kafka_task_reader_revoke(sh_kafka_task_reader_t *r, const char *topic, int32_t partition) {
    int number = topic_number(r, topic);
    if (number >= 0) sh_task_queue_revoke(r->queue, number, partition, drop_message);
    rd_kafka_topic_partition_list_del(r->full, topic, partition);
}

void sh_kafka_task_reader_saw(sh_kafka_task_reader_t *r, const rd_kafka_message_t *m) {
    int topic = message_topic(r, m);
    if (topic < 0) return;
    /* a partition-end event's offset is where the end is; a record's, itself */
    int64_t next = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF ? m->offset : m->offset + 1;
    sh_task_queue_read_to(r->queue, topic, m->partition, next);
}

int sh_kafka_task_reader_hold(sh_kafka_task_reader_t *r, rd_kafka_message_t *m) {
    int topic = message_topic(r, m);
    int count = topic < 0 ? -1
                          : sh_task_queue_push(r->queue, topic, m->partition, m->offset,
                                               rd_kafka_message_timestamp(m, NULL), m);
    if (count < 0) {
        rd_kafka_message_destroy(m);
        return -1;
    }
    if (count == HELD_MAX) {
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        if (one) {
            rd_kafka_topic_partition_list_add(one, r->topics[topic], m->partition);
            rd_kafka_pause_partitions(r->consumer, one);
            rd_kafka_topic_partition_list_destroy(one);
            rd_kafka_topic_partition_list_add(r->full, r->topics[topic], m->partition);
        }
    }
    return 0;
}

/* Resumes the partitions paused as full that have drained to half, except
 * those a table bootstrap holds. */
static void resume_drained(sh_kafka_task_reader_t *r,
                           const rd_kafka_topic_partition_list_t *bootstrap_paused) {
    if (!r->full->cnt) return;
    rd_kafka_topic_partition_list_t *resume = rd_kafka_topic_partition_list_new(4);
    if (!resume) return;
    /* walked backwards as entries go */
    for (int i = r->full->cnt - 1; i >= 0; i--) {
        rd_kafka_topic_partition_t *p = &r->full->elems[i];
        int topic = topic_number(r, p->topic);
        if (topic >= 0 && sh_task_queue_buffered(r->queue, topic, p->partition) >= HELD_MAX / 2)
            continue;
        if (!bootstrap_paused ||
            !rd_kafka_topic_partition_list_find(bootstrap_paused, p->topic, p->partition))
            rd_kafka_topic_partition_list_add(resume, p->topic, p->partition);
        rd_kafka_topic_partition_list_del_by_idx(r->full, i);
    }
    if (resume->cnt) rd_kafka_resume_partitions(r->consumer, resume);
    rd_kafka_topic_partition_list_destroy(resume);
}

int sh_kafka_task_reader_take(sh_kafka_task_reader_t *r, bool enforce, rd_kafka_message_t **out,
                              int max, int64_t *wake_ms,
                              const rd_kafka_topic_partition_list_t *bootstrap_paused) {
    int n = sh_task_queue_take(r->queue, sh_clock_now_ms(), enforce, (void **)out, max, wake_ms);
    resume_drained(r, bootstrap_paused);
    /* said once each time tasks start holding records back, not each poll */
    bool holding = n == 0 && sh_task_queue_total(r->queue) > 0;
    if (holding && !r->was_holding)
        sh_log(SH_LOG_DEBUG,
               "holding %d record(s): their tasks wait for an input partition "
               "(max.task.idle.ms %lld)",
               sh_task_queue_total(r->queue), (long long)r->max_idle_ms);
    r->was_holding = holding;
    return n;
}

int sh_kafka_task_reader_held(const sh_kafka_task_reader_t *r) {
    return sh_task_queue_total(r->queue);
}
