/*
 * cluster.h - which cluster a consumer talks to, and whether it can
 * (cluster.c): a different cluster behind the same address (a restarted
 * embedded broker, a re-pointed DNS name) is a clear fatal error, since the
 * app's offsets and state no longer match it; brokers that are down show
 * in /healthz until one answers again.
 */
#ifndef SH_KAFKA_CLUSTER_H
#define SH_KAFKA_CLUSTER_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

typedef struct sh_kafka_cluster sh_kafka_cluster_t;

sh_kafka_cluster_t *sh_kafka_cluster_new(const char *bootstrap);
void sh_kafka_cluster_free(sh_kafka_cluster_t *cluster);
/* No broker answers (librdkafka's ALL_BROKERS_DOWN). */
void sh_kafka_cluster_down(sh_kafka_cluster_t *cluster);
/* A record arrived: a broker answers. */
void sh_kafka_cluster_up(sh_kafka_cluster_t *cluster);
/* librdkafka saw a broker report another cluster id than the one it knew
 * (its CLUSTERID log line); it keeps the old id, so this is how the change
 * is learnt. @locality any librdkafka thread */
void sh_kafka_cluster_changed(const char *message);
/* Cheap enough to call every poll: every 2 s it compares the cluster id
 * (and, while down, asks for metadata). Returns 0, or -1 with errbuf when
 * the cluster is not the one the app started on. */
int sh_kafka_cluster_check(sh_kafka_cluster_t *cluster, rd_kafka_t *rk, char *errbuf,
                           size_t errlen);

#endif
