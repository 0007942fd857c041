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

/* The same record as Avro in Confluent's wire format, with schema
 * RECORD_AVRO_SCHEMA registered as schema_id: magic byte 0, the id as 4
 * bytes big-endian, then id (string), n (long), t (long), pad (string),
 * padded to exactly RECORD_VALUE_LEN bytes like the JSON value. */
#define RECORD_AVRO_SCHEMA                                                                         \
    "{\"type\":\"record\",\"name\":\"BenchRecord\",\"fields\":[{\"name\":\"id\",\"type\":"      \
    "\"string\"},{\"name\":\"n\",\"type\":\"long\"},{\"name\":\"t\",\"type\":\"long\"},"       \
    "{\"name\":\"pad\",\"type\":\"string\"}]}"

static inline size_t record_avro_long(uint8_t *out, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        out[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    out[n++] = (uint8_t)z;
    return n;
}

static inline void record_format_avro(uint8_t *buf, const char *key, int64_t n, int64_t t_us,
                                      uint32_t schema_id) {
    size_t len = 0, key_len = strlen(key);
    buf[len++] = 0;
    for (int shift = 24; shift >= 0; shift -= 8) buf[len++] = (uint8_t)(schema_id >> shift);
    len += record_avro_long(buf + len, (int64_t)key_len);
    memcpy(buf + len, key, key_len);
    len += key_len;
    len += record_avro_long(buf + len, n);
    len += record_avro_long(buf + len, t_us);
    /* the pad's length takes one varint byte up to 63, two above; the pad the rest */
    int64_t pad = (int64_t)RECORD_VALUE_LEN - (int64_t)len - 1;
    if (pad > 63) pad--;
    if (pad < 0) pad = 0;
    len += record_avro_long(buf + len, pad);
    memset(buf + len, 'x', (size_t)pad);
}

#endif
