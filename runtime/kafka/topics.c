/*
 * topics.c - creating the topics of an app (see topics.h).
 *
 * Internal topics get as many partitions as the topics that feed them, as
 * Kafka Streams requires: a changelog as many as its store's input topic, a
 * repartition topic as many as the widest of the app's inputs (it feeds
 * tasks that meet them). Every name handled is remembered, so a reload does
 * not pay metadata and CreateTopics round trips again. Only what is missing
 * is asked for; `streamhost broker`, which has no CreateTopics, gets its
 * requests through its control topic (create_requests.h). An internal topic
 * that exists with another partition count stops the app with an error.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/topic_name.h"
#include "kafka/admin.h"
#include "kafka/create_requests.h"
#include "kafka/topics.h"

enum { METADATA_TIMEOUT_MS = 5000 };

struct sh_kafka_topics {
    char *app_id;
    sh_broker_t *embedded;
    rd_kafka_t *metadata, *admin;
    char **ensured;
    int ensured_count;
};

sh_kafka_topics_t *sh_kafka_topics_new(const char *app_id, sh_broker_t *embedded) {
    sh_kafka_topics_t *t = calloc(1, sizeof *t);
    if (!t || !(t->app_id = strdup(app_id))) {
        free(t);
        return NULL;
    }
    t->embedded = embedded;
    return t;
}

void sh_kafka_topics_free(sh_kafka_topics_t *t) {
    if (!t) return;
    for (int i = 0; i < t->ensured_count; i++) free(t->ensured[i]);
    free(t->ensured);
    free(t->app_id);
    free(t);
}

void sh_kafka_topics_set_clients(sh_kafka_topics_t *t, rd_kafka_t *metadata, rd_kafka_t *admin) {
    t->metadata = metadata;
    t->admin = admin;
}

static bool is_ensured(sh_kafka_topics_t *t, const char *topic) {
    for (int i = 0; i < t->ensured_count; i++)
        if (strcmp(t->ensured[i], topic) == 0) return true;
    return false;
}

static int source_partitions(sh_kafka_topics_t *t, const char *topic) {
    return sh_kafka_admin_partition_count(t->metadata, topic, METADATA_TIMEOUT_MS);
}

static int widest_source(sh_kafka_topics_t *t, sh_ctx_t *ctx) {
    int widest = 1;
    for (int i = 0; i < sh_ffi_source_count(ctx); i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        if (sh_topic_name_is_internal(t->app_id, topic)) continue;
        int n = source_partitions(t, topic);
        if (n > widest) widest = n;
    }
    return widest;
}

/* Partitions an internal topic must have (0: not internal, leave it). */
static int internal_partitions(sh_kafka_topics_t *t, sh_ctx_t *ctx, const char *topic) {
    char *store = NULL;
    int kind = sh_topic_name_parse(t->app_id, topic, &store);
    if (kind == SH_TOPIC_REPARTITION) {
        free(store);
        return widest_source(t, ctx);
    }
    if (kind != SH_TOPIC_CHANGELOG) return 0;
    int partitions = 0;
    for (int i = 0; i < sh_ffi_store_count(ctx) && !partitions; i++) {
        const sh_store_decl_t *d = sh_ctx_store_decl(ctx, i);
        if (strcmp(d->name, store) != 0) continue;
        partitions = sh_topic_name_is_internal(t->app_id, d->source_topic)
                         ? widest_source(t, ctx)
                         : source_partitions(t, d->source_topic);
    }
    free(store);
    return partitions > 0 ? partitions : widest_source(t, ctx);
}

/* Creates what is missing of the topics with partitions > 0 where CreateTopics
 * does not reach: the in-process broker through its API, `streamhost broker`
 * through its control topic. Existence is read from a listing of all topics:
 * a metadata request naming a topic makes the embedded broker (and a Kafka
 * broker, for a producer) auto-create it with its default partition count. */
