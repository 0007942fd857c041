/*
 * read_ahead.h - the restore consumer's reads of changelog partitions, a
 * few ahead of the task being restored (read_ahead.c).
 */
#ifndef SH_READ_AHEAD_H
#define SH_READ_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

typedef struct sh_read_ahead sh_read_ahead_t;
typedef struct sh_read sh_read_t; /* one partition being read */

/* consumer: the restore consumer, still the caller's. NULL when out of
 * memory. */
sh_read_ahead_t *sh_read_ahead_new(rd_kafka_t *consumer);
/* Stops every read. NULL is a no-op. */
void sh_read_ahead_free(sh_read_ahead_t *ra);
rd_kafka_t *sh_read_ahead_consumer(sh_read_ahead_t *ra);

/* changelog's partition will be restored from start, after the ones planned
 * before it: it is read ahead once fewer than SH_READ_AHEAD partitions
 * are. A guess: sh_read_start corrects it. */
void sh_read_ahead_plan(sh_read_ahead_t *ra, const char *changelog, int32_t partition,
                        int64_t start);
/* Stops and forgets every read (the end of an assignment). */
void sh_read_ahead_clear(sh_read_ahead_t *ra);

/* Reads changelog's partition from start: the read ahead when it started
 * there, else a new one; then starts the next planned reads. NULL with
 * errbuf filled when librdkafka refuses. */
sh_read_t *sh_read_start(sh_read_ahead_t *ra, const char *changelog, int32_t partition,
                         int64_t start, char *errbuf, size_t errlen);
/* Up to max messages into out, waiting up to timeout_ms for the first.
 * Returns the count (0: none yet). */
int sh_read_take(sh_read_t *read, int timeout_ms, rd_kafka_message_t **out, int max);
/* Stops the read and forgets it; then starts the next planned reads. */
void sh_read_stop(sh_read_ahead_t *ra, sh_read_t *read);

#endif
