/*
 * journal.c - the registry's log in Kafka, as Confluent's registry keeps
 * it: one partition of a compacted topic (`_schemas`), every change a record
 * keyed by what it changes. Opening reads the partition from the beginning
 * to its end (partition EOF) before the registry answers anything; after
 * that the registry is the topic's only writer, so appends need not be read
 * back. An append waits for its delivery report, so a client is told an id
 * only once the id is durable.
 *
 * @locality the registry's HTTP thread
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "base/log.h"
#include "kafka/conf.h"
#include "registry/journal.h"

struct sh_journal {
    rd_kafka_t *producer;
    char *topic;
    rd_kafka_resp_err_t delivery; /* of the last append */
    int delivered;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk, (void)opaque;
    sh_journal_t *j = m->_private;
    j->delivery = m->err;
    j->delivered = 1;
}

/* streamhost's client configuration (its logger, its defaults), then the
 * journal's own settings. */
static rd_kafka_conf_t *journal_conf(rd_kafka_type_t type, const char *bootstrap, char *err,
                                     size_t errlen) {
    sh_kv_t producer[] = {{"bootstrap.servers", (char *)bootstrap},
                          {"client.id", "streamhost-registry"},
                          {"acks", "all"},
                          {"linger.ms", "0"}};
    sh_kv_t consumer[] = {{"bootstrap.servers", (char *)bootstrap},
                          {"client.id", "streamhost-registry"},
                          {"enable.partition.eof", "true"},
                          {"enable.auto.commit", "false"}};
    return type == RD_KAFKA_PRODUCER
               ? sh_kafka_conf_new(type, NULL, NULL, 0, producer, 4, err, errlen)
               : sh_kafka_conf_new(type, "streamhost-registry", NULL, 0, consumer, 4, err, errlen);
}

/* Whether the topic exists: 1, 0, or -1 when the cluster does not answer.
 * A missing topic and an unreachable cluster must not look alike: starting
 * empty beside a _schemas topic we could not read would hand out ids that
 * are already taken. */
static int topic_exists(sh_journal_t *j, const char *bootstrap, char *err, size_t errlen) {
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t rc = rd_kafka_metadata(j->producer, 1, NULL, &md, 15000);
    if (rc) {
        snprintf(err, errlen, "cannot read the cluster's topics at %s: %s", bootstrap,
                 rd_kafka_err2str(rc));
        return -1;
    }
    int found = 0;
    for (int i = 0; i < md->topic_cnt && !found; i++)
        found = strcmp(md->topics[i].topic, j->topic) == 0 && md->topics[i].partition_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return found;
}

/* Creates the topic as Confluent's registry needs it: one partition,
 * compacted, so no retention ever drops a schema (a tombstone removes a
 * permanently deleted version). A cluster without CreateTopics (the
 * embedded broker) auto-creates it on the first append. */
static int create_topic(sh_journal_t *j) {
    char errbuf[512];
    rd_kafka_NewTopic_t *topic = rd_kafka_NewTopic_new(j->topic, 1, -1, errbuf, sizeof errbuf);
    if (!topic) return 0;
    rd_kafka_NewTopic_set_config(topic, "cleanup.policy", "compact");
    rd_kafka_queue_t *queue = rd_kafka_queue_new(j->producer);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(j->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, 5000, errbuf, sizeof errbuf);
    rd_kafka_CreateTopics(j->producer, &topic, 1, options, queue);
    rd_kafka_event_t *event = rd_kafka_queue_poll(queue, 6000);
    const rd_kafka_CreateTopics_result_t *result =
        event ? rd_kafka_event_CreateTopics_result(event) : NULL;
    size_t count = 0;
    const rd_kafka_topic_result_t **topics =
        result ? rd_kafka_CreateTopics_result_topics(result, &count) : NULL;
    rd_kafka_resp_err_t rc = !event  ? RD_KAFKA_RESP_ERR__TIMED_OUT
                             : count ? rd_kafka_topic_result_error(topics[0])
                                     : rd_kafka_event_error(event);
    if (rc && rc != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        sh_log(SH_LOG_INFO, "registry: cannot create %s (%s); leaving it to auto-creation",
               j->topic, rd_kafka_err2str(rc));
    else
        sh_log(SH_LOG_INFO, "registry: created %s (1 partition, compacted)", j->topic);
    if (event) rd_kafka_event_destroy(event);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(queue);
    rd_kafka_NewTopic_destroy(topic);
    return 0;
}

/* Replays the topic's one partition; a topic that does not exist yet is
 * created. */
static int replay(sh_journal_t *j, const char *bootstrap, sh_journal_record_fn on_record, void *arg,
                  char *err, size_t errlen) {
    int exists = topic_exists(j, bootstrap, err, errlen);
    if (exists < 0) return -1;
    if (!exists) return create_topic(j);
    rd_kafka_conf_t *conf = journal_conf(RD_KAFKA_CONSUMER, bootstrap, err, errlen);
    if (!conf) return -1;
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!consumer) return -1;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, j->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t rc = rd_kafka_assign(consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
    int result = 0, records = 0;
    if (rc) {
        snprintf(err, errlen, "cannot read %s: %s", j->topic, rd_kafka_err2str(rc));
        result = -1;
    }
    for (int idle = 0; !result;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);
        if (!m) {
            if (++idle >= 60) {
                snprintf(err, errlen, "timed out reading %s from %s", j->topic, bootstrap);
                result = -1;
            }
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            break;
        }
        if (m->err) {
            snprintf(err, errlen, "reading %s: %s", j->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            result = -1;
            break;
        }
        if (m->key) on_record(arg, m->key, m->key_len, m->payload, m->payload ? m->len : 0);
        records++;
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    if (!result) sh_log(SH_LOG_INFO, "registry: read %d records of %s", records, j->topic);
    return result;
}

sh_journal_t *sh_journal_open(const char *bootstrap, const char *topic,
                              sh_journal_record_fn on_record, void *arg, char *err, size_t errlen) {
    sh_journal_t *j = calloc(1, sizeof *j);
    if (!j || !(j->topic = strdup(topic))) {
        free(j);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = journal_conf(RD_KAFKA_PRODUCER, bootstrap, err, errlen);
    if (!conf) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(j->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen))) goto fail;
    if (replay(j, bootstrap, on_record, arg, err, errlen) != 0) goto fail;
    return j;
fail:
    sh_journal_close(j);
    return NULL;
}

int sh_journal_append(sh_journal_t *j, const char *key, const char *value, char *err,
                      size_t errlen) {
    j->delivered = 0;
    rd_kafka_resp_err_t rc = rd_kafka_producev(
        j->producer, RD_KAFKA_V_TOPIC(j->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(j), RD_KAFKA_V_END);
    if (rc) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(rc));
        return -1;
    }
    for (int waited = 0; !j->delivered && waited < 300; waited++)
        rd_kafka_poll(j->producer, 100);
    if (!j->delivered) {
        snprintf(err, errlen, "no delivery report within 30 s");
        return -1;
    }
    if (j->delivery) {
        snprintf(err, errlen, "%s", rd_kafka_err2str(j->delivery));
        return -1;
    }
    return 0;
}

void sh_journal_close(sh_journal_t *j) {
    if (!j) return;
    if (j->producer) {
        rd_kafka_flush(j->producer, 5000);
        rd_kafka_destroy(j->producer);
    }
    free(j->topic);
    free(j);
}
