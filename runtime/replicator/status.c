/*
 * status.c - GET /lag and GET /healthz for a replicator (see status.h).
 *
 * The replicator's thread publishes a finished JSON document every second;
 * the HTTP thread only copies it out under a mutex, so a request never
 * touches a Kafka handle.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "replicator/status.h"

struct sh_status {
    struct MHD_Daemon *daemon;
    pthread_mutex_t lock;
    char *json;
    int port;
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned code, const char *type,
                               const char *body) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state) {
    (void)version, (void)upload, (void)upload_size, (void)state;
    sh_status_t *s = cls;
    if (strcmp(method, "GET") != 0)
        return respond(conn, 405, "text/plain", "only GET /lag and GET /healthz\n");
    if (strcmp(url, "/healthz") == 0) return respond(conn, 200, "text/plain", "ok\n");
    if (strcmp(url, "/lag") != 0)
        return respond(conn, 404, "text/plain", "only GET /lag and GET /healthz\n");
    pthread_mutex_lock(&s->lock);
    char *copy = strdup(s->json ? s->json : "{\"partitions\":[]}");
    pthread_mutex_unlock(&s->lock);
    if (!copy) return respond(conn, 500, "text/plain", "out of memory\n");
    enum MHD_Result rc = respond(conn, 200, "application/json", copy);
    free(copy);
    return rc;
}

sh_status_t *sh_status_start(const char *address) {
    const char *colon = strrchr(address, ':');
    int port = colon ? atoi(colon + 1) : -1;
    if (port < 0 || port > 65535) {
        sh_log(SH_LOG_WARN, "replicator: http '%s' is not HOST:PORT; no /lag", address);
        return NULL;
    }
    sh_status_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->lock, NULL);
    char host[64] = "127.0.0.1";
    if (colon && colon > address && (size_t)(colon - address) < sizeof host)
        snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        sh_log(SH_LOG_WARN, "replicator: http host '%s' is not an IPv4 address; no /lag", host);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL,
                                 on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                                 MHD_OPTION_END);
    if (!s->daemon) {
        sh_log(SH_LOG_WARN, "replicator: cannot listen on %s; no /lag", address);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : port;
    sh_log(SH_LOG_INFO, "replicator: lag at http://127.0.0.1:%d/lag", s->port);
    return s;
}

int sh_status_port(const sh_status_t *s) { return s ? s->port : -1; }

void sh_status_publish(sh_status_t *s, const char *json) {
    if (!s) return;
    char *copy = strdup(json);
    if (!copy) return;
    pthread_mutex_lock(&s->lock);
    free(s->json);
    s->json = copy;
    pthread_mutex_unlock(&s->lock);
}

void sh_status_stop(sh_status_t *s) {
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->lock);
    free(s->json);
    free(s);
}
