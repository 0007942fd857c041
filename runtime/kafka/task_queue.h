/*
 * task_queue.h - records held per input partition until their task may
 * run them (task_queue.c): Kafka Streams' max.task.idle.ms rule (KIP-695).
 *
 * A task is one partition number across the inputs (co-partitioned topics
 * meet in one task). Its records are taken in timestamp order, and only
 * while every partition of the task has a record buffered, or an empty
 * partition is known to be at its end for max.task.idle.ms. An empty
 * partition whose lag is unknown or positive holds the task (its data is on
 * the way); max_idle_ms < 0 never holds.
 *
 * Items are opaque (the Kafka source keeps rd_kafka_message_t pointers), so
 * the rule is tested without a broker. Not thread-safe: one per stream
 * thread.
 */
#ifndef SH_KAFKA_TASK_QUEUE_H
#define SH_KAFKA_TASK_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct sh_task_queue sh_task_queue_t;

/* The partition's end offset (high watermark) as last fetched, or -1 when
 * not known yet. Asked only of empty partitions of tasks with records. */
typedef int64_t (*sh_task_queue_end_fn)(void *opaque, int topic, int32_t partition);

sh_task_queue_t *sh_task_queue_new(int64_t max_idle_ms, sh_task_queue_end_fn end, void *opaque);
/* Hands every item still held to drop (may be NULL). */
void sh_task_queue_free(sh_task_queue_t *q, void (*drop)(void *item));

/* (topic, partition) is an input of this thread from now on: its task waits
 * for it. topic is the caller's stable number for the topic. */
int sh_task_queue_assign(sh_task_queue_t *q, int topic, int32_t partition);
/* It is no longer: its held items go to drop. */
void sh_task_queue_revoke(sh_task_queue_t *q, int topic, int32_t partition,
                          void (*drop)(void *item));

/* Appends an item read at offset with timestamp ts. An unassigned
 * partition is assigned first. Returns the partition's buffered count, or
 * -1 when out of memory. */
int sh_task_queue_push(sh_task_queue_t *q, int topic, int32_t partition, int64_t offset, int64_t ts,
                       void *item);
/* The partition was read up to next_offset: a record before it went by
 * without being held, or a fetch found the partition's end there. */
void sh_task_queue_read_to(sh_task_queue_t *q, int topic, int32_t partition, int64_t next_offset);

int sh_task_queue_buffered(const sh_task_queue_t *q, int topic, int32_t partition);
int sh_task_queue_total(const sh_task_queue_t *q);

/* Takes up to max items that may run now (now_ms: wall clock), each task's
 * in timestamp order. *wake_ms is set to the earliest idle deadline still
 * ahead (INT64_MAX: none), the time a held task may go on by itself.
 * With enforce false every buffered item may run (tables bootstrapping).
 * O(taken * partitions of a task). */
int sh_task_queue_take(sh_task_queue_t *q, int64_t now_ms, bool enforce, void **items, int max,
                       int64_t *wake_ms);

/* How many times a task went on without an empty partition after its idle
 * time ran out (Kafka Streams' enforced processing), for logs and tests. */
int64_t sh_task_queue_enforced(const sh_task_queue_t *q);

#endif
