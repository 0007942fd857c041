/*
 * restore_test.c - restoring tasks from real changelogs (an embedded
 * broker): two stream threads restore 100k+ records at the same time, each
 * with its own tasks and consumer, and the stores hold exactly what the
 * changelogs say (overwrites, tombstones, windows); a second assignment
 * replays only what came after the checkpoint; a stop interrupts a restore.
 * Before restore.c's batch arrays were per call, the two threads shared them
 * and this test crashed (double free) or restored wrong values.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/test_fixture.h"

#include "base/check.h"

#define KV_KEYS 60000    /* per partition */
#define WINDOW_KEYS 4000 /* per partition, 5 windows each */
#define WINDOWS 5
#define MINUTE 60000LL
#define BASE_TS 1700000000000LL
#define RETENTION (24 * 60 * MINUTE)

static char state_dir[256];
static sh_broker_t *broker;
static sh_ctx_t *ctx;
static volatile sig_atomic_t stopping;

/* The final value of kv key i of partition p after the changelog replays:
 * every key written once, every tenth overwritten, one in seven deleted. */
static bool kv_expected(int p, int i, char *out, size_t size) {
    if (i % 7 == 3) return false;
    if (i % 10 == 0)
        snprintf(out, size, "{\"n\":%d,\"p\":%d,\"second\":true}", i, p);
    else
        snprintf(out, size, "{\"n\":%d,\"p\":%d}", i, p);
    return true;
}

static void put_be64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

