/*
 * fetch_wake.c - keeps librdkafka 2.0.2's fetcher going while the consumer's
 * queue stays small, so that memory stays bounded without input stalling.
 *
 * librdkafka 2.0.2 stops fetching once the consumer's queue holds
 * queued.min.messages records (or queued.max.messages.kbytes), and decides
 * again only when its broker thread next wakes up: for a request to that
 * broker, or on its 1 s timer. With a queue small enough to bound memory,
 * input then arrives in bursts 1 s apart (librdkafka 2.1 added
 * fetch.queue.backoff.ms for this). A queue large enough never to fill (a
 * million records) keeps the fetcher going but holds the whole backlog in
 * memory: about 180 MB more at peak for a million 100-byte records.
 *
 * So while the stream thread reads full batches (input is waiting) and the
 * queue has fallen below half of queued.min.messages, a side thread asks a
 * partition's leader for its watermarks (a ListOffsets request), at most
 * every WAKE_EVERY_MS. The request wakes that broker's thread, which then
 * sees room in the queue and fetches. Successive wake-ups go round the
 * assignment, so every leader is reached. An idle input reads no full
 * batches, and so sends no requests.
 *
 * A wake-up asked for within WAKE_EVERY_MS of the last one is sent late, not
 * dropped: the reads after it may drain the queue and come back short,
 * which asks for nothing, and the fetcher would then wait for its 1 s timer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "base/log.h"
#include "kafka/fetch_wake.h"

enum {
    WAKE_EVERY_MS = 10,
    ASSIGNMENT_EVERY_MS = 1000, /* how stale the partitions gone round may be */
    QUERY_TIMEOUT_MS = 500,     /* bounds how long freeing waits for a request */
};

struct sh_fetch_wake {
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    long low_water;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool pending, stopping;
    int64_t sent_ms; /* when the side thread last sent a request */
    long asked, answered;
    /* the side thread's own */
    rd_kafka_topic_partition_list_t *assignment;
    int64_t assignment_ms;
    int next;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns whether the leader answered. */
static bool wake_one_leader(sh_fetch_wake_t *w) {
    int64_t now = now_ms();
    if (!w->assignment || now - w->assignment_ms >= ASSIGNMENT_EVERY_MS) {
        rd_kafka_topic_partition_list_t *fresh = NULL;
        if (rd_kafka_assignment(w->consumer, &fresh) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
        if (w->assignment) rd_kafka_topic_partition_list_destroy(w->assignment);
        w->assignment = fresh;
        w->assignment_ms = now;
    }
    if (w->assignment->cnt == 0) return false;
    const rd_kafka_topic_partition_t *p = &w->assignment->elems[w->next++ % w->assignment->cnt];
    int64_t low, high;
    /* the answer does not matter, only that the leader's thread woke up */
    return rd_kafka_query_watermark_offsets(w->consumer, p->topic, p->partition, &low, &high,
                                            QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void *wake_main(void *arg) {
    sh_fetch_wake_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->pending && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        /* at most one request every WAKE_EVERY_MS: later asks wait here */
        int64_t due = w->sent_ms + WAKE_EVERY_MS;
        struct timespec until = {due / 1000, (due % 1000) * 1000000}; /* cond's clock */
        while (!w->stopping && now_ms() < due)
            pthread_cond_timedwait(&w->cond, &w->lock, &until);
        if (w->stopping) break;
        w->pending = false;
        w->sent_ms = now_ms();
        pthread_mutex_unlock(&w->lock);
        bool answered = wake_one_leader(w);
        pthread_mutex_lock(&w->lock);
        if (answered) w->answered++;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

sh_fetch_wake_t *sh_fetch_wake_new(rd_kafka_t *consumer, rd_kafka_queue_t *queue, long queued_min) {
    sh_fetch_wake_t *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->consumer = consumer;
    w->queue = queue;
    w->low_water = queued_min / 2;
    pthread_mutex_init(&w->lock, NULL);
    /* waits are until a time on now_ms()'s clock */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&w->thread, NULL, wake_main, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w);
        return NULL;
    }
    return w;
}

void sh_fetch_wake_after_read(sh_fetch_wake_t *w, int got, int max) {
    if (!w || got < max) return;
    if ((long)rd_kafka_queue_length(w->queue) >= w->low_water) return;
    pthread_mutex_lock(&w->lock);
    if (!w->pending) { /* asks while one waits to be sent are the same ask */
        w->asked++;
        w->pending = true;
        pthread_cond_signal(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

void sh_fetch_wake_counts(sh_fetch_wake_t *w, long *asked, long *answered) {
    pthread_mutex_lock(&w->lock);
    *asked = w->asked;
    *answered = w->answered;
    pthread_mutex_unlock(&w->lock);
}

void sh_fetch_wake_free(sh_fetch_wake_t *w) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    sh_log(SH_LOG_DEBUG, "consumer: woke the fetcher %ld times (%ld answered)", w->asked,
           w->answered);
    if (w->assignment) rd_kafka_topic_partition_list_destroy(w->assignment);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w);
}
