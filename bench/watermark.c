/*
 * watermark.c - tells when a program under test has written its output, from
 * outside the program, so every program is timed the same way.
 *
 *   watermark BOOTSTRAP TOPIC EXPECTED [IDLE_MS] [TIMEOUT_S]
 *
 * Every 10 ms it asks the broker for the end offset of each partition of TOPIC
 * (one ListOffsets request for all of them) and sums them. It notes the wall
 * clock when the sum first moves and when it reaches EXPECTED; if the sum stops
 * moving for IDLE_MS (default 5000) or TIMEOUT_S passes (default 600), it stops
 * there and says the output is short. Summing end offsets rather than
 * consuming keeps the watcher cheap: it would otherwise compete with the
 * program under test for the broker and the CPU.
 *
 * Prints one line of JSON on stdout:
 *   {"count":N,"first_count":F,"expected":E,"complete":true,"first_ms":..,"last_ms":..,"rps":..}
 * rps counts the records written between the first and the last observation.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static double wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int partition_count(rd_kafka_t *rk, const char *topic) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && !md->topics[0].err) n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(t);
    return n;
}

static long long end_offsets_sum(rd_kafka_t *rk, const char *topic, int partitions) {
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(list, topic, p)->offset = RD_KAFKA_OFFSET_END; /* latest */
    long long sum = -1;
    if (rd_kafka_offsets_for_times(rk, list, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sum = 0;
        for (int i = 0; i < list->cnt; i++)
            if (list->elems[i].offset > 0) sum += list->elems[i].offset;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return sum;
}

int main(int argc, char **argv) {
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: watermark BOOTSTRAP TOPIC EXPECTED [IDLE_MS] [TIMEOUT_S]\n");
        return 2;
    }
    const char *topic = argv[2];
    long long expected = atoll(argv[3]);
    double idle_ms = argc > 4 ? atof(argv[4]) : 5000;
    double timeout_ms = (argc > 5 ? atof(argv[5]) : 600) * 1000;

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "watermark: %s\n", err);
        return 1;
    }
    int partitions = partition_count(rk, topic);
    if (partitions <= 0) {
        fprintf(stderr, "watermark: no topic %s\n", topic);
        return 1;
    }

    bool trace = getenv("WATERMARK_TRACE") != NULL; /* one stderr line per poll, for debugging */
    double begin = wall_ms(), first_ms = 0, last_ms = 0, last_change = begin;
    long long first_count = 0, count = 0;
    for (;;) {
        double asked = wall_ms();
        long long sum = end_offsets_sum(rk, topic, partitions);
        double now = wall_ms();
        if (trace) fprintf(stderr, "%.1f %.1f %lld\n", asked - begin, now - asked, sum);
        if (sum > count) {
            if (count == 0) {
                first_ms = now;
                first_count = sum;
            }
            count = sum;
            last_ms = last_change = now;
        }
        if (count >= expected) break;
        if (count > 0 && now - last_change > idle_ms) break;
        if (now - begin > timeout_ms) break;
        usleep(10000);
    }
    double span_s = (last_ms - first_ms) / 1e3;
    double rps = span_s > 0 ? (double)(count - first_count) / span_s : 0;
    printf("{\"count\":%lld,\"first_count\":%lld,\"expected\":%lld,\"complete\":%s,\"first_ms\":%.1f,\"last_ms\":%.1f,\"rps\":%.0f}\n",
           count, first_count, expected, count >= expected ? "true" : "false", first_ms, last_ms, rps);
    rd_kafka_destroy(rk);
    return count >= expected ? 0 : 1;
}
