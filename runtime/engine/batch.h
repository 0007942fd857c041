/*
 * batch.h - the loop's at-least-once bookkeeping (batch.c).
 *
 * Each batch (the records of one poll, or one round of timers) is a node in
 * a FIFO with a count of outputs handed to the sink and not yet delivered.
 * Positions are acked to the source only from the head of the FIFO, for
 * batches that are sealed and fully delivered, so nothing is acked past a
 * record whose outputs are not delivered. A failed output poisons its batch:
 * nothing at or after it is ever acked.
 *
 * Write-back caches (store.lua) keep state changes from reaching their
 * changelog until a later flush: a batch that leaves changes in a cache is
 * held, and the batch whose outputs carry the flushed changes releases every
 * held batch before it. A held batch is acked only together with its
 * releasing batch, once that one's outputs (the changelog records) are
 * delivered too, so the rule holds for store writes as well.
 *
 * @locality: the stream thread that owns the FIFO (delivery reports are
 * served on it too).
 */
#ifndef SH_BATCH_H
#define SH_BATCH_H

#include <stdbool.h>

#include "engine/source.h"

typedef struct sh_batch sh_batch_t;

typedef struct sh_batches {
    sh_batch_t *head, *tail;
    sh_source_t *source;
    long long open; /* batches in the FIFO */
} sh_batches_t;

/* Appends an unsealed batch; NULL when out of memory. */
sh_batch_t *sh_batches_open(sh_batches_t *q);
/* One more output of b was handed to the sink. */
void sh_batch_output(sh_batch_t *b);
/* An output of b was delivered (ok) or failed for good. */
void sh_batch_delivered(sh_batch_t *b, bool ok);
/* Processing of b is over; ack (may be NULL: no positions) is acked once
 * b's outputs are delivered. */
void sh_batch_seal(sh_batch_t *b, sh_source_ack_t *ack);
/* Marks b as leaving cached changes (held) and/or as the batch whose
 * outputs carry the cached changes of every batch before it (releases). */
void sh_batch_hold(sh_batch_t *b, bool held, bool releases);
/* Outputs of b not yet delivered. */
int sh_batch_pending(const sh_batch_t *b);
/* Acks every completed batch from the head; stops at a failed one.
 * Returns how many were acked. */
int sh_batches_ack_completed(sh_batches_t *q);
/* True when a failed batch blocks the head. */
bool sh_batches_failed(const sh_batches_t *q);
/* Discards every batch (their positions are never acked). */
void sh_batches_clear(sh_batches_t *q);

#endif
