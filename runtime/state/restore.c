/*
 * restore.c - restores a state store from its changelog.
 *
 * A task's store is restored when its partition is assigned: the host has
 * opened its own handle on the store (shared with the Lua VM's through the
 * registry's reference counts) and calls sh_restore_store, which reads the
 * checkpoint and replays the changelog partition from the offset after it up
 * to the high watermark through the restore consumer's per-partition reads
 * (read_ahead.c: this partition may have been fetched ahead while earlier
 * tasks restored), logging progress every second. A missing or corrupt checkpoint has already wiped the store
 * (sh_store_checkpoint_read), so the replay then starts from the changelog's
 * beginning.
 *
 * Records are taken from the partition's queue as they come and held until
 * RESTORE_WINDOW of them (or RESTORE_WINDOW_BYTES of keys and values) are
 * in hand, or the partition's end is reached, or nothing came for 200 ms; then
 * they go to the store in one RocksDB write, only the last record of each
 * key among them (the ones before it would be overwritten in the same
 * write). A changelog repeats a hot key many times, so a window of 64k
 * records writes a fraction of them: 1M records over 100k keys in 64
 * partitions collapse to one write per key. The checkpoint is left to the
 * loop's periodic one.
 * The batch arrays are allocated per call: every stream thread restores its
 * own tasks concurrently, with its own consumer.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "state/read_ahead.h"
#include "state/restore.h"

/* The records held for one write, and their bytes: what a restore keeps in
 * memory beyond the consumer's queue. */
#define RESTORE_WINDOW 65536
#define RESTORE_WINDOW_BYTES (32 << 20)

/* What one restore reads into and logs from; the call's own. */
typedef struct {
    sh_store_t *store;
    const char *changelog;
    int32_t partition;
    rd_kafka_message_t **messages; /* held: taken from the queue, not yet written */
    sh_ffi_record_t *records;
    int held;
    size_t held_bytes;
    long long done, total;
    double started;
} restore_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_progress(const restore_t *r, bool final) {
    double secs = now_s() - r->started;
    double rate = secs > 0 ? (double)r->done / secs : 0;
    if (final) {
        sh_log(SH_LOG_INFO,
               "restored store %s partition %d: %lld records from %s in %.3f s (%.0f records/s)",
               sh_store_name(r->store), (int)r->partition, r->done, r->changelog, secs, rate);
        return;
    }
    double eta = rate > 0 ? (double)(r->total - r->done) / rate : 0;
    sh_log(SH_LOG_INFO,
           "restoring store %s partition %d: %lld of %lld records (%.0f records/s, ETA %.0f s)",
           sh_store_name(r->store), (int)r->partition, r->done, r->total, rate, eta);
}

/* Where the replay starts and ends: [*start, *high). */
static int find_range(rd_kafka_t *consumer, restore_t *r, const int64_t *range,
                      int64_t checkpoint, int64_t *start, int64_t *high, char *errbuf,
                      size_t errlen) {
    int64_t low = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (range) {
        low = range[0];
        *high = range[1];
    } else {
        err = rd_kafka_query_watermark_offsets(consumer, r->changelog, r->partition, &low, high,
                                               10000);
    }
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        low = *high = 0; /* no changelog yet: nothing to replay */
    } else if (err) {
        snprintf(errbuf, errlen, "store %s partition %d: cannot read the end of %s: %s",
                 sh_store_name(r->store), (int)r->partition, r->changelog, rd_kafka_err2str(err));
        return -1;
    }
    if (checkpoint >= *high && *high > 0)
        sh_log(SH_LOG_WARN,
               "store %s partition %d: checkpoint %" PRId64 " is past the end of %s (%" PRId64
               "); was the topic recreated? Run `streamhost reset` to rebuild",
               sh_store_name(r->store), (int)r->partition, checkpoint, r->changelog, *high);
    *start = checkpoint + 1 > low ? checkpoint + 1 : low;
    return 0;
}

/* Writes the held messages to the store, the last of each key only, and
 * destroys them. *last becomes the last offset written, *at_end is set at
 * the partition's end. 0, or -1 on failure. */
static int write_held(restore_t *r, int64_t *last, bool *at_end, char *errbuf, size_t errlen) {
    int count = 0, rc = 0;
    for (int i = 0; i < r->held; i++) {
        rd_kafka_message_t *m = r->messages[i];
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            *at_end = true; /* compaction or markers can leave the last offsets empty */
        } else if (m->err && rc == 0) {
            snprintf(errbuf, errlen, "store %s partition %d: reading %s: %s",
                     sh_store_name(r->store), (int)r->partition, r->changelog,
                     rd_kafka_message_errstr(m));
            rc = -1;
        } else if (!m->err) {
            r->records[count++] = (sh_ffi_record_t){.key = m->key,
                                                    .key_len = m->key_len,
                                                    .value = m->payload,
                                                    .value_len = m->len,
                                                    .offset = m->offset};
        }
    }
    if (rc == 0 && count > 0) {
        if (sh_store_restore_batch(r->store, r->records, count) != SH_OK) {
            snprintf(errbuf, errlen, "%s (changelog %s [%d] offsets %" PRId64 "..%" PRId64 ")",
                     sh_ffi_err_message(), r->changelog, (int)r->partition,
                     r->records[0].offset, r->records[count - 1].offset);
            rc = -1;
        } else {
            *last = r->records[count - 1].offset;
            r->done += count;
        }
    }
    for (int i = 0; i < r->held; i++)
        rd_kafka_message_destroy(r->messages[i]);
    r->held = 0;
    r->held_bytes = 0;
    return rc;
}

