/*
 * admin.h - metadata and topic creation (admin.c).
 */
#ifndef SH_KAFKA_ADMIN_H
#define SH_KAFKA_ADMIN_H

#include <librdkafka/rdkafka.h>

/* Creates topics through the Admin API, waiting up to timeout_ms. Topics that
 * already exist are fine; a broker without CreateTopics (the embedded one)
 * is logged and left to auto-creation. */
void sh_kafka_admin_create_topics(rd_kafka_t *rk, const char *const *topics,
                                  const int *partitions, int count, int timeout_ms);

/* Partition count of an existing topic from the cluster's metadata, or -1
 * when it is unknown (missing topic, broker down). */
int sh_kafka_admin_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

/* Partition count of topic from a listing of every topic, or -1 when it is
 * not there: unlike a request naming the topic, a listing never makes a
 * broker auto-create it (with its default count). O(topics in the cluster). */
int sh_kafka_admin_listed_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif
