/*
 * tasks.c - a stream thread's tasks: one per (declared store, assigned
 * partition of its source topic), each with the host's own handle on the
 * store.
 *
 * On assignment a task is made for each store the topic feeds, its store
 * opened (sharing the RocksDB instance with the Lua VM's handle through the
 * registry's reference counts) and restored from its changelog (restore.c).
 * The source announces an assignment's partitions first (sh_tasks_prepare),
 * so their stores open on the openers (openers.c) while earlier tasks
 * replay; a task takes its handle from there, or opens it in line.
 * Afterwards a task's checkpoint follows the producer's delivery reports:
 * the highest delivered changelog offset is written periodically once it
 * moved by SH_TASKS_CHECKPOINT_DELTA records, on revocation and on a clean
 * stop, never an offset Kafka has not acknowledged. Local writes past it are replayed again on the next
 * restore, which is harmless: a changelog record is the value, not a delta.
 *
 * A mutex serializes the stream thread's store use with the HTTP thread's
 * reads, which RocksDB would allow but the window store's segment list and
 * stream time do not. A task being restored is skipped by readers instead,
 * so /healthz keeps answering during a long restore; the replay runs
 * without the lock.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/topic_name.h"
#include "state/openers.h"
#include "state/restore.h"
#include "state/tasks.h"

/* Changelog partitions whose offset ranges are asked together, and how long
 * an answer serves the tasks of one assignment. */
enum { SH_TASKS_MAX_RANGES = 1024, RANGES_FRESH_MS = 5000 };

struct sh_task {
    struct sh_task *next;
    char *store, *topic, *changelog; /* topic: the source topic of the task */
    int32_t partition;
    int kind;
    sh_store_t *handle;     /* the host's own handle; shares the database with Lua's */
    int64_t delivered;      /* highest changelog offset known to be in Kafka */
    int64_t checkpointed;   /* offset in the checkpoint file */
    int64_t checkpointed_ms; /* when it was written (the task's start before any) */
    volatile int restoring; /* being restored: not served over HTTP */
};

struct sh_tasks {
    pthread_mutex_t lock;
    int ready; /* the first assignment's stores are restored */
    char *state_dir, *app_id;
    rd_kafka_t *consumer;
    volatile sig_atomic_t *stopping;
    sh_store_decl_t *decls;
    int decl_count;
    sh_task_t *tasks;
    sh_openers_t *openers; /* made on the first prepare */
    sh_read_ahead_t *reads; /* the restore consumer's, a few partitions ahead */
    volatile int restoring;
    /* the offset ranges of one changelog's partitions, asked once for the
     * tasks of an assignment (sh_restore_ranges); ranges_ms: when */
    char *ranges_topic;
    int64_t ranges[2 * SH_TASKS_MAX_RANGES];
    int range_count;
    int64_t ranges_ms;
};

static void free_decls(sh_store_decl_t *decls, int count) {
    for (int i = 0; i < count; i++) {
        free(decls[i].name);
        free(decls[i].source_topic);
        free(decls[i].key_serde);
        free(decls[i].value_serde);
    }
    free(decls);
}

