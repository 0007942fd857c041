/*
 * restore.c - restores state stores from their changelogs and checkpoints
 * them, one task per (declared store, assigned partition of its source
 * topic).
 *
 * On assignment the host opens its own handle on each task's store (it
 * shares the RocksDB instance with the Lua VM's handle through the store
 * layer's reference counts), reads the checkpoint, and replays the
 * changelog partition from the offset after it up to the high watermark
 * with an assign()-only consumer, logging progress every second. A missing
 * or corrupt checkpoint has already wiped the store (store.c), so the replay
 * starts from the changelog's beginning.
 *
 * Afterwards a task's checkpoint follows the producer's delivery reports:
 * the highest delivered changelog offset is written periodically, on
 * revocation and on a clean stop, never an offset Kafka has not
 * acknowledged. Local writes past it are replayed again on the next restore,
 * which is harmless: a changelog record is the value, not a delta.
 *
 * A mutex serializes the stream thread's store use with the HTTP thread's
 * reads, which RocksDB would allow but the window store's segment list and
 * stream time do not. A task being restored is skipped by readers instead,
 * so /healthz keeps answering during a long restore.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state/restore.h"

#define RESTORE_BATCH 4096

struct sh_tasks {
    pthread_mutex_t lock;
    int ready; /* the first assignment's stores are restored */
    char *state_dir, *app_id;
    rd_kafka_t *consumer;
    volatile sig_atomic_t *stopping;
    sh_store_decl_t *decls;
    int decl_count;
    sh_task_t *tasks;
    volatile int restoring;
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void free_decls(sh_store_decl_t *decls, int count) {
    for (int i = 0; i < count; i++) {
        free(decls[i].name);
        free(decls[i].source_topic);
        free(decls[i].key_serde);
        free(decls[i].value_serde);
    }
    free(decls);
}

sh_tasks_t *sh_tasks_new(const char *state_dir, const char *app_id, rd_kafka_t *restore_consumer,
                         volatile sig_atomic_t *stopping) {
    sh_tasks_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    pthread_mutex_init(&t->lock, NULL);
    t->state_dir = strdup(state_dir);
    t->app_id = strdup(app_id);
    t->consumer = restore_consumer;
    t->stopping = stopping;
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
    while (t->tasks) {
        sh_task_t *next = t->tasks->next;
        task_free(t->tasks);
        t->tasks = next;
    }
    free_decls(t->decls, t->decl_count);
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
    if (!copy) return;
    for (int i = 0; i < n; i++) {
        const sh_store_decl_t *d = sh_ctx_store_decl(ctx, i);
        copy[i] = *d;
        copy[i].name = strdup(d->name);
        copy[i].source_topic = strdup(d->source_topic);
        copy[i].key_serde = strdup(d->key_serde);
        copy[i].value_serde = strdup(d->value_serde);
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
sh_task_t *sh_tasks_first(sh_tasks_t *t) { return t->tasks; }

static sh_task_t *find_task(sh_tasks_t *t, const char *store, int32_t partition) {
    for (sh_task_t *task = t->tasks; task; task = task->next)
        if (task->partition == partition && strcmp(task->store, store) == 0) return task;
    return NULL;
}

/* ---- restore ---- */

static void log_progress(const sh_task_t *task, long long done, long long total, double started,
                         bool final) {
    double secs = now_s() - started;
    double rate = secs > 0 ? (double)done / secs : 0;
    if (final) {
        sh_log(SH_LOG_INFO, "restored store %s partition %d: %lld records from %s in %.3f s (%.0f records/s)",
               task->store, (int)task->partition, done, task->changelog, secs, rate);
        return;
    }
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    sh_log(SH_LOG_INFO, "restoring store %s partition %d: %lld of %lld records (%.0f records/s, ETA %.0f s)",
           task->store, (int)task->partition, done, total, rate, eta);
}

/* Replays task's changelog partition from its checkpoint to the high
 * watermark into the store. */
static int restore_task(sh_tasks_t *t, sh_task_t *task, char *errbuf, size_t errlen) {
    int64_t checkpoint = -1;
    if (sh_store_checkpoint_read(task->handle, &checkpoint) != SH_OK) {
        snprintf(errbuf, errlen, "%s", sh_ffi_err_message());
        return -1;
    }
    int64_t low = 0, high = 0;
    rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(t->consumer, task->changelog,
                                                               task->partition, &low, &high, 10000);
    if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
        low = high = 0; /* no changelog yet: nothing to replay */
    } else if (err) {
        snprintf(errbuf, errlen, "store %s partition %d: cannot read the end of %s: %s", task->store,
                 (int)task->partition, task->changelog, rd_kafka_err2str(err));
        return -1;
    }
    if (checkpoint >= high && high > 0)
        sh_log(SH_LOG_WARN, "store %s partition %d: checkpoint %" PRId64 " is past the end of %s (%" PRId64
               "); was the topic recreated? Run `streamhost reset` to rebuild",
               task->store, (int)task->partition, checkpoint, task->changelog, high);
    int64_t start = checkpoint + 1 > low ? checkpoint + 1 : low;
    task->delivered = task->checkpointed = checkpoint;
    if (start >= high) {
        sh_log(SH_LOG_INFO, "store %s partition %d is up to date with %s (offset %" PRId64 ")",
               task->store, (int)task->partition, task->changelog, checkpoint);
        return 0;
    }

    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, task->changelog, task->partition)->offset = start;
    err = rd_kafka_assign(t->consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (err) {
        snprintf(errbuf, errlen, "store %s partition %d: cannot read %s: %s", task->store,
                 (int)task->partition, task->changelog, rd_kafka_err2str(err));
        return -1;
    }
    long long total = high - start, done = 0;
    int64_t last = checkpoint;
    double started = now_s(), logged = started;
    sh_log(SH_LOG_INFO, "restoring store %s partition %d from %s offsets %" PRId64 "..%" PRId64,
           task->store, (int)task->partition, task->changelog, start, high - 1);
    int rc = 0;
    bool at_end = false;
    rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(t->consumer);
    static rd_kafka_message_t *msgs[RESTORE_BATCH];
    static sh_ffi_record_t records[RESTORE_BATCH];
    while (last < high - 1 && !at_end && rc == 0 && !*t->stopping) {
        /* wait for one message only, then take what is queued: waiting for a
         * full batch cost up to 200 ms at the end of every partition */
        ssize_t n = 0;
        rd_kafka_message_t *first = rd_kafka_consume_queue(queue, 200);
        if (first) {
            msgs[0] = first;
            ssize_t more = rd_kafka_consume_batch_queue(queue, 0, msgs + 1, RESTORE_BATCH - 1);
            n = 1 + (more > 0 ? more : 0);
        }
        int count = 0;
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                at_end = true; /* compaction or markers can leave the last offsets empty */
            } else if (m->err && rc == 0) {
                snprintf(errbuf, errlen, "store %s partition %d: reading %s: %s", task->store,
                         (int)task->partition, task->changelog, rd_kafka_message_errstr(m));
                rc = -1;
            } else if (!m->err) {
                records[count] = (sh_ffi_record_t){.key = m->key, .key_len = m->key_len,
                                                   .value = m->payload, .value_len = m->len,
                                                   .offset = m->offset};
                count++;
            }
        }
        if (rc == 0 && count > 0) {
            if (sh_store_restore_batch(task->handle, records, count) != SH_OK) {
                snprintf(errbuf, errlen, "%s (changelog %s [%d] offsets %" PRId64 "..%" PRId64 ")",
                         sh_ffi_err_message(), task->changelog, (int)task->partition,
                         records[0].offset, records[count - 1].offset);
                rc = -1;
            } else {
                last = records[count - 1].offset;
                done += count;
            }
        }
        for (ssize_t i = 0; i < n; i++) rd_kafka_message_destroy(msgs[i]);
        if (now_s() - logged >= 1.0) {
            log_progress(task, done, total, started, false);
            logged = now_s();
        }
    }
    rd_kafka_queue_destroy(queue);
    rd_kafka_assign(t->consumer, NULL);
    if (rc != 0) return rc;
    if (*t->stopping) {
        snprintf(errbuf, errlen, "store %s partition %d: restore interrupted by a stop", task->store,
                 (int)task->partition);
        return -1;
    }
    log_progress(task, done, total, started, true);
    if (sh_store_checkpoint_write(task->handle, last) != SH_OK) {
        snprintf(errbuf, errlen, "%s", sh_ffi_err_message());
        return -1;
    }
    task->delivered = task->checkpointed = last;
    return 0;
}

