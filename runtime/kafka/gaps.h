/*
 * gaps.h - records that disappeared before they were read (gaps.c): a
 * partition's offsets jump past the next one the app expected (the broker's
 * retention deleted them, as the embedded broker does past ~5 MiB a
 * partition). Each gap is logged with its range and counted, never skipped
 * in silence.
 */
#ifndef SH_KAFKA_GAPS_H
#define SH_KAFKA_GAPS_H

#include <stdint.h>

typedef struct sh_kafka_gaps sh_kafka_gaps_t;

sh_kafka_gaps_t *sh_kafka_gaps_new(void);
void sh_kafka_gaps_free(sh_kafka_gaps_t *gaps);
/* The next offset (topic, partition) should deliver (its committed offset
 * at assignment); < 0: unknown, the first record sets it. */
void sh_kafka_gaps_expect(sh_kafka_gaps_t *gaps, const char *topic, int32_t partition,
                          int64_t next);
/* A record at offset arrived. O(1) within a run of one partition. */
void sh_kafka_gaps_seen(sh_kafka_gaps_t *gaps, const char *topic, int32_t partition,
                        int64_t offset);
/* Records lost to gaps so far. */
long long sh_kafka_gaps_lost(const sh_kafka_gaps_t *gaps);

#endif
