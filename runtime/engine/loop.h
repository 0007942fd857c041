/*
 * loop.h - one stream thread's loop (loop.c): poll its source, run the
 * topology once per batch, hand outputs to its sink, ack positions whose
 * outputs are delivered, run timers, checkpoint stores, take a reloaded
 * version between batches.
 */
#ifndef SH_LOOP_H
#define SH_LOOP_H

#include <signal.h>
#include <stdbool.h>

#include "engine/reload.h"
#include "engine/sink.h"
#include "engine/source.h"
#include "engine/vm.h"
#include "engine/watchdog.h"
#include "state/tasks.h"

typedef struct sh_loop sh_loop_t;

typedef struct sh_loop_config {
    int thread;
    sh_source_t *source; /* owned by the loop from sh_loop_new on */
    sh_sink_t *sink;     /* owned by the loop */
    sh_tasks_t *tasks;   /* not owned: the HTTP server reads them too */
    volatile sig_atomic_t *stopping;
    sh_watchdog_t *watchdog; /* may be NULL */
    /* After this thread swapped to a new version (thread 0 publishes the
     * topology over HTTP with it). May be NULL. */
    void (*on_swap)(void *arg, sh_vm_t *vm);
    /* After a version has run cleanly for a while (thread 0; may be NULL):
     * it becomes the one a crash loop rolls back to. */
    void (*on_clean)(void *arg, sh_vm_t *vm);
    void *swap_arg;
} sh_loop_config_t;

/* A loop with nothing loaded yet: its output is what this thread's VMs
 * must emit through. NULL when out of memory. */
sh_loop_t *sh_loop_new(const sh_loop_config_t *config);
const sh_output_t *sh_loop_output(sh_loop_t *loop);
/* The process's reloader (made after the loops, from their outputs). */
void sh_loop_set_reload(sh_loop_t *loop, sh_reload_t *reload);
/* Binds the sink and the source to vm (owned by the loop from now on).
 * Returns 0, or -1 with the cause in sh_loop_fatal. */
int sh_loop_bind(sh_loop_t *loop, sh_vm_t *vm);
/* Starts the source (a Kafka consumer joins its group). Returns 0, or -1
 * with the cause in sh_loop_fatal. */
int sh_loop_subscribe(sh_loop_t *loop);
/* sh_loop_bind, then sh_loop_subscribe. */
int sh_loop_start(sh_loop_t *loop, sh_vm_t *vm);
/* Runs until *stopping or a fatal error. */
void sh_loop_run(sh_loop_t *loop);
/* Delivers what is pending (up to timeout_ms), acks it and checkpoints the
 * stores: the first step of stopping. */
void sh_loop_drain(sh_loop_t *loop, int timeout_ms);
/* Commits what is acked. Returns 0 or -1 (logged). */
int sh_loop_commit(sh_loop_t *loop);
/* Leaves the group and frees everything but the tasks. */
void sh_loop_free(sh_loop_t *loop);
/* The first fatal error, or NULL. */
const char *sh_loop_fatal(const sh_loop_t *loop);
void sh_loop_set_fatal(sh_loop_t *loop, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
sh_vm_t *sh_loop_vm(sh_loop_t *loop);
int sh_loop_version(const sh_loop_t *loop);
/* Records read and written so far. */
long long sh_loop_records_in(const sh_loop_t *loop);
long long sh_loop_records_out(const sh_loop_t *loop);

#endif
