/*
 * resume.h - where a partition goes on when it comes back to the consumer
 * that gave it up and whose commit the group refused at the time (resume.c).
 *
 * Before a revocation the loop delivers every output and commits. librdkafka's
 * mock cluster (streamhost broker) refuses that commit while the group
 * rebalances, and a real broker refuses it when the member was fenced; the
 * stored positions are then dropped, and the partition's next owner reads
 * again from the last commit that went through. Every record below a refused
 * position was delivered (ack stores a position only then), so when the
 * partition comes back to this consumer it goes on from there instead:
 * nothing lost, nothing processed twice, and its stores, flushed before the
 * commit, agree with where it goes on. A commit made since by another owner
 * wins when it is further on.
 */
#ifndef SH_KAFKA_RESUME_H
#define SH_KAFKA_RESUME_H

#include <librdkafka/rdkafka.h>

/* Keeps the positions of a refused commit for the partitions being
 * revoked: every partition of refused in revoked with an offset >= 0 (a
 * later refusal of the same partition replaces it). Returns 0, or -1 out of
 * memory. */
int sh_kafka_resume_keep(rd_kafka_topic_partition_list_t *kept,
                         const rd_kafka_topic_partition_list_t *refused,
                         const rd_kafka_topic_partition_list_t *revoked);

/* For each partition of assigned with a kept position further on than its
 * committed offset (committed: the same partitions, offsets from
 * rd_kafka_committed, or NULL when unknown), sets its offset to that
 * position and adds it to resumed. Kept positions of partitions that come
 * back are used up; the others stay. Returns how many resume. */
int sh_kafka_resume_apply(rd_kafka_topic_partition_list_t *kept,
                          rd_kafka_topic_partition_list_t *assigned,
                          const rd_kafka_topic_partition_list_t *committed,
                          rd_kafka_topic_partition_list_t *resumed);

/* Logs the partitions that resume and stores their positions again, so the
 * next commit makes them the group's: librdkafka dropped them with the
 * revocation. Call it after the assignment. */
void sh_kafka_resume_store(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *resumed);

#endif
