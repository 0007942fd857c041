/*
 * openers.c - opens the stores of an assignment ahead of their restores
 * (see openers.h).
 *
 * Opening a task's RocksDB database waits on its files (a fresh one syncs
 * ~20 times: ~11 ms idle, ~100 ms on a loaded disk), and a stream thread
 * restores its tasks one after another: opened in line, 64 opens cost more
 * than the 64 replays. The stream thread lists the stores of an assignment
 * here first; SH_OPENERS threads open them in that order (the registry
 * opens different directories in parallel) while the stream thread replays,
 * and each task takes its handle when its turn comes, waiting only if it is
 * still being opened. A job still queued when its task asks is opened by the
 * asking thread itself. An open that failed is not reported here: the task
 * opens again in line, which says why.
 *
 * @locks lock guards the job list, each job's state and quit; handles are
 * opened and closed without it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "state/openers.h"

enum { SH_OPENERS = 4 };

typedef enum { QUEUED, OPENING, OPENED, ABANDONED } job_state_t;

typedef struct job {
    struct job *next;
    char *name;
    int kind;
    int32_t partition;
    int64_t retention_ms;
    job_state_t state;
    sh_store_t *handle;
} job_t;

struct sh_openers {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a job was queued or opened, or quit was set */
    char *state_dir;
    job_t *jobs; /* in the order they were added; ABANDONED ones are unlisted */
    pthread_t threads[SH_OPENERS];
    int started;
    bool quit;
};

sh_openers_t *sh_openers_new(const char *state_dir) {
    sh_openers_t *o = calloc(1, sizeof *o);
    if (!o || !(o->state_dir = strdup(state_dir))) {
        free(o);
        return NULL;
    }
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->changed, NULL);
    return o;
}

static void job_free(job_t *job) {
    if (job->handle) sh_ffi_store_close(job->handle);
    free(job->name);
    free(job);
}

static sh_store_t *open_store(const sh_openers_t *o, const job_t *job) {
    /* No context and no app id: the task's handle only reads and restores. */
    return sh_ffi_store_open(NULL, o->state_dir, NULL, job->name, job->kind, job->partition,
                             job->retention_ms);
}

static void *opener(void *arg) {
    sh_openers_t *o = arg;
    pthread_mutex_lock(&o->lock);
    while (!o->quit) {
        job_t *job = o->jobs;
        while (job && job->state != QUEUED)
            job = job->next;
        if (!job) {
            pthread_cond_wait(&o->changed, &o->lock);
            continue;
        }
        job->state = OPENING;
        pthread_mutex_unlock(&o->lock);
        sh_store_t *handle = open_store(o, job);
        pthread_mutex_lock(&o->lock);
        job->handle = handle;
        if (job->state == ABANDONED) {
            job_free(job); /* unlisted by sh_openers_drop: ours to free */
        } else {
            job->state = OPENED;
            pthread_cond_broadcast(&o->changed);
        }
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

void sh_openers_add(sh_openers_t *o, const char *name, int kind, int32_t partition,
                    int64_t retention_ms) {
    job_t *job = calloc(1, sizeof *job);
    if (!job || !(job->name = strdup(name))) {
        free(job);
        return; /* the task opens its store in line */
    }
    job->kind = kind;
    job->partition = partition;
    job->retention_ms = retention_ms;
    pthread_mutex_lock(&o->lock);
    job_t **tail = &o->jobs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = job;
    if (o->started < SH_OPENERS && pthread_create(&o->threads[o->started], NULL, opener, o) == 0)
        o->started++;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
}

/* Unlists job. @locks lock */
static void unlist(sh_openers_t *o, job_t *job) {
    for (job_t **p = &o->jobs; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            return;
        }
}

sh_store_t *sh_openers_take(sh_openers_t *o, const char *name, int32_t partition) {
    pthread_mutex_lock(&o->lock);
    job_t *job = o->jobs;
    while (job && (job->partition != partition || strcmp(job->name, name) != 0))
        job = job->next;
    if (!job) {
        pthread_mutex_unlock(&o->lock);
        return NULL;
    }
    while (job->state == OPENING)
        pthread_cond_wait(&o->changed, &o->lock);
    unlist(o, job);
    pthread_mutex_unlock(&o->lock);
    sh_store_t *handle = job->state == OPENED ? job->handle : open_store(o, job);
    job->handle = NULL;
    job_free(job);
    return handle;
}

void sh_openers_drop(sh_openers_t *o) {
    pthread_mutex_lock(&o->lock);
    job_t *jobs = o->jobs, *closing = NULL;
    o->jobs = NULL;
    while (jobs) {
        job_t *job = jobs;
        jobs = job->next;
        if (job->state == OPENING) {
            job->state = ABANDONED; /* its opener frees it */
        } else {
            job->next = closing;
            closing = job;
        }
    }
    pthread_mutex_unlock(&o->lock);
    while (closing) {
        job_t *job = closing;
        closing = job->next;
        job_free(job);
    }
}

void sh_openers_free(sh_openers_t *o) {
    if (!o) return;
    sh_openers_drop(o);
    pthread_mutex_lock(&o->lock);
    o->quit = true;
    pthread_cond_broadcast(&o->changed);
    pthread_mutex_unlock(&o->lock);
    for (int i = 0; i < o->started; i++)
        pthread_join(o->threads[i], NULL);
    pthread_cond_destroy(&o->changed);
    pthread_mutex_destroy(&o->lock);
    free(o->state_dir);
    free(o);
}
