/*
 * read_ahead.c - reads changelog partitions a few ahead of the task being
 * restored (see read_ahead.h).
 *
 * A stream thread restores its tasks one after another. Read one at a time,
 * a 15k-record partition waited ~18 of its ~23 ms on fetches (the first one
 * ~8 ms after the assign, then the rest), while the store's writes took ~4
 * ms. So the partitions an assignment will restore are planned here in
 * order, and SH_READ_AHEAD of them are read at once with librdkafka's
 * per-partition consumer (rd_kafka_consume_start): each on its own queue,
 * which librdkafka fills ahead up to queued.min.messages /
 * queued.max.messages.kbytes per partition (the restore consumer sets them,
 * run.c), so what is read ahead stays bounded whatever the changelogs hold.
 * A plan's start offset is a guess made before the store is open (its
 * checkpoint file); when the restore finds another start, the read starts
 * again there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/read_ahead.h"

enum { SH_READ_AHEAD = 4 };

struct sh_read {
    struct sh_read *next;
    char *changelog;
    int32_t partition;
    int64_t start;
    rd_kafka_topic_t *rkt; /* set while being read */
};

struct sh_read_ahead {
    rd_kafka_t *consumer;
    sh_read_t *reads; /* in plan order */
    int reading;
};

sh_read_ahead_t *sh_read_ahead_new(rd_kafka_t *consumer) {
    sh_read_ahead_t *ra = calloc(1, sizeof *ra);
    if (ra) ra->consumer = consumer;
    return ra;
}

rd_kafka_t *sh_read_ahead_consumer(sh_read_ahead_t *ra) { return ra->consumer; }

static int begin(sh_read_ahead_t *ra, sh_read_t *read, char *errbuf, size_t errlen) {
    read->rkt = rd_kafka_topic_new(ra->consumer, read->changelog, NULL);
    if (read->rkt && rd_kafka_consume_start(read->rkt, read->partition, read->start) == 0) {
        ra->reading++;
        return 0;
    }
    if (errbuf)
        snprintf(errbuf, errlen, "cannot read %s [%d]: %s", read->changelog, (int)read->partition,
                 rd_kafka_err2str(rd_kafka_last_error()));
    if (read->rkt) rd_kafka_topic_destroy(read->rkt);
    read->rkt = NULL;
    return -1;
}

static void end(sh_read_ahead_t *ra, sh_read_t *read) {
    if (!read->rkt) return;
    rd_kafka_consume_stop(read->rkt, read->partition);
    rd_kafka_topic_destroy(read->rkt);
    read->rkt = NULL;
    ra->reading--;
}

/* Starts planned reads until SH_READ_AHEAD are running; a read that will
 * not start is left to sh_read_start, which says why. */
static void fill(sh_read_ahead_t *ra) {
    for (sh_read_t *read = ra->reads; read && ra->reading < SH_READ_AHEAD; read = read->next)
        if (!read->rkt) begin(ra, read, NULL, 0);
}

static void forget(sh_read_ahead_t *ra, sh_read_t *read) {
    end(ra, read);
    for (sh_read_t **p = &ra->reads; *p; p = &(*p)->next)
        if (*p == read) {
            *p = read->next;
            break;
        }
    free(read->changelog);
    free(read);
}

static sh_read_t *find(sh_read_ahead_t *ra, const char *changelog, int32_t partition) {
    sh_read_t *read = ra->reads;
    while (read && (read->partition != partition || strcmp(read->changelog, changelog) != 0))
        read = read->next;
    return read;
}

/* A new read at the plan's end, or NULL when out of memory. */
static sh_read_t *add(sh_read_ahead_t *ra, const char *changelog, int32_t partition,
                      int64_t start) {
    sh_read_t *read = calloc(1, sizeof *read);
    if (!read || !(read->changelog = strdup(changelog))) {
        free(read);
        return NULL;
    }
    read->partition = partition;
    read->start = start;
    sh_read_t **tail = &ra->reads;
    while (*tail)
        tail = &(*tail)->next;
    *tail = read;
    return read;
}

void sh_read_ahead_plan(sh_read_ahead_t *ra, const char *changelog, int32_t partition,
                        int64_t start) {
    if (!find(ra, changelog, partition)) add(ra, changelog, partition, start);
}

void sh_read_ahead_clear(sh_read_ahead_t *ra) {
    while (ra->reads)
        forget(ra, ra->reads);
}

void sh_read_ahead_free(sh_read_ahead_t *ra) {
    if (!ra) return;
    sh_read_ahead_clear(ra);
    free(ra);
}

sh_read_t *sh_read_start(sh_read_ahead_t *ra, const char *changelog, int32_t partition,
                         int64_t start, char *errbuf, size_t errlen) {
    sh_read_t *read = find(ra, changelog, partition);
    if (read && read->start != start) end(ra, read); /* read ahead from a wrong guess */
    if (!read && !(read = add(ra, changelog, partition, start))) {
        snprintf(errbuf, errlen, "out of memory reading %s [%d]", changelog, (int)partition);
        return NULL;
    }
    read->start = start;
    if (!read->rkt && begin(ra, read, errbuf, errlen) != 0) {
        forget(ra, read);
        return NULL;
    }
    fill(ra);
    return read;
}

int sh_read_take(sh_read_t *read, int timeout_ms, rd_kafka_message_t **out, int max) {
    if (max <= 0) return 0;
    rd_kafka_message_t *first = rd_kafka_consume(read->rkt, read->partition, timeout_ms);
    if (!first) return 0;
    out[0] = first;
    ssize_t more =
        max > 1 ? rd_kafka_consume_batch(read->rkt, read->partition, 0, out + 1, (size_t)(max - 1))
                : 0;
    return 1 + (more > 0 ? (int)more : 0);
}

void sh_read_stop(sh_read_ahead_t *ra, sh_read_t *read) {
    forget(ra, read);
    fill(ra);
}
