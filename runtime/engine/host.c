/*
 * host.c - the stream loop of `streamhost run`.
 *
 * One iteration: take a batch of messages from the consumer queue, lay them
 * out as sh_ffi_record_t, call the Lua topology once, serve the producer's
 * delivery reports, store the offsets of batches whose every output is
 * delivered, and swap in a reloaded app if one is pending.
 *
 * At-least-once: each batch is a node in a FIFO with a count of outputs not
 * yet acknowledged. Outputs carry their batch as the message opaque; the
 * delivery report decrements it. Offsets are stored (and auto-committed) only
 * from the head of the FIFO, for batches that are sealed and fully
 * delivered, so nothing is committed past a record whose outputs are not yet
 * in Kafka. A failed delivery stops the host without storing the offsets.
 *
 * State: on assignment every store of the assigned partitions is restored
 * from its changelog before the partition's first batch (restore.c); the
 * delivery reports of changelog records advance the stores' checkpoints,
 * written every second and before partitions are given up. Internal topics
 * (changelogs, repartition topics) get as many partitions as the source
 * topics that feed them, as Kafka Streams requires. Wall-clock timers run
 * each iteration as a batch without input offsets, so their outputs are
 * tracked for delivery like any other.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/broker.h"
#include "engine/host.h"
#include "http/http.h"
#include "kafka/kafka.h"
#include "engine/reload.h"
#include "state/restore.h"

#define BATCH_MAX 4096
#define HEADER_POOL (BATCH_MAX * 4)

typedef struct batch {
    struct batch *next;
    int pending; /* outputs handed to the producer and not yet acknowledged */
    bool failed;
    rd_kafka_topic_partition_list_t *offsets; /* next offset per partition */
} batch_t;

typedef struct host {
    const sh_host_options_t *options;
    rd_kafka_t *consumer, *producer;
    rd_kafka_queue_t *queue;
    sh_broker_t *embedded;
    sh_vm_t *vm;
    int version;
    sh_reload_t *reload;
    rd_kafka_topic_t **sink_topics;
    int sink_count;
    batch_t *head, *tail, *current;
    char *state_dir;
    char **ensured; /* topics created (or found) already: a reload skips them */
    int ensured_count;
    sh_tasks_t *tasks;
    sh_http_t *http;
    int64_t last_checkpoint_ms;
    char fatal[2048];
    long long records_in, records_out, batches;
    int thread;             /* index of this stream thread */
    const char *bootstrap;  /* effective bootstrap.servers, shared by all threads */
    sh_output_t output;     /* where this thread's VMs emit: this host */
    pthread_t pthread;
    rd_kafka_message_t **msgs;
    sh_ffi_record_t *records;
    sh_ffi_header_t *header_pool;
    /* scratch for ordering a batch by timestamp (order_by_time) */
    rd_kafka_message_t **sorted_msgs;
    sh_ffi_record_t *sorted_records;
    int *run_of, *run_head, *run_next;
    /* table bootstrapping: assigned table partitions still catching up, and
     * the other partitions, paused meanwhile (NULL when not bootstrapping) */
    rd_kafka_topic_partition_list_t *catching_up, *held;
} host_t;

static volatile sig_atomic_t stopping;

/* Topic opaque of changelog sinks: their delivery reports move checkpoints. */
static char changelog_marker;

void sh_host_stop(void) { stopping = 1; }

static void on_signal(int sig) {
    if (sig == SIGHUP)
        sh_reload_request();
    else
        stopping = 1;
}

static void set_fatal(host_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_fatal(host_t *h, const char *fmt, ...) {
    if (h->fatal[0]) return; /* keep the first cause */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->fatal, sizeof h->fatal, fmt, ap);
    va_end(ap);
}

/* ---- output: the context's emits become produced messages ---- */

static int host_emit(void *self, int sink, const char *key, size_t key_len, const char *value,
                     size_t value_len, int64_t timestamp, int32_t partition,
                     const sh_ffi_header_t *headers, int32_t header_count) {
    host_t *h = self;
    if (sink >= h->sink_count) return SH_ERR_INVALID;
    rd_kafka_headers_t *hdrs = NULL;
    if (header_count > 0) {
        hdrs = rd_kafka_headers_new((size_t)header_count);
        for (int i = 0; i < header_count; i++)
            rd_kafka_header_add(hdrs, headers[i].name, -1, headers[i].value,
                                headers[i].value ? (ssize_t)headers[i].value_len : 0);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            h->producer, RD_KAFKA_V_RKT(h->sink_topics[sink]),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_TIMESTAMP(timestamp),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(h->current), RD_KAFKA_V_END);
        if (!err) break;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(h->producer, 10); /* backpressure: let deliveries drain */
            continue;
        }
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        sh_ctx_set_error(sh_vm_ctx(h->vm), "cannot produce to %s: %s",
                         sh_ffi_sink_name(sh_vm_ctx(h->vm), sink), rd_kafka_err2str(err));
        return SH_ERR_KAFKA;
    }
    h->current->pending++;
    h->records_out++;
    return SH_OK;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    host_t *h = opaque;
    batch_t *b = msg->_private;
    if (msg->err) {
        b->failed = true;
        set_fatal(h, "cannot deliver to %s [%d]: %s", rd_kafka_topic_name(msg->rkt),
                  msg->partition, rd_kafka_err2str(msg->err));
    }
    else if (rd_kafka_topic_opaque(msg->rkt) == &changelog_marker && h->tasks)
        sh_tasks_delivered(h->tasks, rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset);
    b->pending--;
}

