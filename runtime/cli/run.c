/*
 * run.c - `streamhost run`: puts an app together and runs it.
 *
 * This is the one place that knows which backends an app uses: it loads
 * the app once to learn its id, threads and bootstrap servers, starts the
 * embedded broker when asked, gives every stream thread a source (a Kafka
 * consumer, or the MySQL CDC reader when the app declares b:mysql_cdc), a
 * Kafka sink and its state tasks, serves pull queries, and hands all of it
 * to the engine (engine/instance.c), which knows them only through their
 * interfaces.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/topic_name.h"
#include "cli/run.h"
#include "engine/instance.h"
#include "engine/reload.h"
#include "engine/rollback.h"
#include "engine/sink_router.h"
#include "http/http.h"
#include "http/token.h"
#include "kafka/admin.h"
#include "kafka/broker.h"
#include "kafka/conf.h"
#include "kafka/offset_store.h"
#include "kafka/sink.h"
#include "kafka/source.h"
#include "kafka/topics.h"
#include "mysql/sink.h"
#include "mysql/source.h"
#include "registry/registry.h"

#define DEFAULT_HTTP "127.0.0.1:8088"
enum { DEFAULT_STARTUP_TIMEOUT_MS = 30000 };

static void on_signal(int sig) {
    if (sig == SIGHUP)
        sh_reload_request();
    else
        sh_instance_stop();
}

static void install_signals(void) {
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* --bootstrap, then --set bootstrap.servers=, then the app's kafka table. */
static const char *effective_bootstrap(const sh_run_options_t *o, sh_vm_t *vm) {
    if (o->bootstrap) return o->bootstrap;
    for (int i = o->set_count - 1; i >= 0; i--)
        if (strcmp(o->sets[i].key, "bootstrap.servers") == 0) return o->sets[i].value;
    int n;
    const sh_kv_t *props = sh_vm_kafka_props(vm, &n);
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(props[i].key, "bootstrap.servers") == 0) return props[i].value;
    return "embedded";
}

/* One thread's Kafka clients and state, torn down together. */
typedef struct thread_parts {
    sh_kafka_topics_t *topics;
    sh_tasks_t *tasks;
    rd_kafka_t *producer; /* the Kafka backend's, behind io->sink's router */
} thread_parts_t;

typedef struct run {
    const sh_run_options_t *options;
    sh_vm_t *first;
    const char *bootstrap;
    const char *state_dir;
    sh_broker_t *embedded;
    sh_registry_t *registry; /* the embedded broker's */
    sh_http_t *http;
    uint64_t version_hash; /* of the files the version in force read */
} run_t;

/* librdkafka configuration of one client: streamhost's defaults, the app's
 * properties, --set, then what this client must have. */
static rd_kafka_conf_t *client_conf(run_t *r, rd_kafka_type_t type, const char *group,
                                    const sh_kv_t *extra, int extra_count, char *err,
                                    size_t errlen) {
    const sh_run_options_t *o = r->options;
    int n = o->set_count + 1 + extra_count;
    sh_kv_t *overrides = calloc((size_t)n, sizeof *overrides);
    if (!overrides) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(overrides, o->sets, sizeof *overrides * (size_t)o->set_count);
    overrides[o->set_count] = (sh_kv_t){"bootstrap.servers", (char *)r->bootstrap};
    memcpy(overrides + o->set_count + 1, extra, sizeof *extra * (size_t)extra_count);
    int prop_count;
    const sh_kv_t *props = sh_vm_kafka_props(r->first, &prop_count);
    rd_kafka_conf_t *conf = sh_kafka_conf_new(type, group, props, prop_count, overrides, n, err, errlen);
    free(overrides);
    return conf;
}

/* The MySQL CDC source of an app that declares b:mysql_cdc: its positions
 * go to the app's offsets topic, as Kafka Connect keeps a connector's, or
 * to its offset.storage.topic (`streamhost connect`'s connect-offsets). */
