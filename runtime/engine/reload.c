/*
 * reload.c - one version number for the process (see reload.h).
 *
 * A published version is a slot per thread holding that thread's VM until
 * it takes it. A thread that has not taken version N when N+1 is published
 * gets N+1 and N's VM is freed unused: threads may skip versions, never run
 * different ones once they have all passed a batch boundary.
 *
 * The first stream thread only notices a change and hands it, with a copy
 * of its sample, to a worker thread; the trial and the loads (tens of ms,
 * more on a busy machine) run there while every stream thread goes on with
 * the running version, so a reload pauses a stream thread only for the
 * swap itself. One version is built at a time, and only once the first
 * thread has taken the last one: the worker reads the running VM's
 * declarations (never its Lua state), which must outlive the build.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "engine/reload.h"
#include "engine/sample.h"
#include "engine/watch.h"

/* The time a new version gets for the sample (with the JIT off), and the
 * most sample records a build keeps (loop.c's sample holds 64). */
enum { TRIAL_BUDGET_MS = 5000, SAMPLE_MAX = 64 };

struct sh_reload {
    char *app_path, *state_dir;
    int threads;
    const sh_output_t *const *outputs;
    sh_watch_t *watch;
    int seen;    /* the request generation acted on */
    bool wanted; /* a change noticed and not yet handed to the worker */
    pthread_mutex_t watch_lock; /* watch: the first thread and the worker */
    pthread_mutex_t lock;
    int version;     /* published last */
    double built_ms; /* how long building `version` took */
    sh_vm_t **slots; /* per thread: the VM of `version` not yet taken */
    /* the worker, under lock */
    pthread_t worker;
    pthread_cond_t wake;
    bool worker_started, stopping;
    bool job;                 /* a version is being built */
    sh_vm_t *job_running;     /* the first thread's VM when the job began */
    sh_sample_t *job_sample;  /* the records the new version is tried on */
};

/* SIGHUP and POST /reload bump a generation; lock-free atomics are
 * async-signal-safe. */
static int generation;

void sh_reload_request(void) { __atomic_add_fetch(&generation, 1, __ATOMIC_SEQ_CST); }

sh_reload_t *sh_reload_new(const char *app_path, const char *state_dir, int threads,
                           const sh_output_t *const *outputs) {
    sh_reload_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->app_path = strdup(app_path);
    r->state_dir = strdup(state_dir);
    r->threads = threads;
    r->outputs = outputs;
    r->version = 1;
    r->seen = __atomic_load_n(&generation, __ATOMIC_SEQ_CST);
    r->slots = calloc((size_t)threads, sizeof *r->slots);
    r->watch = sh_watch_new();
    r->job_sample = sh_sample_new(SAMPLE_MAX);
    pthread_mutex_init(&r->lock, NULL);
    pthread_mutex_init(&r->watch_lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (!r->app_path || !r->state_dir || !r->slots || !r->watch || !r->job_sample) {
        sh_reload_free(r);
        return NULL;
    }
    return r;
}

void sh_reload_stop(sh_reload_t *r) {
    if (!r) return;
    pthread_mutex_lock(&r->lock);
    r->stopping = true;
    bool started = r->worker_started;
    r->worker_started = false;
    pthread_cond_broadcast(&r->wake);
    pthread_mutex_unlock(&r->lock);
    if (started) pthread_join(r->worker, NULL);
}

void sh_reload_free(sh_reload_t *r) {
    if (!r) return;
    sh_reload_stop(r);
    for (int i = 0; r->slots && i < r->threads; i++) sh_vm_free(r->slots[i]);
    free(r->slots);
    sh_watch_free(r->watch);
    sh_sample_free(r->job_sample);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->watch_lock);
    pthread_mutex_destroy(&r->lock);
    free(r->app_path);
    free(r->state_dir);
    free(r);
}

