/*
 * sink.c - outputs produced to Kafka (see engine/sink.h).
 *
 * Each output carries the loop's batch as its message opaque; the delivery
 * report hands it back with the topic, partition and offset it landed at.
 * A full producer queue is waited out by serving delivery reports, which
 * is the backpressure the loop needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ctx.h"
#include "kafka/error.h"
#include "kafka/sink.h"

typedef struct kafka_sink {
    sh_sink_t base;
    rd_kafka_t *producer;
    sh_kafka_topics_t *topics;
    rd_kafka_topic_t **handles; /* per context sink index */
    int count;
} kafka_sink_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque) {
    (void)rk;
    kafka_sink_t *s = opaque;
    if (!msg->_private) return; /* a topic creation request (topics.c), not an output */
    s->base.events->delivered(s->base.events->loop, msg->_private, rd_kafka_topic_name(msg->rkt),
                              msg->partition, msg->offset,
                              msg->err ? rd_kafka_err2str(msg->err) : NULL);
}

static int sink_bind(sh_sink_t *sink, sh_ctx_t *ctx, char *errbuf, size_t errlen) {
    kafka_sink_t *s = (kafka_sink_t *)sink;
    if (sh_kafka_topics_ensure_sinks(s->topics, ctx, errbuf, errlen) != 0) return -1;
    int n = sh_ffi_sink_count(ctx);
    rd_kafka_topic_t **handles = calloc((size_t)n + 1, sizeof *handles);
    for (int i = 0; handles && i < n; i++) {
        if (strcmp(sh_ctx_sink_kind(ctx, i), "kafka") != 0) continue; /* another backend's */
        if ((handles[i] = rd_kafka_topic_new(s->producer, sh_ffi_sink_name(ctx, i), NULL))) continue;
        snprintf(errbuf, errlen, "cannot use topic %s: %s", sh_ffi_sink_name(ctx, i),
                 rd_kafka_err2str(rd_kafka_last_error()));
        while (i-- > 0)
            if (handles[i]) rd_kafka_topic_destroy(handles[i]);
        free(handles);
        return -1;
    }
    if (!handles) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    /* messages in flight keep their own reference to the old handles */
    for (int i = 0; i < s->count; i++)
        if (s->handles[i]) rd_kafka_topic_destroy(s->handles[i]);
    free(s->handles);
    s->handles = handles;
    s->count = n;
    return 0;
}

static int sink_emit(sh_sink_t *sink, int index, const sh_ffi_record_t *r, void *batch,
                     char *errbuf, size_t errlen) {
    kafka_sink_t *s = (kafka_sink_t *)sink;
    if (index < 0 || index >= s->count || !s->handles[index]) {
        snprintf(errbuf, errlen, "no Kafka topic for sink %d", index);
        return SH_ERR_INVALID;
    }
    rd_kafka_headers_t *hdrs = NULL;
    if (r->header_count > 0) {
        hdrs = rd_kafka_headers_new((size_t)r->header_count);
        for (int i = 0; i < r->header_count; i++)
            rd_kafka_header_add(hdrs, r->headers[i].name, -1, r->headers[i].value,
                                r->headers[i].value ? (ssize_t)r->headers[i].value_len : 0);
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->producer, RD_KAFKA_V_RKT(s->handles[index]),
            RD_KAFKA_V_PARTITION(r->partition < 0 ? RD_KAFKA_PARTITION_UA : r->partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(r->key, r->key_len),
            RD_KAFKA_V_VALUE((void *)r->value, r->value_len), RD_KAFKA_V_TIMESTAMP(r->timestamp),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(batch), RD_KAFKA_V_END);
        if (!err) return SH_OK;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(s->producer, 10); /* backpressure: let deliveries drain */
            continue;
        }
        if (hdrs) rd_kafka_headers_destroy(hdrs);
        snprintf(errbuf, errlen, "cannot produce to %s: %s", rd_kafka_topic_name(s->handles[index]),
                 rd_kafka_err2str(err));
        return sh_kafka_err_code(err);
    }
}

static void sink_poll(sh_sink_t *sink, int timeout_ms) {
    rd_kafka_poll(((kafka_sink_t *)sink)->producer, timeout_ms);
}

static int sink_flush(sh_sink_t *sink, int timeout_ms) {
    kafka_sink_t *s = (kafka_sink_t *)sink;
    rd_kafka_flush(s->producer, timeout_ms);
    return rd_kafka_outq_len(s->producer);
}

static void sink_destroy(sh_sink_t *sink) {
    kafka_sink_t *s = (kafka_sink_t *)sink;
    for (int i = 0; i < s->count; i++)
        if (s->handles[i]) rd_kafka_topic_destroy(s->handles[i]);
    free(s->handles);
    if (s->producer) rd_kafka_destroy(s->producer);
    free(s);
}

static const sh_sink_ops_t kafka_sink_ops = {
    .kind = "kafka",
    .bind = sink_bind,
    .emit = sink_emit,
    .poll = sink_poll,
    .flush = sink_flush,
    .destroy = sink_destroy,
};

sh_sink_t *sh_kafka_sink_new(rd_kafka_conf_t *conf, sh_kafka_topics_t *topics, char *errbuf,
                             size_t errlen) {
    kafka_sink_t *s = calloc(1, sizeof *s);
    if (!s) {
        rd_kafka_conf_destroy(conf);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    s->base.ops = &kafka_sink_ops;
    s->topics = topics;
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if (!(s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen))) {
        rd_kafka_conf_destroy(conf);
        free(s);
        return NULL;
    }
    return &s->base;
}

/* NULL for a sink that is not this one (a router in front of it). */
rd_kafka_t *sh_kafka_sink_handle(sh_sink_t *sink) {
    return sink && sink->ops == &kafka_sink_ops ? ((kafka_sink_t *)sink)->producer : NULL;
}
