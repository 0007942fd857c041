/*
 * restore.h - the host's side of state stores: one task per (store, assigned
 * partition), restored from its changelog on assignment, checkpointed as
 * changelog records are delivered, closed on revocation. The HTTP thread
 * reads stores through the same tasks, under sh_tasks_lock.
 */
#ifndef SH_RESTORE_H
#define SH_RESTORE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "state/store.h"

typedef struct sh_task {
    struct sh_task *next;
    char *store, *topic, *changelog; /* topic: the source topic of the task */
    int32_t partition;
    int kind;
    sh_store_t *handle; /* the host's own handle; shares the database with Lua's */
    int64_t delivered;    /* highest changelog offset known to be in Kafka */
    int64_t checkpointed; /* offset in the checkpoint file */
    volatile int restoring; /* being restored: not served over HTTP */
} sh_task_t;

typedef struct sh_tasks sh_tasks_t;

/* restore_consumer: an assign()-only consumer that reads changelogs; the
 * tasks take it over. stopping: set when the host should stop, so a long
 * restore gives up. */
sh_tasks_t *sh_tasks_new(const char *state_dir, const char *app_id, rd_kafka_t *restore_consumer,
                         volatile sig_atomic_t *stopping);
/* Closes every task (writing no checkpoint) and the restore consumer. */
void sh_tasks_free(sh_tasks_t *tasks);

/* Serializes the stream thread's use of stores (batches, timers,
 * assignment) with the HTTP thread's reads. */
void sh_tasks_lock(sh_tasks_t *tasks);
void sh_tasks_unlock(sh_tasks_t *tasks);

/* Copies the running VM's store declarations (on load and after a reload).
 * Takes the lock itself. */
void sh_tasks_set_declarations(sh_tasks_t *tasks, sh_ctx_t *ctx);
/* Declaration of store `name` (valid while the lock is held), or NULL. */
const sh_store_decl_t *sh_tasks_declaration(sh_tasks_t *tasks, const char *name);
int sh_tasks_declaration_count(sh_tasks_t *tasks);
const sh_store_decl_t *sh_tasks_declaration_at(sh_tasks_t *tasks, int index);

/* Opens and restores every declared store fed by (topic, partition).
 * Returns 0, or -1 with errbuf filled. Call without holding the lock. */
int sh_tasks_assign(sh_tasks_t *tasks, const char *topic, int32_t partition, char *errbuf,
                    size_t errlen);
/* Writes the checkpoints of (topic, partition)'s tasks (topic NULL: all
 * tasks) whose delivered offset moved. */
void sh_tasks_checkpoint(sh_tasks_t *tasks, const char *topic, int32_t partition);
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
/* First task in the list (under the lock); walk with ->next. */
sh_task_t *sh_tasks_first(sh_tasks_t *tasks);

#endif
