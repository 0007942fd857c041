/*
 * broker.h - the embedded Kafka broker (librdkafka's mock cluster).
 */
#ifndef SH_BROKER_H
#define SH_BROKER_H

typedef struct sh_broker sh_broker_t;

/* Starts a one-broker mock cluster. port > 0 also serves the bootstrap
 * address on 127.0.0.1:port (a relay to the mock's own listener, whose port
 * librdkafka picks). Returns NULL and fills errbuf on failure. */
sh_broker_t *sh_broker_start(int port, char *errbuf, size_t errlen);
/* The bootstrap.servers string clients should use. */
const char *sh_broker_bootstraps(const sh_broker_t *broker);
/* Creates a topic (the mock cluster has no CreateTopics API). Creating an
 * existing topic is not an error. Returns 0 or -1. */
int sh_broker_create_topic(sh_broker_t *broker, const char *topic, int partitions);
void sh_broker_stop(sh_broker_t *broker);

#endif
