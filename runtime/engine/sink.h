/*
 * sink.h - where the loop's outputs go: Kafka topics, a MySQL table, a
 * test's capture. The loop hands each output to a sink with the batch it
 * belongs to, and the sink reports each output's delivery back (from poll
 * or flush), so a batch's positions are acked only once every output it
 * caused is delivered.
 *
 * Sinks are addressed by the context's sink index (sh_ffi_sink_add); bind
 * (re)reads the context's sinks after a load or a reload.
 *
 * @locality: the stream thread that owns the sink.
 */
#ifndef SH_SINK_H
#define SH_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "streamhost_ffi.h"

typedef struct sh_sink sh_sink_t;

typedef struct sh_sink_events {
    void *loop;
    /* One output of batch is delivered (err NULL) to (topic, partition) at
     * offset, or failed for good (err says why). topic stays valid while the
     * sink lives and is the same pointer for every output to one topic. */
    void (*delivered)(void *loop, void *batch, const char *topic, int32_t partition,
                      int64_t offset, const char *err);
} sh_sink_events_t;

typedef struct sh_sink_ops {
    const char *kind;
    /* Takes the context's sinks (names, partitions): creates what is
     * missing. Returns 0, or -1 with errbuf. */
    int (*bind)(sh_sink_t *sink, sh_ctx_t *ctx, char *errbuf, size_t errlen);
    /* Hands one output over (bytes copied). SH_OK, or an sh_err_t code with
     * errbuf filled; a full queue is waited out here, not returned. */
    int (*emit)(sh_sink_t *sink, int index, const sh_ffi_record_t *record, void *batch,
                char *errbuf, size_t errlen);
    /* Serves delivery reports, waiting at most timeout_ms. */
    void (*poll)(sh_sink_t *sink, int timeout_ms);
    /* Waits until every output is delivered or timeout_ms passed. Returns
     * the number still outstanding. */
    int (*flush)(sh_sink_t *sink, int timeout_ms);
    void (*destroy)(sh_sink_t *sink);
} sh_sink_ops_t;

struct sh_sink {
    const sh_sink_ops_t *ops;
    const sh_sink_events_t *events; /* set by the loop before the first emit */
};

#endif
