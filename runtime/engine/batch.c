/*
 * batch.c - the FIFO of batches awaiting delivery (see batch.h). A batch
 * stays in the FIFO from the poll that made it until its last output is
 * delivered and every batch before it is acked.
 */
#include <stdlib.h>

#include "engine/batch.h"

struct sh_batch {
    struct sh_batch *next;
    int pending; /* outputs handed to the sink, not yet delivered */
    bool failed, sealed;
    bool held;     /* left changes in a write-back cache: waits for a release */
    bool releases; /* its outputs carry the cached changes of the batches before */
    sh_source_ack_t *ack;
};

sh_batch_t *sh_batches_open(sh_batches_t *q) {
    sh_batch_t *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    if (q->tail)
        q->tail->next = b;
    else
        q->head = b;
    q->tail = b;
    q->open++;
    return b;
}

void sh_batch_output(sh_batch_t *b) { b->pending++; }

void sh_batch_delivered(sh_batch_t *b, bool ok) {
    b->pending--;
    if (!ok) b->failed = true;
}

void sh_batch_seal(sh_batch_t *b, sh_source_ack_t *ack) {
    b->ack = ack;
    b->sealed = true;
}

void sh_batch_hold(sh_batch_t *b, bool held, bool releases) {
    b->held |= held;
    b->releases |= releases;
}

int sh_batch_pending(const sh_batch_t *b) { return b->pending; }

static bool complete(const sh_batch_t *b) { return b->sealed && b->pending == 0 && !b->failed; }

/* A held head is released by the first later batch that releases, once
 * every batch up to that one is complete: its outputs (the flushed
 * changelog records) are then delivered. The releasing batch keeps its own
 * hold, for changes it cached after the flush. */
static bool release_head(sh_batches_t *q) {
    sh_batch_t *r = q->head->next;
    while (r && !r->releases) r = r->next;
    if (!r) return false;
    for (sh_batch_t *b = q->head; b != r->next; b = b->next)
        if (!complete(b)) return false;
    for (sh_batch_t *b = q->head; b != r; b = b->next) b->held = false;
    r->releases = false;
    return true;
}

static void pop(sh_batches_t *q) {
    sh_batch_t *b = q->head;
    q->head = b->next;
    if (!q->head) q->tail = NULL;
    q->open--;
    free(b);
}

int sh_batches_ack_completed(sh_batches_t *q) {
    int acked = 0;
    while (q->head && complete(q->head)) {
        if (q->head->held && !release_head(q)) break;
        if (q->head->ack) q->source->ops->ack(q->source, q->head->ack);
        pop(q);
        acked++;
    }
    return acked;
}

bool sh_batches_failed(const sh_batches_t *q) {
    for (const sh_batch_t *b = q->head; b; b = b->next)
        if (b->failed) return true;
    return false;
}

void sh_batches_clear(sh_batches_t *q) {
    while (q->head) {
        if (q->head->ack) q->source->ops->discard(q->source, q->head->ack);
        pop(q);
    }
}