int sh_tasks_assign(sh_tasks_t *t, const char *topic, int32_t partition, char *errbuf,
                    size_t errlen) {
    sh_tasks_lock(t);
    int n = t->decl_count;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const sh_store_decl_t *d = &t->decls[i];
        if (strcmp(d->source_topic, topic) != 0 || find_task(t, d->name, partition)) continue;
        sh_task_t *task = calloc(1, sizeof *task);
        if (!task || !(task->store = strdup(d->name)) || !(task->topic = strdup(topic)) ||
            asprintf(&task->changelog, "%s-%s-changelog", t->app_id, d->name) < 0) {
            snprintf(errbuf, errlen, "out of memory");
            if (task) task_free(task);
            rc = -1;
            break;
        }
        task->partition = partition;
        task->kind = d->kind;
        /* No context and no app id: this handle only reads and restores, so
         * it must not emit to the changelog. */
        task->handle = sh_ffi_store_open(NULL, t->state_dir, NULL, d->name, d->kind, partition,
                                         d->retention_ms > 0 ? d->retention_ms : 1);
        if (!task->handle) {
            snprintf(errbuf, errlen, "cannot open store %s partition %d under %s", d->name,
                     (int)partition, t->state_dir);
            task_free(task);
            rc = -1;
            break;
        }
        task->restoring = 1;
        t->restoring++;
        task->next = t->tasks;
        t->tasks = task;
        /* Readers skip a restoring task, so the replay runs unlocked and
         * /healthz answers meanwhile. */
        sh_tasks_unlock(t);
        rc = restore_task(t, task, errbuf, errlen);
        sh_tasks_lock(t);
        task->restoring = 0;
        t->restoring--;
        n = t->decl_count; /* a reload cannot happen here, but stay correct */
    }
    sh_tasks_unlock(t);
    return rc;
}

void sh_tasks_checkpoint(sh_tasks_t *t, const char *topic, int32_t partition) {
    for (sh_task_t *task = t->tasks; task; task = task->next) {
        if (topic && (task->partition != partition || strcmp(task->topic, topic) != 0)) continue;
        if (task->restoring || task->delivered <= task->checkpointed) continue;
        if (sh_store_checkpoint_write(task->handle, task->delivered) == SH_OK)
            task->checkpointed = task->delivered;
        else
            sh_log(SH_LOG_WARN, "checkpoint: %s", sh_ffi_err_message());
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
