/*
 * error.c - which sh_err_t a librdkafka error is. librdkafka tells
 * transient conditions (a full queue) from fatal ones (an idempotent or
 * transactional producer that can no longer guarantee its ordering); the
 * loop and Lua see the same distinction through the code's class.
 */
#include "kafka/error.h"

int sh_kafka_err_code(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return SH_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return SH_ERR_QUEUE_FULL;
    case RD_KAFKA_RESP_ERR__FATAL:
        return SH_ERR_FATAL;
    default:
        return SH_ERR_KAFKA;
    }
}