static sh_source_t *make_cdc_source(run_t *r, const char *client_id, char *err, size_t errlen) {
    const char *id = sh_vm_app_id(r->first);
    int count;
    const sh_kv_t *props = sh_vm_mysql_cdc_props(r->first, &count);
    const char *storage = NULL;
    for (int i = 0; i < count; i++)
        if (strcmp(props[i].key, "offset.storage.topic") == 0 && *props[i].value)
            storage = props[i].value;
    char *topic = storage ? strdup(storage) : sh_topic_name_offsets(id), reader_group[300];
    snprintf(reader_group, sizeof reader_group, "%s-offsets-reader", id);
    sh_kv_t named[] = {{"client.id", (char *)client_id}};
    sh_kv_t reader[] = {{"client.id", (char *)client_id},
                        {"auto.offset.reset", "earliest"},
                        {"fetch.wait.max.ms", "10"}};
    rd_kafka_conf_t *producer = client_conf(r, RD_KAFKA_PRODUCER, NULL, named, 1, err, errlen);
    rd_kafka_conf_t *consumer =
        producer ? client_conf(r, RD_KAFKA_CONSUMER, reader_group, reader, 3, err, errlen) : NULL;
    sh_offsets_t *offsets = NULL;
    if (!topic) snprintf(err, errlen, "out of memory");
    if (topic && producer && consumer)
        offsets = sh_kafka_offset_store_new(producer, consumer, topic, r->embedded, err, errlen);
    else if (producer)
        rd_kafka_conf_destroy(producer);
    free(topic);
    if (!offsets) return NULL;
    return sh_mysql_source_new(id, props, count, offsets, err, errlen);
}