/* ---- the batch FIFO ---- */

static void store_completed(host_t *h) {
    while (h->head && h->head->pending == 0) {
        batch_t *b = h->head;
        if (b->failed) return; /* never store past an undelivered output */
        if (b->offsets->cnt > 0) {
            rd_kafka_resp_err_t err = rd_kafka_offsets_store(h->consumer, b->offsets);
            if (err && err != RD_KAFKA_RESP_ERR__STATE)
                sh_log(SH_LOG_WARN, "cannot store offsets: %s", rd_kafka_err2str(err));
        }
        h->head = b->next;
        if (!h->head) h->tail = NULL;
        rd_kafka_topic_partition_list_destroy(b->offsets);
        free(b);
    }
}

static void drain_outputs(host_t *h, int timeout_ms) {
    rd_kafka_flush(h->producer, timeout_ms);
    store_completed(h);
}

/* ---- sinks and sources of the loaded VM ---- */

/* "<id>-<name><suffix>": the name, or NULL when topic is not such a topic. */
static char *internal_name(sh_vm_t *vm, const char *topic, const char *suffix) {
    const char *id = sh_vm_app_id(vm);
    size_t id_len = strlen(id), len = strlen(topic), suffix_len = strlen(suffix);
    if (len <= id_len + 1 + suffix_len || strncmp(topic, id, id_len) != 0 || topic[id_len] != '-' ||
        strcmp(topic + len - suffix_len, suffix) != 0)
        return NULL;
    return strndup(topic + id_len + 1, len - id_len - 1 - suffix_len);
}

static bool is_internal(sh_vm_t *vm, const char *topic) {
    char *a = internal_name(vm, topic, "-repartition"), *b = internal_name(vm, topic, "-changelog");
    bool internal = a || b;
    free(a);
    free(b);
    return internal;
}

/* Partitions of an input topic the app does not write itself. */
static int source_partitions(host_t *h, const char *topic) {
    int n = sh_kafka_partition_count(h->producer, topic, 5000);
    if (n <= 0 && h->embedded) n = sh_vm_source_partitions(h->vm, topic);
    return n;
}

/* A repartition topic feeds tasks that meet the app's other inputs, so it
 * has as many partitions as the widest of them. */
static int widest_source(host_t *h, sh_vm_t *vm) {
    sh_ctx_t *ctx = sh_vm_ctx(vm);
    int widest = 1;
    for (int i = 0; i < sh_ffi_source_count(ctx); i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        if (is_internal(vm, topic)) continue;
        int n = source_partitions(h, topic);
        if (n > widest) widest = n;
    }
    return widest;
}

/* Partitions an internal topic must have (0: not internal, leave it). */
static int internal_partitions(host_t *h, sh_vm_t *vm, const char *topic) {
    char *name = internal_name(vm, topic, "-repartition");
    if (name) {
        free(name);
        return widest_source(h, vm);
    }
    if (!(name = internal_name(vm, topic, "-changelog"))) return 0;
    sh_ctx_t *ctx = sh_vm_ctx(vm);
    int partitions = 0;
    for (int i = 0; i < sh_ffi_store_count(ctx) && !partitions; i++) {
        const sh_store_decl_t *d = sh_ctx_store_decl(ctx, i);
        if (strcmp(d->name, name) != 0) continue;
        partitions = is_internal(vm, d->source_topic) ? widest_source(h, vm)
                                                      : source_partitions(h, d->source_topic);
    }
    free(name);
    return partitions > 0 ? partitions : widest_source(h, vm);
}

static bool is_ensured(host_t *h, const char *topic) {
    for (int i = 0; i < h->ensured_count; i++)
        if (strcmp(h->ensured[i], topic) == 0) return true;
    return false;
}

/* Creates the topics with partitions > 0 and remembers every name, so a
 * reload does not pay metadata and CreateTopics round trips again. */
static void create_topics(host_t *h, const char *const *names, const int *partitions, int n) {
    char **grown = realloc(h->ensured, sizeof *grown * (size_t)(h->ensured_count + n + 1));
    if (grown) {
        h->ensured = grown;
        for (int i = 0; i < n; i++)
            if (!is_ensured(h, names[i]) && (grown[h->ensured_count] = strdup(names[i])))
                h->ensured_count++;
    }
    if (h->embedded) {
        for (int i = 0; i < n; i++)
            if (partitions[i] > 0) sh_broker_create_topic(h->embedded, names[i], partitions[i]);
    } else {
        /* only what is missing: the embedded broker behind `streamhost broker`
         * has no CreateTopics and makes every caller wait for its timeout */
        const char **missing = calloc((size_t)n + 1, sizeof *missing);
        int *missing_partitions = calloc((size_t)n + 1, sizeof *missing_partitions);
        int m = 0;
        for (int i = 0; missing && missing_partitions && i < n; i++) {
            /* asked through the consumer: a topic handle made on the producer
             * now would lose the changelog opaque bind_sinks gives it */
            if (partitions[i] <= 0 || sh_kafka_partition_count(h->consumer, names[i], 5000) > 0)
                continue;
            missing[m] = names[i];
            missing_partitions[m++] = partitions[i];
        }
        sh_kafka_create_topics(h->producer, missing, missing_partitions, m, 5000);
        free(missing);
        free(missing_partitions);
    }
}

