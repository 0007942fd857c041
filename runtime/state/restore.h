/*
 * restore.h - restores one state store from its changelog partition.
 */
#ifndef SH_RESTORE_H
#define SH_RESTORE_H

#include <signal.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "state/read_ahead.h"
#include "state/store.h"

/* Replays changelog's partition (the store's) into store, from the offset
 * after its checkpoint up to the high watermark, through ra (the restore
 * consumer's reads: this partition's may have been read ahead; it is
 * stopped afterwards). The checkpoint is not written here:
 * two fsyncs per task made restores swing with the disk, and the loop's
 * periodic checkpoint writes it within a second (a crash before that only
 * means replaying again). range: the partition's [low, high) when the caller
 * knows it (sh_restore_ranges), else NULL to ask the broker. Logs progress every second. Gives up when
 * *stopping becomes non-zero. Returns 0 with *restored_to (the last offset
 * in the store; -1: nothing yet) and *checkpointed (the offset the checkpoint
 * file holds), or -1 with errbuf filled. Cost: O(records after the checkpoint), written
 * in windows of up to 65,536 records, the last of each key only. Every buffer belongs to the call, so stream
 * threads restore their own tasks at the same time.
 * @locality the stream thread whose consumer this is */
int sh_restore_store(sh_read_ahead_t *ra, sh_store_t *store, const char *changelog,
                     const int64_t *range, volatile sig_atomic_t *stopping, int64_t *restored_to,
                     int64_t *checkpointed, char *errbuf, size_t errlen);

/* The offsets [low, high) of every partition of changelog, asked in two
 * requests (earliest and latest) instead of one round trip per task: a
 * 64-task restore spent ~10 ms a task on its own. Fills ranges with low,
 * high per partition (at most n partitions) and returns the partition count,
 * or -1 (the caller then lets sh_restore_store ask, range NULL). */
int sh_restore_ranges(rd_kafka_t *consumer, const char *changelog, int64_t *ranges, int n);

#endif
