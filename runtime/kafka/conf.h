/*
 * conf.h - librdkafka client configuration (conf.c).
 */
#ifndef SH_KAFKA_CONF_H
#define SH_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "engine/vm.h"

/* Builds a client configuration: streamhost's defaults, then the app's
 * properties, then overrides (--set). Returns NULL with errbuf filled. */
rd_kafka_conf_t *sh_kafka_conf_new(rd_kafka_type_t type, const char *group_id,
                                   const sh_kv_t *props, int prop_count,
                                   const sh_kv_t *overrides, int override_count, char *errbuf,
                                   size_t errlen);

#endif
