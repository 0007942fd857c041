/*
 * admin.c - what the core asks a cluster outside the data path: a topic's
 * partition count (metadata) and topic creation (the Admin API).
 */
#include <stdio.h>
#include <string.h>

#include "base/log.h"
#include "kafka/admin.h"

void sh_kafka_admin_create_topics(rd_kafka_t *rk, const char *const *topics, const int *partitions,
                            int count, int timeout_ms) {
    if (count <= 0) return;
    rd_kafka_NewTopic_t *new_topics[count];
    int n = 0;
    char errbuf[256];
    for (int i = 0; i < count; i++) {
        if (partitions[i] <= 0) continue;
        new_topics[n] = rd_kafka_NewTopic_new(topics[i], partitions[i], -1, errbuf, sizeof errbuf);
        if (new_topics[n]) n++;
    }
    if (n == 0) return;
    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, timeout_ms, errbuf, sizeof errbuf);
    rd_kafka_CreateTopics(rk, new_topics, (size_t)n, options, queue);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, timeout_ms + 1000);
    const rd_kafka_CreateTopics_result_t *result = event ? rd_kafka_event_CreateTopics_result(event) : NULL;
    if (!event || rd_kafka_event_error(event)) {
        sh_log(SH_LOG_INFO, "CreateTopics not available (%s); output topics are left to the broker's "
               "auto-creation", event ? rd_kafka_event_error_string(event) : "timed out");
    } else if (result) {
        size_t cnt;
        const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics(result, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
            if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
                sh_log(SH_LOG_INFO, "created topic %s", rd_kafka_topic_result_name(results[i]));
            else if (err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                sh_log(SH_LOG_WARN, "cannot create topic %s: %s", rd_kafka_topic_result_name(results[i]),
                       rd_kafka_topic_result_error_string(results[i]));
        }
    }
    if (event) rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    for (int i = 0; i < n; i++) rd_kafka_NewTopic_destroy(new_topics[i]);
}

int sh_kafka_admin_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) return -1;
    const struct rd_kafka_metadata *md = NULL;
    int count = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            count = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return count;
}

int sh_kafka_admin_listed_partitions(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    const struct rd_kafka_metadata *md = NULL;
    int count = -1;
    if (rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return -1;
    for (int i = 0; i < md->topic_cnt; i++)
        if (strcmp(md->topics[i].topic, topic) == 0 && !md->topics[i].err)
            count = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return count;
}
