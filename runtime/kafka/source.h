/*
 * source.h - the Kafka consumer behind the loop's source interface
 * (source.c).
 */
#ifndef SH_KAFKA_SOURCE_H
#define SH_KAFKA_SOURCE_H

#include <librdkafka/rdkafka.h>

#include "engine/source.h"
#include "kafka/topics.h"

/* Makes the group consumer from conf (taken over, also on failure).
 * table_topics[0..table_count): inputs read as tables, caught up before the
 * other inputs flow at each assignment. topics (not owned) creates
 * repartition topics before subscribing. NULL with errbuf filled. */
sh_source_t *sh_kafka_source_new(rd_kafka_conf_t *conf, sh_kafka_topics_t *topics,
                                 const char *const *table_topics, int table_count, char *errbuf,
                                 size_t errlen);
/* The consumer, for metadata requests. */
rd_kafka_t *sh_kafka_source_handle(sh_source_t *source);
/* Kafka Streams' max.task.idle.ms (default 0: wait only while an input's
 * data is known to be on the way; -1: never wait). Before start. */
void sh_kafka_source_set_max_task_idle(sh_source_t *source, int64_t max_idle_ms);

#endif
