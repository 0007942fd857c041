/*
 * c_passthrough.c - the physical limit: a plain C librdkafka passthrough with
 * no Lua, no decoding and no copy of the value, to compare streamhost against.
 *
 *   c_passthrough BOOTSTRAP INPUT OUTPUT COUNT [GROUP [PROPERTY=VALUE]...]
 *
 * Consumes INPUT from the earliest offset in batches (one queue,
 * rd_kafka_consume_batch_queue) and produces each record to OUTPUT on the same
 * partition (waiting at most 1 ms to fill a batch, which would otherwise
 * add to latency). The value is not copied: the producer points at the consumed
 * message's payload, and the consumed message is destroyed in the delivery
 * report, which is when the producer no longer needs it. Exits once COUNT
 * records are delivered and prints records/s (first consumed record to last
 * delivery) on stderr. PROPERTY=VALUE pairs go to both clients (the latency
 * measure lowers fetch.wait.max.ms with them).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "client.h"

const char *program_name = "c_passthrough";

#define BATCH_MAX 10000

static long long delivered, failed;
static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    (void)opaque;
    if (msg->err)
        failed++;
    else
        delivered++;
    rd_kafka_message_destroy((rd_kafka_message_t *)msg->_private); /* the consumed record */
}

static rd_kafka_t *make_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "c_passthrough: %s\n", err);
        exit(1);
    }
    return rk;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: c_passthrough BOOTSTRAP INPUT OUTPUT COUNT [GROUP [PROPERTY=VALUE]...]\n");
        return 2;
    }
    const char *bootstrap = argv[1], *input = argv[2], *output = argv[3];
    long long count = atoll(argv[4]);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set(pconf, "bootstrap.servers", bootstrap);
    set(pconf, "linger.ms", "5");
    set(pconf, "batch.num.messages", "10000");
    set(pconf, "queue.buffering.max.messages", "1000000");
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    rd_kafka_t *producer = make_client(RD_KAFKA_PRODUCER, pconf);
    rd_kafka_topic_t *out = rd_kafka_topic_new(producer, output, NULL);

    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set(cconf, "bootstrap.servers", bootstrap);
    set(cconf, "group.id", argc > 5 ? argv[5] : "c-passthrough");
    /* with librdkafka's 100k the fetcher stalls for its 1 s wake-up; a queue
     * that never fills keeps it going (the baseline at its best, whatever its
     * memory; streamhost bounds its queue and wakes the fetcher instead,
     * runtime/kafka/fetch_wake.c) */
    set(cconf, "queued.min.messages", "1000000");
    for (int i = 6; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "c_passthrough: expected PROPERTY=VALUE, not '%s'\n", argv[i]);
            return 2;
        }
        *eq = '\0';
        set(cconf, argv[i], eq + 1);
        *eq = '=';
    }
    set(cconf, "auto.offset.reset", "earliest");
    set(cconf, "enable.auto.commit", "false");
    set(cconf, "enable.partition.eof", "false");
    rd_kafka_t *consumer = make_client(RD_KAFKA_CONSUMER, cconf);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, input, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        fprintf(stderr, "c_passthrough: subscribe: %s\n", rd_kafka_err2str(err));
        return 1;
    }
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(consumer);

    static rd_kafka_message_t *batch[BATCH_MAX];
    long long consumed = 0;
    double start = 0;
    while (delivered + failed < count && !stopping) {
        ssize_t n = consumed < count ? rd_kafka_consume_batch_queue(queue, 1, batch, BATCH_MAX) : 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err || consumed >= count) {
                if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "c_passthrough: consume: %s\n", rd_kafka_message_errstr(m));
                rd_kafka_message_destroy(m);
                continue;
            }
            if (consumed++ == 0) start = now_s();
            /* msgflags 0: neither copy nor free; m owns the payload until on_delivery. */
            while (rd_kafka_produce(out, m->partition, 0, m->payload, m->len, m->key, m->key_len, m) != 0) {
                if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    fprintf(stderr, "c_passthrough: produce: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
                    return 1;
                }
                rd_kafka_poll(producer, 10);
            }
        }
        rd_kafka_poll(producer, consumed < count ? 0 : 50);
    }
    double elapsed = now_s() - start;
    /* The producer goes first: its delivery reports release consumed records. */
    rd_kafka_flush(producer, 10000);
    rd_kafka_topic_destroy(out);
    rd_kafka_destroy(producer);
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    if (failed || delivered < count) {
        fprintf(stderr, "c_passthrough: %lld delivered, %lld failed of %lld\n", delivered, failed, count);
        return 1;
    }
    printf("%.0f\n", count / elapsed);
    fprintf(stderr, "c_passthrough: %lld records in %.2f s: %.0f records/s\n", count, elapsed, count / elapsed);
    return 0;
}
