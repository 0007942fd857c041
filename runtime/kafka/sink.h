/*
 * sink.h - the Kafka producer behind the loop's sink interface (sink.c).
 */
#ifndef SH_KAFKA_SINK_H
#define SH_KAFKA_SINK_H

#include <librdkafka/rdkafka.h>

#include "engine/sink.h"
#include "kafka/topics.h"

/* Makes the producer from conf (taken over, also on failure). topics
 * (not owned) creates the sinks' topics on bind. NULL with errbuf filled. */
sh_sink_t *sh_kafka_sink_new(rd_kafka_conf_t *conf, sh_kafka_topics_t *topics, char *errbuf,
                             size_t errlen);
/* The producer, for admin requests; NULL when sink is not a Kafka sink. */
rd_kafka_t *sh_kafka_sink_handle(sh_sink_t *sink);

#endif