/* Repartition topics are sources too: they must exist with the right
 * partition count before the consumer subscribes. */
static void create_internal_sources(host_t *h, sh_vm_t *vm) {
    sh_ctx_t *ctx = sh_vm_ctx(vm);
    int n = sh_ffi_source_count(ctx);
    const char *names[n + 1];
    int partitions[n + 1], count = 0;
    for (int i = 0; i < n; i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        int p = is_ensured(h, topic) ? 0 : internal_partitions(h, vm, topic);
        if (p <= 0) continue;
        names[count] = topic;
        partitions[count++] = p;
    }
    create_topics(h, names, partitions, count);
}

static int bind_sinks(host_t *h, sh_vm_t *vm) {
    sh_ctx_t *ctx = sh_vm_ctx(vm);
    int n = sh_ffi_sink_count(ctx);
    rd_kafka_topic_t **topics = calloc((size_t)n + 1, sizeof *topics);
    const char *names[n + 1];
    int partitions[n + 1];
    bool changelog[n + 1];
    memset(names, 0, sizeof names); /* gcc cannot see that the loop fills them */
    memset(partitions, 0, sizeof partitions);
    for (int i = 0; i < n; i++) {
        names[i] = sh_ffi_sink_name(ctx, i);
        int internal = is_ensured(h, names[i]) ? -1 : internal_partitions(h, vm, names[i]);
        partitions[i] = internal > 0 ? internal : internal < 0 ? 0 : sh_ctx_sink_partitions(ctx, i);
        char *store = internal_name(vm, names[i], "-changelog");
        changelog[i] = store != NULL;
        free(store);
    }
    create_topics(h, names, partitions, n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_conf_t *conf = NULL;
        if (changelog[i]) {
            conf = rd_kafka_topic_conf_new();
            rd_kafka_topic_conf_set_opaque(conf, &changelog_marker);
        }
        topics[i] = rd_kafka_topic_new(h->producer, names[i], conf);
    }
    for (int i = 0; i < h->sink_count; i++) rd_kafka_topic_destroy(h->sink_topics[i]);
    free(h->sink_topics);
    h->sink_topics = topics;
    h->sink_count = n;
    return 0;
}

/* A reload may change everything but the input topics: the consumer's
 * subscription and the offsets it commits are the running app's. */
static bool same_sources(sh_vm_t *running, sh_vm_t *next, char *why, size_t len) {
    sh_ctx_t *a = sh_vm_ctx(running), *b = sh_vm_ctx(next);
    int n = sh_ffi_source_count(a), m = sh_ffi_source_count(b);
    for (int i = 0; i < m; i++) {
        const char *topic = sh_ffi_source_name(b, i);
        bool found = false;
        for (int j = 0; j < n && !found; j++) found = strcmp(topic, sh_ffi_source_name(a, j)) == 0;
        if (!found) {
            char *where = sh_vm_source_location(next, topic);
            snprintf(why, len, "%s: the new version reads topic %s, which the running one does not; "
                     "restart the app to change its inputs", where, topic);
            free(where);
            return false;
        }
    }
    for (int j = 0; j < n; j++) {
        const char *topic = sh_ffi_source_name(a, j);
        bool found = false;
        for (int i = 0; i < m && !found; i++) found = strcmp(topic, sh_ffi_source_name(b, i)) == 0;
        if (!found) {
            snprintf(why, len, "%s:1: the new version no longer reads topic %s; restart the app "
                     "to change its inputs", sh_vm_watched_files(next, &m)[0], topic);
            return false;
        }
    }
    return true;
}

