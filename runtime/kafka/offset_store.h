/*
 * offset_store.h - a source's positions kept in a Kafka topic, as Kafka
 * Connect's offset storage topic (offset_store.c), behind engine/offsets.h.
 */
#ifndef SH_KAFKA_OFFSET_STORE_H
#define SH_KAFKA_OFFSET_STORE_H

#include <librdkafka/rdkafka.h>

#include "engine/offsets.h"
#include "kafka/broker.h"

/* Stores in `topic` (one partition, created when missing: through the
 * embedded broker when there is one). producer_conf and reader_conf are
 * taken over, also on failure. NULL with errbuf filled. */
sh_offsets_t *sh_kafka_offset_store_new(rd_kafka_conf_t *producer_conf,
                                        rd_kafka_conf_t *reader_conf, const char *topic,
                                        sh_broker_t *embedded, char *errbuf, size_t errlen);

#endif