static void produce_changelogs(void) {
    rd_kafka_t *rk = fixture_producer(sh_broker_bootstraps(broker));
    CHECK(rk != NULL);
    char key[64], value[128];
    int refused = 0;
    for (int p = 0; p < 2; p++) {
        for (int i = 0; i < KV_KEYS; i++) {
            int n = snprintf(key, sizeof key, "p%d-k%06d", p, i);
            int v = snprintf(value, sizeof value, "{\"n\":%d,\"p\":%d}", i, p);
            refused += fixture_produce(rk, "app-counts-changelog", p, key, (size_t)n, value,
                                       (size_t)v) != 0;
        }
        for (int i = 0; i < KV_KEYS; i++) {
            int n = snprintf(key, sizeof key, "p%d-k%06d", p, i);
            if (i % 7 == 3) {
                refused +=
                    fixture_produce(rk, "app-counts-changelog", p, key, (size_t)n, NULL, 0) != 0;
            } else if (i % 10 == 0) {
                kv_expected(p, i, value, sizeof value);
                refused += fixture_produce(rk, "app-counts-changelog", p, key, (size_t)n, value,
                                           strlen(value)) != 0;
            }
        }
        /* windowed changelog keys: user key, then the start as 8 big-endian bytes */
        for (int i = 0; i < WINDOW_KEYS; i++) {
            for (int w = 0; w < WINDOWS; w++) {
                int n = snprintf(key, sizeof key, "p%d-w%05d", p, i);
                put_be64(key + n, (uint64_t)(BASE_TS + w * MINUTE));
                int v = snprintf(value, sizeof value, "%d", i * WINDOWS + w);
                refused += fixture_produce(rk, "app-windows-changelog", p, key, (size_t)n + 8,
                                           value, (size_t)v) != 0;
            }
        }
    }
    CHECK(refused == 0);
    CHECK(rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

typedef struct {
    int partition;
    sh_tasks_t *tasks;
    int rc;
    char errbuf[512];
} thread_t;

/* As the source does: the assignment announced (stores opened and
 * changelogs read ahead), then restored, then done. */
static void *restore_thread(void *arg) {
    thread_t *t = arg;
    sh_tasks_prepare(t->tasks, "src", t->partition);
    t->rc = sh_tasks_assign(t->tasks, "src", t->partition, t->errbuf, sizeof t->errbuf);
    sh_tasks_assignment_done(t->tasks);
    return NULL;
}

static sh_tasks_t *new_tasks(void) {
    rd_kafka_t *consumer = fixture_restore_consumer(sh_broker_bootstraps(broker));
    sh_tasks_t *tasks = sh_tasks_new(state_dir, "app", consumer, &stopping);
    sh_tasks_set_declarations(tasks, ctx);
    return tasks;
}

/* Every entry of the kv store's partition p is the one expected, and no
 * expected one is missing. */
static void check_kv(int p) {
    sh_store_t *s = sh_ffi_store_open(NULL, state_dir, NULL, "counts", SH_STORE_KV, p, 0);
    CHECK(s != NULL);
    if (!s) return;
    sh_store_iter_t *it = sh_ffi_store_iter_all(s, NULL, 0, 0);
    sh_ffi_slice_t k, v;
    int seen = 0, wrong = 0, next_index = 0;
    char want[128], key[64];
    while (it && sh_ffi_store_iter_next(it, &k, &v, NULL) == SH_OK) {
        while (next_index < KV_KEYS && !kv_expected(p, next_index, want, sizeof want))
            next_index++;
        int n = snprintf(key, sizeof key, "p%d-k%06d", p, next_index);
        if (k.len != (size_t)n || memcmp(k.data, key, k.len) != 0 || v.len != strlen(want) ||
            memcmp(v.data, want, v.len) != 0)
            wrong++;
        seen++;
        next_index++;
    }
    sh_ffi_store_iter_destroy(it);
    int expected = 0;
    for (int i = 0; i < KV_KEYS; i++)
        expected += kv_expected(p, i, want, sizeof want);
    CHECK(seen == expected);
    CHECK(wrong == 0);
    if (seen != expected || wrong)
        fprintf(stderr, "partition %d: %d entries (%d expected), %d wrong\n", p, seen, expected,
                wrong);
    sh_ffi_store_close(s);
}

static void check_windows(int p) {
    sh_store_t *s =
        sh_ffi_store_open(NULL, state_dir, NULL, "windows", SH_STORE_WINDOW, p, RETENTION);
    CHECK(s != NULL);
    if (!s) return;
    int wrong = 0, seen = 0;
    char key[64], want[32];
    for (int i = 0; i < WINDOW_KEYS; i += 97) {
        int n = snprintf(key, sizeof key, "p%d-w%05d", p, i);
        sh_store_iter_t *it = sh_ffi_window_fetch(s, key, (size_t)n, INT64_MIN, INT64_MAX);
        sh_ffi_slice_t k, v;
        int64_t start;
        int w = 0;
        while (it && sh_ffi_store_iter_next(it, &k, &v, &start) == SH_OK) {
            snprintf(want, sizeof want, "%d", i * WINDOWS + w);
            if (start != BASE_TS + w * MINUTE || v.len != strlen(want) ||
                memcmp(v.data, want, v.len) != 0)
                wrong++;
            w++;
        }
        sh_ffi_store_iter_destroy(it);
        if (w != WINDOWS) wrong++;
        seen++;
    }
    sh_store_iter_t *all = sh_ffi_store_iter_all(s, NULL, 0, 0);
    int total = 0;
    while (all && sh_ffi_store_iter_next(all, NULL, NULL, NULL) == SH_OK)
        total++;
    sh_ffi_store_iter_destroy(all);
    CHECK(seen > 0 && wrong == 0);
    CHECK(total == WINDOW_KEYS * WINDOWS);
    sh_ffi_store_close(s);
}

static int64_t checkpoint_of(const char *name, int kind, int p) {
    sh_store_t *s = sh_ffi_store_open(NULL, state_dir, NULL, name, kind, p, RETENTION);
    int64_t offset = -2;
    if (s && sh_store_checkpoint_read(s, &offset) != SH_OK) offset = -2;
    sh_ffi_store_close(s);
    return offset;
}

static int64_t high_watermark(const char *topic, int p) {
    rd_kafka_t *rk = fixture_restore_consumer(sh_broker_bootstraps(broker));
    int64_t low = -1, high = -1;
    rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000);
    rd_kafka_destroy(rk);
    CHECK(low == 0); /* the broker kept every record: the restore can be exact */
    return high;
}

/* Two threads restore both partitions at once, from an empty state dir. */
static void test_two_threads_restore(sh_tasks_t **groups) {
    thread_t threads[2];
    pthread_t ids[2];
    for (int p = 0; p < 2; p++) {
        threads[p] = (thread_t){.partition = p, .tasks = groups[p]};
        CHECK(pthread_create(&ids[p], NULL, restore_thread, &threads[p]) == 0);
    }
    for (int p = 0; p < 2; p++) {
        pthread_join(ids[p], NULL);
        CHECK(threads[p].rc == 0);
        if (threads[p].rc) fprintf(stderr, "restore %d: %s\n", p, threads[p].errbuf);
    }
    CHECK(sh_tasks_restoring(groups[0]) == 0 && sh_tasks_restoring(groups[1]) == 0);
    for (int p = 0; p < 2; p++) {
        /* the checkpoint waits for the loop's periodic one, which this is */
        sh_tasks_checkpoint(groups[p], NULL, 0, 0);
        check_kv(p);
        check_windows(p);
        CHECK(checkpoint_of("counts", SH_STORE_KV, p) ==
              high_watermark("app-counts-changelog", p) - 1);
        CHECK(checkpoint_of("windows", SH_STORE_WINDOW, p) ==
              high_watermark("app-windows-changelog", p) - 1);
    }
}

/* Released and assigned again, a task replays only what came after its
 * checkpoint, over the state it kept. */
static void test_restore_from_checkpoint(sh_tasks_t *tasks) {
    sh_tasks_release(tasks, "src", 0);
    rd_kafka_t *rk = fixture_producer(sh_broker_bootstraps(broker));
    CHECK(fixture_produce(rk, "app-counts-changelog", 0, "p0-k000001", 10, "\"later\"", 7) == 0);
    CHECK(fixture_produce(rk, "app-counts-changelog", 0, "p0-k000002", 10, NULL, 0) == 0);
    CHECK(rd_kafka_flush(rk, 10000) == 0);
    rd_kafka_destroy(rk);
    char errbuf[512];
    /* read ahead from the checkpoint file's offset, which the open confirms */
    sh_tasks_prepare(tasks, "src", 0);
    CHECK(sh_tasks_assign(tasks, "src", 0, errbuf, sizeof errbuf) == 0);
    sh_tasks_assignment_done(tasks);
    sh_store_t *s = sh_ffi_store_open(NULL, state_dir, NULL, "counts", SH_STORE_KV, 0, 0);
    sh_ffi_slice_t v;
    CHECK(sh_ffi_store_get(s, "p0-k000001", 10, &v) == SH_OK && v.len == 7 &&
          memcmp(v.data, "\"later\"", 7) == 0);
    CHECK(sh_ffi_store_get(s, "p0-k000002", 10, &v) == SH_ERR_NOT_FOUND);
    CHECK(sh_ffi_store_get(s, "p0-k000004", 10, &v) == SH_OK); /* kept from before */
    sh_ffi_store_close(s);
    sh_tasks_checkpoint(tasks, NULL, 0, 0);
    CHECK(checkpoint_of("counts", SH_STORE_KV, 0) == high_watermark("app-counts-changelog", 0) - 1);
}

/* A stop interrupts a restore: the assignment fails and says why. */
static void test_stop_interrupts(sh_tasks_t *tasks) {
    sh_tasks_release(tasks, "src", 1);
    CHECK(sh_store_delete_state(state_dir, "counts", 1) == SH_OK);
    stopping = 1;
    char errbuf[512] = "";
    CHECK(sh_tasks_assign(tasks, "src", 1, errbuf, sizeof errbuf) != 0);
    CHECK(strstr(errbuf, "interrupted") != NULL);
    stopping = 0;
}

int main(void) {
    fixture_tmpdir(state_dir, sizeof state_dir, "restore-test");
    char errbuf[256];
    broker = sh_broker_start(0, errbuf, sizeof errbuf);
    CHECK(broker != NULL);
    if (!broker) return check_summary("restore_test");
    CHECK(sh_broker_create_topic(broker, "src", 2) == 0);
    CHECK(sh_broker_create_topic(broker, "app-counts-changelog", 2) == 0);
    CHECK(sh_broker_create_topic(broker, "app-windows-changelog", 2) == 0);
    ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_store_declare(ctx, "counts", SH_STORE_KV, 0, "src", "string", "json") >= 0);
    CHECK(sh_ffi_store_declare(ctx, "windows", SH_STORE_WINDOW, RETENTION, "src", "string",
                               "json") >= 0);
    produce_changelogs();

    sh_tasks_t *groups[2] = {new_tasks(), new_tasks()};
    test_two_threads_restore(groups);
    test_restore_from_checkpoint(groups[0]);
    test_stop_interrupts(groups[1]);

    sh_tasks_free(groups[0]);
    sh_tasks_free(groups[1]);
    sh_ffi_ctx_destroy(ctx);
    sh_broker_stop(broker);
    sh_store_remove_tree(state_dir);
    return check_summary("restore_test");
}
