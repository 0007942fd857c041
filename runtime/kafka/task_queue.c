/*
 * task_queue.c - records held per input partition until their task may run
 * them (see task_queue.h for the rule).
 *
 * Each partition keeps a ring of (item, timestamp) in arrival order and
 * what is known of its end: the offset after its last record read, or where
 * a fetch found its end. A partition's lag is its end offset as last fetched
 * minus that; unknown until both are known. Partitions live in one array
 * searched linearly, the last one found first (a fetch's records come a
 * partition at a run). A take walks tasks, each the group of its
 * partitions (regroup), so that a record taken looks at its own task's
 * partitions only: a join on 64 partitions holds 128.
 */
#include <stdlib.h>
#include <string.h>

#include "kafka/task_queue.h"

typedef struct part {
    int topic;
    int32_t partition;
    void **items;
    int64_t *ts;
    int head, count, cap;
    int64_t next;     /* offset after the last one read or at the end; -1: unknown */
    int64_t deadline; /* idle deadline while empty at its end; -1: none */
} part_t;

typedef struct task {
    int first, count; /* its partitions: order[first .. first + count) */
} task_t;

struct sh_task_queue {
    int64_t max_idle_ms;
    sh_task_queue_end_fn end;
    void *opaque;
    part_t *parts;
    int count, cap, total;
    int last; /* the part find found last */
    /* parts grouped by task, rebuilt when one is added or revoked; sized
     * with parts, so that rebuilding never allocates */
    int *order;
    task_t *tasks;
    int task_count;
    bool regroup;
    unsigned rotation; /* where the next take starts */
    int64_t enforced;
};

sh_task_queue_t *sh_task_queue_new(int64_t max_idle_ms, sh_task_queue_end_fn end, void *opaque) {
    sh_task_queue_t *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->max_idle_ms = max_idle_ms;
    q->end = end;
    q->opaque = opaque;
    return q;
}

static void drop_items(part_t *p, void (*drop)(void *item)) {
    for (int i = 0; drop && i < p->count; i++)
        drop(p->items[(p->head + i) % p->cap]);
    free(p->items);
    free(p->ts);
}

void sh_task_queue_free(sh_task_queue_t *q, void (*drop)(void *item)) {
    if (!q) return;
    for (int i = 0; i < q->count; i++)
        drop_items(&q->parts[i], drop);
    free(q->parts);
    free(q->order);
    free(q->tasks);
    free(q);
}

static int scan(const sh_task_queue_t *q, int topic, int32_t partition) {
    for (int i = 0; i < q->count; i++)
        if (q->parts[i].topic == topic && q->parts[i].partition == partition) return i;
    return -1;
}

static part_t *find(sh_task_queue_t *q, int topic, int32_t partition) {
    if (q->last >= q->count || q->parts[q->last].topic != topic ||
        q->parts[q->last].partition != partition) {
        int i = scan(q, topic, partition);
        if (i < 0) return NULL;
        q->last = i;
    }
    return &q->parts[q->last];
}

/* order: the parts' indices by partition number (then topic), in runs of
 * one task each. Insertion sort: parts are added and revoked rarely. */
static void regroup(sh_task_queue_t *q) {
    for (int i = 0; i < q->count; i++) {
        int j = i;
        const part_t *p = &q->parts[i];
        while (j > 0) {
            const part_t *o = &q->parts[q->order[j - 1]];
            if (o->partition < p->partition ||
                (o->partition == p->partition && o->topic <= p->topic))
                break;
            q->order[j] = q->order[j - 1];
            j--;
        }
        q->order[j] = i;
    }
    q->task_count = 0;
    for (int i = 0; i < q->count; i++) {
        if (i == 0 || q->parts[q->order[i]].partition != q->parts[q->order[i - 1]].partition)
            q->tasks[q->task_count++] = (task_t){.first = i, .count = 0};
        q->tasks[q->task_count - 1].count++;
    }
    q->regroup = false;
}