static void watch_files(sh_reload_t *r, const char *const *files, int count) {
    pthread_mutex_lock(&r->watch_lock);
    sh_watch_files(r->watch, files, count);
    pthread_mutex_unlock(&r->watch_lock);
}

void sh_reload_watch(sh_reload_t *r, sh_vm_t *running) {
    int count;
    const char *const *files = sh_vm_watched_files(running, &count);
    watch_files(r, files, count);
}

void sh_reload_watch_app(sh_reload_t *r) {
    const char *files[] = {r->app_path};
    watch_files(r, files, 1);
}

static bool reads_topic(sh_ctx_t *ctx, const char *topic) {
    for (int i = 0; i < sh_ffi_source_count(ctx); i++)
        if (strcmp(sh_ffi_source_name(ctx, i), topic) == 0) return true;
    return false;
}

static const sh_store_decl_t *find_store(sh_ctx_t *ctx, const char *name) {
    for (int i = 0; i < sh_ffi_store_count(ctx); i++)
        if (strcmp(sh_ctx_store_decl(ctx, i)->name, name) == 0) return sh_ctx_store_decl(ctx, i);
    return NULL;
}

static const char *kind_name(int kind) { return kind == SH_STORE_WINDOW ? "window" : "key-value"; }

/* The stores both versions declare must agree on what their bytes mean. */
static bool same_stores(sh_vm_t *running, sh_vm_t *next, char *why, size_t len) {
    sh_ctx_t *a = sh_vm_ctx(running), *b = sh_vm_ctx(next);
    int files;
    const char *app = sh_vm_watched_files(next, &files)[0];
    for (int i = 0; i < sh_ffi_store_count(b); i++) {
        const sh_store_decl_t *n = sh_ctx_store_decl(b, i), *o = find_store(a, n->name);
        if (!o) continue; /* a new store starts empty */
        const char *what = NULL;
        char was[128] = "", is[128] = "";
        if (o->kind != n->kind) {
            what = "kind";
            snprintf(was, sizeof was, "%s", kind_name(o->kind));
            snprintf(is, sizeof is, "%s", kind_name(n->kind));
        } else if (strcmp(o->key_serde, n->key_serde) != 0) {
            what = "key format";
            snprintf(was, sizeof was, "%s", o->key_serde);
            snprintf(is, sizeof is, "%s", n->key_serde);
        } else if (strcmp(o->value_serde, n->value_serde) != 0) {
            what = "value format";
            snprintf(was, sizeof was, "%s", o->value_serde);
            snprintf(is, sizeof is, "%s", n->value_serde);
        } else if (o->kind == SH_STORE_WINDOW && o->window_size_ms != n->window_size_ms) {
            what = "window size";
            snprintf(was, sizeof was, "%lld ms", (long long)o->window_size_ms);
            snprintf(is, sizeof is, "%lld ms", (long long)n->window_size_ms);
        } else if (strcmp(o->source_topic, n->source_topic) != 0) {
            what = "input topic";
            snprintf(was, sizeof was, "%s", o->source_topic);
            snprintf(is, sizeof is, "%s", n->source_topic);
        }
        if (what) {
            snprintf(why, len,
                     "%s:1: store %s changes its %s from %s to %s, which its saved state and "
                     "changelog cannot follow; give the store a new name, or stop the app and "
                     "run `streamhost reset` before starting the new version",
                     app, n->name, what, was, is);
            return false;
        }
    }
    return true;
}

bool sh_reload_compatible(sh_vm_t *running, sh_vm_t *next, char *why, size_t len) {
    sh_ctx_t *a = sh_vm_ctx(running), *b = sh_vm_ctx(next);
    for (int i = 0; i < sh_ffi_source_count(b); i++) {
        const char *topic = sh_ffi_source_name(b, i);
        if (reads_topic(a, topic)) continue;
        char *where = sh_vm_source_location(next, topic);
        snprintf(why, len,
                 "%s: the new version reads topic %s, which the running one does not; "
                 "restart the app to change its inputs",
                 where, topic);
        free(where);
        return false;
    }
    for (int i = 0; i < sh_ffi_source_count(a); i++) {
        const char *topic = sh_ffi_source_name(a, i);
        if (reads_topic(b, topic)) continue;
        int files;
        snprintf(why, len,
                 "%s:1: the new version no longer reads topic %s; restart the app to change "
                 "its inputs",
                 sh_vm_watched_files(next, &files)[0], topic);
        return false;
    }
    return same_stores(running, next, why, len);
}

