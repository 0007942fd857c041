/*
 * loop.c - the stream thread's loop (see loop.h).
 *
 * One iteration: poll a batch from the source, order it by timestamp when
 * the app reads several inputs, run the topology once over it, seal it with
 * the source's token for its positions, run the timers, serve the sink's
 * delivery reports, ack the batches whose outputs are all delivered (batch.c),
 * checkpoint stores every second, and take a reloaded version if one is
 * published. The loop knows its source and sink only through source.h and
 * sink.h.
 *
 * State: a source tells the loop when a partition is assigned (its stores
 * are restored before its first record) and when partitions go (outputs
 * delivered and acked first, then the stores closed). Deliveries to
 * changelog topics move the stores' checkpoints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/topic_name.h"
#include "engine/batch.h"
#include "engine/loop.h"
#include "engine/order.h"
#include "engine/sample.h"

enum {
    BATCH_MAX = 4096,
    POLL_WAIT_MS = 100,
    CHECKPOINT_EVERY_MS = 1000,
    SAMPLE_SIZE = 64, /* records a reload tries a new version on */
    SAMPLE_EVERY_MS = 1000,
    DRAIN_SLICE_MS = 100,      /* a drain looks at a failure or a stop this often */
    DRAIN_STOPPING_MS = 30000, /* how long a drain waits once a stop is asked */
    DRAIN_WARN_EVERY_MS = 5000,
    CLEAN_AFTER_MS = 10000, /* a version that ran this long without failing is good */
};

struct sh_loop {
    int thread;
    sh_vm_t *vm;
    int version;
    sh_source_t *source;
    sh_sink_t *sink;
    sh_tasks_t *tasks;
    sh_reload_t *reload;
    volatile sig_atomic_t *stopping;
    sh_watchdog_t *watchdog;
    void (*on_swap)(void *arg, sh_vm_t *vm);
    void (*on_clean)(void *arg, sh_vm_t *vm);
    void *swap_arg;
    int64_t version_since_ms; /* when the version in force started */
    bool version_clean;       /* on_clean was called for it */
    sh_output_t output;
    sh_source_events_t source_events;
    sh_sink_events_t sink_events;
    sh_batches_t batches;
    sh_batch_t *current; /* the batch whose records (or timers) run now */
    sh_order_t *order;
    sh_ffi_record_t *records;
    int bound_sinks;     /* sinks the sink knows; a topology may add more as it runs */
    sh_sample_t *sample; /* thread 0: recent records for reload trials */
    int64_t last_sample_ms;
    const char *last_topic; /* delivery reports come in runs: the last verdict */
    bool last_is_changelog;
    int64_t last_checkpoint_ms;
    int64_t next_timer_ms; /* when the VM's next wall-clock timer is due */
    long long records_in, records_out, batch_count;
    char fatal[2048];
};

void sh_loop_set_fatal(sh_loop_t *l, const char *fmt, ...) {
    if (l->fatal[0]) return; /* keep the first cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->fatal, sizeof l->fatal, fmt, ap);
    va_end(ap);
}

const char *sh_loop_fatal(const sh_loop_t *l) { return l->fatal[0] ? l->fatal : NULL; }
sh_vm_t *sh_loop_vm(sh_loop_t *l) { return l->vm; }
int sh_loop_version(const sh_loop_t *l) { return l->version; }
long long sh_loop_records_in(const sh_loop_t *l) { return l->records_in; }
long long sh_loop_records_out(const sh_loop_t *l) { return l->records_out; }
const sh_output_t *sh_loop_output(sh_loop_t *l) { return &l->output; }
void sh_loop_set_reload(sh_loop_t *l, sh_reload_t *reload) { l->reload = reload; }

/* ---- outputs: the context's emits go to the sink, counted on the batch ---- */

static int loop_emit(void *self, int sink, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp, int32_t partition,
                     const sh_ffi_header_t *headers, int32_t header_count) {
    sh_loop_t *l = self;
    if (!l->current) {
        return sh_err_set(SH_ERR_INVALID,
                          "emit outside a batch (while the topology is being built?)");
    }
    sh_ffi_record_t r = {.key = key,
                         .key_len = key_len,
                         .value = value,
                         .value_len = value_len,
                         .timestamp = timestamp,
                         .partition = partition,
                         .headers = headers,
                         .header_count = header_count};
    char err[1024];
    /* a sink added while running (`to` with a topic function): bind again */
    if (sink >= l->bound_sinks) {
        sh_ctx_t *ctx = sh_vm_ctx(l->vm);
        if (l->sink->ops->bind(l->sink, ctx, err, sizeof err) != 0)
            return sh_err_set(SH_ERR_INVALID, "%s", err);
        l->bound_sinks = sh_ffi_sink_count(ctx);
    }
    /* counted first: a delivery report may be served inside emit */
    sh_batch_output(l->current);
    int rc = l->sink->ops->emit(l->sink, sink, &r, l->current, err, sizeof err);
    if (rc != SH_OK) {
        /* SH_ERR_INVALID: the sink refused the record before taking it (a
         * MySQL row with a hostile field name): not an output, so the batch
         * is not failed; the topology raises and on_error decides. */
        sh_batch_delivered(l->current, rc == SH_ERR_INVALID);
        return sh_err_set(rc, "%s", err);
    }
    l->records_out++;
    return SH_OK;
}

static void on_delivered(void *self, void *batch, const char *topic, int32_t partition,
                         int64_t offset, const char *err) {
    sh_loop_t *l = self;
    if (err) {
        sh_loop_set_fatal(l, "cannot deliver to %s [%d]: %s", topic, (int)partition, err);
    } else if (l->tasks) {
        if (topic != l->last_topic) {
            l->last_topic = topic;
            l->last_is_changelog =
                sh_topic_name_parse(sh_vm_app_id(l->vm), topic, NULL) == SH_TOPIC_CHANGELOG;
        }
        if (l->last_is_changelog) sh_tasks_delivered(l->tasks, topic, partition, offset);
    }
    sh_batch_delivered(batch, err == NULL);
}

/* Waits until every output handed to the sink so far (the running batch's
 * included) is delivered. A store flush calls it (sh_ffi_ctx_drain) before
 * it writes: state then never gets ahead of the outputs before it, which
 * replays after a crash (markers) would not send again. A failed delivery
 * ends the wait (the loop stops on it); so does a stop asked for long ago,
 * with a broker that does not answer: the state is then not written, and
 * its records are read again at the next start. Delivery reports are
 * served here, on the stream thread, as in poll. */
static int loop_drain(void *self) {
    sh_loop_t *l = self;
    int64_t started = sh_clock_now_ms(), warned = started;
    while (!l->fatal[0]) {
        int left = l->sink->ops->flush(l->sink, DRAIN_SLICE_MS);
        if (left == 0) return SH_OK;
        int64_t now = sh_clock_now_ms();
        if (now - warned >= DRAIN_WARN_EVERY_MS) {
            warned = now;
            sh_log(SH_LOG_WARN, "stream thread %d: %d output(s) still not delivered after %lld s; "
                                "the stores are written once they are",
                   l->thread, left, (long long)((now - started) / 1000));
        }
        if (*l->stopping && now - started > DRAIN_STOPPING_MS)
            return sh_err_set(SH_ERR_KAFKA, "stopping with %d output(s) not delivered after %d "
                                            "s: the stores are not written",
                              left, DRAIN_STOPPING_MS / 1000);
    }
    return sh_err_set(SH_ERR_KAFKA, "outputs not delivered, the stores are not written: %s",
                      l->fatal);
}

/* The VM's write-back cache marks for the batch it just ran. */
static void take_hold(sh_loop_t *l, sh_batch_t *b) {
    bool held = false, released = false;
    sh_ctx_take_hold(sh_vm_ctx(l->vm), &held, &released);
    sh_batch_hold(b, held, released);
}

/* ---- state: what the source says of its partitions ---- */

static void drain(sh_loop_t *l, int timeout_ms) {
    l->sink->ops->flush(l->sink, timeout_ms);
    sh_batches_ack_completed(&l->batches);
}

static int on_assigned(void *self, const char *topic, int32_t partition, char *errbuf,
                       size_t errlen) {
    sh_loop_t *l = self;
    if (!l->tasks) return 0;
    return sh_tasks_assign(l->tasks, topic, partition, errbuf, errlen);
}

static void on_assigning(void *self, const char *topic, int32_t partition) {
    sh_loop_t *l = self;
    if (l->tasks) sh_tasks_prepare(l->tasks, topic, partition);
}

static void on_assignment_done(void *self) {
    sh_loop_t *l = self;
    if (!l->tasks) return;
    sh_tasks_assignment_done(l->tasks);
    sh_tasks_set_ready(l->tasks);
}

/* The VM's store caches written out, as a batch of their own whose outputs
 * release the held batches before it: before a revocation, a stop or a
 * new version, so that no change stays in a cache that goes away. */
static void run_flush(sh_loop_t *l) {
    if (!l->vm || l->fatal[0]) return;
    sh_batch_t *b = sh_batches_open(&l->batches);
    if (!b) {
        sh_loop_set_fatal(l, "out of memory");
        return;
    }
    l->current = b;
    char err[4096] = "";
    if (l->tasks) sh_tasks_lock(l->tasks);
    if (sh_vm_flush(l->vm, err, sizeof err) != 0) sh_loop_set_fatal(l, "%s", err);
    if (l->tasks) sh_tasks_unlock(l->tasks);
    l->current = NULL;
    take_hold(l, b);
    sh_batch_seal(b, NULL);
}

static void on_revoking(void *self) {
    sh_loop_t *l = self;
    run_flush(l);
    drain(l, 30000);
}

/* Outputs are delivered: checkpoint what was, then let the VM and the tasks
 * close the partition's stores. */
static void on_revoked(void *self, const char *topic, int32_t partition) {
    sh_loop_t *l = self;
    if (!l->tasks) {
        sh_vm_release_task(l->vm, topic, partition);
        return;
    }
    sh_tasks_lock(l->tasks);
    sh_tasks_checkpoint(l->tasks, topic, partition, 0);
    sh_vm_release_task(l->vm, topic, partition);
    sh_tasks_unlock(l->tasks);
    sh_tasks_release(l->tasks, topic, partition);
}

/* ---- set-up ---- */

sh_loop_t *sh_loop_new(const sh_loop_config_t *c) {
    sh_loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->thread = c->thread;
    l->source = c->source;
    l->sink = c->sink;
    l->tasks = c->tasks;
    l->stopping = c->stopping;
    l->watchdog = c->watchdog;
    l->on_swap = c->on_swap;
    l->on_clean = c->on_clean;
    l->swap_arg = c->swap_arg;
    l->version = 1;
    l->output = (sh_output_t){.emit = loop_emit, .drain = loop_drain, .self = l};
    l->source_events = (sh_source_events_t){.loop = l,
                                            .assigning = on_assigning,
                                            .assigned = on_assigned,
                                            .assignment_done = on_assignment_done,
                                            .revoking = on_revoking,
                                            .revoked = on_revoked};
    l->sink_events = (sh_sink_events_t){.loop = l, .delivered = on_delivered};
    l->sink->events = &l->sink_events;
    l->batches.source = l->source;
    l->order = sh_order_new(BATCH_MAX);
    if (l->thread == 0) l->sample = sh_sample_new(SAMPLE_SIZE);
    l->records = calloc(BATCH_MAX, sizeof *l->records);
    if (!l->order || !l->records || (l->thread == 0 && !l->sample)) {
        sh_order_free(l->order);
        sh_sample_free(l->sample);
        free(l->records);
        free(l);
        return NULL;
    }
    return l;
}

/* The app's sinks and inputs, after a load or a reload. */
static int bind_vm(sh_loop_t *l) {
    char err[1024];
    sh_ctx_t *ctx = sh_vm_ctx(l->vm);
    if (l->tasks) sh_tasks_set_declarations(l->tasks, ctx);
    if (l->sink->ops->bind(l->sink, ctx, err, sizeof err) != 0 ||
        l->source->ops->bind(l->source, ctx, err, sizeof err) != 0) {
        sh_loop_set_fatal(l, "%s", err);
        return -1;
    }
    l->bound_sinks = sh_ffi_sink_count(ctx);
    l->last_topic = NULL;
    return 0;
}

int sh_loop_bind(sh_loop_t *l, sh_vm_t *vm) {
    l->vm = vm;
    sh_ctx_set_output(sh_vm_ctx(vm), &l->output);
    return bind_vm(l);
}

int sh_loop_start(sh_loop_t *l, sh_vm_t *vm) {
    return sh_loop_bind(l, vm) != 0 ? -1 : sh_loop_subscribe(l);
}

int sh_loop_subscribe(sh_loop_t *l) {
    char err[1024];
    if (l->source->ops->start(l->source, &l->source_events, err, sizeof err) != 0) {
        sh_loop_set_fatal(l, "%s", err);
        return -1;
    }
    return 0;
}

/* ---- the loop ---- */

/* Waits for records no longer than until the next wall-clock timer is due,
 * so an `every "20ms"` runs every 20 ms, not once per idle poll. */
static int poll_wait_ms(const sh_loop_t *l) {
    int64_t until = l->next_timer_ms - sh_clock_now_ms();
    if (until < 0) return 0;
    return until < POLL_WAIT_MS ? (int)until : POLL_WAIT_MS;
}

static void run_batch(sh_loop_t *l) {
    char err[4096] = "";
    int n = l->source->ops->poll(l->source, l->records, BATCH_MAX, poll_wait_ms(l), err, sizeof err);
    if (n < 0) sh_loop_set_fatal(l, "%s %s", l->source->ops->kind, err);
    if (n <= 0) return;
    sh_ctx_t *ctx = sh_vm_ctx(l->vm);
    if (sh_ffi_source_count(ctx) > 1) sh_order_by_time(l->order, l->records, n);
    sh_batch_t *b = sh_batches_open(&l->batches);
    if (!b) {
        sh_loop_set_fatal(l, "out of memory");
        l->source->ops->release(l->source);
        return;
    }
    l->current = b;
    if (l->tasks) sh_tasks_lock(l->tasks);
    sh_watchdog_enter(l->watchdog, l->thread, l->vm);
    int done = sh_vm_process(l->vm, l->records, n, err, sizeof err);
    sh_watchdog_leave(l->watchdog, l->thread);
    if (l->tasks) sh_tasks_unlock(l->tasks);
    l->current = NULL;
    take_hold(l, b);
    if (done < n) sh_loop_set_fatal(l, "%s", err);
    if (l->sample && done > 0 && sh_clock_now_ms() - l->last_sample_ms >= SAMPLE_EVERY_MS) {
        sh_sample_take(l->sample, l->records, done);
        l->last_sample_ms = sh_clock_now_ms();
    }
    sh_source_ack_t *ack = l->source->ops->mark(l->source, l->records, done);
    if (!ack) sh_loop_set_fatal(l, "out of memory");
    sh_batch_seal(b, ack);
    l->source->ops->release(l->source);
    l->records_in += done;
    l->batch_count++;
    sh_vm_after_batch(l->vm);
}

/* Wall-clock timers run as a batch without positions, so the positions
 * acked after it wait for its outputs too. */
static void run_timers(sh_loop_t *l) {
    sh_batch_t *b = sh_batches_open(&l->batches);
    if (!b) {
        sh_loop_set_fatal(l, "out of memory");
        return;
    }
    l->current = b;
    char err[4096] = "";
    if (l->tasks) sh_tasks_lock(l->tasks);
    sh_watchdog_enter(l->watchdog, l->thread, l->vm);
    if (sh_vm_tick(l->vm, sh_clock_now_ms(), &l->next_timer_ms, err, sizeof err) != 0)
        sh_loop_set_fatal(l, "%s", err);
    sh_watchdog_leave(l->watchdog, l->thread);
    if (l->tasks) sh_tasks_unlock(l->tasks);
    l->current = NULL;
    take_hold(l, b);
    sh_batch_seal(b, NULL);
}

static void checkpoint_periodically(sh_loop_t *l) {
    int64_t now = sh_clock_now_ms();
    if (!l->tasks || now - l->last_checkpoint_ms < CHECKPOINT_EVERY_MS) return;
    l->last_checkpoint_ms = now;
    sh_tasks_lock(l->tasks);
    sh_tasks_checkpoint(l->tasks, NULL, 0, SH_TASKS_CHECKPOINT_DELTA);
    sh_tasks_unlock(l->tasks);
}

/* Between two batches: outputs already handed over belong to batches, not
 * to the VM, so the old version can go now. */
static void take_new_version(sh_loop_t *l) {
    if (l->thread == 0) {
        int count = 0;
        const sh_ffi_record_t *sample = l->sample ? sh_sample_records(l->sample, &count) : NULL;
        sh_reload_check(l->reload, l->vm, sample, count);
    }
    int version;
    sh_vm_t *next = sh_reload_take(l->reload, l->thread, &version);
    if (!next) return;
    int64_t swap_start = sh_clock_now_ms(); /* the pause a reload costs this thread */
    run_flush(l); /* the new version reads the stores: nothing may stay cached */
    if (l->tasks) sh_tasks_lock(l->tasks);
    sh_vm_t *old = l->vm;
    l->vm = next;
    if (l->tasks) sh_tasks_unlock(l->tasks);
    sh_vm_free(old); /* closes its store handles */
    l->version = version;
    l->version_since_ms = sh_clock_now_ms();
    l->version_clean = false;
    if (bind_vm(l) != 0) return;
    if (l->on_swap) l->on_swap(l->swap_arg, next);
    sh_log(SH_LOG_INFO, "stream thread %d runs version %d (paused %lld ms to swap)", l->thread,
           version, (long long)(sh_clock_now_ms() - swap_start));
}

/* A version that has run a while without a fatal error is the one a crash
 * loop of a later version rolls back to. */
static void note_clean(sh_loop_t *l) {
    if (l->version_clean || !l->on_clean || l->fatal[0]) return;
    if (sh_clock_now_ms() - l->version_since_ms < CLEAN_AFTER_MS) return;
    l->version_clean = true;
    l->on_clean(l->swap_arg, l->vm);
}

void sh_loop_run(sh_loop_t *l) {
    if (!l->version_since_ms) l->version_since_ms = sh_clock_now_ms();
    while (!*l->stopping && !l->fatal[0]) {
        run_batch(l);
        note_clean(l);
        if (!l->fatal[0]) run_timers(l);
        l->sink->ops->poll(l->sink, 0);
        sh_batches_ack_completed(&l->batches);
        checkpoint_periodically(l);
        if (!l->fatal[0] && l->reload) take_new_version(l);
    }
}

void sh_loop_drain(sh_loop_t *l, int timeout_ms) {
    run_flush(l);
    drain(l, timeout_ms);
    if (l->batches.head)
        sh_log(SH_LOG_WARN, "stream thread %d: %lld batch(es) not delivered; their records will "
                            "be read again",
               l->thread, l->batches.open);
    if (l->tasks) { /* delivered changelog records are in Kafka, even after a failure */
        sh_tasks_lock(l->tasks);
        sh_tasks_checkpoint(l->tasks, NULL, 0, 0);
        sh_tasks_unlock(l->tasks);
    }
}

int sh_loop_commit(sh_loop_t *l) {
    char err[1024];
    if (!l->vm) return 0; /* never started: nothing to commit */
    if (l->source->ops->commit(l->source, err, sizeof err) == 0) return 0;
    sh_log(SH_LOG_WARN, "stream thread %d: cannot commit: %s", l->thread, err);
    return -1;
}

void sh_loop_free(sh_loop_t *l) {
    if (!l) return;
    l->source->ops->close(l->source);
    sh_batches_clear(&l->batches);
    sh_log(SH_LOG_DEBUG, "stream thread %d: %lld batches, %.1f records per batch", l->thread,
           l->batch_count, l->batch_count ? (double)l->records_in / (double)l->batch_count : 0.0);
    l->sink->ops->destroy(l->sink);
    l->source->ops->destroy(l->source);
    sh_vm_free(l->vm);
    sh_order_free(l->order);
    sh_sample_free(l->sample);
    free(l->records);
    free(l);
}
