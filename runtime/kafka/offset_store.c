/*
 * offset_store.c - positions in a Kafka topic (offset_store.h).
 *
 * Every save is a record (key, value) on partition 0; the latest record of
 * a key is its position, so the topic can be compacted. load reads the
 * partition from the beginning to its end once, at start; the cost is
 * proportional to the topic's size, which compaction bounds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "kafka/admin.h"
#include "kafka/offset_store.h"

enum { LOAD_TIMEOUT_MS = 15000 };

typedef struct kafka_offsets {
    sh_offsets_t base;
    rd_kafka_t *producer;
    rd_kafka_conf_t *reader_conf;
    char *topic;
} kafka_offsets_t;

static int offsets_load(sh_offsets_t *o, const char *key, char **value, char *errbuf,
                        size_t errlen) {
    kafka_offsets_t *k = (kafka_offsets_t *)o;
    *value = NULL;
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(k->reader_conf);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_t *reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen);
    if (!reader) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, k->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(reader, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int rc = -1;
    size_t key_len = strlen(key);
    int64_t read = 0;
    for (int waited = 0; waited < LOAD_TIMEOUT_MS;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 200);
        if (!m) {
            waited += 200;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            rc = 0;
            break;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC &&
                m->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                sh_log(SH_LOG_WARN, "offsets %s: %s", k->topic, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        read++;
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0) {
            free(*value);
            *value = m->payload ? strndup(m->payload, m->len) : NULL;
        }
        rd_kafka_message_destroy(m);
    }
    if (rc != 0)
        snprintf(errbuf, errlen, "cannot read the offsets topic %s to its end", k->topic);
    else
        sh_log(SH_LOG_DEBUG, "offsets %s: %lld record(s) read", k->topic, (long long)read);
    rd_kafka_consumer_close(reader);
    rd_kafka_destroy(reader);
    return rc;
}

static int offsets_save(sh_offsets_t *o, const char *key, const char *value, char *errbuf,
                        size_t errlen) {
    kafka_offsets_t *k = (kafka_offsets_t *)o;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        k->producer, RD_KAFKA_V_TOPIC(k->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, strlen(value)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_poll(k->producer, 0);
    if (err) {
        snprintf(errbuf, errlen, "%s: %s", k->topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static int offsets_flush(sh_offsets_t *o, int timeout_ms, char *errbuf, size_t errlen) {
    kafka_offsets_t *k = (kafka_offsets_t *)o;
    rd_kafka_resp_err_t err = rd_kafka_flush(k->producer, timeout_ms);
    if (err) {
        snprintf(errbuf, errlen, "%s: %s", k->topic, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static void offsets_destroy(sh_offsets_t *o) {
    kafka_offsets_t *k = (kafka_offsets_t *)o;
    if (k->producer) {
        rd_kafka_flush(k->producer, 10000);
        rd_kafka_destroy(k->producer);
    }
    if (k->reader_conf) rd_kafka_conf_destroy(k->reader_conf);
    free(k->topic);
    free(k);
}

static const sh_offsets_ops_t kafka_offsets_ops = {
    .load = offsets_load,
    .save = offsets_save,
    .flush = offsets_flush,
    .destroy = offsets_destroy,
};

/* A failed save is logged: the position is saved again with the next ack. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->err)
        sh_log(SH_LOG_WARN, "offsets %s: cannot store a position: %s", rd_kafka_topic_name(m->rkt),
               rd_kafka_err2str(m->err));
}

sh_offsets_t *sh_kafka_offset_store_new(rd_kafka_conf_t *producer_conf,
                                        rd_kafka_conf_t *reader_conf, const char *topic,
                                        sh_broker_t *embedded, char *errbuf, size_t errlen) {
    kafka_offsets_t *k = calloc(1, sizeof *k);
    if (!k || !(k->topic = strdup(topic))) {
        free(k);
        rd_kafka_conf_destroy(producer_conf);
        rd_kafka_conf_destroy(reader_conf);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    k->base.ops = &kafka_offsets_ops;
    k->reader_conf = reader_conf;
    rd_kafka_conf_set_dr_msg_cb(producer_conf, on_delivery);
    if (!(k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, producer_conf, errbuf, errlen))) {
        rd_kafka_conf_destroy(producer_conf);
        offsets_destroy(&k->base);
        return NULL;
    }
    if (embedded) {
        sh_broker_create_topic(embedded, topic, 1);
    } else if (sh_kafka_admin_partition_count(k->producer, topic, 2000) <= 0) {
        int one = 1;
        const char *topics[] = {topic};
        sh_kafka_admin_create_topics(k->producer, topics, &one, 1, 5000);
    }
    return &k->base;
}
