/*
 * instance.c - the stream threads of one app (see instance.h).
 *
 * Thread 0 runs on the caller's thread; threads 1..N-1 on their own. Each
 * has its own VM, loaded from the same file as version 1, because nothing
 * is shared between Lua VMs. A fatal error on one thread stops them all.
 *
 * Stopping, in three rounds over every thread: deliver and checkpoint,
 * commit, then leave. Committing everything before anyone leaves matters
 * with threads >= 2: a consumer that leaves first makes the group
 * rebalance, and another's commit during it fails ("rebalance in
 * progress"), so its last records would be processed again on restart.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "engine/instance.h"

/* max.batch.ms when the app sets none (Kafka Streams' max.poll.interval.ms
 * is 5 min; a workshop wants to know sooner) */
enum { DEFAULT_MAX_BATCH_MS = 30000 };

static volatile sig_atomic_t stopping;

void sh_instance_stop(void) { stopping = 1; }
volatile sig_atomic_t *sh_instance_stop_flag(void) { return &stopping; }

static void *run_thread(void *arg) {
    sh_loop_t *loop = arg;
    sh_loop_run(loop);
    if (sh_loop_fatal(loop)) stopping = 1; /* one thread failing stops the instance */
    return NULL;
}

/* Every round over every loop that exists: see the file's comment. */
static int stop_all(sh_loop_t **loops, int count) {
    int rc = 0;
    for (int i = 0; i < count; i++)
        if (loops[i]) sh_loop_drain(loops[i], 30000);
    for (int i = 0; i < count; i++)
        if (loops[i] && !sh_loop_fatal(loops[i])) sh_loop_commit(loops[i]);
    long long in = 0, out = 0;
    for (int i = 0; i < count; i++) {
        if (!loops[i]) continue;
        if (sh_loop_fatal(loops[i])) {
            sh_log(SH_LOG_ERROR, "stopping: %s", sh_loop_fatal(loops[i]));
            rc = 1;
        }
        in += sh_loop_records_in(loops[i]);
        out += sh_loop_records_out(loops[i]);
        sh_loop_free(loops[i]);
    }
    sh_log(SH_LOG_INFO, "stopped after %lld records in, %lld out", in, out);
    return rc;
}

int sh_instance_run(const sh_instance_config_t *c) {
    int n = c->threads;
    sh_loop_t **loops = calloc((size_t)n, sizeof *loops);
    const sh_output_t **outputs = calloc((size_t)n, sizeof *outputs);
    pthread_t *pthreads = calloc((size_t)n, sizeof *pthreads);
    sh_reload_t *reload = NULL;
    sh_watchdog_t *watchdog = NULL;
    sh_vm_t *first = c->first;
    int rc = 1, created = 0, started = 0;
    if (!loops || !outputs || !pthreads) goto out_of_memory;
    if (!(watchdog = sh_watchdog_start(n, DEFAULT_MAX_BATCH_MS, &stopping))) goto out_of_memory;
    if (c->on_stuck) sh_watchdog_on_exit(watchdog, c->on_stuck, c->swap_arg);
    for (int i = 0; i < n; i++) {
        sh_loop_config_t lc = {.thread = i,
                               .source = c->io[i].source,
                               .sink = c->io[i].sink,
                               .tasks = c->io[i].tasks,
                               .stopping = &stopping,
                               .watchdog = watchdog,
                               .on_swap = i == 0 ? c->on_swap : NULL,
                               .on_clean = i == 0 ? c->on_clean : NULL,
                               .swap_arg = c->swap_arg};
        if (!(loops[i] = sh_loop_new(&lc))) goto out_of_memory;
        outputs[i] = sh_loop_output(loops[i]);
    }
    const char *reload_path = c->reload_path ? c->reload_path : c->app_path;
    if (!(reload = sh_reload_new(reload_path, c->state_dir, n, outputs))) goto out_of_memory;
    for (int i = 0; i < n; i++) {
        /* the loops learn of the reloader late: they are made before it */
        sh_loop_set_reload(loops[i], reload);
    }

    for (int i = 0; i < n && !stopping; i++, started = i) {
        char err[2048];
        sh_vm_t *vm = i == 0 ? first
                             : sh_vm_load(c->app_path, outputs[i], 1, c->state_dir, err, sizeof err);
        if (i == 0) first = NULL;
        if (!vm) {
            sh_loop_set_fatal(loops[i], "%s", err);
            break;
        }
        if (sh_loop_bind(loops[i], vm) != 0) break;
    }
    /* Every thread's consumer joins the group only once every VM is loaded:
     * joined one by one, behind loads that take seconds on a busy machine,
     * they would miss the group's first rebalance window (3 s), and the
     * first thread would start on all partitions only to lose most of them
     * in a second rebalance, where the records it processed since its last
     * commit are processed again (the mock cluster refuses that commit). */
    for (int i = 0; i < started && started == n; i++)
        if (sh_loop_subscribe(loops[i]) != 0) {
            started = i;
            break;
        }
    bool ok = started == n && !sh_loop_fatal(loops[n - 1]);
    if (ok) {
        if (strcmp(reload_path, c->app_path) != 0)
            sh_reload_watch_app(reload);
        else
            sh_reload_watch(reload, sh_loop_vm(loops[0]));
        sh_log(SH_LOG_INFO, "running %s as %s (version 1, %d stream thread%s), state in %s",
               c->app_path, sh_vm_app_id(sh_loop_vm(loops[0])), n, n > 1 ? "s" : "",
               c->state_dir);
        for (created = 1; created < n; created++)
            if (pthread_create(&pthreads[created], NULL, run_thread, loops[created]) != 0) {
                sh_loop_set_fatal(loops[created], "cannot start stream thread %d", created);
                stopping = 1;
                break;
            }
        run_thread(loops[0]);
        for (int i = 1; i < created; i++) pthread_join(pthreads[i], NULL);
    }
    sh_reload_stop(reload); /* a build reads thread 0's VM, which stop_all frees */
    rc = stop_all(loops, n);
    goto out;

out_of_memory:
    sh_log(SH_LOG_ERROR, "out of memory");
    for (int i = 0; loops && i < n; i++) sh_loop_free(loops[i]);
out:
    /* sources and sinks without a loop are still the instance's */
    for (int i = 0; i < n; i++)
        if (!loops || !loops[i]) {
            c->io[i].source->ops->destroy(c->io[i].source);
            c->io[i].sink->ops->destroy(c->io[i].sink);
        }
    sh_vm_free(first);
    sh_reload_free(reload);
    sh_watchdog_stop(watchdog);
    free(pthreads);
    free(outputs);
    free(loops);
    return rc;
}