sh_tasks_t *sh_tasks_new(const char *state_dir, const char *app_id,
                         struct rd_kafka_s *restore_consumer, volatile sig_atomic_t *stopping) {
    sh_tasks_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->state_dir = strdup(state_dir);
    t->app_id = strdup(app_id);
    if (!t->state_dir || !t->app_id) {
        free(t->state_dir);
        free(t->app_id);
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->consumer = restore_consumer;
    t->stopping = stopping;
    if (!(t->reads = sh_read_ahead_new(restore_consumer))) {
        pthread_mutex_destroy(&t->lock);
        free(t->state_dir);
        free(t->app_id);
        free(t);
        return NULL;
    }
    return t;
}

static void task_free(sh_task_t *task) {
    sh_ffi_store_close(task->handle);
    free(task->store);
    free(task->topic);
    free(task->changelog);
    free(task);
}

void sh_tasks_free(sh_tasks_t *t) {
    if (!t) return;
    sh_openers_free(t->openers);
    while (t->tasks) {
        sh_task_t *next = t->tasks->next;
        task_free(t->tasks);
        t->tasks = next;
    }
    free_decls(t->decls, t->decl_count);
    free(t->ranges_topic);
    sh_read_ahead_free(t->reads);
    if (t->consumer) {
        rd_kafka_consumer_close(t->consumer);
        rd_kafka_destroy(t->consumer);
    }
    pthread_mutex_destroy(&t->lock);
    free(t->state_dir);
    free(t->app_id);
    free(t);
}

void sh_tasks_lock(sh_tasks_t *t) { pthread_mutex_lock(&t->lock); }
void sh_tasks_unlock(sh_tasks_t *t) { pthread_mutex_unlock(&t->lock); }

void sh_tasks_set_declarations(sh_tasks_t *t, sh_ctx_t *ctx) {
    int n = sh_ffi_store_count(ctx);
    sh_store_decl_t *copy = calloc((size_t)n + 1, sizeof *copy);
    if (!copy) {
        sh_log(SH_LOG_ERROR, "out of memory copying %d store declarations; keeping the old ones",
               n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const sh_store_decl_t *d = sh_ctx_store_decl(ctx, i);
        copy[i] = *d;
        copy[i].name = strdup(d->name);
        copy[i].source_topic = strdup(d->source_topic);
        copy[i].key_serde = strdup(d->key_serde);
        copy[i].value_serde = strdup(d->value_serde);
        if (!copy[i].name || !copy[i].source_topic || !copy[i].key_serde || !copy[i].value_serde) {
            sh_log(SH_LOG_ERROR, "out of memory copying store declarations; keeping the old ones");
            free_decls(copy, i + 1);
            return;
        }
    }
    sh_tasks_lock(t);
    free_decls(t->decls, t->decl_count);
    t->decls = copy;
    t->decl_count = n;
    sh_tasks_unlock(t);
}

const sh_store_decl_t *sh_tasks_declaration(sh_tasks_t *t, const char *name) {
    for (int i = 0; i < t->decl_count; i++)
        if (strcmp(t->decls[i].name, name) == 0) return &t->decls[i];
    return NULL;
}

int sh_tasks_declaration_count(sh_tasks_t *t) { return t->decl_count; }
const sh_store_decl_t *sh_tasks_declaration_at(sh_tasks_t *t, int index) {
    return index >= 0 && index < t->decl_count ? &t->decls[index] : NULL;
}

int sh_tasks_restoring(sh_tasks_t *t) { return t->restoring; }
void sh_tasks_set_ready(sh_tasks_t *t) { __atomic_store_n(&t->ready, 1, __ATOMIC_SEQ_CST); }
bool sh_tasks_ready(sh_tasks_t *t) { return __atomic_load_n(&t->ready, __ATOMIC_SEQ_CST) != 0; }

static sh_task_t *find_task(sh_tasks_t *t, const char *store, int32_t partition) {
    for (sh_task_t *task = t->tasks; task; task = task->next)
        if (task->partition == partition && strcmp(task->store, store) == 0) return task;
    return NULL;
}

/* ---- assignment ---- */

static int64_t retention_of(const sh_store_decl_t *d) {
    return d->retention_ms > 0 ? d->retention_ms : 1;
}

static sh_task_t *task_new(sh_tasks_t *t, const sh_store_decl_t *d, const char *topic,
                           int32_t partition, char *errbuf, size_t errlen) {
    sh_task_t *task = calloc(1, sizeof *task);
    if (!task || !(task->store = strdup(d->name)) || !(task->topic = strdup(topic)) ||
        !(task->changelog = sh_topic_name(t->app_id, SH_TOPIC_CHANGELOG, d->name))) {
        snprintf(errbuf, errlen, "out of memory opening store %s partition %d", d->name,
                 (int)partition);
        if (task) task_free(task);
        return NULL;
    }
    task->partition = partition;
    task->kind = d->kind;
    task->delivered = task->checkpointed = -1;
    task->checkpointed_ms = sh_clock_now_ms();
    /* No context and no app id: this handle only reads and restores, so it
     * must not emit to the changelog. */
    task->handle = t->openers ? sh_openers_take(t->openers, d->name, partition) : NULL;
    if (!task->handle)
        task->handle = sh_ffi_store_open(NULL, t->state_dir, NULL, d->name, d->kind, partition,
                                         retention_of(d));
    if (!task->handle) {
        snprintf(errbuf, errlen, "cannot open store %s partition %d under %s", d->name,
                 (int)partition, t->state_dir);
        task_free(task);
        return NULL;
    }
    return task;
}

/* partition's [low, high) of changelog, from the ranges asked for every
 * partition at once; asked again once they are a few seconds old (a new
 * assignment), or NULL when they cannot be had (the restore asks itself). */
static const int64_t *range_of(sh_tasks_t *t, const char *changelog, int32_t partition) {
    int64_t now = sh_clock_now_ms();
    if (!t->ranges_topic || strcmp(t->ranges_topic, changelog) != 0 ||
        now - t->ranges_ms > RANGES_FRESH_MS) {
        free(t->ranges_topic);
        t->ranges_topic = strdup(changelog);
        t->range_count = t->ranges_topic ? sh_restore_ranges(t->consumer, changelog, t->ranges,
                                                             SH_TASKS_MAX_RANGES)
                                         : -1;
        t->ranges_ms = now;
    }
    return partition >= 0 && partition < t->range_count ? &t->ranges[2 * partition] : NULL;
}

void sh_tasks_prepare(sh_tasks_t *t, const char *topic, int32_t partition) {
    if (!t->openers && !(t->openers = sh_openers_new(t->state_dir))) return;
    /* Unlocked: only this thread changes the declarations and the task
     * list, and asking for the ranges may take a while. */
    for (int i = 0; i < t->decl_count; i++) {
        const sh_store_decl_t *d = &t->decls[i];
        if (strcmp(d->source_topic, topic) != 0 || find_task(t, d->name, partition)) continue;
        sh_openers_add(t->openers, d->name, d->kind, partition, retention_of(d));
        /* its changelog read ahead from where the restore will likely start */
        char *changelog = sh_topic_name(t->app_id, SH_TOPIC_CHANGELOG, d->name);
        const int64_t *range = changelog ? range_of(t, changelog, partition) : NULL;
        if (range) {
            int64_t start = sh_store_checkpoint_peek(t->state_dir, d->name, partition) + 1;
            if (start < range[1])
                sh_read_ahead_plan(t->reads, changelog, partition,
                                   start > range[0] ? start : range[0]);
        }
        free(changelog);
    }
}

void sh_tasks_assignment_done(sh_tasks_t *t) {
    if (t->openers) sh_openers_drop(t->openers);
    sh_read_ahead_clear(t->reads);
}

int sh_tasks_assign(sh_tasks_t *t, const char *topic, int32_t partition, char *errbuf,
                    size_t errlen) {
    sh_tasks_lock(t);
    int rc = 0;
    for (int i = 0; i < t->decl_count && rc == 0; i++) {
        const sh_store_decl_t *d = &t->decls[i];
        if (strcmp(d->source_topic, topic) != 0 || find_task(t, d->name, partition)) continue;
        sh_task_t *task = task_new(t, d, topic, partition, errbuf, errlen);
        if (!task) {
            rc = -1;
            break;
        }
        task->restoring = 1;
        t->restoring++;
        task->next = t->tasks;
        t->tasks = task;
        /* Readers skip a restoring task, so the replay runs unlocked and
         * /healthz answers meanwhile. Only this thread changes the
         * declarations (on a reload, between batches), so d stays valid. */
        sh_tasks_unlock(t);
        int64_t restored_to = -1, checkpointed = -1;
        const int64_t *range = range_of(t, task->changelog, partition);
        rc = sh_restore_store(t->reads, task->handle, task->changelog, range, t->stopping,
                              &restored_to,
                              &checkpointed, errbuf, errlen);
        sh_tasks_lock(t);
        /* the next periodic checkpoint writes what the replay added */
        task->delivered = restored_to;
        task->checkpointed = checkpointed;
        task->restoring = 0;
        t->restoring--;
    }
    sh_tasks_unlock(t);
    return rc;
}

void sh_tasks_checkpoint(sh_tasks_t *t, const char *topic, int32_t partition, int64_t min_delta) {
    for (sh_task_t *task = t->tasks; task; task = task->next) {
        if (topic && (task->partition != partition || strcmp(task->topic, topic) != 0)) continue;
        if (task->restoring || task->delivered <= task->checkpointed) continue;
        int64_t now = sh_clock_now_ms();
        if (task->delivered - task->checkpointed < min_delta &&
            now - task->checkpointed_ms < SH_TASKS_CHECKPOINT_MAX_AGE_MS)
            continue;
        if (sh_store_checkpoint_write(task->handle, task->delivered) == SH_OK) {
            task->checkpointed = task->delivered;
            task->checkpointed_ms = now;
        } else {
            sh_log(SH_LOG_WARN, "checkpoint: %s", sh_ffi_err_message());
        }
    }
}

void sh_tasks_release(sh_tasks_t *t, const char *topic, int32_t partition) {
    sh_tasks_lock(t);
    for (sh_task_t **p = &t->tasks; *p;) {
        sh_task_t *task = *p;
        if (!topic || (task->partition == partition && strcmp(task->topic, topic) == 0)) {
            *p = task->next;
            task_free(task);
        } else {
            p = &task->next;
        }
    }
    sh_tasks_unlock(t);
}

void sh_tasks_delivered(sh_tasks_t *t, const char *changelog, int32_t partition, int64_t offset) {
    for (sh_task_t *task = t->tasks; task; task = task->next)
        if (task->partition == partition && offset > task->delivered &&
            strcmp(task->changelog, changelog) == 0)
            task->delivered = offset;
}

/* ---- reading ---- */

sh_task_t *sh_tasks_next_readable(sh_tasks_t *t, const char *name, sh_task_t *previous) {
    for (sh_task_t *task = previous ? previous->next : t->tasks; task; task = task->next)
        if (!task->restoring && strcmp(task->store, name) == 0) return task;
    return NULL;
}

sh_task_t *sh_tasks_find_readable(sh_tasks_t *t, const char *name, int32_t partition) {
    sh_task_t *task = find_task(t, name, partition);
    return task && !task->restoring ? task : NULL;
}

const char *sh_task_store_name(const sh_task_t *task) { return task->store; }
int32_t sh_task_partition(const sh_task_t *task) { return task->partition; }
int sh_task_kind(const sh_task_t *task) { return task->kind; }
sh_store_t *sh_task_store(const sh_task_t *task) { return task->handle; }