static int make_thread(run_t *r, int thread, sh_thread_io_t *io, thread_parts_t *parts,
                       char *err, size_t errlen) {
    const char *id = sh_vm_app_id(r->first);
    char client_id[300], restore_group[300];
    snprintf(client_id, sizeof client_id, "%s-%d", id, thread);
    snprintf(restore_group, sizeof restore_group, "%s-restore", id);
    sh_kv_t named[] = {{"client.id", client_id}};
    if (!(parts->topics = sh_kafka_topics_new(id, r->embedded))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rd_kafka_conf_t *conf = client_conf(r, RD_KAFKA_PRODUCER, NULL, named, 1, err, errlen);
    sh_sink_t *kafka_sink = conf ? sh_kafka_sink_new(conf, parts->topics, err, errlen) : NULL;
    if (!kafka_sink) return -1;
    /* Kafka topics and MySQL tables (stream:to_mysql) behind one sink */
    sh_sink_t *mysql_sink = sh_mysql_sink_new(id);
    if (!(io->sink = sh_sink_router_new()) || sh_sink_router_add(io->sink, "kafka", kafka_sink) != 0 ||
        !mysql_sink || sh_sink_router_add(io->sink, "mysql", mysql_sink) != 0) {
        if (!io->sink) kafka_sink->ops->destroy(kafka_sink);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    parts->producer = sh_kafka_sink_handle(kafka_sink);
    int table_count, cdc_count;
    const char *const *tables = sh_vm_table_topics(r->first, &table_count);
    sh_vm_mysql_cdc_props(r->first, &cdc_count);
    if (cdc_count > 0) {
        if (!(io->source = make_cdc_source(r, client_id, err, errlen))) return -1;
        sh_kafka_topics_set_clients(parts->topics, parts->producer, parts->producer);
    } else {
        conf = client_conf(r, RD_KAFKA_CONSUMER, id, named, 1, err, errlen);
        if (!conf || !(io->source = sh_kafka_source_new(conf, parts->topics, tables, table_count,
                                                        err, errlen)))
            return -1;
        sh_kafka_source_set_max_task_idle(io->source, sh_vm_max_task_idle_ms(r->first));
        sh_kafka_topics_set_clients(parts->topics, sh_kafka_source_handle(io->source),
                                    parts->producer);
    }

    /* Reads changelogs per partition (read_ahead.c); its group id is never
     * joined. A restore reads to a known end: the broker must not hold
     * fetches. Up to five partitions are read at once, each queued ahead up
     * to 20,000 records or 8 MiB. */
    sh_kv_t restore[] = {{"client.id", client_id},
                         {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "true"},
                         {"auto.offset.reset", "earliest"},
                         {"fetch.wait.max.ms", "10"},
                         {"queued.min.messages", "20000"},
                         {"queued.max.messages.kbytes", "8192"},
                         /* a restore wants big fetches, not the stream
                          * consumers' small default */
                         {"fetch.max.bytes", "8388608"}};
    conf = client_conf(r, RD_KAFKA_CONSUMER, restore_group, restore, 8, err, errlen);
    rd_kafka_t *restorer = conf ? rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen) : NULL;
    if (!restorer) {
        if (conf) rd_kafka_conf_destroy(conf);
        return -1;
    }
    if (!(parts->tasks = sh_tasks_new(r->state_dir, id, restorer, sh_instance_stop_flag()))) {
        rd_kafka_destroy(restorer);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    io->tasks = parts->tasks;
    return 0;
}

/* The version in force ran cleanly: keep it as the one to roll back to. */
static void save_clean(void *arg, sh_vm_t *vm) {
    run_t *r = arg;
    int count;
    const char *const *files = sh_vm_watched_files(vm, &count);
    uint64_t hash = sh_rollback_hash(files, count);
    if (hash && sh_rollback_clean(r->state_dir, files[0], files, count, hash) == 0)
        sh_log(SH_LOG_INFO, "version %d ran cleanly: kept as the version a crash loop rolls back to",
               sh_ffi_ctx_version(sh_vm_ctx(vm)));
}

/* A restart of a version whose last run never ran cleanly (the watchdog
 * ended it, it crashed, it was killed) starts the last version that did,
 * and says so loudly. Returns the app file to start from (app_path, or the
 * saved copy; caller frees), with r->first loaded from it. */
static char *choose_version(run_t *r, const sh_run_options_t *o) {
    int count;
    const char *const *files = sh_vm_watched_files(r->first, &count);
    uint64_t hash = sh_rollback_hash(files, count);
    char why[512];
    char *saved = o->no_rollback ? NULL : sh_rollback_choose(r->state_dir, hash, why, sizeof why);
    if (saved) {
        char err[2048];
        sh_vm_t *good = sh_vm_load(saved, NULL, 1, r->state_dir, err, sizeof err);
        if (good) {
            sh_log(SH_LOG_ERROR,
                   "ROLLBACK: %s: %s. Starting the last version that ran cleanly, saved as %s; "
                   "saving %s again reloads it (or restart with --no-rollback)",
                   o->app_path, why, saved, o->app_path);
            sh_vm_free(r->first);
            r->first = good;
            files = sh_vm_watched_files(good, &count);
            hash = sh_rollback_hash(files, count);
        } else {
            sh_log(SH_LOG_WARN, "cannot roll back to %s: %s; starting %s", saved, err, o->app_path);
            free(saved);
            saved = NULL;
        }
    }
    sh_rollback_starting(r->state_dir, hash);
    r->version_hash = hash;
    return saved ? saved : strdup(o->app_path);
}

/* The watchdog ends the process: the version in force rolls back at the
 * next start. @locality the watchdog thread */
static void mark_stuck(void *arg) {
    run_t *r = arg;
    sh_rollback_stuck(r->state_dir, __atomic_load_n(&r->version_hash, __ATOMIC_RELAXED));
}

static void publish_topology(void *arg, sh_vm_t *vm) {
    run_t *r = arg;
    int count;
    const char *const *files = sh_vm_watched_files(vm, &count);
    __atomic_store_n(&r->version_hash, sh_rollback_hash(files, count), __ATOMIC_RELAXED);
    if (!r->http) return;
    char *text = sh_vm_describe(vm);
    sh_http_set_topology(r->http, text);
    free(text);
}

/* A non-loopback address needs a token the operator has: --http-token, or
 * the state directory's http-token file from an earlier run. */
static int check_http_address(const sh_run_options_t *o, const char *http, const char *state_dir) {
    if (strcmp(http, "off") == 0 || sh_http_is_loopback(http) || o->http_token ||
        sh_http_token_file_exists(state_dir))
        return 0;
    sh_log(SH_LOG_ERROR,
           "refusing to serve HTTP on %s without a token: anyone who can reach it could reload "
           "the app. Pass --http-token TOKEN (or write one to %s/http-token), or listen on "
           "127.0.0.1",
           http, state_dir);
    return -1;
}

/* Starts the HTTP endpoint with its token; says once where the token is. */
static int start_http(run_t *r, const char *http, sh_tasks_t **task_groups, int threads) {
    char token[SH_HTTP_TOKEN_MAX], path[4096], err[512];
    sh_http_token_source_t source;
    const sh_run_options_t *o = r->options;
    if (sh_http_token_load(o->http_token, r->state_dir, token, &source, path, sizeof path, err,
                           sizeof err) != 0) {
        sh_log(SH_LOG_ERROR, "http: %s", err);
        return -1;
    }
    if (source == SH_HTTP_TOKEN_GENERATED)
        sh_log(SH_LOG_INFO, "http token (kept in %s): %s", path, token);
    else if (source == SH_HTTP_TOKEN_FILE)
        sh_log(SH_LOG_INFO, "http token: the one in %s", path);
    sh_http_options_t options = {.token = token, .auth_all = o->http_auth_all};
    r->http = sh_http_start(http, task_groups, threads, &options);
    if (r->http)
        sh_log(SH_LOG_INFO, "http: %s need 'Authorization: Bearer TOKEN'",
               o->http_auth_all ? "all requests but /healthz" : "POST /reload and other changes");
    return 0;
}

/* The embedded broker cannot auto-create with a partition count: the app's
 * inputs are made as it declares them. */
static int start_embedded(run_t *r) {
    char err[512];
    if (!(r->embedded = sh_broker_start(0, err, sizeof err))) {
        sh_log(SH_LOG_ERROR, "cannot start the embedded broker: %s", err);
        return -1;
    }
    r->bootstrap = sh_broker_bootstraps(r->embedded);
    sh_log(SH_LOG_INFO, "embedded broker at %s", r->bootstrap);
    /* Avro serdes of an app on the embedded broker find this registry
     * through sh_ffi_registry_url unless its kafka table names another. */
    sh_broker_create_topic(r->embedded, "_schemas", 1);
    if (!(r->registry = sh_registry_start("127.0.0.1:0", r->bootstrap, err, sizeof err))) {
        sh_log(SH_LOG_ERROR, "cannot start the embedded schema registry: %s", err);
        return -1;
    }
    sh_registry_set_embedded(r->registry);
    sh_log(SH_LOG_INFO, "embedded schema registry at %s", sh_registry_url(r->registry));
    sh_ctx_t *ctx = sh_vm_ctx(r->first);
    const char *id = sh_vm_app_id(r->first);
    int cdc_count;
    sh_vm_mysql_cdc_props(r->first, &cdc_count);
    for (int i = 0; cdc_count == 0 && i < sh_ffi_source_count(ctx); i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        if (!sh_topic_name_is_internal(id, topic))
            sh_broker_create_topic(r->embedded, topic, sh_vm_source_partitions(r->first, topic));
    }
    return 0;
}

/* A clear exit, naming the address, when no broker answers at start:
 * librdkafka would otherwise retry for ever. */
static bool reachable(run_t *r, rd_kafka_t *rk) {
    int64_t timeout = sh_vm_startup_timeout_ms(r->first);
    if (timeout <= 0) timeout = DEFAULT_STARTUP_TIMEOUT_MS;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, NULL, &md, (int)timeout);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_metadata_destroy(md);
        return true;
    }
    sh_log(SH_LOG_ERROR,
           "no Kafka broker answered at %s within %.0f s (startup.timeout): %s; check "
           "bootstrap.servers (or --bootstrap) and that the broker runs",
           r->bootstrap, (double)timeout / 1000.0, rd_kafka_err2str(err));
    return false;
}