static void create_missing(sh_kafka_topics_t *t, const char *const *names, const int *partitions,
                           int n) {
    if (t->embedded) {
        for (int i = 0; i < n; i++)
            if (partitions[i] > 0) sh_broker_create_topic(t->embedded, names[i], partitions[i]);
        return;
    }
    const char **missing = calloc((size_t)n + 1, sizeof *missing);
    int *missing_partitions = calloc((size_t)n + 1, sizeof *missing_partitions);
    int m = 0;
    if (!missing || !missing_partitions)
        sh_log(SH_LOG_WARN, "out of memory: topics are left to the broker's auto-creation");
    for (int i = 0; missing && missing_partitions && i < n; i++) {
        if (partitions[i] <= 0 ||
            sh_kafka_admin_listed_partitions(t->metadata, names[i], METADATA_TIMEOUT_MS) > 0)
            continue;
        missing[m] = names[i];
        missing_partitions[m++] = partitions[i];
    }
    bool requests = m > 0 && t->admin &&
                    sh_kafka_admin_listed_partitions(t->admin, SH_CREATE_REQUESTS_TOPIC,
                                                     METADATA_TIMEOUT_MS) > 0;
    if (requests) {
        for (int i = 0; i < m; i++)
            if (sh_create_requests_post(t->admin, missing[i], missing_partitions[i]) != 0)
                missing[i] = NULL;
        for (int i = 0; i < m; i++)
            if (missing[i] &&
                sh_create_requests_await(t->admin, missing[i], METADATA_TIMEOUT_MS) > 0)
                sh_log(SH_LOG_INFO, "created topic %s with %d partition(s) through %s", missing[i],
                       missing_partitions[i], SH_CREATE_REQUESTS_TOPIC);
    } else if (m > 0) {
        sh_kafka_admin_create_topics(t->admin, missing, missing_partitions, m, METADATA_TIMEOUT_MS);
    }
    free(missing);
    free(missing_partitions);
}

/* Creates the topics with partitions > 0 and remembers every name. An
 * internal topic that exists with another partition count than the app
 * needs fails the bind, as in Kafka Streams: its records would go to tasks
 * that have no partition of the other side of a join (or of the store's
 * input), and be dropped without a word. */
static int create(sh_kafka_topics_t *t, const char *const *names, const int *partitions, int n,
                  char *errbuf, size_t errlen) {
    create_missing(t, names, partitions, n);
    for (int i = 0; i < n; i++) {
        if (partitions[i] <= 0 || !sh_topic_name_is_internal(t->app_id, names[i])) continue;
        int have = sh_kafka_admin_listed_partitions(t->metadata, names[i], METADATA_TIMEOUT_MS);
        if (have > 0 && have != partitions[i]) {
            snprintf(errbuf, errlen,
                     "internal topic %s has %d partition(s), the app needs %d (as many as the "
                     "input topics it meets): its records would miss their join or store "
                     "partners. Delete it so that the host creates it (a `streamhost broker` "
                     "cannot: start a new one), or create it with %d partition(s)",
                     names[i], have, partitions[i], partitions[i]);
            return -1;
        }
    }
    char **grown = realloc(t->ensured, sizeof *grown * (size_t)(t->ensured_count + n + 1));
    if (grown) {
        t->ensured = grown;
        for (int i = 0; i < n; i++)
            if (!is_ensured(t, names[i]) && (grown[t->ensured_count] = strdup(names[i])))
                t->ensured_count++;
    }
    return 0;
}

int sh_kafka_topics_ensure_sources(sh_kafka_topics_t *t, sh_ctx_t *ctx, char *errbuf,
                                   size_t errlen) {
    int n = sh_ffi_source_count(ctx);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int *partitions = calloc((size_t)n + 1, sizeof *partitions), count = 0;
    for (int i = 0; names && partitions && i < n; i++) {
        const char *topic = sh_ffi_source_name(ctx, i);
        int p = is_ensured(t, topic) ? 0 : internal_partitions(t, ctx, topic);
        if (p <= 0) continue;
        names[count] = topic;
        partitions[count++] = p;
    }
    int rc = create(t, names, partitions, count, errbuf, errlen);
    free(names);
    free(partitions);
    return rc;
}

int sh_kafka_topics_ensure_sinks(sh_kafka_topics_t *t, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    int n = sh_ffi_sink_count(ctx);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    int *partitions = calloc((size_t)n + 1, sizeof *partitions);
    int topics = 0;
    for (int i = 0; names && partitions && i < n; i++) {
        if (strcmp(sh_ctx_sink_kind(ctx, i), "kafka") != 0) continue; /* a MySQL table, ... */
        names[topics] = sh_ffi_sink_name(ctx, i);
        int internal =
            is_ensured(t, names[topics]) ? -1 : internal_partitions(t, ctx, names[topics]);
        partitions[topics++] =
            internal > 0 ? internal : internal < 0 ? 0 : sh_ctx_sink_partitions(ctx, i);
    }
    int rc = names && partitions ? create(t, names, partitions, topics, errbuf, errlen) : 0;
    free(names);
    free(partitions);
    return rc;
}
