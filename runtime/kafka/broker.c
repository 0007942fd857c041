/*
 * broker.c - the embedded Kafka broker.
 *
 * librdkafka's mock cluster speaks the Kafka protocol on loopback, which is
 * enough for workshops, tests and demos: it keeps about 5 MiB per partition in
 * memory, has no CreateTopics and writes no transaction markers. A mock
 * cluster must be owned by an rd_kafka_t, so we make a producer handle that
 * does nothing else. Topics are created through the mock's own API.
 *
 * The mock picks its listener's port itself. When a fixed port is asked for,
 * a relay thread accepts on it and forwards bytes to the mock's listener;
 * clients only use it to bootstrap, since metadata names the real listener.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "kafka/broker.h"
#include <stdbool.h>

#include "base/log.h"

struct sh_broker {
    rd_kafka_t *owner;
    rd_kafka_mock_cluster_t *mock;
    char bootstraps[128];
    int listen_fd;
    struct sockaddr_in target;
    pthread_t relay_thread;
    bool relaying;
};

typedef struct {
    int client_fd;
    struct sockaddr_in target;
} relay_conn_t;

static void *relay_connection(void *arg) {
    relay_conn_t conn = *(relay_conn_t *)arg;
    free(arg);
    int server_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (server_fd < 0 ||
        connect(server_fd, (struct sockaddr *)&conn.target, sizeof conn.target) != 0) {
        close(conn.client_fd);
        if (server_fd >= 0) close(server_fd);
        return NULL;
    }
    struct pollfd fds[2] = {{.fd = conn.client_fd, .events = POLLIN},
                            {.fd = server_fd, .events = POLLIN}};
    char buf[65536];
    for (;;) {
        if (poll(fds, 2, -1) < 0 && errno != EINTR) break;
        int from = (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
        if (!(fds[from].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = read(fds[from].fd, buf, sizeof buf);
        if (n <= 0) break;
        int to = fds[1 - from].fd;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w <= 0) goto done;
            off += w;
        }
    }
done:
    close(conn.client_fd);
    close(server_fd);
    return NULL;
}

static void *relay_accept_loop(void *arg) {
    sh_broker_t *broker = arg;
    for (;;) {
        int fd = accept(broker->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR) continue;
            return NULL; /* listener closed: shutting down */
        }
        relay_conn_t *conn = malloc(sizeof *conn);
        if (!conn) {
            close(fd);
            continue;
        }
        conn->client_fd = fd;
        conn->target = broker->target;
        pthread_t t;
        if (pthread_create(&t, NULL, relay_connection, conn) != 0) {
            close(fd);
            free(conn);
            continue;
        }
        pthread_detach(t);
    }
}

static int start_relay(sh_broker_t *broker, int port, char *errbuf, size_t errlen) {
    const char *mock = rd_kafka_mock_cluster_bootstraps(broker->mock);
    const char *colon = strrchr(mock, ':');
    if (!colon) {
        snprintf(errbuf, errlen, "unexpected mock bootstrap address '%s'", mock);
        return -1;
    }
    broker->target.sin_family = AF_INET;
    broker->target.sin_port = htons((uint16_t)atoi(colon + 1));
    broker->target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    broker->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(broker->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(broker->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        listen(broker->listen_fd, 64) != 0) {
        snprintf(errbuf, errlen, "cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
        close(broker->listen_fd);
        return -1;
    }
    if (pthread_create(&broker->relay_thread, NULL, relay_accept_loop, broker) != 0) {
        snprintf(errbuf, errlen, "cannot start the relay thread");
        close(broker->listen_fd);
        return -1;
    }
    broker->relaying = true;
    snprintf(broker->bootstraps, sizeof broker->bootstraps, "127.0.0.1:%d", port);
    return 0;
}

sh_broker_t *sh_broker_start(int port, char *errbuf, size_t errlen) {
    sh_broker_t *broker = calloc(1, sizeof *broker);
    if (!broker) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    broker->owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
    if (!broker->owner) {
        free(broker);
        return NULL;
    }
    broker->mock = rd_kafka_mock_cluster_new(broker->owner, 1);
    if (!broker->mock) {
        snprintf(errbuf, errlen, "librdkafka could not start a mock cluster");
        rd_kafka_destroy(broker->owner);
        free(broker);
        return NULL;
    }
    snprintf(broker->bootstraps, sizeof broker->bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(broker->mock));
    if (port > 0 && start_relay(broker, port, errbuf, errlen) != 0) {
        sh_broker_stop(broker);
        return NULL;
    }
    return broker;
}

const char *sh_broker_bootstraps(const sh_broker_t *broker) { return broker->bootstraps; }

int sh_broker_create_topic(sh_broker_t *broker, const char *topic, int partitions) {
    if (partitions <= 0) partitions = 1;
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(broker->mock, topic, partitions, 1);
    if (err && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        sh_log(SH_LOG_ERROR, "embedded broker: cannot create topic %s: %s", topic,
               rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

void sh_broker_stop(sh_broker_t *broker) {
    if (!broker) return;
    if (broker->relaying) {
        shutdown(broker->listen_fd, SHUT_RDWR);
        close(broker->listen_fd);
        pthread_join(broker->relay_thread, NULL);
    }
    if (broker->mock) rd_kafka_mock_cluster_destroy(broker->mock);
    rd_kafka_destroy(broker->owner);
    free(broker);
}
