/*
 * offsets.h - where a source that is not Kafka keeps its positions, as
 * Kafka Connect's offset storage: a value (the source's own JSON) under a
 * key, the latest value winning. The composition root (cli/run.c) hands a
 * source an implementation (kafka/offset_store.c keeps them in a compacted
 * topic), so a source never sees the client that stores them.
 *
 * @locality: the thread that owns the source.
 */
#ifndef SH_OFFSETS_H
#define SH_OFFSETS_H

#include <stddef.h>

typedef struct sh_offsets sh_offsets_t;

typedef struct sh_offsets_ops {
    /* The latest value stored under key into *value (malloc'd; NULL when
     * none). Returns 0, or -1 with errbuf filled. */
    int (*load)(sh_offsets_t *o, const char *key, char **value, char *errbuf, size_t errlen);
    /* Stores value under key, asynchronously. Returns 0, or -1 with errbuf. */
    int (*save)(sh_offsets_t *o, const char *key, const char *value, char *errbuf, size_t errlen);
    /* Waits until every save is durable or timeout_ms passed. Returns 0, or
     * -1 with errbuf. */
    int (*flush)(sh_offsets_t *o, int timeout_ms, char *errbuf, size_t errlen);
    void (*destroy)(sh_offsets_t *o);
} sh_offsets_ops_t;

struct sh_offsets {
    const sh_offsets_ops_t *ops;
};

#endif
