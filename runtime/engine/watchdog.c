/*
 * watchdog.c - ends a process whose batch never returns (see watchdog.h).
 *
 * Each stream thread publishes, lock-free, when its current batch started
 * and which VM runs it. The watchdog wakes every 100 ms. Past the limit it
 * marks the process unhealthy (/healthz answers 503), asks the VM for a
 * traceback, waits up to a second for it (the interpreter takes it at its
 * next instruction count; a JIT-compiled loop never looks), logs, and ends
 * the process with _exit: the stuck thread holds its tasks' lock and cannot
 * be unwound, and nothing is lost by not committing, since offsets are only
 * committed after the outputs of their records are delivered.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/health.h"
#include "base/log.h"
#include "engine/watchdog.h"

enum { TICK_MS = 100, TRACEBACK_WAIT_MS = 1000, STOP_GRACE_MS = 1000 };

typedef struct slot {
    int64_t since_ms; /* 0: not in a batch */
    sh_vm_t *vm;
} slot_t;

struct sh_watchdog {
    int threads;
    int64_t default_max_ms;
    volatile sig_atomic_t *stopping;
    slot_t *slots;
    pthread_t thread;
    int quit;
    int64_t stop_seen_ms;
    void (*on_exit)(void *arg);
    void *on_exit_arg;
};

void sh_watchdog_on_exit(sh_watchdog_t *w, void (*fn)(void *arg), void *arg) {
    w->on_exit = fn;
    w->on_exit_arg = arg;
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

void sh_watchdog_enter(sh_watchdog_t *w, int thread, sh_vm_t *vm) {
    if (!w) return;
    __atomic_store_n(&w->slots[thread].vm, vm, __ATOMIC_RELAXED);
    __atomic_store_n(&w->slots[thread].since_ms, now_ms(), __ATOMIC_RELEASE);
}

void sh_watchdog_leave(sh_watchdog_t *w, int thread) {
    if (w) __atomic_store_n(&w->slots[thread].since_ms, 0, __ATOMIC_RELEASE);
}

/* Logs what the stuck thread runs and ends the process. */
static void end_process(sh_watchdog_t *w, int thread, sh_vm_t *vm, int64_t ran_ms, int64_t limit_ms,
                        bool stopping) {
    char reason[512];
    if (stopping)
        snprintf(reason, sizeof reason,
                 "stream thread %d: a stop was asked for, but a batch of %s version %d has run "
                 "for %lld ms",
                 thread, sh_vm_app_id(vm), sh_ffi_ctx_version(sh_vm_ctx(vm)), (long long)ran_ms);
    else
        snprintf(reason, sizeof reason,
                 "stream thread %d: a batch of %s version %d has run for %lld ms, past "
                 "max.batch.ms (%lld)",
                 thread, sh_vm_app_id(vm), sh_ffi_ctx_version(sh_vm_ctx(vm)), (long long)ran_ms,
                 (long long)limit_ms);
    sh_health_set(SH_HEALTH_STUCK, reason);
    sh_vm_request_traceback(vm);
    for (int waited = 0; waited < TRACEBACK_WAIT_MS && !sh_vm_traceback(vm); waited += 10)
        sleep_ms(10);
    const char *traceback = sh_vm_traceback(vm);
    sh_log(SH_LOG_ERROR,
           "%s; exiting with status %d so a supervisor restarts it (no offset is committed past "
           "an undelivered output: nothing is lost)\n%s",
           reason, SH_EXIT_STUCK,
           traceback ? traceback : "(no Lua traceback: the loop runs JIT-compiled code)");
    if (w->on_exit) w->on_exit(w->on_exit_arg);
    _exit(SH_EXIT_STUCK);
}

static void *watch(void *arg) {
    sh_watchdog_t *w = arg;
    while (!__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE)) {
        sleep_ms(TICK_MS);
        int64_t now = now_ms();
        if (*w->stopping && !w->stop_seen_ms) w->stop_seen_ms = now;
        for (int i = 0; i < w->threads; i++) {
            int64_t since = __atomic_load_n(&w->slots[i].since_ms, __ATOMIC_ACQUIRE);
            if (!since) continue;
            sh_vm_t *vm = __atomic_load_n(&w->slots[i].vm, __ATOMIC_RELAXED);
            int64_t limit = sh_vm_max_batch_ms(vm) > 0 ? sh_vm_max_batch_ms(vm) : w->default_max_ms;
            if (now - since > limit) end_process(w, i, vm, now - since, limit, false);
            if (w->stop_seen_ms && now - w->stop_seen_ms > STOP_GRACE_MS &&
                now - since > STOP_GRACE_MS)
                end_process(w, i, vm, now - since, limit, true);
        }
    }
    return NULL;
}

sh_watchdog_t *sh_watchdog_start(int threads, int64_t default_max_ms,
                                 volatile sig_atomic_t *stopping) {
    sh_watchdog_t *w = calloc(1, sizeof *w);
    if (!w || !(w->slots = calloc((size_t)threads, sizeof *w->slots))) {
        free(w);
        return NULL;
    }
    w->threads = threads;
    w->default_max_ms = default_max_ms;
    w->stopping = stopping;
    if (pthread_create(&w->thread, NULL, watch, w) != 0) {
        free(w->slots);
        free(w);
        return NULL;
    }
    return w;
}

void sh_watchdog_stop(sh_watchdog_t *w) {
    if (!w) return;
    __atomic_store_n(&w->quit, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    free(w->slots);
    free(w);
}