/* Takes what the queue holds, waiting up to 200 ms for the first message,
 * and writes the held records once the window is full, the partition's end
 * is in hand (its last offset, or an error or end-of-partition event) or
 * nothing came for 200 ms. The end is known, so waiting for more costs
 * nothing: a write per fetch response instead cost ~7 writes per 15k-record
 * partition where one does. 0, or -1 on failure. */
static int replay_some(sh_read_t *read, restore_t *r, int64_t high, int64_t *last,
                       bool *at_end, char *errbuf, size_t errlen) {
    int from = r->held; /* < RESTORE_WINDOW: a full window was written */
    int n = sh_read_take(read, 200, r->messages + r->held, RESTORE_WINDOW - r->held);
    r->held += n;
    for (int i = from; i < r->held; i++)
        r->held_bytes += r->messages[i]->key_len + r->messages[i]->len;
    if (r->held == 0) return 0;
    const rd_kafka_message_t *newest = r->messages[r->held - 1];
    bool end_in_hand = newest->err || newest->offset >= high - 1;
    if (n > 0 && !end_in_hand && r->held < RESTORE_WINDOW && r->held_bytes < RESTORE_WINDOW_BYTES)
        return 0; /* more is coming: take it first */
    return write_held(r, last, at_end, errbuf, errlen);
}

/* One ListOffsets request for every partition in list: offset in, the
 * answer out (-2 earliest, -1 latest). */
static int list_offsets(rd_kafka_t *consumer, rd_kafka_topic_partition_list_t *list, int64_t which) {
    for (int i = 0; i < list->cnt; i++) list->elems[i].offset = which;
    if (rd_kafka_offsets_for_times(consumer, list, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
    for (int i = 0; i < list->cnt; i++)
        if (list->elems[i].err || list->elems[i].offset < 0) return -1;
    return 0;
}

int sh_restore_ranges(rd_kafka_t *consumer, const char *changelog, int64_t *ranges, int n) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(consumer, changelog, NULL);
    if (!rkt) return -1;
    const struct rd_kafka_metadata *md = NULL;
    int count = -1;
    if (rd_kafka_metadata(consumer, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt <= n)
        count = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (count <= 0) return -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(count);
    if (!list) return -1;
    for (int p = 0; p < count; p++) rd_kafka_topic_partition_list_add(list, changelog, p);
    int rc = list_offsets(consumer, list, RD_KAFKA_OFFSET_BEGINNING);
    for (int i = 0; rc == 0 && i < list->cnt; i++)
        ranges[2 * list->elems[i].partition] = list->elems[i].offset;
    if (rc == 0) rc = list_offsets(consumer, list, RD_KAFKA_OFFSET_END);
    for (int i = 0; rc == 0 && i < list->cnt; i++)
        ranges[2 * list->elems[i].partition + 1] = list->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(list);
    return rc == 0 ? count : -1;
}

int sh_restore_store(sh_read_ahead_t *ra, sh_store_t *store, const char *changelog,
                     const int64_t *range, volatile sig_atomic_t *stopping, int64_t *restored_to,
                     int64_t *checkpointed, char *errbuf, size_t errlen) {
    restore_t r = {.store = store, .changelog = changelog, .partition = sh_store_partition(store)};
    const char *name = sh_store_name(store);
    int64_t checkpoint = -1, start = 0, high = 0;
    *restored_to = *checkpointed = -1;
    if (sh_store_checkpoint_read(store, &checkpoint) != SH_OK) {
        snprintf(errbuf, errlen, "%s", sh_ffi_err_message());
        return -1;
    }
    *restored_to = *checkpointed = checkpoint;
    if (find_range(sh_read_ahead_consumer(ra), &r, range, checkpoint, &start, &high, errbuf,
                   errlen) != 0)
        return -1;
    if (start >= high) {
        sh_log(SH_LOG_INFO, "store %s partition %d is up to date with %s (offset %" PRId64 ")",
               name, (int)r.partition, changelog, checkpoint);
        return 0;
    }

    int rc = -1;
    sh_read_t *read = NULL;
    r.messages = malloc(sizeof *r.messages * RESTORE_WINDOW);
    r.records = malloc(sizeof *r.records * RESTORE_WINDOW);
    if (!r.messages || !r.records) {
        snprintf(errbuf, errlen, "store %s partition %d: out of memory for a restore", name,
                 (int)r.partition);
        goto out;
    }
    if (!(read = sh_read_start(ra, changelog, r.partition, start, errbuf, errlen))) goto out;
    r.total = high - start;
    r.started = now_s();
    sh_log(SH_LOG_INFO, "restoring store %s partition %d from %s offsets %" PRId64 "..%" PRId64,
           name, (int)r.partition, changelog, start, high - 1);
    int64_t last = checkpoint;
    bool at_end = false;
    double logged = r.started;
    while (last < high - 1 && !at_end && !*stopping) {
        if (replay_some(read, &r, high, &last, &at_end, errbuf, errlen) < 0) goto out;
        if (now_s() - logged >= 1.0) {
            log_progress(&r, false);
            logged = now_s();
        }
    }
    if (*stopping) {
        snprintf(errbuf, errlen, "store %s partition %d: restore interrupted by a stop", name,
                 (int)r.partition);
        goto out;
    }
    log_progress(&r, true);
    *restored_to = last;
    rc = 0;
out:
    for (int i = 0; i < r.held; i++) /* a stop or a failure: what was not written */
        rd_kafka_message_destroy(r.messages[i]);
    if (read) sh_read_stop(ra, read);
    free(r.messages);
    free(r.records);
    return rc;
}
