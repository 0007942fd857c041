/*
 * task_reader.h - a Kafka consumer's records held per partition until their
 * task may run them (task_reader.c): the librdkafka side of the
 * max.task.idle.ms rule, over task_queue.h. The Kafka source (source.c)
 * hands it what it consumes and takes back what may run.
 *
 * @locality the stream thread that owns the consumer
 */
#ifndef SH_KAFKA_TASK_READER_H
#define SH_KAFKA_TASK_READER_H

#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct sh_kafka_task_reader sh_kafka_task_reader_t;

/* consumer is not owned. max_idle_ms: Kafka Streams' max.task.idle.ms.
 * NULL when out of memory. */
sh_kafka_task_reader_t *sh_kafka_task_reader_new(rd_kafka_t *consumer, int64_t max_idle_ms);
/* Destroys the messages still held. */
void sh_kafka_task_reader_free(sh_kafka_task_reader_t *r);

/* (topic, partition) is an input of this consumer now: its task waits for
 * it. Returns 0, or -1 when out of memory. */
int sh_kafka_task_reader_assign(sh_kafka_task_reader_t *r, const char *topic, int32_t partition);
/* It is not any more: its held messages are destroyed (never marked, so
 * never committed: the next owner reads them). */
void sh_kafka_task_reader_revoke(sh_kafka_task_reader_t *r, const char *topic, int32_t partition);

/* m went by without being held (a record run as it came, or a partition-end
 * event): how far its partition was read. */
void sh_kafka_task_reader_saw(sh_kafka_task_reader_t *r, const rd_kafka_message_t *m);
/* Holds record m (taken over); a partition holding HELD_MAX records is
 * paused. Returns 0, or -1 when out of memory (m destroyed). */
int sh_kafka_task_reader_hold(sh_kafka_task_reader_t *r, rd_kafka_message_t *m);
/* Takes up to max held messages that may run now into out, each task's in
 * timestamp order (enforce false: every one may). *wake_ms: the wall-clock
 * time a waiting task may go on by itself (INT64_MAX: none). Resumes the
 * partitions drained to half of HELD_MAX, except those in bootstrap_paused
 * (may be NULL). */
int sh_kafka_task_reader_take(sh_kafka_task_reader_t *r, bool enforce, rd_kafka_message_t **out,
                              int max, int64_t *wake_ms,
                              const rd_kafka_topic_partition_list_t *bootstrap_paused);
/* How many messages are held. */
int sh_kafka_task_reader_held(const sh_kafka_task_reader_t *r);

#endif
