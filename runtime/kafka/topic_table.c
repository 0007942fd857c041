/*
 * topic_table.c - a compacted topic as a small table, for `streamhost
 * connect`'s configs, statuses and offsets as Kafka Connect's distributed
 * mode keeps them (connect-configs, connect-status, connect-offsets).
 *
 * One partition; the latest record of a key is its value, a tombstone
 * deletes it. read() consumes the partition from the beginning to its end
 * into C-owned copies that Lua walks by index (pull, not push); write()
 * produces one record and waits for the broker's ack, so a config the REST
 * API answered 201 for is already in Kafka. The topic is created when
 * missing: cleanup.policy=compact through the Admin API, or through the
 * embedded broker's creation requests (it has no CreateTopics).
 *
 * @locality one thread at a time per handle (the Connect worker's loop).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "base/err.h"
#include "base/log.h"
#include "kafka/admin.h"
#include "kafka/create_requests.h"
#include "streamhost_ffi.h"

enum { READ_TIMEOUT_MS = 15000, CREATE_TIMEOUT_MS = 10000 };

typedef struct state_record {
    char *key, *value;
    size_t key_len, value_len;
} state_record_t;

struct sh_topic_table {
    rd_kafka_t *producer;
    char *bootstrap, *topic;
    state_record_t *records;
    int count, capacity;
    rd_kafka_resp_err_t delivery_err; /* of the last write, set by on_delivery */
};

static void free_records(sh_topic_table_t *t) {
    for (int i = 0; i < t->count; i++) {
        free(t->records[i].key);
        free(t->records[i].value);
    }
    t->count = 0;
}

void sh_ffi_topic_table_close(sh_topic_table_t *t) {
    if (!t) return;
    if (t->producer) {
        rd_kafka_flush(t->producer, 10000);
        rd_kafka_destroy(t->producer);
    }
    free_records(t);
    free(t->records);
    free(t->bootstrap);
    free(t->topic);
    free(t);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    ((sh_topic_table_t *)opaque)->delivery_err = m->err;
}

/* cleanup.policy=compact through the Admin API; a cluster without
 * CreateTopics (the embedded one) gets a creation request instead. */
static void create_topic(sh_topic_table_t *t) {
    if (sh_kafka_admin_listed_partitions(t->producer, t->topic, 5000) > 0) return;
    /* an embedded broker has the control topic it reads requests from */
    if (sh_kafka_admin_listed_partitions(t->producer, SH_CREATE_REQUESTS_TOPIC, 5000) > 0) {
        if (sh_create_requests_send(t->producer, t->topic, 1, CREATE_TIMEOUT_MS) > 0)
            sh_log(SH_LOG_INFO, "connect: created %s through the embedded broker", t->topic);
        return;
    }
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(t->topic, 1, -1, NULL, 0);
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->producer);
    rd_kafka_AdminOptions_t *options =
        rd_kafka_AdminOptions_new(t->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(options, CREATE_TIMEOUT_MS, NULL, 0);
    rd_kafka_CreateTopics(t->producer, &nt, 1, options, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CREATE_TIMEOUT_MS);
    bool created = false;
    if (ev) {
        size_t n = 0;
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        const rd_kafka_topic_result_t **results = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        rd_kafka_resp_err_t err = rd_kafka_event_error(ev);
        if (!err && n == 1) err = rd_kafka_topic_result_error(results[0]);
        created = !err || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    if (created)
        sh_log(SH_LOG_INFO, "connect: created %s (compacted)", t->topic);
    else
        sh_log(SH_LOG_WARN, "connect: cannot create %s; left to the broker's auto-creation (not "
               "compacted)", t->topic);
}

sh_topic_table_t *sh_ffi_topic_table_open(const char *bootstrap, const char *topic) {
    if (!bootstrap || !*bootstrap || !topic || !*topic) {
        sh_err_set(SH_ERR_INVALID, "topic table: a bootstrap and a topic name are required");
        return NULL;
    }
    sh_topic_table_t *t = calloc(1, sizeof *t);
    if (!t || !(t->bootstrap = strdup(bootstrap)) || !(t->topic = strdup(topic))) {
        sh_ffi_topic_table_close(t);
        sh_err_set(SH_ERR_NOMEM, "topic %s: out of memory", topic);
        return NULL;
    }
    char errbuf[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errbuf, sizeof errbuf) ||
        rd_kafka_conf_set(conf, "acks", "all", errbuf, sizeof errbuf) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errbuf, sizeof errbuf) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", errbuf, sizeof errbuf)) {
        rd_kafka_conf_destroy(conf);
        sh_ffi_topic_table_close(t);
        sh_err_set(SH_ERR_INVALID, "topic %s: %s", topic, errbuf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, t);
    if (!(t->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, sizeof errbuf))) {
        rd_kafka_conf_destroy(conf);
        sh_ffi_topic_table_close(t);
        sh_err_set(SH_ERR_KAFKA, "topic %s: %s", topic, errbuf);
        return NULL;
    }
    create_topic(t);
    return t;
}

