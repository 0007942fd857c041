/*
 * task_queue_test.c - the max.task.idle.ms rule, translated from Kafka
 * Streams 3.x PartitionGroupTest (shouldNeverWaitIfIdlingIsDisabled,
 * shouldBeReadyIfAllPartitionsAreBuffered, shouldWaitForFetchesWhenMetadata
 * IsIncomplete, shouldWaitForPollWhenLagIsNonzero, shouldIdleAsSpecified
 * WhenLagIsZero) and StreamTaskTest's shouldBeProcessableIfWaitedForTooLong
 * (the idle case's second take): topic 0 is a stream, topic 1 a table,
 * co-partitioned.
 */
#include <stdint.h>

#include "kafka/task_queue.h"

#include "base/check.h"

enum { STREAM, TABLE };

static int64_t ends[2][4]; /* [topic][partition]: the fetched high watermark */

static int64_t end_of(void *opaque, int topic, int32_t partition) {
    (void)opaque;
    return ends[topic][partition];
}

static int item[64];

static sh_task_queue_t *task(int64_t idle) {
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 4; p++)
            ends[t][p] = -1;
    sh_task_queue_t *q = sh_task_queue_new(idle, end_of, NULL);
    CHECK(sh_task_queue_assign(q, STREAM, 0) == 0);
    CHECK(sh_task_queue_assign(q, TABLE, 0) == 0);
    return q;
}

static int take(sh_task_queue_t *q, int64_t now, void **out, int64_t *wake) {
    return sh_task_queue_take(q, now, true, out, 64, wake);
}

static void test_never_waits_if_idling_is_disabled(void) {
    sh_task_queue_t *q = task(-1);
    void *out[64];
    int64_t wake;
    sh_task_queue_push(q, STREAM, 0, 0, 100, &item[0]);
    CHECK(take(q, 0, out, &wake) == 1 && out[0] == &item[0]);
    sh_task_queue_free(q, NULL);
}

static void test_ready_when_all_partitions_are_buffered(void) {
    sh_task_queue_t *q = task(0);
    void *out[64];
    int64_t wake;
    sh_task_queue_push(q, STREAM, 0, 0, 20, &item[0]);
    sh_task_queue_push(q, STREAM, 0, 1, 40, &item[1]);
    sh_task_queue_push(q, TABLE, 0, 0, 10, &item[2]);
    sh_task_queue_push(q, TABLE, 0, 1, 30, &item[3]);
    /* timestamp order while both have records; the table runs dry after
     * 30 with its end unknown, so the stream's 40 waits */
    CHECK(take(q, 0, out, &wake) == 3);
    CHECK(out[0] == &item[2] && out[1] == &item[0] && out[2] == &item[3]);
    CHECK(sh_task_queue_buffered(q, STREAM, 0) == 1);
    sh_task_queue_free(q, NULL);
}

static void test_waits_for_fetches_when_metadata_is_incomplete(void) {
    sh_task_queue_t *q = task(0);
    void *out[64];
    int64_t wake;
    sh_task_queue_push(q, STREAM, 0, 0, 100, &item[0]);
    /* nothing fetched of the table yet: wait, however long */
    CHECK(take(q, 0, out, &wake) == 0);
    CHECK(take(q, 1000000, out, &wake) == 0);
    CHECK(wake == INT64_MAX);
    sh_task_queue_free(q, NULL);
}

static void test_waits_for_poll_when_lag_is_nonzero(void) {
    sh_task_queue_t *q = task(0);
    void *out[64];
    int64_t wake;
    sh_task_queue_push(q, STREAM, 0, 0, 100, &item[0]);
    sh_task_queue_read_to(q, TABLE, 0, 5);
    ends[TABLE][0] = 7; /* two table records on the broker, not read yet */
    CHECK(take(q, 0, out, &wake) == 0);
    CHECK(take(q, 1000000, out, &wake) == 0);
    sh_task_queue_push(q, TABLE, 0, 5, 50, &item[1]);
    sh_task_queue_push(q, TABLE, 0, 6, 150, &item[2]);
    CHECK(take(q, 1000000, out, &wake) == 2);
    CHECK(out[0] == &item[1] && out[1] == &item[0]);
    sh_task_queue_free(q, NULL);
}

static void test_idles_as_specified_when_lag_is_zero(void) {
    sh_task_queue_t *q = task(1);
    void *out[64];
    int64_t wake;
    sh_task_queue_push(q, STREAM, 0, 0, 100, &item[0]);
    sh_task_queue_read_to(q, TABLE, 0, 0);
    ends[TABLE][0] = 0; /* the table is empty, and known to be */
    CHECK(take(q, 0, out, &wake) == 0);
    CHECK(wake == 1);
    CHECK(sh_task_queue_enforced(q) == 0);
    CHECK(take(q, 1, out, &wake) == 1 && out[0] == &item[0]);
    CHECK(sh_task_queue_enforced(q) == 1);
    sh_task_queue_free(q, NULL);

    /* the default, 0: at its end is enough, no wall-clock wait */
    q = task(0);
    sh_task_queue_push(q, STREAM, 0, 0, 100, &item[0]);
    sh_task_queue_read_to(q, TABLE, 0, 3);
    ends[TABLE][0] = 3;
    CHECK(take(q, 0, out, &wake) == 1);
    sh_task_queue_free(q, NULL);
}

