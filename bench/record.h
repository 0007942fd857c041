/*
 * record.h - the shape of a benchmark record, shared by the loader and the
 * latency probe so every workload sees the same bytes.
 *
 * Key: "k0000".."k9999" (10,000 distinct keys). Value: a JSON object padded to
 * exactly RECORD_VALUE_LEN bytes: {"id":"k0042","n":17,"t":0,"pad":"xxx..."}.
 * `n` is the record's sequence number, so a filter on even `n` keeps exactly
 * half; `t` is the producer's wall clock in microseconds (0 when unused).
 */
#ifndef BENCH_RECORD_H
#define BENCH_RECORD_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define RECORD_VALUE_LEN 100
#define RECORD_KEY_COUNT 10000

/* xorshift64*: fast, and the same seed gives the same key sequence on every
 * machine, so runs are comparable. */
static inline uint64_t record_next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline int record_format_key(char *buf, size_t len, unsigned key_index) {
    return snprintf(buf, len, "k%04u", key_index % RECORD_KEY_COUNT);
}

/* Writes exactly RECORD_VALUE_LEN bytes (no terminator needed by Kafka; buf
 * must hold RECORD_VALUE_LEN + 1 for snprintf's). */
static inline void record_format_value(char *buf, const char *key, int64_t n, int64_t t_us) {
    int head = snprintf(buf, RECORD_VALUE_LEN + 1, "{\"id\":\"%s\",\"n\":%lld,\"t\":%lld,\"pad\":\"",
                        key, (long long)n, (long long)t_us);
    int pad = RECORD_VALUE_LEN - head - 2;
    memset(buf + head, 'x', pad > 0 ? (size_t)pad : 0);
    buf[RECORD_VALUE_LEN - 2] = '"';
    buf[RECORD_VALUE_LEN - 1] = '}';
    buf[RECORD_VALUE_LEN] = '\0';
}

#endif