static int append(sh_topic_table_t *t, const rd_kafka_message_t *m) {
    if (t->count == t->capacity) {
        int capacity = t->capacity ? t->capacity * 2 : 64;
        state_record_t *grown = realloc(t->records, sizeof *grown * (size_t)capacity);
        if (!grown) return -1;
        t->records = grown;
        t->capacity = capacity;
    }
    state_record_t *r = &t->records[t->count];
    r->key = m->key ? strndup(m->key, m->key_len) : strdup("");
    r->key_len = m->key ? m->key_len : 0;
    r->value = m->payload ? malloc(m->len + 1) : NULL;
    r->value_len = m->payload ? m->len : 0;
    if (!r->key || (m->payload && !r->value)) {
        free(r->key);
        free(r->value);
        return -1;
    }
    if (r->value) {
        memcpy(r->value, m->payload, m->len);
        r->value[m->len] = '\0';
    }
    t->count++;
    return 0;
}

/* O(records in the topic), which compaction bounds. */
int sh_ffi_topic_table_read(sh_topic_table_t *t) {
    free_records(t);
    char errbuf[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", t->bootstrap, NULL, 0);
    rd_kafka_conf_set(conf, "group.id", "streamhost-connect-reader", NULL, 0);
    rd_kafka_conf_set(conf, "enable.partition.eof", "true", NULL, 0);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", NULL, 0);
    rd_kafka_t *reader = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, sizeof errbuf);
    if (!reader) {
        rd_kafka_conf_destroy(conf);
        return sh_err_set(SH_ERR_KAFKA, "topic %s: %s", t->topic, errbuf);
    }
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, t->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(reader, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    int rc = SH_ERR_KAFKA;
    for (int waited = 0; waited < READ_TIMEOUT_MS;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(reader, 200);
        if (!m) {
            waited += 200;
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            rd_kafka_message_destroy(m);
            rc = SH_OK;
            break;
        }
        if (!m->err && append(t, m) != 0) {
            rd_kafka_message_destroy(m);
            rc = SH_ERR_NOMEM;
            break;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(reader, NULL);
    rd_kafka_destroy(reader);
    if (rc == SH_ERR_NOMEM) return sh_err_set(rc, "topic %s: out of memory", t->topic);
    if (rc != SH_OK)
        return sh_err_set(rc, "topic %s: cannot read it to its end in %d s (is %s up?)",
                          t->topic, READ_TIMEOUT_MS / 1000, t->bootstrap);
    return SH_OK;
}

int sh_ffi_topic_table_count(const sh_topic_table_t *t) { return t->count; }

int sh_ffi_topic_table_record(const sh_topic_table_t *t, int i, sh_ffi_slice_t *key,
                              sh_ffi_slice_t *value) {
    if (i < 0 || i >= t->count)
        return sh_err_set(SH_ERR_NOT_FOUND, "topic %s: no record %d", t->topic, i);
    key->data = t->records[i].key;
    key->len = t->records[i].key_len;
    value->data = t->records[i].value;
    value->len = t->records[i].value_len;
    return SH_OK;
}

int sh_ffi_topic_table_write(sh_topic_table_t *t, const char *key, const char *value,
                             size_t value_len, int timeout_ms) {
    t->delivery_err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        t->producer, RD_KAFKA_V_TOPIC(t->topic), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_KEY(key, strlen(key)), RD_KAFKA_V_VALUE((void *)value, value ? value_len : 0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (!err) {
        rd_kafka_flush(t->producer, timeout_ms);
        err = t->delivery_err == RD_KAFKA_RESP_ERR__IN_PROGRESS ? RD_KAFKA_RESP_ERR__TIMED_OUT
                                                                 : t->delivery_err;
    }
    if (err)
        return sh_err_set(SH_ERR_KAFKA, "topic %s: cannot write %s: %s", t->topic, key,
                          rd_kafka_err2str(err));
    return SH_OK;
}