static part_t *find_or_add(sh_task_queue_t *q, int topic, int32_t partition) {
    part_t *p = find(q, topic, partition);
    if (p) return p;
    if (q->count == q->cap) {
        int cap = q->cap ? q->cap * 2 : 16;
        part_t *grown = realloc(q->parts, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        q->parts = grown;
        int *order = realloc(q->order, (size_t)cap * sizeof *order);
        if (!order) return NULL;
        q->order = order;
        task_t *tasks = realloc(q->tasks, (size_t)cap * sizeof *tasks);
        if (!tasks) return NULL;
        q->tasks = tasks;
        q->cap = cap;
    }
    p = &q->parts[q->count++];
    *p = (part_t){.topic = topic, .partition = partition, .next = -1, .deadline = -1};
    q->regroup = true;
    return p;
}

int sh_task_queue_assign(sh_task_queue_t *q, int topic, int32_t partition) {
    return find_or_add(q, topic, partition) ? 0 : -1;
}

void sh_task_queue_revoke(sh_task_queue_t *q, int topic, int32_t partition,
                          void (*drop)(void *item)) {
    part_t *p = find(q, topic, partition);
    if (!p) return;
    q->total -= p->count;
    drop_items(p, drop);
    *p = q->parts[--q->count];
    q->regroup = true;
}

static int grow(part_t *p) {
    int cap = p->cap ? p->cap * 2 : 256;
    void **items = malloc((size_t)cap * sizeof *items);
    int64_t *ts = malloc((size_t)cap * sizeof *ts);
    if (!items || !ts) {
        free(items);
        free(ts);
        return -1;
    }
    for (int i = 0; i < p->count; i++) {
        items[i] = p->items[(p->head + i) % p->cap];
        ts[i] = p->ts[(p->head + i) % p->cap];
    }
    free(p->items);
    free(p->ts);
    p->items = items;
    p->ts = ts;
    p->head = 0;
    p->cap = cap;
    return 0;
}

int sh_task_queue_push(sh_task_queue_t *q, int topic, int32_t partition, int64_t offset, int64_t ts,
                       void *item) {
    part_t *p = find_or_add(q, topic, partition);
    if (!p || (p->count == p->cap && grow(p) != 0)) return -1;
    int at = (p->head + p->count) % p->cap;
    p->items[at] = item;
    p->ts[at] = ts;
    p->count++;
    q->total++;
    p->next = offset + 1;
    p->deadline = -1;
    return p->count;
}

void sh_task_queue_read_to(sh_task_queue_t *q, int topic, int32_t partition, int64_t end_offset) {
    part_t *p = find(q, topic, partition);
    if (p && end_offset > p->next) p->next = end_offset;
}

int sh_task_queue_buffered(const sh_task_queue_t *q, int topic, int32_t partition) {
    int i = scan(q, topic, partition);
    return i >= 0 ? q->parts[i].count : 0;
}

int sh_task_queue_total(const sh_task_queue_t *q) { return q->total; }

int64_t sh_task_queue_enforced(const sh_task_queue_t *q) { return q->enforced; }

/* Kafka Streams' PartitionGroup.readyToProcess for the task of partition
 * number `task`: every partition buffered, or the empty ones known to be at
 * their end for max_idle_ms. *enforced: it goes on without one of them. */
static bool task_ready(sh_task_queue_t *q, const task_t *task, int64_t now, int64_t *wake,
                       bool *enforced) {
    bool queued = false;
    *enforced = false;
    for (int i = task->first; i < task->first + task->count; i++) {
        part_t *p = &q->parts[q->order[i]];
        if (p->count > 0) {
            p->deadline = -1;
            queued = true;
            continue;
        }
        int64_t end = q->end ? q->end(q->opaque, p->topic, p->partition) : -1;
        if (end < 0 || p->next < 0 || end > p->next) {
            p->deadline = -1; /* its data is on the way, or not fetched yet: wait */
            return false;
        }
        if (p->deadline < 0) p->deadline = now + q->max_idle_ms;
        if (now < p->deadline) {
            if (p->deadline < *wake) *wake = p->deadline;
            return false;
        }
        *enforced = true;
    }
    return queued;
}

static part_t *earliest_head(sh_task_queue_t *q, const task_t *task) {
    part_t *best = NULL;
    for (int i = task->first; i < task->first + task->count; i++) {
        part_t *p = &q->parts[q->order[i]];
        if (p->count > 0 && (!best || p->ts[p->head] < best->ts[best->head])) best = p;
    }
    return best;
}

int sh_task_queue_take(sh_task_queue_t *q, int64_t now_ms, bool enforce, void **items, int max,
                       int64_t *wake_ms) {
    *wake_ms = INT64_MAX;
    if (q->max_idle_ms < 0) enforce = false;
    int taken = 0;
    if (q->regroup) regroup(q);
    /* each take starts with another task, so a task that always has a
     * batch ready cannot starve the others */
    int first = q->task_count ? (int)(q->rotation++ % (unsigned)q->task_count) : 0;
    for (int i = 0; i < q->task_count && taken < max; i++) {
        const task_t *task = &q->tasks[(first + i) % q->task_count];
        /* Readiness changes within one take only when a partition runs
         * dry: check again then, not for every record. */
        bool check = enforce, counted = false;
        while (taken < max) {
            bool enforced = false;
            if (check && !task_ready(q, task, now_ms, wake_ms, &enforced)) break;
            check = false;
            part_t *p = earliest_head(q, task);
            if (!p) break;
            if (enforced && !counted) {
                q->enforced++;
                counted = true;
            }
            items[taken++] = p->items[p->head];
            p->head = (p->head + 1) % p->cap;
            p->count--;
            q->total--;
            if (p->count == 0) check = enforce;
        }
    }
    return taken;
}
