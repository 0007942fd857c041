/*
 * order.c - timestamp order across the partitions of a batch.
 *
 * With several inputs the order records meet in matters: a stream record
 * should find the table rows stamped before it. A batch arrives as runs of
 * one (source, partition) each; the merge takes the run whose head has the
 * smallest timestamp each time, so every partition keeps its own order and
 * its positions stay monotonic. A batch spanning more than MAX_RUNS
 * partitions is left as it came.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/order.h"

enum { MAX_RUNS = 256 };

struct sh_order {
    int max;
    int *run_of, *next; /* per record: its run, the next record of its run */
    sh_ffi_record_t *sorted;
};

sh_order_t *sh_order_new(int max) {
    sh_order_t *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->max = max;
    o->run_of = calloc((size_t)max, sizeof *o->run_of);
    o->next = calloc((size_t)max, sizeof *o->next);
    o->sorted = calloc((size_t)max, sizeof *o->sorted);
    if (!o->run_of || !o->next || !o->sorted) {
        sh_order_free(o);
        return NULL;
    }
    return o;
}

void sh_order_free(sh_order_t *o) {
    if (!o) return;
    free(o->run_of);
    free(o->next);
    free(o->sorted);
    free(o);
}

static bool same_run(const sh_ffi_record_t *a, const sh_ffi_record_t *b) {
    return a->source == b->source && a->partition == b->partition;
}

void sh_order_by_time(sh_order_t *o, sh_ffi_record_t *records, int n) {
    if (n > o->max) return;
    int head[MAX_RUNS], tail[MAX_RUNS], first[MAX_RUNS], runs = 0;
    for (int i = 0; i < n; i++) {
        int r = i > 0 && same_run(&records[i], &records[i - 1]) ? o->run_of[i - 1] : -1;
        for (int j = 0; r < 0 && j < runs; j++)
            if (same_run(&records[first[j]], &records[i])) r = j;
        if (r < 0) {
            if (runs == MAX_RUNS) return;
            r = runs++;
            head[r] = -1;
            first[r] = i;
        }
        o->run_of[i] = r;
        o->next[i] = -1;
        if (head[r] < 0)
            head[r] = i;
        else
            o->next[tail[r]] = i;
        tail[r] = i;
    }
    if (runs < 2) return;
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int r = 0; r < runs; r++)
            if (head[r] >= 0 &&
                (best < 0 || records[head[r]].timestamp < records[head[best]].timestamp))
                best = r;
        if (best < 0) return; /* cannot happen: k < n records are left */
        int i = head[best];
        head[best] = o->next[i];
        o->sorted[k] = records[i];
    }
    memcpy(records, o->sorted, sizeof *records * (size_t)n);
}
