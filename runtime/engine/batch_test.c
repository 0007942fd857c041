/*
 * batch_test.c - the batch FIFO's at-least-once rule with write-back caches:
 * a batch that left changes in a cache (held) is acked only together with
 * the later batch that flushed them (releases), once that batch's outputs
 * (the changelog records) are delivered; never out of order, never past a
 * failure.
 */
#include <stdlib.h>

#include "base/check.h"
#include "engine/batch.h"

struct sh_source_ack {
    int id;
};

typedef struct {
    sh_source_t base;
    int acked[16];
    int count;
} fake_source_t;

static void fake_ack(sh_source_t *src, sh_source_ack_t *ack) {
    fake_source_t *s = (fake_source_t *)src;
    s->acked[s->count++] = ack->id;
    free(ack);
}

static void fake_discard(sh_source_t *src, sh_source_ack_t *ack) {
    (void)src;
    free(ack);
}

static const sh_source_ops_t fake_ops = {.kind = "fake", .ack = fake_ack, .discard = fake_discard};

static sh_source_ack_t *token(int id) {
    sh_source_ack_t *a = malloc(sizeof *a);
    a->id = id;
    return a;
}

/* A batch with one output, sealed; held/releases as given. */
static sh_batch_t *batch(sh_batches_t *q, int id, bool held, bool releases) {
    sh_batch_t *b = sh_batches_open(q);
    sh_batch_output(b);
    sh_batch_hold(b, held, releases);
    sh_batch_seal(b, id ? token(id) : NULL);
    return b;
}

static void test_held_until_released_and_delivered(void) {
    fake_source_t src = {.base = {.ops = &fake_ops}};
    sh_batches_t q = {.source = &src.base};
    sh_batch_t *b1 = batch(&q, 1, false, false);
    sh_batch_t *b2 = batch(&q, 2, true, false); /* cached a change */
    sh_batch_t *b3 = batch(&q, 3, true, false);
    sh_batch_delivered(b1, true);
    sh_batch_delivered(b2, true);
    sh_batch_delivered(b3, true);
    CHECK(sh_batches_ack_completed(&q) == 1); /* b1 only: b2 waits for a flush */
    CHECK(src.count == 1 && src.acked[0] == 1);

    sh_batch_t *flush = batch(&q, 0, false, true); /* the timer round that flushed */
    sh_batch_t *b5 = batch(&q, 5, false, false);
    sh_batch_delivered(b5, true);
    CHECK(sh_batches_ack_completed(&q) == 0); /* the flushed records are not delivered */
    CHECK(src.count == 1);
    sh_batch_delivered(flush, true);
    CHECK(sh_batches_ack_completed(&q) == 4);
    CHECK(src.count == 4 && src.acked[1] == 2 && src.acked[2] == 3 && src.acked[3] == 5);
    CHECK(q.head == NULL && q.open == 0);
}

/* A batch that flushed midway and cached more afterwards releases the ones
 * before it but holds itself. */
static void test_release_and_hold_in_one_batch(void) {
    fake_source_t src = {.base = {.ops = &fake_ops}};
    sh_batches_t q = {.source = &src.base};
    sh_batch_t *b1 = batch(&q, 1, true, false);
    sh_batch_t *b2 = batch(&q, 2, true, true);
    sh_batch_delivered(b1, true);
    sh_batch_delivered(b2, true);
    CHECK(sh_batches_ack_completed(&q) == 1);
    CHECK(src.count == 1 && src.acked[0] == 1);
    sh_batch_t *b3 = batch(&q, 3, false, true);
    sh_batch_delivered(b3, true);
    CHECK(sh_batches_ack_completed(&q) == 2);
    CHECK(src.count == 3 && src.acked[1] == 2 && src.acked[2] == 3);
}

/* A failed flush never releases anything. */
static void test_failed_release(void) {
    fake_source_t src = {.base = {.ops = &fake_ops}};
    sh_batches_t q = {.source = &src.base};
    sh_batch_t *b1 = batch(&q, 1, true, false);
    sh_batch_t *flush = batch(&q, 0, false, true);
    sh_batch_delivered(b1, true);
    sh_batch_delivered(flush, false);
    CHECK(sh_batches_ack_completed(&q) == 0);
    CHECK(src.count == 0);
    CHECK(sh_batches_failed(&q));
    sh_batches_clear(&q);
}

int main(void) {
    test_held_until_released_and_delivered();
    test_release_and_hold_in_one_batch();
    test_failed_release();
    return check_summary("batch_test");
}
