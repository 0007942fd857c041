/*
 * create_requests.h - topic creation for `streamhost broker`, which has no
 * CreateTopics (create_requests.c): a client writes (topic, partitions) to
 * one control topic and the broker process, which reads it, creates the
 * topic through the mock cluster's own API.
 */
#ifndef SH_KAFKA_CREATE_REQUESTS_H
#define SH_KAFKA_CREATE_REQUESTS_H

#include <librdkafka/rdkafka.h>

#include "kafka/broker.h"

/* The control topic: key = topic name, value = partition count (decimal). */
#define SH_CREATE_REQUESTS_TOPIC "__streamhost_create_topics"

typedef struct sh_create_requests sh_create_requests_t;

/* Serves creation requests for broker from a thread of its own. NULL with
 * errbuf filled. */
sh_create_requests_t *sh_create_requests_serve(sh_broker_t *broker, char *errbuf, size_t errlen);
void sh_create_requests_stop(sh_create_requests_t *requests);

/* Asks the broker behind producer for topic with partitions, and waits up
 * to timeout_ms until metadata (through producer) shows it. Returns its
 * partition count, or -1 when it did not appear (a broker that does not
 * serve requests). @locality the caller's thread */
int sh_create_requests_send(rd_kafka_t *producer, const char *topic, int partitions,
                            int timeout_ms);
/* Only queues the request, without flushing producer: for an app's
 * producer, whose delivery reports only its loop may serve (the request's
 * reaches the producer's callback there with no opaque). 0 or -1. Follow
 * with sh_create_requests_await. @locality the caller's thread */
int sh_create_requests_post(rd_kafka_t *producer, const char *topic, int partitions);
/* Waits up to timeout_ms until a listing of all topics through rk shows
 * topic; returns its partition count or -1. */
int sh_create_requests_await(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif
