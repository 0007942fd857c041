/*
 * changelog.h - the changelog sink of one store handle: where its writes
 * are emitted before they are applied, so that the store can be rebuilt.
 */
#ifndef SH_CHANGELOG_H
#define SH_CHANGELOG_H

#include <stddef.h>
#include <stdint.h>

#include "streamhost_ffi.h"

typedef struct sh_changelog {
    sh_ctx_t *ctx;
    char *topic; /* <app id>-<store>-changelog (base/topic_name.c) */
    int sink;
    int32_t partition; /* the task's: a store's changelog is co-partitioned with its source */
} sh_changelog_t;

/* Declares the sink of store `name`'s changelog on ctx. Returns SH_OK, or
 * an error with errbuf filled. */
int sh_changelog_init(sh_changelog_t *log, sh_ctx_t *ctx, const char *app_id, const char *name,
                      int32_t partition, char *errbuf, size_t errlen);
void sh_changelog_fini(sh_changelog_t *log);
/* Emits one changelog record (value NULL: a tombstone). Returns SH_OK, or
 * the emit's error (SH_ERR_QUEUE_FULL: retry after a poll) with the reason
 * in sh_ffi_err_message(). */
int sh_changelog_emit(sh_changelog_t *log, const char *key, size_t key_len, const char *value,
                      size_t value_len, int64_t timestamp);

#endif
