/*
 * gaps.c - offsets that jump (see gaps.h). A small array of partitions,
 * searched linearly only when the partition changes between two records,
 * since a batch comes in runs of one partition. Compacted topics have
 * gaps by design; the host's inputs are not compacted (changelogs are read
 * by restore, not here).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kafka/gaps.h"

typedef struct entry {
    char *topic;
    int32_t partition;
    int64_t next; /* < 0: unknown */
} entry_t;

struct sh_kafka_gaps {
    entry_t *entries;
    int count, cap;
    entry_t *last; /* the entry of the previous record */
    long long lost;
};

sh_kafka_gaps_t *sh_kafka_gaps_new(void) { return calloc(1, sizeof(sh_kafka_gaps_t)); }

void sh_kafka_gaps_free(sh_kafka_gaps_t *g) {
    if (!g) return;
    for (int i = 0; i < g->count; i++) free(g->entries[i].topic);
    free(g->entries);
    free(g);
}

static entry_t *find(sh_kafka_gaps_t *g, const char *topic, int32_t partition) {
    if (g->last && g->last->partition == partition && strcmp(g->last->topic, topic) == 0)
        return g->last;
    for (int i = 0; i < g->count; i++)
        if (g->entries[i].partition == partition && strcmp(g->entries[i].topic, topic) == 0)
            return g->last = &g->entries[i];
    if (g->count == g->cap) {
        int cap = g->cap ? g->cap * 2 : 16;
        entry_t *grown = realloc(g->entries, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        g->entries = grown;
        g->cap = cap;
    }
    char *copy = strdup(topic);
    if (!copy) return NULL;
    g->entries[g->count] = (entry_t){.topic = copy, .partition = partition, .next = -1};
    return g->last = &g->entries[g->count++];
}

void sh_kafka_gaps_expect(sh_kafka_gaps_t *g, const char *topic, int32_t partition,
                          int64_t next) {
    entry_t *e = find(g, topic, partition);
    if (e) e->next = next;
}

void sh_kafka_gaps_seen(sh_kafka_gaps_t *g, const char *topic, int32_t partition,
                        int64_t offset) {
    entry_t *e = find(g, topic, partition);
    if (!e) return;
    if (e->next >= 0 && offset > e->next) {
        long long missing = (long long)(offset - e->next);
        g->lost += missing;
        sh_log(SH_LOG_ERROR,
               "%s [%d]: %lld record(s) at offsets %" PRId64 "..%" PRId64
               " were deleted before they were read (the broker's retention went past them); "
               "%lld lost so far. Raise the topic's retention, or read faster",
               topic, (int)partition, missing, e->next, offset - 1, g->lost);
    }
    e->next = offset + 1;
}

long long sh_kafka_gaps_lost(const sh_kafka_gaps_t *g) { return g->lost; }