static int subscribe(host_t *h) {
    sh_ctx_t *ctx = sh_vm_ctx(h->vm);
    int n = sh_ffi_source_count(ctx);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(topics, sh_ffi_source_name(ctx, i), RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(h->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        set_fatal(h, "cannot subscribe: %s", rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int source_index(sh_ctx_t *ctx, rd_kafka_topic_t *rkt, rd_kafka_topic_t **cache_rkt,
                        int *cache_index) {
    if (rkt == *cache_rkt) return *cache_index;
    const char *name = rd_kafka_topic_name(rkt);
    for (int i = 0; i < sh_ffi_source_count(ctx); i++)
        if (strcmp(sh_ffi_source_name(ctx, i), name) == 0) {
            *cache_rkt = rkt;
            *cache_index = i;
            return i;
        }
    return -1;
}

/* ---- reload ---- */

static double elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void publish_topology(host_t *h) {
    if (!h->http) return;
    char *text = sh_vm_describe(h->vm);
    sh_http_set_topology(h->http, text);
    free(text);
}

static void try_reload(host_t *h, const sh_output_t *output) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char err[2048];
    sh_vm_t *next =
        sh_vm_load(h->options->app_path, output, h->version + 1, h->state_dir, err, sizeof err);
    if (next && !same_sources(h->vm, next, err, sizeof err)) {
        sh_vm_free(next);
        next = NULL;
    }
    if (!next) {
        sh_log(SH_LOG_ERROR, "reload failed: %s; keeping version %d", err, h->version);
        return;
    }
    /* Outputs already produced belong to batches, not to the VM: the old VM
     * can go now, between two batches. */
    sh_tasks_lock(h->tasks);
    sh_vm_free(h->vm);
    h->vm = next;
    sh_tasks_unlock(h->tasks);
    h->version++;
    sh_tasks_set_declarations(h->tasks, sh_vm_ctx(next));
    publish_topology(h);
    create_internal_sources(h, next);
    bind_sinks(h, next);
    int count;
    const char *const *files = sh_vm_watched_files(next, &count);
    sh_reload_watch(h->reload, files, count);
    sh_log(SH_LOG_INFO, "reloaded %s as version %d in %.1f ms", h->options->app_path, h->version,
           elapsed_ms(&start));
}

/* ---- rebalance: finish what was produced before partitions move ---- */

/* Outputs are drained: checkpoint what was delivered, then let the VM and
 * the tasks close the partitions' stores. */
static void release_partitions(host_t *h, const rd_kafka_topic_partition_list_t *partitions) {
    sh_tasks_lock(h->tasks);
    for (int i = 0; i < partitions->cnt; i++) {
        const char *topic = partitions->elems[i].topic;
        int32_t partition = partitions->elems[i].partition;
        sh_tasks_checkpoint(h->tasks, topic, partition);
        sh_vm_release_task(h->vm, topic, partition);
    }
    sh_tasks_unlock(h->tasks);
    for (int i = 0; i < partitions->cnt; i++)
        sh_tasks_release(h->tasks, partitions->elems[i].topic, partitions->elems[i].partition);
}

/* ---- tables first ----
 * A stream-table join looks rows up as of when the stream record is
 * processed. At assignment the table topics may hold rows older than any
 * stream record, which Kafka Streams would process first by timestamp; here
 * the other partitions are paused until every assigned table partition has
 * been read to the end it had (its high watermark), as a GlobalKTable is
 * bootstrapped. Within a batch, order_by_time keeps timestamp order. */

static void end_table_bootstrap(host_t *h, bool resume) {
    if (h->held && resume) {
        rd_kafka_resume_partitions(h->consumer, h->held);
        sh_log(SH_LOG_INFO, "tables caught up: resuming %d partition(s)", h->held->cnt);
    }
    if (h->held) rd_kafka_topic_partition_list_destroy(h->held);
    if (h->catching_up) rd_kafka_topic_partition_list_destroy(h->catching_up);
    h->held = h->catching_up = NULL;
}

static void start_table_bootstrap(host_t *h, rd_kafka_t *rk,
                                  const rd_kafka_topic_partition_list_t *partitions) {
    end_table_bootstrap(h, false);
    rd_kafka_topic_partition_list_t *tables = rd_kafka_topic_partition_list_new(partitions->cnt);
    rd_kafka_topic_partition_list_t *others = rd_kafka_topic_partition_list_new(partitions->cnt);
    for (int i = 0; i < partitions->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &partitions->elems[i];
        rd_kafka_topic_partition_list_add(sh_vm_is_table_topic(h->vm, p->topic) ? tables : others,
                                          p->topic, p->partition);
    }
    if (tables->cnt == 0 || others->cnt == 0) {
        rd_kafka_topic_partition_list_destroy(tables);
        rd_kafka_topic_partition_list_destroy(others);
        return;
    }
    rd_kafka_pause_partitions(rk, others);
    h->catching_up = tables;
    h->held = others;
    sh_log(SH_LOG_INFO, "reading %d table partition(s) to their end before %d other partition(s)",
           tables->cnt, others->cnt);
}

/* True once every table partition has been read up to its high watermark. */
static bool tables_caught_up(host_t *h) {
    rd_kafka_position(h->consumer, h->catching_up);
    for (int i = 0; i < h->catching_up->cnt; i++) {
        rd_kafka_topic_partition_t *p = &h->catching_up->elems[i];
        int64_t low = -1, high = -1;
        if (rd_kafka_get_watermark_offsets(h->consumer, p->topic, p->partition, &low, &high) ||
            high < 0)
            return false; /* not fetched yet */
        bool empty = high <= low;
        if (!empty && (p->offset < 0 || p->offset < high)) return false;
    }
    return true;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *partitions, void *opaque) {
    host_t *h = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sh_log(SH_LOG_INFO, "assigned %d partition(s)", partitions->cnt);
        /* Stores first: no batch of a partition runs before its state is
         * back. A long restore counts against max.poll.interval.ms. */
        for (int i = 0; i < partitions->cnt && !h->fatal[0]; i++) {
            char why[1024];
            if (sh_tasks_assign(h->tasks, partitions->elems[i].topic, partitions->elems[i].partition,
                                why, sizeof why) != 0)
                set_fatal(h, "restore: %s", why);
        }
        sh_tasks_set_ready(h->tasks);
        if (cooperative)
            rd_kafka_incremental_assign(rk, partitions);
        else
            rd_kafka_assign(rk, partitions);
        start_table_bootstrap(h, rk, partitions);
        return;
    }
    sh_log(SH_LOG_INFO, "revoking %d partition(s): delivering outputs and committing", partitions->cnt);
    end_table_bootstrap(h, false);
    drain_outputs(h, 30000);
    rd_kafka_commit(rk, NULL, 0);
    release_partitions(h, partitions);
    if (cooperative)
        rd_kafka_incremental_unassign(rk, partitions);
    else
        rd_kafka_assign(rk, NULL);
}

/* ---- set-up ---- */

static const char *effective_bootstrap(const sh_host_options_t *o, sh_vm_t *vm) {
    if (o->bootstrap) return o->bootstrap;
    for (int i = o->set_count - 1; i >= 0; i--)
        if (strcmp(o->sets[i].key, "bootstrap.servers") == 0) return o->sets[i].value;
    int n;
    const sh_kv_t *props = sh_vm_kafka_props(vm, &n);
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(props[i].key, "bootstrap.servers") == 0) return props[i].value;
    return "embedded";
}

static int start_clients(host_t *h) {
    const sh_host_options_t *o = h->options;
    char err[512];
    const char *bootstrap = h->bootstrap;
    sh_kv_t overrides[o->set_count + 1];
    memcpy(overrides, o->sets, sizeof *overrides * (size_t)o->set_count);
    overrides[o->set_count] = (sh_kv_t){"bootstrap.servers", (char *)bootstrap};

    int prop_count;
    const sh_kv_t *props = sh_vm_kafka_props(h->vm, &prop_count);
    const char *id = sh_vm_app_id(h->vm);
    char client_id[300];
    snprintf(client_id, sizeof client_id, "%s-%d", id, h->thread);
    sh_kv_t named[o->set_count + 2];
    memcpy(named, overrides, sizeof *overrides * (size_t)(o->set_count + 1));
    named[o->set_count + 1] = (sh_kv_t){"client.id", client_id};
    rd_kafka_conf_t *pconf = sh_kafka_conf(RD_KAFKA_PRODUCER, NULL, props, prop_count, named,
                                           o->set_count + 2, err, sizeof err);
    if (!pconf) {
        set_fatal(h, "producer configuration: %s", err);
        return -1;
    }
    rd_kafka_conf_set_opaque(pconf, h);
    rd_kafka_conf_set_dr_msg_cb(pconf, on_delivery);
    if (!(h->producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof err))) {
        set_fatal(h, "cannot create the producer: %s", err);
        return -1;
    }
    rd_kafka_conf_t *cconf = sh_kafka_conf(RD_KAFKA_CONSUMER, id, props, prop_count, named,
                                           o->set_count + 2, err, sizeof err);
    if (!cconf) {
        set_fatal(h, "consumer configuration: %s", err);
        return -1;
    }
    rd_kafka_conf_set_opaque(cconf, h);
    rd_kafka_conf_set_rebalance_cb(cconf, on_rebalance);
    if (!(h->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, err, sizeof err))) {
        set_fatal(h, "cannot create the consumer: %s", err);
        return -1;
    }
    rd_kafka_poll_set_consumer(h->consumer);
    h->queue = rd_kafka_queue_get_consumer(h->consumer);

    /* Reads changelogs with assign() only; its group id is never joined. */
    char restore_group[512];
    snprintf(restore_group, sizeof restore_group, "%s-restore", id);
    sh_kv_t restore_overrides[o->set_count + 5];
    memcpy(restore_overrides, overrides, sizeof *overrides * (size_t)(o->set_count + 1));
    restore_overrides[o->set_count + 1] = (sh_kv_t){"enable.auto.commit", "false"};
    restore_overrides[o->set_count + 2] = (sh_kv_t){"enable.partition.eof", "true"};
    restore_overrides[o->set_count + 3] = (sh_kv_t){"auto.offset.reset", "earliest"};
    /* a restore reads to a known end: do not let the broker hold fetches */
    restore_overrides[o->set_count + 4] = (sh_kv_t){"fetch.wait.max.ms", "10"};
    rd_kafka_conf_t *rconf = sh_kafka_conf(RD_KAFKA_CONSUMER, restore_group, props, prop_count,
                                           restore_overrides, o->set_count + 5, err, sizeof err);
    rd_kafka_t *restorer = rconf ? rd_kafka_new(RD_KAFKA_CONSUMER, rconf, err, sizeof err) : NULL;
    if (!restorer) {
        set_fatal(h, "cannot create the changelog consumer: %s", err);
        return -1;
    }
    if (!(h->tasks = sh_tasks_new(h->state_dir, id, restorer, &stopping))) {
        rd_kafka_destroy(restorer);
        set_fatal(h, "out of memory");
        return -1;
    }
    sh_tasks_set_declarations(h->tasks, sh_vm_ctx(h->vm));
    create_internal_sources(h, h->vm);
    bind_sinks(h, h->vm);
    return subscribe(h);
}

