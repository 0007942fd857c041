/*
 * tasks.h - the host's side of state stores: one task per (declared store,
 * assigned partition of its source topic), restored from its changelog on
 * assignment (restore.c), checkpointed as changelog records are delivered,
 * closed on revocation. The HTTP thread reads stores through the same tasks,
 * under sh_tasks_lock, and only through the sh_task_* accessors: a task's
 * fields are private to tasks.c.
 *
 * One sh_tasks_t per stream thread; nothing in it is shared with another
 * stream thread's.
 */
#ifndef SH_TASKS_H
#define SH_TASKS_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "engine/ctx.h"
#include "state/store.h"

/* librdkafka's handle, declared only: the loop includes this header and no
 * librdkafka header. */
struct rd_kafka_s;

typedef struct sh_task sh_task_t;
typedef struct sh_tasks sh_tasks_t;

/* restore_consumer: an assign()-only consumer that reads changelogs; the
 * tasks take it over. stopping: set when the host should stop, so a long
 * restore gives up. */
sh_tasks_t *sh_tasks_new(const char *state_dir, const char *app_id,
                         struct rd_kafka_s *restore_consumer, volatile sig_atomic_t *stopping);
/* Closes every task (writing no checkpoint) and the restore consumer. */
void sh_tasks_free(sh_tasks_t *tasks);

/* Serializes the stream thread's use of stores (batches, timers,
 * assignment) with the HTTP thread's reads. Whoever holds it stalls the
 * stream thread: hold it only for work bounded by a constant, never for
 * work proportional to a store's size. */
void sh_tasks_lock(sh_tasks_t *tasks);
void sh_tasks_unlock(sh_tasks_t *tasks);

/* Copies the running VM's store declarations (on load and after a reload).
 * Takes the lock itself. */
void sh_tasks_set_declarations(sh_tasks_t *tasks, sh_ctx_t *ctx);
/* Declaration of store `name` (valid while the lock is held), or NULL. */
const sh_store_decl_t *sh_tasks_declaration(sh_tasks_t *tasks, const char *name);
int sh_tasks_declaration_count(sh_tasks_t *tasks);
const sh_store_decl_t *sh_tasks_declaration_at(sh_tasks_t *tasks, int index);

/* (topic, partition) is about to be assigned, after the ones announced
 * before it: its stores start opening on the openers (openers.c) while
 * earlier tasks restore. sh_tasks_assignment_done closes what no
 * sh_tasks_assign took. Call without holding the lock.
 * @locality the stream thread that owns tasks */
void sh_tasks_prepare(sh_tasks_t *tasks, const char *topic, int32_t partition);
void sh_tasks_assignment_done(sh_tasks_t *tasks);

/* Opens (or takes from the openers) and restores every declared store fed by (topic, partition).
 * Returns 0, or -1 with errbuf filled. Call without holding the lock.
 * @locality the stream thread that owns tasks */
int sh_tasks_assign(sh_tasks_t *tasks, const char *topic, int32_t partition, char *errbuf,
                    size_t errlen);
/* Writes the checkpoints of (topic, partition)'s tasks (topic NULL: all
 * tasks) whose delivered offset moved by min_delta records or more (0: at
 * all). A checkpoint flushes the store's memtables to disk (the stores have
 * no WAL), so the periodic one passes min_delta = SH_TASKS_CHECKPOINT_DELTA:
 * a task is checkpointed once it moved by that many records (as Kafka
 * Streams' 10,000) or its last checkpoint is SH_TASKS_CHECKPOINT_MAX_AGE_MS
 * old; a revocation or a stop (0) writes every one.
 * @locks sh_tasks_lock */
#define SH_TASKS_CHECKPOINT_DELTA 10000
#define SH_TASKS_CHECKPOINT_MAX_AGE_MS 10000
void sh_tasks_checkpoint(sh_tasks_t *tasks, const char *topic, int32_t partition,
                         int64_t min_delta);
/* Closes (topic, partition)'s tasks (topic NULL: all). Takes the lock. */
void sh_tasks_release(sh_tasks_t *tasks, const char *topic, int32_t partition);
/* A changelog record was delivered (the producer's delivery report). */
void sh_tasks_delivered(sh_tasks_t *tasks, const char *changelog, int32_t partition,
                        int64_t offset);
/* Tasks being restored right now (readable without the lock). */
int sh_tasks_restoring(sh_tasks_t *tasks);
/* Marks the first assignment done (its stores restored); until then the
 * instance is not healthy: it has no state to serve yet. */
void sh_tasks_set_ready(sh_tasks_t *tasks);
bool sh_tasks_ready(sh_tasks_t *tasks);

/* ---- reading tasks (the HTTP thread), all @locks sh_tasks_lock ---- */

/* The first task of store `name` after `previous` (NULL: from the start)
 * that is not being restored, or NULL: a readable task. */
sh_task_t *sh_tasks_next_readable(sh_tasks_t *tasks, const char *name, sh_task_t *previous);
/* Store `name`'s readable task on partition, or NULL. */
sh_task_t *sh_tasks_find_readable(sh_tasks_t *tasks, const char *name, int32_t partition);
const char *sh_task_store_name(const sh_task_t *task);
int32_t sh_task_partition(const sh_task_t *task);
int sh_task_kind(const sh_task_t *task);
/* The host's own handle on the task's store (it only reads and restores). */
sh_store_t *sh_task_store(const sh_task_t *task);

#endif
