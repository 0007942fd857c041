/*
 * replicator.c - copying topics between clusters (see replicator.h).
 *
 * The data path is the engine's: a Kafka source (kafka/source.c) on the
 * source cluster, a Kafka sink (kafka/sink.c) on the destination, and the
 * batch FIFO (engine/batch.c) between them, so the rule that holds is the
 * loop's: a batch's offsets are stored for commit only once every record it
 * copied is acknowledged by the destination. Records are copied as they are
 * (key, value, timestamp and headers as bytes, no serde), to the same
 * partition when the destination topic has at least as many.
 *
 * Topics: every topic.poll.interval.ms the source cluster's topic list is
 * matched against the config. A new topic becomes one more input and one
 * more output of the context the source and sink are bound to (indexes only
 * grow, so the positions of records in flight keep their meaning), its
 * destination is created with the source's partition count, and the
 * consumer subscribes again.
 *
 * Provenance: each copy carries a __replicator_id header "cluster,topic,
 * partition,offset" naming where it was read. A record whose header says it
 * was read from the destination cluster's topic it would be written to is
 * not copied back, so A->B and B->A replicators over the same topics do not
 * loop (Replicator's rule).
 *
 * @locality everything runs on the thread that calls sh_replicator_run.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "engine/batch.h"
#include "engine/ctx.h"
#include "kafka/admin.h"
#include "kafka/conf.h"
#include "kafka/create_requests.h"
#include "kafka/sink.h"
#include "kafka/source.h"
#include "kafka/topics.h"
#include "replicator/replicator.h"

enum {
    BATCH_MAX = 4096,
    POLL_WAIT_MS = 100,
    METADATA_TIMEOUT_MS = 5000,
    CREATE_TIMEOUT_MS = 10000,
    STATUS_EVERY_MS = 1000,
    DRAIN_TIMEOUT_MS = 30000,
};

/* One copied topic: input i of the context is written to sink[i]. */
typedef struct route {
    int sink;
    int source_partitions, dest_partitions;
} route_t;

struct sh_replicator {
    sh_replicator_config_t *config;
    sh_status_t *status;
    sh_ctx_t *ctx; /* inputs = source topics, sinks = destination topics */
    sh_kafka_topics_t *src_topics, *dest_topics;
    sh_source_t *source;
    sh_sink_t *sink;
    rd_kafka_t *consumer, *producer;
    sh_source_events_t source_events;
    sh_sink_events_t sink_events;
    sh_batches_t batches;
    route_t *routes;
    int route_count;
    char *src_cluster, *dest_cluster;
    sh_ffi_record_t *records;
    sh_ffi_header_t *headers; /* one record's headers plus provenance, grown */
    int header_cap;
    int64_t next_discovery_ms, next_status_ms, next_lag_log_ms, started_ms;
    long long copied, delivered, skipped_loop, skipped_unknown;
    char fatal[2048];
};