bool sh_reload_building(sh_reload_t *r) {
    pthread_mutex_lock(&r->lock);
    bool building = r->job;
    pthread_mutex_unlock(&r->lock);
    return building;
}

bool sh_reload_pending(sh_reload_t *r) {
    return __atomic_load_n(&generation, __ATOMIC_SEQ_CST) != r->seen;
}

static double ms_since(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1e3 +
           (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

/* Removes the scratch directory of a trial. O(files under it). */
static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* Loads the new version in a scratch VM (its stores in a scratch directory,
 * its outputs captured and dropped) and runs it on the sample. */
static int try_on_sample(sh_reload_t *r, sh_vm_t *running, int version,
                         const sh_ffi_record_t *sample, int count, char *err, size_t errlen) {
    char scratch[PATH_MAX];
    snprintf(scratch, sizeof scratch, "%s/.reload-trial-XXXXXX", r->state_dir);
    if (mkdir(r->state_dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", r->state_dir, strerror(errno));
        return -1;
    }
    if (!mkdtemp(scratch)) {
        snprintf(err, errlen, "cannot create a scratch directory in %s: %s", r->state_dir,
                 strerror(errno));
        return -1;
    }
    int rc = -1;
    sh_ffi_record_t *records = calloc((size_t)count + 1, sizeof *records);
    sh_vm_t *vm = sh_vm_load_trial(r->app_path, NULL, version, scratch, true, err, errlen);
    if (vm && records && sh_reload_compatible(running, vm, err, errlen)) {
        /* the new version may declare its inputs in another order */
        sh_ctx_t *was = sh_vm_ctx(running), *is = sh_vm_ctx(vm);
        int n = 0;
        for (int i = 0; i < count; i++) {
            const char *topic = sh_ffi_source_name(was, sample[i].source);
            for (int j = 0; topic && j < sh_ffi_source_count(is); j++)
                if (strcmp(sh_ffi_source_name(is, j), topic) == 0) {
                    records[n] = sample[i];
                    records[n++].source = j;
                }
        }
        rc = sh_vm_trial(vm, records, n, TRIAL_BUDGET_MS, err, errlen);
        if (rc != 0) {
            char *why = strdup(err);
            if (why)
                snprintf(err, errlen, "%s: version %d was tried on %d recent record(s) and %s",
                         r->app_path, version, n, why);
            free(why);
        }
    } else if (!records) {
        snprintf(err, errlen, "out of memory");
    }
    sh_vm_free(vm);
    free(records);
    nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

/* Tries the new version and loads it once per stream thread; publishes it
 * when every step passes. @locality the worker */
static void build_version(sh_reload_t *r, sh_vm_t *running, const sh_ffi_record_t *sample,
                          int sample_count) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    pthread_mutex_lock(&r->lock);
    int version = r->version + 1;
    pthread_mutex_unlock(&r->lock);
    sh_vm_t **next = calloc((size_t)r->threads, sizeof *next);
    char err[2048] = "out of memory";
    bool ok = next != NULL &&
              try_on_sample(r, running, version, sample, sample_count, err, sizeof err) == 0;
    for (int i = 0; ok && i < r->threads; i++) {
        next[i] = sh_vm_load(r->app_path, r->outputs[i], version, r->state_dir, err, sizeof err);
        ok = next[i] != NULL;
    }
    if (!ok) {
        for (int i = 0; next && i < r->threads; i++) sh_vm_free(next[i]);
        free(next);
        sh_log(SH_LOG_ERROR, "reload failed: %s; keeping version %d", err, version - 1);
        return;
    }
    /* the files the new version reads, watched before a thread can take it */
    int count;
    const char *const *files = sh_vm_watched_files(next[0], &count);
    watch_files(r, files, count);
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->threads; i++) {
        sh_vm_free(r->slots[i]); /* a version this thread never took */
        r->slots[i] = next[i];
    }
    r->version = version;
    r->built_ms = ms_since(&start);
    pthread_mutex_unlock(&r->lock);
    free(next);
    sh_log(SH_LOG_DEBUG, "built version %d of %s", version, r->app_path);
}

/* The worker's builds are background work: at nice 5 a build gets all of
 * a core the stream and client threads leave idle but only about a quarter
 * of one they want, so the records around a reload are held up less by
 * the loads. Budgets are CPU time (vm.c), so this never refuses a version. */
enum { WORKER_NICE = 5 };

static void *worker_main(void *arg) {
    sh_reload_t *r = arg;
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), WORKER_NICE) != 0)
        sh_log(SH_LOG_DEBUG, "reload thread keeps its priority: %s", strerror(errno));
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->job && !r->stopping) pthread_cond_wait(&r->wake, &r->lock);
        if (r->stopping) break;
        sh_vm_t *running = r->job_running;
        pthread_mutex_unlock(&r->lock);
        int count;
        const sh_ffi_record_t *sample = sh_sample_records(r->job_sample, &count);
        build_version(r, running, sample, count);
        pthread_mutex_lock(&r->lock);
        r->job = false;
        r->job_running = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