static void test_tasks_are_apart_and_revoke_drops(void) {
    sh_task_queue_t *q = task(0);
    sh_task_queue_assign(q, STREAM, 1);
    void *out[64];
    int64_t wake;
    /* partition 1 has no table partition on this thread: it runs alone */
    sh_task_queue_push(q, STREAM, 1, 0, 5, &item[0]);
    sh_task_queue_push(q, STREAM, 0, 0, 1, &item[1]);
    CHECK(take(q, 0, out, &wake) == 1 && out[0] == &item[0]);
    sh_task_queue_revoke(q, STREAM, 0, NULL);
    CHECK(sh_task_queue_total(q) == 0);
    /* enforce off (tables bootstrapping): everything runs */
    sh_task_queue_push(q, STREAM, 0, 1, 1, &item[2]);
    CHECK(sh_task_queue_take(q, 0, false, out, 64, &wake) == 1);
    sh_task_queue_free(q, NULL);
}

/* A task with a full batch always ready does not keep the others waiting. */
static void test_no_task_starves(void) {
    sh_task_queue_t *q = sh_task_queue_new(-1, end_of, NULL);
    static int busy[200], quiet;
    for (int i = 0; i < 200; i++)
        sh_task_queue_push(q, STREAM, 0, i, i, &busy[i]);
    sh_task_queue_push(q, STREAM, 1, 0, 0, &quiet);
    void *out[2];
    int64_t wake;
    bool quiet_ran = false;
    for (int round = 0; round < 3 && !quiet_ran; round++) {
        int n = sh_task_queue_take(q, 0, true, out, 2, &wake);
        for (int i = 0; i < n; i++)
            quiet_ran |= out[i] == &quiet;
    }
    CHECK(quiet_ran);
    sh_task_queue_free(q, NULL);
}

static void test_grows_past_its_first_ring(void) {
    sh_task_queue_t *q = task(-1);
    static int many[1000];
    for (int i = 0; i < 1000; i++)
        sh_task_queue_push(q, STREAM, 0, i, i, &many[i]);
    void *out[64];
    int64_t wake;
    int seen = 0;
    for (int n; (n = take(q, 0, out, &wake)) > 0; seen += n)
        for (int i = 0; i < n; i++)
            CHECK(out[i] == &many[seen + i]);
    CHECK(seen == 1000);
    sh_task_queue_free(q, NULL);
}

/* Many tasks, their partitions assigned out of order: each task's records
 * come in timestamp order across its inputs, and after revocations (the
 * queue regroups its tasks) a revoked partition's records never come. */
typedef struct {
    int topic, partition;
    int64_t ts;
} rec_t;

static int take_all_in_task_order(sh_task_queue_t *q, int64_t last[16]) {
    void *out[64];
    int64_t wake;
    int got = 0;
    for (int n; (n = sh_task_queue_take(q, 0, true, out, 64, &wake)) > 0; got += n)
        for (int i = 0; i < n; i++) {
            const rec_t *r = out[i];
            CHECK(r->ts > last[r->partition]);
            last[r->partition] = r->ts;
        }
    return got;
}

static void test_many_tasks_keep_their_order_through_revocations(void) {
    static rec_t recs[2][16][4];
    sh_task_queue_t *q = sh_task_queue_new(-1, end_of, NULL);
    for (int t = 0; t < 2; t++)
        for (int p = 15; p >= 0; p--)
            for (int i = 0; i < 3; i++) {
                recs[t][p][i] = (rec_t){t, p, p * 100 + 2 * i + t};
                sh_task_queue_push(q, t, p, i, recs[t][p][i].ts, &recs[t][p][i]);
            }
    int64_t last[16];
    for (int p = 0; p < 16; p++)
        last[p] = -1;
    CHECK(take_all_in_task_order(q, last) == 96);
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 16; p++) {
            recs[t][p][3] = (rec_t){t, p, 10000 + p * 100 + t};
            sh_task_queue_push(q, t, p, 3, recs[t][p][3].ts, &recs[t][p][3]);
        }
    sh_task_queue_revoke(q, TABLE, 3, NULL);
    sh_task_queue_revoke(q, STREAM, 7, NULL);
    CHECK(sh_task_queue_total(q) == 30);
    CHECK(take_all_in_task_order(q, last) == 30);
    CHECK(last[3] == 10000 + 300 && last[7] == 10000 + 700 + 1);
    sh_task_queue_free(q, NULL);
}

int main(void) {
    test_never_waits_if_idling_is_disabled();
    test_ready_when_all_partitions_are_buffered();
    test_waits_for_fetches_when_metadata_is_incomplete();
    test_waits_for_poll_when_lag_is_nonzero();
    test_idles_as_specified_when_lag_is_zero();
    test_tasks_are_apart_and_revoke_drops();
    test_no_task_starves();
    test_grows_past_its_first_ring();
    test_many_tasks_keep_their_order_through_revocations();
    return check_summary("kafka_task_queue_test");
}