static void set_fatal(sh_replicator_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_fatal(sh_replicator_t *r, const char *fmt, ...) {
    if (r->fatal[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->fatal, sizeof r->fatal, fmt, ap);
    va_end(ap);
}

/* ---- the engine's events ---- */

static void on_delivered(void *self, void *batch, const char *topic, int32_t partition,
                         int64_t offset, const char *err) {
    sh_replicator_t *r = self;
    (void)offset;
    if (!batch) return; /* a topic creation request, not a copy */
    if (err) set_fatal(r, "cannot copy to %s [%d]: %s", topic, (int)partition, err);
    else r->delivered++;
    sh_batch_delivered(batch, err == NULL);
}

static int on_assigned(void *self, const char *topic, int32_t partition, char *errbuf,
                       size_t errlen) {
    (void)self, (void)errbuf, (void)errlen;
    sh_log(SH_LOG_DEBUG, "replicator: copying %s [%d]", topic, (int)partition);
    return 0;
}

static void on_assignment_done(void *self) { (void)self; }

/* Partitions move: what was read is delivered and acked first, so the
 * source commits it before it lets them go. */
static void on_revoking(void *self) {
    sh_replicator_t *r = self;
    r->sink->ops->flush(r->sink, DRAIN_TIMEOUT_MS);
    sh_batches_ack_completed(&r->batches);
}

static void on_revoked(void *self, const char *topic, int32_t partition) {
    (void)self, (void)topic, (void)partition;
}

/* ---- topics ---- */

/* The destination topic exists with as many partitions as its source, if
 * it can be made so: CreateTopics, else `streamhost broker`'s creation
 * requests. Returns its partition count, or -1. */
static int ensure_destination(sh_replicator_t *r, const char *topic, int partitions) {
    int have = sh_kafka_admin_listed_partitions(r->producer, topic, METADATA_TIMEOUT_MS);
    if (have > 0) return have;
    /* `streamhost broker` says it takes requests by having their topic;
     * asking it CreateTopics would only wait for a timeout */
    if (sh_kafka_admin_listed_partitions(r->producer, SH_CREATE_REQUESTS_TOPIC,
                                         METADATA_TIMEOUT_MS) <= 0) {
        const char *names[] = {topic};
        int counts[] = {partitions};
        sh_kafka_admin_create_topics(r->producer, names, counts, 1, METADATA_TIMEOUT_MS);
        return sh_kafka_admin_listed_partitions(r->producer, topic, METADATA_TIMEOUT_MS);
    }
    have = sh_create_requests_send(r->producer, topic, partitions, CREATE_TIMEOUT_MS);
    if (have > 0)
        sh_log(SH_LOG_INFO, "replicator: created %s with %d partition(s) on the destination",
               topic, have);
    return have;
}

static bool is_input(sh_replicator_t *r, const char *topic) {
    for (int i = 0; i < sh_ffi_source_count(r->ctx); i++)
        if (strcmp(sh_ffi_source_name(r->ctx, i), topic) == 0) return true;
    return false;
}

/* Adds one source topic: its destination, its route, its input. */
static int add_topic(sh_replicator_t *r, const char *topic, int partitions) {
    char *dest = sh_replicator_config_rename(r->config, topic);
    if (!dest) return -1;
    int dest_partitions = ensure_destination(r, dest, partitions);
    if (dest_partitions <= 0) {
        sh_log(SH_LOG_WARN,
               "replicator: cannot create %s on the destination (no CreateTopics, no creation "
               "requests); it is left to auto-creation",
               dest);
        dest_partitions = 0;
    } else if (dest_partitions < partitions) {
        sh_log(SH_LOG_WARN,
               "replicator: %s has %d partition(s), fewer than %s's %d: records are spread by "
               "key instead of kept in their partition",
               dest, dest_partitions, topic, partitions);
    }
    route_t *grown = realloc(r->routes, sizeof *grown * (size_t)(r->route_count + 1));
    int sink = sh_ffi_sink_add(r->ctx, dest, 0);
    int input = grown && sink >= 0 ? sh_ffi_source_add(r->ctx, topic) : -1;
    if (grown) r->routes = grown;
    free(dest);
    if (input != r->route_count) return -1; /* out of memory */
    r->routes[r->route_count++] = (route_t){
        .sink = sink, .source_partitions = partitions, .dest_partitions = dest_partitions};
    char *name = sh_replicator_config_rename(r->config, topic);
    sh_log(SH_LOG_INFO, "replicator: copying %s (%d partition(s)) to %s", topic, partitions,
           name ? name : "?");
    free(name);
    return 0;
}

/* Looks for topics to copy that are not copied yet; subscribes again when
 * there are. */
static void discover(sh_replicator_t *r) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(r->consumer, 1, NULL, &md, METADATA_TIMEOUT_MS);
    if (err) {
        sh_log(SH_LOG_WARN, "replicator: cannot list the source's topics: %s",
               rd_kafka_err2str(err));
        return;
    }
    int added = 0;
    for (int i = 0; i < md->topic_cnt && !r->fatal[0]; i++) {
        const struct rd_kafka_metadata_topic *t = &md->topics[i];
        if (t->err || t->partition_cnt <= 0 || is_input(r, t->topic) ||
            !sh_replicator_config_wants(r->config, t->topic))
            continue;
        if (add_topic(r, t->topic, t->partition_cnt) != 0) set_fatal(r, "out of memory");
        else added++;
    }
    rd_kafka_metadata_destroy(md);
    if (!added || r->fatal[0]) return;
    char errbuf[1024];
    if (r->sink->ops->bind(r->sink, r->ctx, errbuf, sizeof errbuf) != 0 ||
        r->source->ops->bind(r->source, r->ctx, errbuf, sizeof errbuf) != 0 ||
        r->source->ops->start(r->source, &r->source_events, errbuf, sizeof errbuf) != 0)
        set_fatal(r, "%s", errbuf);
}

/* ---- lag ---- */

static void publish_status(sh_replicator_t *r, bool log_it) {
    rd_kafka_topic_partition_list_t *assigned = NULL;
    if (rd_kafka_assignment(r->consumer, &assigned) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    rd_kafka_position(r->consumer, assigned);
    /* A partition not fetched since its assignment has no position yet: its
     * committed offset is where copying resumes. One round trip, only then. */
    rd_kafka_topic_partition_list_t *unread = rd_kafka_topic_partition_list_new(assigned->cnt);
    for (int i = 0; i < assigned->cnt; i++)
        if (assigned->elems[i].offset < 0)
            rd_kafka_topic_partition_list_add(unread, assigned->elems[i].topic,
                                              assigned->elems[i].partition);
    if (unread->cnt > 0 && rd_kafka_committed(r->consumer, unread, 1000) == 0)
        for (int i = 0; i < unread->cnt; i++)
            if (unread->elems[i].offset >= 0)
                rd_kafka_topic_partition_list_find(assigned, unread->elems[i].topic,
                                                   unread->elems[i].partition)
                    ->offset = unread->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(unread);
    size_t cap = 256 + (size_t)assigned->cnt * 320, used = 0;
    char *json = malloc(cap);
    char *line = log_it ? malloc(cap) : NULL;
    size_t line_used = 0;
    if (!json || (log_it && !line)) goto out;
    long long total = 0;
    used += (size_t)snprintf(json + used, cap - used, "{\"name\":\"%s\",\"partitions\":[",
                             r->config->name);
    for (int i = 0; i < assigned->cnt; i++) {
        rd_kafka_topic_partition_t *p = &assigned->elems[i];
        int64_t low = -1, high = -1;
        rd_kafka_get_watermark_offsets(r->consumer, p->topic, p->partition, &low, &high);
        /* nothing read yet: everything from the low watermark is behind */
        int64_t next = p->offset >= 0 ? p->offset : low;
        long long lag = high >= 0 && next >= 0 && high > next ? (long long)(high - next) : 0;
        total += lag;
        used += (size_t)snprintf(json + used, cap - used,
                                 "%s{\"topic\":\"%s\",\"partition\":%d,\"position\":%lld,"
                                 "\"end\":%lld,\"lag\":%lld}",
                                 i ? "," : "", p->topic, (int)p->partition, (long long)next,
                                 (long long)high, lag);
        if (line && line_used < cap)
            line_used += (size_t)snprintf(line + line_used, cap - line_used, " %s[%d]=%lld",
                                          p->topic, (int)p->partition, lag);
    }
    snprintf(json + used, cap - used,
             "],\"lag\":%lld,\"copied\":%lld,\"delivered\":%lld,\"not_copied_back\":%lld}", total,
             r->copied, r->delivered, r->skipped_loop);
    sh_status_publish(r->status, json);
    if (line)
        sh_log(SH_LOG_INFO, "replicator %s: %lld copied, lag %lld:%s", r->config->name,
               r->delivered, total, line_used ? line : " (no partitions assigned)");
out:
    free(json);
    free(line);
    rd_kafka_topic_partition_list_destroy(assigned);
}

/* ---- copying ---- */

/* True when the record's provenance says it came from the topic of the
 * destination cluster it would be written to. */
static bool came_from(sh_replicator_t *r, const sh_ffi_record_t *rec, const char *dest_topic) {
    size_t cluster_len = strlen(r->dest_cluster), topic_len = strlen(dest_topic);
    for (int i = 0; i < rec->header_count; i++) {
        const sh_ffi_header_t *h = &rec->headers[i];
        if (!h->value || strcmp(h->name, SH_REPLICATOR_HEADER) != 0) continue;
        if (h->value_len > cluster_len + topic_len + 1 &&
            memcmp(h->value, r->dest_cluster, cluster_len) == 0 && h->value[cluster_len] == ',' &&
            memcmp(h->value + cluster_len + 1, dest_topic, topic_len) == 0 &&
            h->value[cluster_len + 1 + topic_len] == ',')
            return true;
    }
    return false;
}

static int copy_one(sh_replicator_t *r, sh_batch_t *b, const sh_ffi_record_t *rec) {
    if (rec->source < 0 || rec->source >= r->route_count) {
        r->skipped_unknown++;
        return 0;
    }
    const route_t *route = &r->routes[rec->source];
    const char *src_topic = sh_ffi_source_name(r->ctx, rec->source);
    if (r->config->provenance && came_from(r, rec, sh_ffi_sink_name(r->ctx, route->sink))) {
        r->skipped_loop++;
        return 0;
    }
    sh_ffi_record_t out = *rec;
    char provenance[1024];
    if (r->config->provenance) {
        if (rec->header_count + 1 > r->header_cap) {
            int cap = rec->header_count + 16;
            sh_ffi_header_t *grown = realloc(r->headers, sizeof *grown * (size_t)cap);
            if (!grown) return -1;
            r->headers = grown;
            r->header_cap = cap;
        }
        if (rec->header_count > 0)
            memcpy(r->headers, rec->headers, sizeof *r->headers * (size_t)rec->header_count);
        int len = snprintf(provenance, sizeof provenance, "%s,%s,%d,%lld", r->src_cluster,
                           src_topic, (int)rec->partition, (long long)rec->offset);
        r->headers[rec->header_count] = (sh_ffi_header_t){
            .name = SH_REPLICATOR_HEADER, .value = provenance, .value_len = (size_t)len};
        out.headers = r->headers;
        out.header_count = rec->header_count + 1;
    }
    out.partition = route->dest_partitions >= route->source_partitions ? rec->partition : -1;
    char err[1024];
    sh_batch_output(b); /* first: a delivery may be served inside emit */
    if (r->sink->ops->emit(r->sink, route->sink, &out, b, err, sizeof err) != SH_OK) {
        sh_batch_delivered(b, false);
        set_fatal(r, "%s", err);
        return -1;
    }
    r->copied++;
    return 0;
}

static void copy_batch(sh_replicator_t *r) {
    char err[2048] = "";
    int n = r->source->ops->poll(r->source, r->records, BATCH_MAX, POLL_WAIT_MS, err, sizeof err);
    if (n < 0) set_fatal(r, "source: %s", err);
    if (n <= 0) return;
    sh_batch_t *b = sh_batches_open(&r->batches);
    int done = 0;
    while (b && done < n && copy_one(r, b, &r->records[done]) == 0) done++;
    if (!b || done < n) set_fatal(r, "%s", r->fatal[0] ? r->fatal : "out of memory");
    if (b) sh_batch_seal(b, r->source->ops->mark(r->source, r->records, done));
    r->source->ops->release(r->source);
}

int sh_replicator_run(sh_replicator_t *r, volatile sig_atomic_t *stopping) {
    r->started_ms = sh_clock_now_ms();
    while (!*stopping && !r->fatal[0]) {
        int64_t now = sh_clock_now_ms();
        if (now >= r->next_discovery_ms) {
            discover(r);
            r->next_discovery_ms = now + r->config->poll_interval_ms;
        }
        if (sh_ffi_source_count(r->ctx) > 0) copy_batch(r);
        else nanosleep(&(struct timespec){.tv_nsec = POLL_WAIT_MS * 1000000L}, NULL);
        r->sink->ops->poll(r->sink, 0);
        sh_batches_ack_completed(&r->batches);
        if (now >= r->next_status_ms) {
            bool log_it = r->config->lag_log_interval_ms > 0 && now >= r->next_lag_log_ms;
            publish_status(r, log_it);
            r->next_status_ms = now + STATUS_EVERY_MS;
            if (log_it) r->next_lag_log_ms = now + r->config->lag_log_interval_ms;
        }
    }
    r->sink->ops->flush(r->sink, DRAIN_TIMEOUT_MS);
    sh_batches_ack_completed(&r->batches);
    if (r->batches.head)
        sh_log(SH_LOG_WARN, "replicator: %lld batch(es) not delivered; they will be copied again",
               r->batches.open);
    char err[1024];
    if (r->source->ops->commit(r->source, err, sizeof err) != 0)
        sh_log(SH_LOG_WARN, "replicator: cannot commit: %s", err);
    publish_status(r, false);
    double seconds = (double)(sh_clock_now_ms() - r->started_ms) / 1000.0;
    sh_log(SH_LOG_INFO,
           "replicator %s stopped: %lld records copied in %.1f s (%.0f records/s), %lld not "
           "copied back to their cluster",
           r->config->name, r->delivered, seconds,
           seconds > 0 ? (double)r->delivered / seconds : 0.0, r->skipped_loop);
    if (r->fatal[0]) {
        sh_log(SH_LOG_ERROR, "replicator %s: %s", r->config->name, r->fatal);
        return 1;
    }
    return 0;
}

/* ---- set-up ---- */

static rd_kafka_conf_t *client_conf(sh_replicator_t *r, rd_kafka_type_t type, const sh_kv_t *props,
                                    int count, const char *side, char *errbuf, size_t errlen) {
    char client_id[300];
    snprintf(client_id, sizeof client_id, "%s-%s", r->config->name, side);
    /* a new topic is read from its start, as Replicator does */
    const sh_kv_t defaults[] = {{"client.id", client_id},
                                {"auto.offset.reset", "earliest"}};
    char why[512];
    rd_kafka_conf_t *conf = sh_kafka_conf_new(type, type == RD_KAFKA_CONSUMER ? r->config->group_id : NULL,
                                              defaults, 2, props, count, why, sizeof why);
    if (!conf)
        snprintf(errbuf, errlen, "%s.kafka.* properties: %s", side, why);
    return conf;
}

static char *cluster_id(rd_kafka_t *rk) {
    char *id = rd_kafka_clusterid(rk, METADATA_TIMEOUT_MS);
    char *copy = strdup(id ? id : "unknown");
    if (id) rd_kafka_mem_free(rk, id);
    return copy;
}

sh_replicator_t *sh_replicator_new(sh_replicator_config_t *config, sh_status_t *status,
                                   char *errbuf, size_t errlen) {
    sh_replicator_t *r = calloc(1, sizeof *r);
    if (!r) {
        sh_replicator_config_free(config);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    r->config = config;
    r->status = status;
    r->records = calloc(BATCH_MAX, sizeof *r->records);
    r->ctx = sh_ctx_new(NULL);
    r->src_topics = sh_kafka_topics_new(config->group_id, NULL);
    r->dest_topics = sh_kafka_topics_new(config->group_id, NULL);
    if (!r->records || !r->ctx || !r->src_topics || !r->dest_topics) {
        snprintf(errbuf, errlen, "out of memory");
        goto err;
    }
    rd_kafka_conf_t *conf =
        client_conf(r, RD_KAFKA_PRODUCER, config->dest, config->dest_count, "dest", errbuf, errlen);
    if (!conf || !(r->sink = sh_kafka_sink_new(conf, r->dest_topics, errbuf, errlen))) goto err;
    conf = client_conf(r, RD_KAFKA_CONSUMER, config->src, config->src_count, "src", errbuf, errlen);
    if (!conf || !(r->source = sh_kafka_source_new(conf, r->src_topics, NULL, 0, errbuf, errlen)))
        goto err;
    /* a copy keeps each partition's order; across topics there is none to keep */
    sh_kafka_source_set_max_task_idle(r->source, -1);
    r->consumer = sh_kafka_source_handle(r->source);
    r->producer = sh_kafka_sink_handle(r->sink);
    sh_kafka_topics_set_clients(r->src_topics, r->consumer, NULL);
    sh_kafka_topics_set_clients(r->dest_topics, r->producer, r->producer);
    r->sink_events = (sh_sink_events_t){.loop = r, .delivered = on_delivered};
    r->sink->events = &r->sink_events;
    r->source_events = (sh_source_events_t){.loop = r,
                                            .assigned = on_assigned,
                                            .assignment_done = on_assignment_done,
                                            .revoking = on_revoking,
                                            .revoked = on_revoked};
    r->batches.source = r->source;
    /* both clusters must answer before anything is read: their ids are the
     * provenance */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err;
    if ((err = rd_kafka_metadata(r->consumer, 0, NULL, &md, 30000))) {
        snprintf(errbuf, errlen, "the source cluster does not answer: %s", rd_kafka_err2str(err));
        goto err;
    }
    rd_kafka_metadata_destroy(md);
    if ((err = rd_kafka_metadata(r->producer, 0, NULL, &md, 30000))) {
        snprintf(errbuf, errlen, "the destination cluster does not answer: %s",
                 rd_kafka_err2str(err));
        goto err;
    }
    rd_kafka_metadata_destroy(md);
    r->src_cluster = cluster_id(r->consumer);
    r->dest_cluster = cluster_id(r->producer);
    if (!r->src_cluster || !r->dest_cluster) {
        snprintf(errbuf, errlen, "out of memory");
        goto err;
    }
    sh_log(SH_LOG_INFO, "replicator %s: from cluster %s to cluster %s, group %s", config->name,
           r->src_cluster, r->dest_cluster, config->group_id);
    return r;
err:
    sh_replicator_free(r);
    return NULL;
}

void sh_replicator_free(sh_replicator_t *r) {
    if (!r) return;
    sh_batches_clear(&r->batches);
    if (r->source) {
        r->source->ops->close(r->source);
        r->source->ops->destroy(r->source);
    }
    if (r->sink) r->sink->ops->destroy(r->sink);
    sh_kafka_topics_free(r->src_topics);
    sh_kafka_topics_free(r->dest_topics);
    sh_ffi_ctx_destroy(r->ctx);
    sh_replicator_config_free(r->config);
    free(r->routes);
    free(r->records);
    free(r->headers);
    free(r->src_cluster);
    free(r->dest_cluster);
    free(r);
}
