/*
 * topics.h - the topics an app's thread reads and writes exist before it
 * does (topics.c): internal topics get the partition counts Kafka Streams
 * requires, the embedded broker gets what it cannot auto-create.
 */
#ifndef SH_KAFKA_TOPICS_H
#define SH_KAFKA_TOPICS_H

#include <librdkafka/rdkafka.h>

#include "engine/ctx.h"
#include "kafka/broker.h"

typedef struct sh_kafka_topics sh_kafka_topics_t;

/* app_id names the app's internal topics; embedded is the in-process
 * broker or NULL. */
sh_kafka_topics_t *sh_kafka_topics_new(const char *app_id, sh_broker_t *embedded);
void sh_kafka_topics_free(sh_kafka_topics_t *topics);
/* The clients to ask: metadata through `metadata`, CreateTopics through
 * `admin` (a thread's consumer and producer). */
void sh_kafka_topics_set_clients(sh_kafka_topics_t *topics, rd_kafka_t *metadata,
                                 rd_kafka_t *admin);
/* Repartition topics the context reads: they must exist with the right
 * partition count before the consumer subscribes. -1 with errbuf filled
 * when one exists with another count. */
int sh_kafka_topics_ensure_sources(sh_kafka_topics_t *topics, sh_ctx_t *ctx, char *errbuf,
                                   size_t errlen);
/* Every sink of the context: internal ones with their partition counts,
 * others with what the app declared (if anything). -1 with errbuf filled
 * when an internal one exists with another count. */
int sh_kafka_topics_ensure_sinks(sh_kafka_topics_t *topics, sh_ctx_t *ctx, char *errbuf,
                                 size_t errlen);

#endif