int sh_run(const sh_run_options_t *o) {
    install_signals();
    run_t r = {.options = o};
    char err[2048];
    char *state_dir = NULL, *start_path = NULL;
    int threads = 0, rc = 1;
    sh_thread_io_t *io = NULL;
    thread_parts_t *parts = NULL;
    sh_tasks_t **task_groups = NULL;

    sh_vm_set_unsafe(o->unsafe);
    if (o->unsafe)
        sh_log(SH_LOG_WARN, "UNSAFE: --unsafe given: app code runs WITHOUT the sandbox, with "
                            "process, file, FFI and debug access, for this run and every reload");
    /* Avro serdes: --set schema.registry.url wins; a memory-only registry
     * would hand out ids nobody else can resolve. Set before any VM loads. */
    const char *registry_url = NULL;
    for (int i = 0; i < o->set_count; i++)
        if (strcmp(o->sets[i].key, "schema.registry.url") == 0) registry_url = o->sets[i].value;
    sh_registry_configure(registry_url, false);

    /* Thread 0's VM first: it names the app, its threads and servers. */
    if (!(r.first = sh_vm_load(o->app_path, NULL, 1, o->state_dir, err, sizeof err))) {
        sh_log(SH_LOG_ERROR, "%s", err);
        return 1;
    }
    /* the command line, then the app (sh.app { state_dir =, http = }), then defaults */
    const char *app_state_dir = sh_vm_state_dir(r.first);
    if (o->state_dir || app_state_dir)
        state_dir = strdup(o->state_dir ? o->state_dir : app_state_dir);
    else if (asprintf(&state_dir, "./.streamhost/%s", sh_vm_app_id(r.first)) < 0)
        state_dir = NULL;
    const char *http = o->http         ? o->http
                       : sh_vm_http(r.first) ? sh_vm_http(r.first)
                                             : DEFAULT_HTTP;
    threads = sh_vm_threads(r.first);
    int cdc_count;
    sh_vm_mysql_cdc_props(r.first, &cdc_count);
    if (cdc_count > 0 && threads > 1) {
        /* one binlog, one reader: its order is the commit order */
        sh_log(SH_LOG_WARN, "an app with b:mysql_cdc runs one stream thread, not %d", threads);
        threads = 1;
    }
    io = calloc((size_t)threads, sizeof *io);
    parts = calloc((size_t)threads, sizeof *parts);
    task_groups = calloc((size_t)threads, sizeof *task_groups);
    if (!state_dir || !io || !parts || !task_groups) {
        sh_log(SH_LOG_ERROR, "out of memory");
        goto out;
    }
    r.state_dir = state_dir;
    if (check_http_address(o, http, state_dir) != 0) goto out;
    if (!(start_path = choose_version(&r, o))) goto out;
    sh_ffi_ctx_set_state_dir(sh_vm_ctx(r.first), state_dir);
    r.bootstrap = effective_bootstrap(o, r.first);
    if (strcmp(r.bootstrap, "embedded") == 0 && start_embedded(&r) != 0) goto out;

    for (int i = 0; i < threads; i++) {
        if (make_thread(&r, i, &io[i], &parts[i], err, sizeof err) != 0) {
            sh_log(SH_LOG_ERROR, "stream thread %d: %s", i, err);
            goto out;
        }
        task_groups[i] = parts[i].tasks;
        if (i == 0 && !reachable(&r, parts[0].producer)) goto out;
    }
    if (strcmp(http, "off") != 0) {
        if (start_http(&r, http, task_groups, threads) != 0) goto out;
        publish_topology(&r, r.first);
    }
    sh_instance_config_t config = {.app_path = start_path,
                                   .reload_path = o->app_path,
                                   .on_clean = save_clean,
                                   .on_stuck = mark_stuck,
                                   .state_dir = state_dir,
                                   .first = r.first,
                                   .threads = threads,
                                   .io = io,
                                   .on_swap = publish_topology,
                                   .swap_arg = &r};
    r.first = NULL; /* the instance's now, with the sources and sinks */
    rc = sh_instance_run(&config);
    memset(io, 0, sizeof *io * (size_t)threads);

out:
    sh_http_stop(r.http);
    for (int i = 0; io && i < threads; i++) {
        if (io[i].source) io[i].source->ops->destroy(io[i].source);
        if (io[i].sink) io[i].sink->ops->destroy(io[i].sink);
    }
    for (int i = 0; parts && i < threads; i++) {
        sh_tasks_free(parts[i].tasks);
        sh_kafka_topics_free(parts[i].topics);
    }
    sh_vm_free(r.first);
    if (r.registry) sh_registry_set_embedded(NULL);
    sh_registry_stop(r.registry);
    sh_broker_stop(r.embedded);
    free(task_groups);
    free(parts);
    free(io);
    free(state_dir);
    free(start_path);
    return rc;
}
