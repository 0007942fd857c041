/*
 * read_ahead_test.c - changelog partitions read ahead of their restores
 * (an embedded broker): planned reads start a few at a time and deliver
 * from their planned offsets; a read whose plan guessed the wrong start
 * delivers from the right one, none of the guessed records; an unplanned
 * partition is read on demand; clearing stops everything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/read_ahead.h"
#include "state/test_fixture.h"

#include "base/check.h"

#define PARTITIONS 6
#define RECORDS 300 /* per partition */

static sh_broker_t *broker;

static void produce(void) {
    rd_kafka_t *rk = fixture_producer(sh_broker_bootstraps(broker));
    for (int p = 0; p < PARTITIONS; p++)
        for (int i = 0; i < RECORDS; i++) {
            char key[32], value[32];
            int kl = snprintf(key, sizeof key, "p%d-k%d", p, i % 50);
            int vl = snprintf(value, sizeof value, "%d", i);
            CHECK(fixture_produce(rk, "log", p, key, (size_t)kl, value, (size_t)vl) == 0);
        }
    CHECK(rd_kafka_flush(rk, 10000) == 0);
    rd_kafka_destroy(rk);
}

/* Reads the partition to its end: the offsets must run from..RECORDS-1 in
 * order, with the partition's own keys. */
static void read_all(sh_read_t *read, int partition, int64_t from) {
    rd_kafka_message_t *msgs[128];
    int64_t next = from;
    bool at_end = false;
    for (int rounds = 0; !at_end && rounds < 200; rounds++) {
        int n = sh_read_take(read, 200, msgs, 128);
        for (int i = 0; i < n; i++) {
            if (msgs[i]->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                at_end = true;
            } else {
                CHECK(!msgs[i]->err && msgs[i]->partition == partition && msgs[i]->offset == next);
                next = msgs[i]->offset + 1;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
    }
    CHECK(at_end && next == RECORDS);
}

int main(void) {
    char errbuf[256];
    broker = sh_broker_start(0, errbuf, sizeof errbuf);
    CHECK(broker != NULL);
    if (!broker) return check_summary("read_ahead_test");
    CHECK(sh_broker_create_topic(broker, "log", PARTITIONS) == 0);
    produce();
    rd_kafka_t *consumer = fixture_restore_consumer(sh_broker_bootstraps(broker));
    sh_read_ahead_t *ra = sh_read_ahead_new(consumer);
    CHECK(ra && sh_read_ahead_consumer(ra) == consumer);
    if (!ra) return check_summary("read_ahead_test");

    /* planned in order, partition 2's start guessed wrong (100, read from 40) */
    for (int p = 0; p < PARTITIONS - 1; p++)
        sh_read_ahead_plan(ra, "log", p, p == 2 ? 100 : p * 10);
    for (int p = 0; p < PARTITIONS - 1; p++) {
        int64_t from = p == 2 ? 40 : p * 10;
        sh_read_t *read = sh_read_start(ra, "log", p, from, errbuf, sizeof errbuf);
        CHECK(read != NULL);
        if (!read) continue;
        read_all(read, p, from);
        sh_read_stop(ra, read);
    }
    /* never planned: read on demand */
    sh_read_t *read = sh_read_start(ra, "log", PARTITIONS - 1, 0, errbuf, sizeof errbuf);
    CHECK(read != NULL);
    if (read) read_all(read, PARTITIONS - 1, 0);
    if (read) sh_read_stop(ra, read);

    /* planned, some reading ahead, then cleared: nothing is left running */
    for (int p = 0; p < PARTITIONS; p++)
        sh_read_ahead_plan(ra, "log", p, 0);
    read = sh_read_start(ra, "log", 0, 0, errbuf, sizeof errbuf);
    CHECK(read != NULL);
    sh_read_ahead_clear(ra);
    /* and the same partitions read again afterwards */
    read = sh_read_start(ra, "log", 3, 7, errbuf, sizeof errbuf);
    CHECK(read != NULL);
    if (read) read_all(read, 3, 7);

    sh_read_ahead_free(ra);
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    sh_broker_stop(broker);
    return check_summary("read_ahead_test");
}
