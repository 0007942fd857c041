/*
 * reload.h - hot reload as one decision for the whole process (reload.c).
 *
 * One thread (the first) notices a change or a request between its
 * batches and hands it to the reloader's worker thread, which loads the
 * new version in a scratch VM and tries it on a sample
 * of recent input (JIT off, a time and a memory budget, stores in a scratch
 * directory), checks it against the running one (input topics; stores'
 * kind, formats, windows), then loads it once per stream thread.
 * Only if every load passes is the version published; each stream thread
 * then takes its VM between two of its batches. So every thread runs the
 * same version number, or none changes.
 */
#ifndef SH_RELOAD_H
#define SH_RELOAD_H

#include <stdbool.h>

#include "engine/vm.h"

typedef struct sh_reload sh_reload_t;

/* outputs[i]: where thread i's VMs emit (must outlive the reloader). */
sh_reload_t *sh_reload_new(const char *app_path, const char *state_dir, int threads,
                           const sh_output_t *const *outputs);
/* Waits for a build in progress and stops the worker; versions built are
 * freed with the reloader. Call before the stream threads' VMs go. */
void sh_reload_stop(sh_reload_t *reload);
void sh_reload_free(sh_reload_t *reload);
/* Asks for a reload (SIGHUP handler, POST /reload). Async-signal-safe. */
void sh_reload_request(void);
/* Watches the files running (the version in force) reads. */
void sh_reload_watch(sh_reload_t *reload, sh_vm_t *running);
/* Watches the app file the reloader loads from, whatever running reads
 * (a rolled-back start runs a saved copy; an edit of the original reloads). */
void sh_reload_watch_app(sh_reload_t *reload);
/* If a change or request is pending, hands it to the worker, which tries
 * the new version against running and on a copy of sample[0..sample_count)
 * (recent records of running's inputs), and publishes it when it passes; a
 * refusal is logged with its reason. A change noticed while a version is
 * being built, or before this thread has taken the last one, is handed on
 * later. running must stay this thread's VM until it takes a new one.
 * Returns true when a build was started.
 * @locality the first stream thread, between batches */
bool sh_reload_check(sh_reload_t *reload, sh_vm_t *running, const sh_ffi_record_t *sample,
                     int sample_count);
/* Whether the worker is building a version (tests). */
bool sh_reload_building(sh_reload_t *reload);
/* Whether a reload is pending, without acting on it (tests). */
bool sh_reload_pending(sh_reload_t *reload);
/* The VM thread should switch to, with its version, or NULL when it runs
 * the latest. The caller owns the VM.
 * @locality stream thread `thread`, between batches @locks reload's mutex */
sh_vm_t *sh_reload_take(sh_reload_t *reload, int thread, int *version);
/* The version published last (1 before any reload). */
int sh_reload_version(sh_reload_t *reload);
/* Why next cannot take over from running, in why; true when it can. */
bool sh_reload_compatible(sh_vm_t *running, sh_vm_t *next, char *why, size_t len);

#endif