/* ---- the loop ---- */

/* With several input topics, the order records meet in matters: a stream
 * record should find the table rows stamped before it. As Kafka Streams'
 * record selection does, the batch is merged across partitions by
 * timestamp, taking the earliest head each time, so each partition keeps
 * its own order (and its offsets stay monotonic). */
static void order_by_time(host_t *h, rd_kafka_message_t **msgs, sh_ffi_record_t *records, int n) {
    enum { MAX_RUNS = 256 };
    rd_kafka_topic_t *run_rkt[MAX_RUNS];
    int32_t run_partition[MAX_RUNS];
    int runs = 0, *run_of = h->run_of, *head = h->run_head, *next = h->run_next;
    int tail[MAX_RUNS];
    for (int i = 0; i < n; i++) {
        int r = i > 0 && msgs[i]->rkt == msgs[i - 1]->rkt &&
                        msgs[i]->partition == msgs[i - 1]->partition ? run_of[i - 1] : -1;
        for (int j = 0; r < 0 && j < runs; j++)
            if (run_rkt[j] == msgs[i]->rkt && run_partition[j] == msgs[i]->partition) r = j;
        if (r < 0) {
            if (runs == MAX_RUNS) return; /* too many partitions in one batch: leave it */
            r = runs++;
            run_rkt[r] = msgs[i]->rkt;
            run_partition[r] = msgs[i]->partition;
            head[r] = -1;
        }
        run_of[i] = r;
        next[i] = -1;
        if (head[r] < 0) head[r] = i; else next[tail[r]] = i;
        tail[r] = i;
    }
    if (runs < 2) return;
    for (int k = 0; k < n; k++) {
        int best = -1;
        for (int r = 0; r < runs; r++)
            if (head[r] >= 0 && (best < 0 || records[head[r]].timestamp < records[head[best]].timestamp))
                best = r;
        int i = head[best];
        head[best] = next[i];
        h->sorted_msgs[k] = msgs[i];
        h->sorted_records[k] = records[i];
    }
    memcpy(msgs, h->sorted_msgs, sizeof *msgs * (size_t)n);
    memcpy(records, h->sorted_records, sizeof *records * (size_t)n);
}

