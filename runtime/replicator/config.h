/*
 * config.h - a replicator's settings, under Confluent Replicator's names
 * (config.c).
 *
 *   topic.regex                 topics to copy (a whole-name match, POSIX ERE)
 *   topic.whitelist, topic.include   topics to copy, comma-separated
 *   topic.blacklist, topic.exclude   topics never copied (win over the above)
 *   topic.rename.format         destination name, ${topic} is the source's
 *   topic.poll.interval.ms      how often new source topics are looked for
 *   src.kafka.*, src.consumer.* librdkafka properties of the source consumer
 *   dest.kafka.*, dest.producer.*   of the destination producer
 *   src.consumer.group.id       the consumer group (default: name)
 *   provenance.header.enable    add and honour the __replicator_id header
 *   name                        the replicator's name (logs, default group)
 *   http                        where GET /lag is served (streamhost's own)
 *
 * Connect's own keys (connector.class, converters, tasks.max, ...) are
 * accepted and ignored, so the workshop's JSON can be used as it is.
 */
#ifndef SH_REPLICATOR_CONFIG_H
#define SH_REPLICATOR_CONFIG_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/vm.h" /* sh_kv_t */

typedef struct sh_replicator_config {
    char *name, *group_id, *rename_format, *http;
    bool has_regex;
    regex_t regex;
    char **include, **exclude;
    int include_count, exclude_count;
    sh_kv_t *src, *dest; /* librdkafka properties, prefixes removed */
    int src_count, dest_count;
    int replication_factor; /* dest.kafka.replication.factor, -1: the broker's */
    int poll_interval_ms;
    int lag_log_interval_ms;
    bool provenance;
} sh_replicator_config_t;

/* Reads props[0..n) (later keys win). Returns NULL with errbuf naming the
 * offending property. */
sh_replicator_config_t *sh_replicator_config_new(const sh_kv_t *props, int n, char *errbuf,
                                                 size_t errlen);
void sh_replicator_config_free(sh_replicator_config_t *config);
/* True when topic is to be copied. Internal topics (__*) never are unless
 * whitelisted. */
bool sh_replicator_config_wants(const sh_replicator_config_t *config, const char *topic);
/* The destination name of topic: topic.rename.format with ${topic}
 * replaced. Caller frees; NULL when out of memory. */
char *sh_replicator_config_rename(const sh_replicator_config_t *config, const char *topic);

#endif
