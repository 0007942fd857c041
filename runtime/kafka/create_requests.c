/*
 * create_requests.c - topic creation through a control topic (see
 * create_requests.h).
 *
 * The mock cluster answers CreateTopics with "unsupported" and auto-creates
 * every topic with its default partition count, which would give a copied
 * topic another partitioning than its source. `streamhost broker` therefore
 * reads SH_CREATE_REQUESTS_TOPIC from its own listener and creates what is
 * asked with rd_kafka_mock_topic_create. Requests are idempotent: creating
 * an existing topic changes nothing.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "kafka/admin.h"
#include "kafka/create_requests.h"

struct sh_create_requests {
    sh_broker_t *broker;
    rd_kafka_t *consumer;
    pthread_t thread;
    volatile bool stopping;
};

static void *serve(void *arg) {
    sh_create_requests_t *r = arg;
    while (!r->stopping) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, 200);
        if (!m) continue;
        if (!m->err && m->key && m->key_len > 0 && m->key_len < 250 && m->payload &&
            m->len < 16) {
            char topic[256], count[16];
            memcpy(topic, m->key, m->key_len);
            topic[m->key_len] = '\0';
            memcpy(count, m->payload, m->len);
            count[m->len] = '\0';
            int partitions = atoi(count);
            if (partitions > 0 && sh_broker_create_topic(r->broker, topic, partitions) == 0)
                sh_log(SH_LOG_INFO, "created topic %s with %d partition(s) on request", topic,
                       partitions);
        }
        rd_kafka_message_destroy(m);
    }
    return NULL;
}

sh_create_requests_t *sh_create_requests_serve(sh_broker_t *broker, char *errbuf, size_t errlen) {
    sh_create_requests_t *r = calloc(1, sizeof *r);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!r || sh_broker_create_topic(broker, SH_CREATE_REQUESTS_TOPIC, 1) != 0 ||
        rd_kafka_conf_set(conf, "bootstrap.servers", sh_broker_bootstraps(broker), errbuf,
                          errlen) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", "streamhost-broker", errbuf, errlen) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "3", errbuf, errlen) != RD_KAFKA_CONF_OK)
        goto err;
    if (!(r->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errbuf, errlen))) goto err;
    conf = NULL;
    r->broker = broker;
    rd_kafka_poll_set_consumer(r->consumer);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, SH_CREATE_REQUESTS_TOPIC, 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(r->consumer, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    if (err) {
        snprintf(errbuf, errlen, "cannot read %s: %s", SH_CREATE_REQUESTS_TOPIC,
                 rd_kafka_err2str(err));
        goto err;
    }
    if (pthread_create(&r->thread, NULL, serve, r) != 0) {
        snprintf(errbuf, errlen, "cannot start a thread");
        goto err;
    }
    return r;
err:
    if (conf) rd_kafka_conf_destroy(conf);
    if (r && r->consumer) rd_kafka_destroy(r->consumer);
    free(r);
    return NULL;
}

void sh_create_requests_stop(sh_create_requests_t *r) {
    if (!r) return;
    r->stopping = true;
    pthread_join(r->thread, NULL);
    rd_kafka_consumer_close(r->consumer);
    rd_kafka_destroy(r->consumer);
    free(r);
}

/* key = topic, value = partitions; -1 when the producer refuses it */
static int post(rd_kafka_t *producer, const char *topic, int partitions) {
    char count[16];
    snprintf(count, sizeof count, "%d", partitions);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        producer, RD_KAFKA_V_TOPIC(SH_CREATE_REQUESTS_TOPIC), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(topic, strlen(topic)),
        RD_KAFKA_V_VALUE(count, strlen(count)), RD_KAFKA_V_END);
    return err ? -1 : 0;
}

int sh_create_requests_await(rd_kafka_t *rk, const char *topic, int timeout_ms) {
    int64_t deadline = sh_clock_now_ms() + timeout_ms;
    for (;;) {
        int n = sh_kafka_admin_listed_partitions(rk, topic, 5000);
        if (n > 0 || sh_clock_now_ms() >= deadline) return n;
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
}

int sh_create_requests_send(rd_kafka_t *producer, const char *topic, int partitions,
                            int timeout_ms) {
    if (post(producer, topic, partitions) != 0) return -1;
    rd_kafka_flush(producer, timeout_ms);
    return sh_create_requests_await(producer, topic, timeout_ms);
}

int sh_create_requests_post(rd_kafka_t *producer, const char *topic, int partitions) {
    return post(producer, topic, partitions);
}
