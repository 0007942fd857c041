/*
 * loader.c - fills an input topic with benchmark records as fast as the broker
 * takes them.
 *
 *   loader BOOTSTRAP TOPIC COUNT [table]
 *
 * Keys are drawn uniformly from 10,000 (record.h); with `table`, record i has
 * key i instead, so COUNT = 10000 writes each key once (the join's table). Timestamps are synthetic:
 * record i is stamped base + i ms, with base = now - COUNT ms, so a million
 * records span about 17 minutes of event time and windowed workloads see many
 * windows open and close rather than one. A table (`table`) is stamped 30 days
 * earlier, so that in event time every key is in it before any stream record
 * arrives. Large batches and a long linger keep
 * the broker, not the loader, the bottleneck. Prints records/s on stderr.
 *
 *   loader BOOTSTRAP TOPIC COUNT changelog=KEYS
 *
 * writes instead what the count app's store would log without its record
 * cache, one changelog record per input record: keys "c00000".."c<KEYS-1>"
 * drawn uniformly, each on its key's partition (murmur2, as Kafka), with the
 * value the store keeps: the key's count so far, "\n", and its markers
 * (the input timestamp and ";input/P@OFFSET.0", OFFSET counting the records
 * of partition P). The restore measure replays it.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "client.h"

const char *program_name = "loader";

#include "record.h"

static long long failed;

/* The partition count of topic, or -1. */
static int partition_count(rd_kafka_t *rk, rd_kafka_topic_t *rkt) {
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    return n;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    if (msg->err) failed++;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: loader BOOTSTRAP TOPIC COUNT [table|avro=SCHEMA_ID|changelog=KEYS]\n");
        return 2;
    }
    long long count = atoll(argv[3]);
    bool table = argc == 5 && strcmp(argv[4], "table") == 0;
    /* avro=ID: the values as Avro with RECORD_AVRO_SCHEMA, registered as ID */
    long avro_id = argc == 5 && strncmp(argv[4], "avro=", 5) == 0 ? atol(argv[4] + 5) : -1;
    long changelog_keys =
        argc == 5 && strncmp(argv[4], "changelog=", 10) == 0 ? atol(argv[4] + 10) : 0;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", argv[1]);
    set(conf, "linger.ms", "20");
    set(conf, "batch.num.messages", "10000");
    set(conf, "batch.size", "1000000");
    set(conf, "queue.buffering.max.messages", "1000000");
    set(conf, "queue.buffering.max.kbytes", "1048576");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "loader: %s\n", err);
        return 1;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    int64_t base_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 - count;
    if (table) base_ms -= 30LL * 24 * 3600 * 1000;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    int partitions = changelog_keys > 0 && rkt ? partition_count(rk, rkt) : 0;
    long *counts = changelog_keys > 0 ? calloc((size_t)changelog_keys, sizeof *counts) : NULL;
    int64_t *offsets = partitions > 0 ? calloc((size_t)partitions, sizeof *offsets) : NULL;
    if (changelog_keys > 0 && (!counts || !offsets)) {
        fprintf(stderr, "loader: cannot learn %s's partitions (or out of memory)\n", argv[2]);
        return 1;
    }

    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char key[16], value[RECORD_VALUE_LEN + 1];
    size_t value_len = RECORD_VALUE_LEN;
    int32_t partition = RD_KAFKA_PARTITION_UA;
    double start = now_s();
    for (long long i = 0; i < count; i++) {
        unsigned key_index = table ? (unsigned)i : (unsigned)(record_next_random(&rng) % RECORD_KEY_COUNT);
        int key_len = record_format_key(key, sizeof key, key_index);
        if (changelog_keys > 0) {
            key_index = (unsigned)(record_next_random(&rng) % (uint64_t)changelog_keys);
            key_len = snprintf(key, sizeof key, "c%05u", key_index);
            partition = rd_kafka_msg_partitioner_murmur2(rkt, key, (size_t)key_len, partitions,
                                                         NULL, NULL);
            value_len = (size_t)snprintf(value, sizeof value, "%ld\n%lld;input/%d@%lld.0",
                                         ++counts[key_index], (long long)(base_ms + i),
                                         (int)partition, (long long)offsets[partition]++);
        } else if (avro_id >= 0)
            record_format_avro((uint8_t *)value, key, i, 0, (uint32_t)avro_id);
        else
            record_format_value(value, key, i, 0);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(argv[2]), RD_KAFKA_V_PARTITION(partition),
                RD_KAFKA_V_KEY(key, (size_t)key_len), RD_KAFKA_V_VALUE(value, value_len),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_TIMESTAMP(base_ms + i), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                fprintf(stderr, "loader: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            rd_kafka_poll(rk, 5); /* the queue is full: let deliveries drain it */
        }
        if ((i & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 120000);
    double elapsed = now_s() - start;
    int left = rd_kafka_outq_len(rk);
    if (rkt) rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(counts);
    free(offsets);
    if (failed || left) {
        fprintf(stderr, "loader: %lld records failed, %d undelivered\n", failed, left);
        return 1;
    }
    fprintf(stderr, "loader: %lld records in %.2f s: %.0f records/s\n", count, elapsed, count / elapsed);
    return 0;
}
