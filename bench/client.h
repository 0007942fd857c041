/*
 * client.h - what the benchmark's C programs share: setting a librdkafka
 * property or dying with the program's name, and a monotonic clock.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

extern const char *program_name; /* each program defines it */

static inline void set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char err[256];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "%s: %s\n", program_name, err);
        exit(1);
    }
}

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
