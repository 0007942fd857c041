/*
 * instance.h - one running app (instance.c): N stream threads, each a loop
 * over its own source, sink and tasks, one reload decision for all, and
 * the stop protocol.
 */
#ifndef SH_INSTANCE_H
#define SH_INSTANCE_H

#include "engine/loop.h"

/* What one stream thread reads from and writes to. */
typedef struct sh_thread_io {
    sh_source_t *source;
    sh_sink_t *sink;
    sh_tasks_t *tasks; /* may be NULL: no state (tests) */
} sh_thread_io_t;

typedef struct sh_instance_config {
    const char *app_path, *state_dir;
    /* The app file a reload loads and watches, when it is not app_path (a
     * rolled-back start runs a saved copy). NULL: app_path. */
    const char *reload_path;
    sh_vm_t *first; /* thread 0's VM, loaded already: owned by the instance */
    int threads;
    sh_thread_io_t *io; /* per thread; sources and sinks owned by the instance */
    /* Thread 0 swapped to a new version. May be NULL. */
    void (*on_swap)(void *arg, sh_vm_t *vm);
    /* Thread 0's version ran cleanly for a while. May be NULL. */
    void (*on_clean)(void *arg, sh_vm_t *vm);
    /* The watchdog ends the process (from its thread). May be NULL. */
    void (*on_stuck)(void *arg);
    void *swap_arg;
} sh_instance_config_t;

/* Runs until sh_instance_stop or a fatal error on any thread. Stopping
 * delivers and commits on every thread before any leaves the group, so no
 * thread's final commit meets the rebalance another one's leaving caused.
 * Returns 0 after a clean stop, 1 after a fatal error. */
int sh_instance_run(const sh_instance_config_t *config);
/* Asks every thread to stop after its current batch. Async-signal-safe. */
void sh_instance_stop(void);
/* The flag sh_instance_stop sets, for work that should give up early (a
 * long restore). */
volatile sig_atomic_t *sh_instance_stop_flag(void);

#endif
