/*
 * error.h - librdkafka's errors as sh_err_t codes (error.c).
 */
#ifndef SH_KAFKA_ERROR_H
#define SH_KAFKA_ERROR_H

#include <librdkafka/rdkafka.h>

#include "base/err.h"

/* The sh_err_t for librdkafka's err, keeping its distinction (base/errors.h):
 * a full producer queue is SH_ERR_QUEUE_FULL (retriable: poll, then retry),
 * a fatal error SH_ERR_FATAL (the client must be recreated), anything else
 * SH_ERR_KAFKA. @locality any thread. */
int sh_kafka_err_code(rd_kafka_resp_err_t err);

#endif
