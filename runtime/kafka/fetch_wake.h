/*
 * fetch_wake.h - keeps librdkafka 2.0.2's fetcher going while the consumer's
 * queue stays small (fetch_wake.c).
 */
#ifndef SH_KAFKA_FETCH_WAKE_H
#define SH_KAFKA_FETCH_WAKE_H

#include <librdkafka/rdkafka.h>

typedef struct sh_fetch_wake sh_fetch_wake_t;

/* Starts the side thread for consumer, whose records are read from queue;
 * queued_min is the consumer's queued.min.messages. NULL if out of memory
 * (the consumer then works as librdkafka alone would). */
sh_fetch_wake_t *sh_fetch_wake_new(rd_kafka_t *consumer, rd_kafka_queue_t *queue, long queued_min);
/* After each read from queue: got records of the max asked for. Cheap; wakes
 * the fetcher when input flows faster than it refills the queue.
 * @locality any thread */
void sh_fetch_wake_after_read(sh_fetch_wake_t *w, int got, int max);
/* Wake-ups asked for by after_read, and those a leader answered. */
void sh_fetch_wake_counts(sh_fetch_wake_t *w, long *asked, long *answered);
/* Stops and joins the side thread; NULL is fine. */
void sh_fetch_wake_free(sh_fetch_wake_t *w);

#endif
