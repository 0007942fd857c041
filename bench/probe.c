/*
 * probe.c - end-to-end latency and output gaps: produces records at a fixed
 * rate with the wall clock in them, consumes the program's output, and logs
 * when each record was sent and received.
 *
 *   probe BOOTSTRAP INPUT OUTPUT RATE SECONDS LOGFILE
 *
 * First it sends a warm-up record (t = 0) every 100 ms until one comes back, so
 * that the program's group join and start-up are not counted as latency.
 * Then a producer thread paces itself against the clock (so a stall does not
 * lower the offered load, it builds a backlog), stamping `t` in each value
 * (record.h) with CLOCK_REALTIME in microseconds. The main thread consumes
 * OUTPUT from its beginning (a fresh topic) and writes "sent_us received_us"
 * per record to LOGFILE; the harness computes latency percentiles and, during
 * reloads, the gaps in output. Stops when every record came back or 10 s after
 * the last was sent. Prints {"sent":N,"received":M} on stdout. With INPUT =
 * OUTPUT it measures its own floor: the broker and the probe, no program.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "client.h"

const char *program_name = "probe";

#include "record.h"

typedef struct {
    rd_kafka_t *rk;
    const char *topic;
    double rate, seconds;
    volatile long long sent;
    volatile int warmed, done;
} producer_args_t;

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *produce_paced(void *arg) {
    producer_args_t *p = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    char key[16], value[RECORD_VALUE_LEN + 1];
    while (!p->warmed) {
        int key_len = record_format_key(key, sizeof key, 0);
        record_format_value(value, key, -1, 0);
        rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_KEY(key, (size_t)key_len),
                          RD_KAFKA_V_VALUE(value, RECORD_VALUE_LEN), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_END);
        rd_kafka_poll(p->rk, 100);
    }
    fprintf(stderr, "probe: pacing\n"); /* the harness starts reloading after this line */
    fflush(stderr);
    int64_t start = now_us();
    long long total = (long long)(p->rate * p->seconds);
    for (long long i = 0; i < total; i++) {
        int64_t due = start + (int64_t)((double)i * 1e6 / p->rate);
        int64_t now;
        while ((now = now_us()) < due) {
            struct timespec nap = {0, (due - now) > 200 ? 200000 : (long)(due - now) * 1000};
            nanosleep(&nap, NULL);
        }
        int key_len = record_format_key(key, sizeof key, (unsigned)(record_next_random(&rng) % RECORD_KEY_COUNT));
        record_format_value(value, key, i, now_us());
        while (rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->topic), RD_KAFKA_V_KEY(key, (size_t)key_len),
                                 RD_KAFKA_V_VALUE(value, RECORD_VALUE_LEN),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0)
            rd_kafka_poll(p->rk, 1);
        rd_kafka_poll(p->rk, 0);
        p->sent = i + 1;
    }
    rd_kafka_flush(p->rk, 10000);
    p->done = 1;
    return NULL;
}

static int64_t sent_time(const rd_kafka_message_t *m) {
    const char *v = m->payload;
    for (size_t i = 0; i + 4 < m->len; i++)
        if (memcmp(v + i, "\"t\":", 4) == 0) return strtoll(v + i + 4, NULL, 10);
    return -1;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: probe BOOTSTRAP INPUT OUTPUT RATE SECONDS LOGFILE\n");
        return 2;
    }
    char err[512];
    FILE *log = fopen(argv[6], "w");
    if (!log) {
        perror(argv[6]);
        return 1;
    }
    rd_kafka_conf_t *cconf = rd_kafka_conf_new();
    set(cconf, "bootstrap.servers", argv[1]);
    set(cconf, "group.id", "probe");
    set(cconf, "enable.auto.commit", "false");
    set(cconf, "fetch.wait.max.ms", "5"); /* the probe must not add the latency it measures */
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err);
    if (!consumer) {
        fprintf(stderr, "probe: %s\n", err);
        return 1;
    }
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *out = rd_kafka_topic_new(consumer, argv[3], NULL);
    if (rd_kafka_metadata(consumer, 0, out, &md, 10000) || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "probe: no topic %s\n", argv[3]);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, argv[3], i)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(out);
    rd_kafka_assign(consumer, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    rd_kafka_conf_t *pconf = rd_kafka_conf_new();
    set(pconf, "bootstrap.servers", argv[1]);
    /* Not 0: one ProduceRequest per record (20,000/s) saturates the embedded
     * broker, which then queues for seconds, and the probe measures its own
     * backlog. 2 ms keeps the probe's floor (probe -> broker -> probe, no
     * program between) at a few ms; see latency.py. */
    set(pconf, "linger.ms", "2");
    producer_args_t p = {.topic = argv[2], .rate = atof(argv[4]), .seconds = atof(argv[5])};
    p.rk = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err);
    if (!p.rk) {
        fprintf(stderr, "probe: %s\n", err);
        return 1;
    }
    pthread_t producer;
    pthread_create(&producer, NULL, produce_paced, &p);

    long long received = 0;
    int64_t finished_at = 0, began = now_us();
    for (;;) {
        if (!p.warmed && now_us() - began > 60000000) {
            fprintf(stderr, "probe: nothing came back through %s within 60 s\n", argv[3]);
            return 1;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 20);
        int64_t now = now_us();
        if (m) {
            int64_t sent = m->err ? -1 : sent_time(m);
            if (sent == 0) {
                p.warmed = 1;
            } else if (sent > 0 && p.warmed) {
                fprintf(log, "%lld %lld\n", (long long)sent, (long long)now);
                received++;
            }
            rd_kafka_message_destroy(m);
        }
        if (p.done && !finished_at) finished_at = now;
        if (p.done && received >= p.sent) break;
        if (finished_at && now - finished_at > 10000000) break;
    }
    pthread_join(producer, NULL);
    fclose(log);
    printf("{\"sent\":%lld,\"received\":%lld}\n", p.sent, received);
    rd_kafka_destroy(p.rk);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return 0;
}
