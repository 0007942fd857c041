/*
 * conf.c - librdkafka client configuration.
 *
 * Defaults chosen for a stream processor: the Java client's murmur2
 * partitioner so keys land where Kafka Streams would put them, offsets stored
 * by the loop only once a record's outputs are delivered (at-least-once), a
 * short linger so batches form without adding visible latency.
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "kafka/cluster.h"
#include "kafka/conf.h"

static const sh_kv_t producer_defaults[] = {
    {"partitioner", "murmur2_random"},
    {"linger.ms", "5"},
    {"batch.num.messages", "10000"},
    /* 100,000 records is 0.1 s of output at 1M records/s; with the
     * consumer's bounds below it took a passthrough's peak RSS from 90 to
     * about 60 MB in make bench, at the same throughput (500,000 before). */
    {"queue.buffering.max.messages", "100000"},
    {"enable.idempotence", "false"},
};

static const sh_kv_t consumer_defaults[] = {
    {"enable.auto.commit", "true"},
    {"enable.auto.offset.store", "false"},
    {"auto.commit.interval.ms", "1000"},
    {"enable.partition.eof", "false"},
    /* A small queue bounds the consumer's memory: 20,000 records is 20 ms
     * of input at 1M records/s, and about 60 MB at peak for a whole
     * passthrough where a queue never full (a million records) took 240-280
     * MB. librdkafka 2.0.2 would stall on a queue this small (it fetches
     * again only on its 1 s wake-up); fetch_wake.c wakes it sooner. */
    {"queued.min.messages", "20000"},
    /* One fetch answer per partition leader at most 2 MiB (librdkafka: 50
     * MiB): a fetch lands whole in the queue before queued.min.messages is
     * looked at, so this is what bounds the overshoot. */
    {"fetch.max.bytes", "2097152"},
    /* As Kafka Streams: a new group reads its inputs from the start, so records
     * sent before the first assignment are counted too (librdkafka: latest). */
    {"auto.offset.reset", "earliest"},
    /* A dead instance's partitions move after 6 s instead of 45 s. The mock
     * cluster also waits a full session timeout before it lets a restarted
     * member back in, even after a clean LeaveGroup. */
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "1500"},
};

/* App properties that belong to only one side are skipped on the other
 * instead of drawing librdkafka's "will be ignored" warnings. */
static bool applies_to(rd_kafka_type_t type, const char *key) {
    static const char *consumer_only[] = {"auto.offset.reset", "group.instance.id",
                                          "session.timeout.ms", "max.poll.interval.ms",
                                          "isolation.level", "fetch.", "partition.assignment.strategy",
                                          "enable.auto.", "auto.commit", "queued.", "heartbeat.",
                                          "session.timeout.ms"};
    static const char *producer_only[] = {"acks", "linger.ms", "batch.", "compression.",
                                          "queue.buffering.", "partitioner", "enable.idempotence",
                                          "message.timeout.ms", "transactional.id", "retries"};
    const char **list = type == RD_KAFKA_PRODUCER ? consumer_only : producer_only;
    size_t n = type == RD_KAFKA_PRODUCER ? sizeof consumer_only / sizeof *consumer_only
                                         : sizeof producer_only / sizeof *producer_only;
    for (size_t i = 0; i < n; i++)
        if (strncmp(key, list[i], strlen(list[i])) == 0) return false;
    return true;
}

static int set_all(rd_kafka_conf_t *conf, rd_kafka_type_t type, const sh_kv_t *kv, int n,
                   char *errbuf, size_t errlen) {
    for (int i = 0; i < n; i++) {
        if (!applies_to(type, kv[i].key)) continue;
        /* the Avro serde's, as in Confluent's clients; not librdkafka's */
        if (strncmp(kv[i].key, "schema.registry.", 16) == 0) continue;
        if (rd_kafka_conf_set(conf, kv[i].key, kv[i].value, errbuf, errlen) != RD_KAFKA_CONF_OK)
            return -1;
    }
    return 0;
}

/* librdkafka's own log lines go through ours, so every line has one format. */
static void on_log(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
    if (strcmp(facility, "CLUSTERID") == 0) sh_kafka_cluster_changed(message);
    int ours = level <= 3 ? SH_LOG_ERROR : level == 4 ? SH_LOG_WARN : level <= 6 ? SH_LOG_INFO : SH_LOG_DEBUG;
    sh_log(ours, "kafka %s %s: %s", rd_kafka_name(rk), facility, message);
}

rd_kafka_conf_t *sh_kafka_conf_new(rd_kafka_type_t type, const char *group_id,
                               const sh_kv_t *props, int prop_count,
                               const sh_kv_t *overrides, int override_count,
                               char *errbuf, size_t errlen) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, on_log);
    const sh_kv_t *defaults = type == RD_KAFKA_PRODUCER ? producer_defaults : consumer_defaults;
    int default_count = type == RD_KAFKA_PRODUCER
                            ? (int)(sizeof producer_defaults / sizeof *producer_defaults)
                            : (int)(sizeof consumer_defaults / sizeof *consumer_defaults);
    if (set_all(conf, type, defaults, default_count, errbuf, errlen) != 0 ||
        set_all(conf, type, props, prop_count, errbuf, errlen) != 0 ||
        set_all(conf, type, overrides, override_count, errbuf, errlen) != 0 ||
        (type == RD_KAFKA_CONSUMER && group_id &&
         rd_kafka_conf_set(conf, "group.id", group_id, errbuf, errlen) != RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}
