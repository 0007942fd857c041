/*
 * test_fixture.h - for C tests that need tasks restored from a real
 * changelog: an embedded broker (librdkafka's mock cluster, as `streamhost
 * broker`), a producer to write changelog records with, and the restore
 * consumer and declarations a stream thread's tasks are made with.
 * Header-only (static functions): included by *_test.c files only.
 */
#ifndef SH_TEST_FIXTURE_H
#define SH_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "engine/ctx.h"
#include "kafka/broker.h"
#include "state/tasks.h"

static inline rd_kafka_conf_t *fixture_conf(const char *bootstrap) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    return conf;
}

static inline rd_kafka_t *fixture_producer(const char *bootstrap) {
    rd_kafka_conf_t *conf = fixture_conf(bootstrap);
    /* big batches: the mock cluster keeps a few MiB per partition */
    rd_kafka_conf_set(conf, "linger.ms", "50", NULL, 0);
    rd_kafka_conf_set(conf, "batch.num.messages", "10000", NULL, 0);
    rd_kafka_conf_set(conf, "compression.codec", "lz4", NULL, 0);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) fprintf(stderr, "producer: %s\n", err);
    return rk;
}

/* Produces one changelog record (value NULL: a tombstone), retrying while
 * the queue is full. */
static inline int fixture_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                  const void *key, size_t key_len, const void *value,
                                  size_t value_len) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) return err ? -1 : 0;
        rd_kafka_poll(rk, 10);
    }
}

/* The assign()-only consumer a stream thread restores with (as host.c
 * configures it). */
static inline rd_kafka_t *fixture_restore_consumer(const char *bootstrap) {
    rd_kafka_conf_t *conf = fixture_conf(bootstrap);
    rd_kafka_conf_set(conf, "group.id", "fixture-restore", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", NULL, 0);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) fprintf(stderr, "consumer: %s\n", err);
    return rk;
}

/* A temporary directory, removed with sh_store_remove_tree by the test. */
static inline void fixture_tmpdir(char *out, size_t size, const char *what) {
    snprintf(out, size, "/tmp/streamhost-%s-XXXXXX", what);
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        exit(2);
    }
}

#endif
