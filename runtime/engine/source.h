/*
 * source.h - what the loop reads from: a Kafka consumer, a MySQL binlog
 * reader, a test's records. The loop never sees a client handle, only this
 * interface, so at-least-once is one rule for every source:
 *
 *   poll     fills an array of sh_ffi_record_t. A record's position is its
 *            (source, partition, offset); what it means (a Kafka offset, a
 *            binlog coordinate) is the source's business.
 *   mark     after the loop processed records[0..n), returns a token for
 *            their positions, opaque to the loop.
 *   ack      every output those records caused is delivered: the source may
 *            commit their positions. Tokens are acked in the order they
 *            were marked; a token is acked or discarded exactly once.
 *   release  the last poll's records (and their bytes) are no longer used.
 *
 * A source that owns partitions tells the loop when one is assigned or
 * revoked (sh_source_events_t), from inside poll, so the loop can restore
 * and close the partition's state and deliver its outputs first.
 *
 * @locality: every operation runs on the stream thread that owns the
 * source, except where noted.
 */
#ifndef SH_SOURCE_H
#define SH_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "streamhost_ffi.h"

typedef struct sh_source sh_source_t;
typedef struct sh_source_ack sh_source_ack_t; /* opaque: defined by each source */

/* The loop's side of a source: called from inside poll. */
typedef struct sh_source_events {
    void *loop;
    /* (topic, partition) will be assigned next, after those announced
     * before it: its state may start opening (optional; may be NULL). */
    void (*assigning)(void *loop, const char *topic, int32_t partition);
    /* (topic, partition) is now this thread's: restore its state before its
     * first record. Returns 0, or -1 with errbuf filled (fatal). */
    int (*assigned)(void *loop, const char *topic, int32_t partition, char *errbuf,
                    size_t errlen);
    /* Partitions are about to go: deliver every output and ack what is
     * complete, so the source can commit before it lets them go. */
    void (*revoking)(void *loop);
    /* Every partition of an assignment has been through assigned(). */
    void (*assignment_done)(void *loop);
    /* (topic, partition) is no longer this thread's: close its state. */
    void (*revoked)(void *loop, const char *topic, int32_t partition);
} sh_source_events_t;

typedef struct sh_source_ops {
    const char *kind; /* "kafka", "mysql", ... for logs */
    /* Takes the context's inputs (sh_ffi_source_name(ctx, i)): a record's
     * `source` is that index from now on. Called before start and after a
     * reload (which may reorder, never change, the inputs). The source keeps
     * no pointer into ctx. Returns 0, or -1 with errbuf. */
    int (*bind)(sh_source_t *src, sh_ctx_t *ctx, char *errbuf, size_t errlen);
    /* Starts reading. Returns 0, or -1 with errbuf. */
    int (*start)(sh_source_t *src, const sh_source_events_t *events, char *errbuf,
                 size_t errlen);
    /* Fills records[0..max) with what is available, waiting at most
     * timeout_ms for the first. Returns the count (0: nothing yet), or -1
     * with errbuf filled when the source failed for good. */
    int (*poll)(sh_source_t *src, sh_ffi_record_t *records, int max, int timeout_ms,
                char *errbuf, size_t errlen);
    /* A token for the positions of records[0..n) (n may be 0); NULL only when
     * out of memory. */
    sh_source_ack_t *(*mark)(sh_source_t *src, const sh_ffi_record_t *records, int n);
    /* The token's records are done: their positions may be committed. */
    void (*ack)(sh_source_t *src, sh_source_ack_t *ack);
    /* The token's records failed: never commit them. */
    void (*discard)(sh_source_t *src, sh_source_ack_t *ack);
    /* The records of the last poll are no longer used. */
    void (*release)(sh_source_t *src);
    /* Commits every acked position now, synchronously. Returns 0 or -1 with
     * errbuf. May run on another thread while this one's loop is stopped. */
    int (*commit)(sh_source_t *src, char *errbuf, size_t errlen);
    /* Leaves (a consumer group): the last step before destroy. */
    void (*close)(sh_source_t *src);
    void (*destroy)(sh_source_t *src);
} sh_source_ops_t;

/* Every source struct starts with this. */
struct sh_source {
    const sh_source_ops_t *ops;
};

#endif
