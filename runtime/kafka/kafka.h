/*
 * kafka.h - librdkafka client set-up shared by the host loop and commands.
 */
#ifndef SH_KAFKA_H
#define SH_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "base/err.h"
#include "engine/vm.h"

/* Builds a client configuration: streamhost's defaults, then the app's
 * properties, then overrides (--set). Returns NULL with errbuf filled. */
rd_kafka_conf_t *sh_kafka_conf(rd_kafka_type_t type, const char *group_id,
                               const sh_kv_t *props, int prop_count,
                               const sh_kv_t *overrides, int override_count,
                               char *errbuf, size_t errlen);

/* Creates topics through the Admin API, waiting up to timeout_ms. Topics that
 * already exist are fine; a broker without CreateTopics (the embedded one)
 * is logged and left to auto-creation. */
void sh_kafka_create_topics(rd_kafka_t *rk, const char *const *topics, const int *partitions,
                            int count, int timeout_ms);

/* Partition count of an existing topic from the cluster's metadata, or -1
 * when it is unknown (missing topic, broker down). */
int sh_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

/* Fails with librdkafka's error err, keeping its distinction (base/errors.h):
 * a full producer queue is SH_ERR_QUEUE_FULL (retriable: poll, then retry),
 * a fatal error SH_ERR_FATAL (with the underlying reason, from rk when
 * given), anything else SH_ERR_KAFKA. Sets the thread's last error to
 * "<what>: <librdkafka's reason>" and returns the code.
 * @locality any thread. */
int sh_kafka_error(rd_kafka_t *rk, rd_kafka_resp_err_t err, const char *what);

#endif
