/*
 * watchdog.h - a thread that watches the stream threads' batches
 * (watchdog.c). A batch that runs past max.batch.ms, or that keeps running
 * a second after a stop was asked for, ends the process with
 * SH_EXIT_STUCK and a message naming the app, its version and, where the
 * interpreter could take it, the Lua traceback: a script that never
 * returns cannot wedge the host, and a supervisor restarts it.
 */
#ifndef SH_WATCHDOG_H
#define SH_WATCHDOG_H

#include <signal.h>
#include <stdint.h>

#include "engine/vm.h"

/* The exit status of a process the watchdog ended. */
enum { SH_EXIT_STUCK = 3 };

typedef struct sh_watchdog sh_watchdog_t;

/* Watches `threads` stream threads; default_max_ms applies to a VM whose
 * app sets no max.batch.ms. stopping is the instance's stop flag. */
sh_watchdog_t *sh_watchdog_start(int threads, int64_t default_max_ms,
                                 volatile sig_atomic_t *stopping);
/* Called (from the watchdog thread) just before it ends the process. */
void sh_watchdog_on_exit(sh_watchdog_t *watchdog, void (*fn)(void *arg), void *arg);
void sh_watchdog_stop(sh_watchdog_t *watchdog);
/* A batch (or timers) of vm starts / ends on stream thread `thread`.
 * @locality that stream thread; lock-free */
void sh_watchdog_enter(sh_watchdog_t *watchdog, int thread, sh_vm_t *vm);
void sh_watchdog_leave(sh_watchdog_t *watchdog, int thread);

#endif