/* Returns how many messages it kept (at the front of msgs): the records. */
static int process_batch(host_t *h, rd_kafka_message_t **msgs, int n, sh_ffi_record_t *records,
                         sh_ffi_header_t *header_pool, size_t pool_size) {
    sh_ctx_t *ctx = sh_vm_ctx(h->vm);
    rd_kafka_topic_t *cache_rkt = NULL;
    int cache_index = -1, count = 0;
    size_t pool_used = 0;
    for (int i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sh_log(SH_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m); /* the caller destroys only the records kept */
            continue;
        }
        sh_ffi_record_t *r = &records[count];
        memset(r, 0, sizeof *r);
        r->key = m->key;
        r->key_len = m->key_len;
        r->value = m->payload;
        r->value_len = m->len;
        r->timestamp = rd_kafka_message_timestamp(m, NULL);
        r->offset = m->offset;
        r->partition = m->partition;
        r->source = source_index(ctx, m->rkt, &cache_rkt, &cache_index);
        rd_kafka_headers_t *hdrs;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            size_t hc = rd_kafka_header_cnt(hdrs);
            if (pool_used + hc <= pool_size) {
                r->headers = &header_pool[pool_used];
                for (size_t j = 0; j < hc; j++) {
                    const void *val;
                    rd_kafka_header_get_all(hdrs, j, &header_pool[pool_used].name, &val,
                                            &header_pool[pool_used].value_len);
                    header_pool[pool_used].value = val;
                    pool_used++;
                }
                r->header_count = (int32_t)hc;
            }
        }
        msgs[count++] = m; /* keep messages aligned with records for offsets */
    }

    if (sh_ffi_source_count(ctx) > 1) order_by_time(h, msgs, records, count);

    batch_t *b = calloc(1, sizeof *b);
    b->offsets = rd_kafka_topic_partition_list_new(8);
    h->current = b;
    char err[4096] = "";
    sh_tasks_lock(h->tasks);
    int done = count ? sh_vm_process(h->vm, records, count, err, sizeof err) : 0;
    sh_tasks_unlock(h->tasks);
    if (done < count) set_fatal(h, "%s", err);
    /* offsets: the next record to read after each processed one */
    rd_kafka_topic_partition_t *tp = NULL;
    rd_kafka_topic_t *tp_rkt = NULL;
    for (int i = 0; i < done; i++) {
        /* a batch comes in runs of one partition: look up only on a change */
        if (!tp || msgs[i]->rkt != tp_rkt || msgs[i]->partition != tp->partition) {
            tp_rkt = msgs[i]->rkt;
            const char *topic = rd_kafka_topic_name(tp_rkt);
            tp = rd_kafka_topic_partition_list_find(b->offsets, topic, msgs[i]->partition);
            if (!tp) tp = rd_kafka_topic_partition_list_add(b->offsets, topic, msgs[i]->partition);
        }
        if (msgs[i]->offset + 1 > tp->offset) tp->offset = msgs[i]->offset + 1;
    }
    if (h->tail)
        h->tail->next = b;
    else
        h->head = b;
    h->tail = b;
    h->current = NULL;
    h->records_in += done;
    h->batches++;
    sh_vm_after_batch(h->vm);
    return count;
}

/* Wall-clock timers: a batch with no input offsets, kept only if a timer
 * emitted, so the offsets stored after it wait for those outputs too. */
