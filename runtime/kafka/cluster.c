/*
 * cluster.c - the cluster a consumer talks to (see cluster.h).
 *
 * librdkafka reconnects by itself, and when a broker reports another
 * cluster id than the one it knew it only logs it (facility CLUSTERID) and
 * keeps talking. The log callback hands that line here (one process-wide
 * slot: every client of the app talks to the same cluster), and the next
 * check stops the app with it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/health.h"
#include "base/log.h"
#include "kafka/cluster.h"

enum { CHECK_EVERY_MS = 2000, METADATA_WAIT_MS = 200 };

static pthread_mutex_t changed_lock = PTHREAD_MUTEX_INITIALIZER;
static char changed[768]; /* librdkafka's line about the new cluster id */

void sh_kafka_cluster_changed(const char *message) {
    pthread_mutex_lock(&changed_lock);
    if (!changed[0]) snprintf(changed, sizeof changed, "%s", message);
    pthread_mutex_unlock(&changed_lock);
}

struct sh_kafka_cluster {
    char *bootstrap;
    int64_t last_check_ms;
    bool down;
    int64_t down_since_ms;
};

sh_kafka_cluster_t *sh_kafka_cluster_new(const char *bootstrap) {
    sh_kafka_cluster_t *c = calloc(1, sizeof *c);
    if (c && !(c->bootstrap = strdup(bootstrap ? bootstrap : "?"))) {
        free(c);
        return NULL;
    }
    return c;
}

void sh_kafka_cluster_free(sh_kafka_cluster_t *c) {
    if (!c) return;
    free(c->bootstrap);
    free(c);
}

void sh_kafka_cluster_down(sh_kafka_cluster_t *c) {
    if (c->down) return;
    c->down = true;
    c->down_since_ms = sh_clock_now_ms();
    char reason[512];
    snprintf(reason, sizeof reason, "no Kafka broker answers at %s; waiting for one to come back",
             c->bootstrap);
    sh_health_set(SH_HEALTH_BROKERS_DOWN, reason);
    sh_log(SH_LOG_WARN, "%s", reason);
}

void sh_kafka_cluster_up(sh_kafka_cluster_t *c) {
    if (!c->down) return;
    c->down = false;
    sh_health_set(SH_HEALTH_BROKERS_DOWN, NULL);
    sh_log(SH_LOG_INFO, "a Kafka broker at %s answers again after %.1f s", c->bootstrap,
           (double)(sh_clock_now_ms() - c->down_since_ms) / 1000.0);
}

int sh_kafka_cluster_check(sh_kafka_cluster_t *c, rd_kafka_t *rk, char *errbuf, size_t errlen) {
    int64_t now = sh_clock_now_ms();
    if (now - c->last_check_ms < CHECK_EVERY_MS) return 0;
    c->last_check_ms = now;
    if (c->down) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, NULL, &md, METADATA_WAIT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            sh_kafka_cluster_up(c);
        }
    }
    (void)rk;
    char line[768];
    pthread_mutex_lock(&changed_lock);
    snprintf(line, sizeof line, "%s", changed);
    pthread_mutex_unlock(&changed_lock);
    if (!line[0]) return 0;
    snprintf(errbuf, errlen,
             "the Kafka cluster at %s is not the one this app started on (%s): its committed "
             "offsets and the stores' changelogs no longer match it. If the cluster was replaced "
             "on purpose, run `streamhost reset` and start again",
             c->bootstrap, line);
    return -1;
}