bool sh_reload_check(sh_reload_t *r, sh_vm_t *running, const sh_ffi_record_t *sample,
                     int sample_count) {
    pthread_mutex_lock(&r->watch_lock);
    if (sh_watch_changed(r->watch)) r->wanted = true;
    pthread_mutex_unlock(&r->watch_lock);
    int now = __atomic_load_n(&generation, __ATOMIC_SEQ_CST);
    if (now != r->seen) {
        r->seen = now;
        r->wanted = true;
    }
    if (!r->wanted) return false;
    bool handed = false;
    pthread_mutex_lock(&r->lock);
    /* one build at a time, on top of the version the first thread runs */
    if (!r->job && !r->slots[0] && !r->stopping) {
        if (!r->worker_started)
            r->worker_started = pthread_create(&r->worker, NULL, worker_main, r) == 0;
        if (r->worker_started) {
            sh_sample_take(r->job_sample, sample, sample_count);
            r->job_running = running;
            r->job = true;
            r->wanted = false;
            handed = true;
            pthread_cond_signal(&r->wake);
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (!handed && !r->worker_started && !r->stopping) {
        /* no worker thread: build here, as a last resort */
        r->wanted = false;
        build_version(r, running, sample, sample_count);
    }
    return handed;
}

sh_vm_t *sh_reload_take(sh_reload_t *r, int thread, int *version) {
    pthread_mutex_lock(&r->lock);
    sh_vm_t *vm = r->slots[thread];
    r->slots[thread] = NULL;
    *version = r->version;
    double built_ms = r->built_ms;
    pthread_mutex_unlock(&r->lock);
    /* Said when the first thread takes it, not when it is built: a record
     * sent after this line is processed by the new version (on the first
     * thread; the others take it at their next batch boundary). */
    if (vm && thread == 0)
        sh_log(SH_LOG_INFO, "reloaded %s as version %d in %.1f ms (%d stream thread%s)",
               r->app_path, *version, built_ms, r->threads, r->threads > 1 ? "s" : "");
    return vm;
}

int sh_reload_version(sh_reload_t *r) {
    pthread_mutex_lock(&r->lock);
    int v = r->version;
    pthread_mutex_unlock(&r->lock);
    return v;
}