static void run_timers(host_t *h) {
    batch_t *b = calloc(1, sizeof *b);
    if (!b || !(b->offsets = rd_kafka_topic_partition_list_new(1))) {
        free(b);
        set_fatal(h, "out of memory");
        return;
    }
    long long out_before = h->records_out;
    h->current = b;
    char err[4096] = "";
    sh_tasks_lock(h->tasks);
    if (sh_vm_tick(h->vm, sh_ffi_now_ms(), err, sizeof err) != 0) set_fatal(h, "%s", err);
    sh_tasks_unlock(h->tasks);
    h->current = NULL;
    if (h->records_out == out_before) {
        rd_kafka_topic_partition_list_destroy(b->offsets);
        free(b);
        return;
    }
    if (h->tail)
        h->tail->next = b;
    else
        h->head = b;
    h->tail = b;
}

static void checkpoint_periodically(host_t *h) {
    int64_t now = sh_ffi_now_ms();
    if (now - h->last_checkpoint_ms < 1000) return;
    h->last_checkpoint_ms = now;
    sh_tasks_lock(h->tasks);
    sh_tasks_checkpoint(h->tasks, NULL, 0);
    sh_tasks_unlock(h->tasks);
}

/* Waits up to 100 ms for the first message, then takes whatever else is
 * already queued without waiting: batches grow under load, and a lone
 * record is not held back until a batch fills (consume_batch_queue alone
 * would wait for a full batch or the whole timeout). */
static ssize_t take_batch(rd_kafka_queue_t *queue, rd_kafka_message_t **msgs, size_t max) {
    rd_kafka_message_t *first = rd_kafka_consume_queue(queue, 100);
    if (!first) return 0;
    msgs[0] = first;
    ssize_t more = rd_kafka_consume_batch_queue(queue, 0, msgs + 1, max - 1);
    return 1 + (more > 0 ? more : 0);
}

/* ---- one stream thread ---- */

static void *stream_loop(void *arg) {
    host_t *h = arg;
    while (!stopping && !h->fatal[0]) {
        ssize_t n = take_batch(h->queue, h->msgs, BATCH_MAX);
        if (n > 0) {
            int kept = process_batch(h, h->msgs, (int)n, h->records, h->header_pool, HEADER_POOL);
            for (int i = 0; i < kept; i++) rd_kafka_message_destroy(h->msgs[i]);
        }
        if (h->held && tables_caught_up(h)) end_table_bootstrap(h, true);
        if (!h->fatal[0]) run_timers(h);
        rd_kafka_poll(h->producer, 0);
        store_completed(h);
        checkpoint_periodically(h);
        if (!h->fatal[0] && sh_reload_pending(h->reload)) try_reload(h, &h->output);
    }
    if (h->fatal[0]) stopping = 1; /* one thread failing stops the instance */
    return NULL;
}

/* Sets a thread up: its VM (thread 0's is the one loaded first), its
 * watcher, buffers and clients. */
static int host_init(host_t *h, const sh_host_options_t *options, int thread, sh_vm_t *vm,
                     const char *state_dir, const char *bootstrap, sh_broker_t *embedded) {
    h->options = options;
    h->version = 1;
    h->thread = thread;
    h->bootstrap = bootstrap;
    h->embedded = embedded;
    h->output = (sh_output_t){.emit = host_emit, .self = h};
    h->state_dir = strdup(state_dir);
    char err[2048];
    if (!vm) vm = sh_vm_load(options->app_path, &h->output, h->version, state_dir, err, sizeof err);
    if (!vm) {
        set_fatal(h, "%s", err);
        return -1;
    }
    h->vm = vm;
    sh_ffi_ctx_set_state_dir(sh_vm_ctx(h->vm), state_dir);
    h->reload = sh_reload_new();
    int watched_count;
    const char *const *watched = sh_vm_watched_files(h->vm, &watched_count);
    sh_reload_watch(h->reload, watched, watched_count);
    h->msgs = calloc(BATCH_MAX, sizeof *h->msgs);
    h->records = calloc(BATCH_MAX, sizeof *h->records);
    h->header_pool = calloc(HEADER_POOL, sizeof *h->header_pool);
    h->sorted_msgs = calloc(BATCH_MAX, sizeof *h->sorted_msgs);
    h->sorted_records = calloc(BATCH_MAX, sizeof *h->sorted_records);
    h->run_of = calloc(BATCH_MAX, sizeof *h->run_of);
    h->run_next = calloc(BATCH_MAX, sizeof *h->run_next);
    h->run_head = calloc(256, sizeof *h->run_head);
    if (!h->state_dir || !h->msgs || !h->records || !h->header_pool || !h->sorted_msgs ||
        !h->sorted_records || !h->run_of || !h->run_next || !h->run_head) {
        set_fatal(h, "out of memory");
        return -1;
    }
    return start_clients(h);
}

