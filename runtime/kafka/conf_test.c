/*
 * conf_test.c - the client configuration's defaults: a consumer of a new
 * group starts at the earliest offset (Kafka Streams' default), and the app
 * or --set can still choose otherwise.
 */
#include <string.h>

#include "kafka/conf.h"

#include "base/check.h"

static void get(rd_kafka_conf_t *conf, const char *key, char *value, size_t len) {
    value[0] = 0;
    if (rd_kafka_conf_get(conf, key, value, &len) != RD_KAFKA_CONF_OK) value[0] = 0;
}

static void test_offset_reset_defaults_to_earliest(void) {
    char err[512], value[64];
    rd_kafka_conf_t *conf =
        sh_kafka_conf_new(RD_KAFKA_CONSUMER, "g", NULL, 0, NULL, 0, err, sizeof err);
    CHECK(conf != NULL);
    if (!conf) return;
    get(conf, "auto.offset.reset", value, sizeof value);
    CHECK(strcmp(value, "earliest") == 0 || strcmp(value, "smallest") == 0);
    rd_kafka_conf_destroy(conf);
}

static void test_offset_reset_app_and_set_win(void) {
    char err[512], value[64];
    sh_kv_t app[] = {{"auto.offset.reset", "latest"}};
    rd_kafka_conf_t *conf =
        sh_kafka_conf_new(RD_KAFKA_CONSUMER, "g", app, 1, NULL, 0, err, sizeof err);
    CHECK(conf != NULL);
    if (conf) {
        get(conf, "auto.offset.reset", value, sizeof value);
        CHECK(strcmp(value, "latest") == 0 || strcmp(value, "largest") == 0);
        rd_kafka_conf_destroy(conf);
    }
    sh_kv_t set[] = {{"auto.offset.reset", "earliest"}};
    conf = sh_kafka_conf_new(RD_KAFKA_CONSUMER, "g", app, 1, set, 1, err, sizeof err);
    CHECK(conf != NULL);
    if (conf) {
        get(conf, "auto.offset.reset", value, sizeof value);
        CHECK(strcmp(value, "earliest") == 0 || strcmp(value, "smallest") == 0);
        rd_kafka_conf_destroy(conf);
    }
}

/* A producer is not given the consumer's default (librdkafka would warn). */
static void test_producer_has_no_offset_reset(void) {
    char err[512];
    rd_kafka_conf_t *conf =
        sh_kafka_conf_new(RD_KAFKA_PRODUCER, NULL, NULL, 0, NULL, 0, err, sizeof err);
    CHECK(conf != NULL);
    if (conf) rd_kafka_conf_destroy(conf);
}

/* key's value in a new client configuration of the type, with --set
 * entries set; empty when the configuration cannot be made. */
static void setting(rd_kafka_type_t type, sh_kv_t *set, int set_count, const char *key,
                    char *value, size_t len) {
    char err[512];
    rd_kafka_conf_t *conf = sh_kafka_conf_new(type, type == RD_KAFKA_CONSUMER ? "g" : NULL, NULL,
                                              0, set, set_count, err, sizeof err);
    CHECK(conf != NULL);
    value[0] = 0;
    if (conf) {
        get(conf, key, value, len);
        rd_kafka_conf_destroy(conf);
    }
}

/* The memory bounds (README, Kafka): a consumer queues 20,000 records and
 * fetches 2 MiB at most, a producer holds 100,000; --set still wins. */
static void test_memory_bounds_default_and_set_wins(void) {
    char value[64];
    setting(RD_KAFKA_CONSUMER, NULL, 0, "queued.min.messages", value, sizeof value);
    CHECK(strcmp(value, "20000") == 0);
    setting(RD_KAFKA_CONSUMER, NULL, 0, "fetch.max.bytes", value, sizeof value);
    CHECK(strcmp(value, "2097152") == 0);
    setting(RD_KAFKA_PRODUCER, NULL, 0, "queue.buffering.max.messages", value, sizeof value);
    CHECK(strcmp(value, "100000") == 0);
    sh_kv_t set[] = {{"fetch.max.bytes", "8388608"}};
    setting(RD_KAFKA_CONSUMER, set, 1, "fetch.max.bytes", value, sizeof value);
    CHECK(strcmp(value, "8388608") == 0);
}

int main(void) {
    test_memory_bounds_default_and_set_wins();
    test_offset_reset_defaults_to_earliest();
    test_offset_reset_app_and_set_win();
    test_producer_has_no_offset_reset();
    return check_summary("conf_test");
}