/* Delivers what is pending, commits, and frees the thread's resources. */
static void host_finish(host_t *h) {
    end_table_bootstrap(h, false);
    if (h->producer) drain_outputs(h, 30000);
    if (h->tasks) { /* delivered changelog records are in Kafka, even after a failure */
        sh_tasks_lock(h->tasks);
        sh_tasks_checkpoint(h->tasks, NULL, 0);
        sh_tasks_unlock(h->tasks);
    }
    if (h->consumer) {
        rd_kafka_commit(h->consumer, NULL, 0);
        rd_kafka_consumer_close(h->consumer);
    }
    if (h->fatal[0]) sh_log(SH_LOG_ERROR, "stopping: %s", h->fatal);
    sh_log(SH_LOG_INFO, "stopped after %lld records in, %lld out", h->records_in, h->records_out);
    sh_log(SH_LOG_DEBUG, "%lld batches, %.1f records per batch", h->batches,
           h->batches ? (double)h->records_in / (double)h->batches : 0.0);
    if (h->queue) rd_kafka_queue_destroy(h->queue);
    for (int i = 0; i < h->sink_count; i++) rd_kafka_topic_destroy(h->sink_topics[i]);
    free(h->sink_topics);
    if (h->consumer) rd_kafka_destroy(h->consumer);
    if (h->producer) rd_kafka_destroy(h->producer);
    sh_vm_free(h->vm);
    free(h->state_dir);
    for (int i = 0; i < h->ensured_count; i++) free(h->ensured[i]);
    free(h->ensured);
    sh_reload_free(h->reload);
    free(h->msgs);
    free(h->records);
    free(h->header_pool);
    free(h->sorted_msgs);
    free(h->sorted_records);
    free(h->run_of);
    free(h->run_next);
    free(h->run_head);
}

/* ---- the instance: shared broker and HTTP, N stream threads ---- */

int sh_host_run(const sh_host_options_t *options) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Thread 0's VM is loaded first: it names the app, its threads and
     * bootstrap servers. Its output is rebound once its host exists. */
    host_t probe = {0};
    sh_output_t output = {.emit = host_emit, .self = &probe};
    char err[2048];
    sh_vm_t *first = sh_vm_load(options->app_path, &output, 1, options->state_dir, err, sizeof err);
    if (!first) {
        sh_log(SH_LOG_ERROR, "%s", err);
        return 1;
    }
    char *state_dir = NULL;
    if (options->state_dir)
        state_dir = strdup(options->state_dir);
    else if (asprintf(&state_dir, "./.streamhost/%s", sh_vm_app_id(first)) < 0)
        state_dir = NULL;
    int threads = sh_vm_threads(first);
    host_t *hosts = calloc((size_t)threads, sizeof *hosts);
    sh_tasks_t **task_groups = calloc((size_t)threads, sizeof *task_groups);
    if (!state_dir || !hosts || !task_groups) {
        sh_log(SH_LOG_ERROR, "out of memory");
        sh_vm_free(first);
        return 1;
    }

    sh_broker_t *embedded = NULL;
    const char *bootstrap = effective_bootstrap(options, first);
    if (strcmp(bootstrap, "embedded") == 0) {
        char berr[512];
        if (!(embedded = sh_broker_start(0, berr, sizeof berr))) {
            sh_log(SH_LOG_ERROR, "cannot start the embedded broker: %s", berr);
            sh_vm_free(first);
            return 1;
        }
        bootstrap = sh_broker_bootstraps(embedded);
        sh_log(SH_LOG_INFO, "embedded broker at %s", bootstrap);
        sh_ctx_t *ctx = sh_vm_ctx(first);
        for (int i = 0; i < sh_ffi_source_count(ctx); i++) {
            const char *topic = sh_ffi_source_name(ctx, i);
            if (!is_internal(first, topic))
                sh_broker_create_topic(embedded, topic, sh_vm_source_partitions(first, topic));
        }
    }

    int started = 0;
    for (int i = 0; i < threads; i++) {
        int rc = host_init(&hosts[i], options, i, i == 0 ? first : NULL, state_dir, bootstrap,
                           embedded);
        if (i == 0) sh_ctx_set_output(sh_vm_ctx(first), &hosts[0].output);
        started = i + 1;
        task_groups[i] = hosts[i].tasks;
        if (rc != 0) break;
    }
    bool ok = started == threads && !hosts[started - 1].fatal[0];
    sh_http_t *http = NULL;
    if (ok && options->http && strcmp(options->http, "off") != 0) {
        http = sh_http_start(options->http, task_groups, threads);
        hosts[0].http = http;
        publish_topology(&hosts[0]);
    }
    if (ok) {
        sh_log(SH_LOG_INFO, "running %s as %s (version 1, %d stream thread%s), state in %s",
               options->app_path, sh_vm_app_id(hosts[0].vm), threads, threads > 1 ? "s" : "",
               state_dir);
        for (int i = 1; i < threads; i++)
            if (pthread_create(&hosts[i].pthread, NULL, stream_loop, &hosts[i]) != 0) {
                set_fatal(&hosts[i], "cannot start stream thread %d", i);
                stopping = 1;
                threads = i;
            }
        stream_loop(&hosts[0]);
        for (int i = 1; i < threads; i++) pthread_join(hosts[i].pthread, NULL);
    }

    sh_http_stop(http);
    int rc = 0;
    for (int i = 0; i < started; i++) {
        if (hosts[i].fatal[0]) rc = 1;
        host_finish(&hosts[i]);
    }
    for (int i = 0; i < started; i++) sh_tasks_free(hosts[i].tasks);
    free(task_groups);
    free(hosts);
    free(state_dir);
    sh_broker_stop(embedded);
    return rc;
}
