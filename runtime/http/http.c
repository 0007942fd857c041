/*
 * http.c - pull queries: the state stores, the topology and the host's
 * health over HTTP, with libmicrohttpd on its own thread.
 *
 *   GET  /stores/NAME/KEY   {"key": K, "value": V}; window stores
 *                           {"key": K, "windows": [{"start", "end", "value"}]}
 *                           (?from=&to= bound the window starts)
 *   GET  /stores/NAME       {"entries": [...], "next": K|null} (?limit=&after=)
 *   GET  /topology          the describe text
 *   GET  /healthz           200 once every assigned store is restored, else 503;
 *                           503 with the reason while the process is failing (health.h)
 *   POST /reload            asks for a reload, as SIGHUP does
 *   POST /query             a ksqlDB pull query ({"ksql": "select ... where rowkey=15;"}),
 *                           answered in ksqlDB's JSON (ksql.h)
 *
 * This file holds the server's life cycle, the routing and the small
 * endpoints; each store endpoint has its own file: stores.c (a key),
 * paging.c (a page), query.c (POST /query), and auth.c checks the token
 * first. body.c and respond.c build the answers, keys.c reads URL keys.
 *
 * Every method but GET and HEAD needs `Authorization: Bearer TOKEN` (the
 * token: token.c); with auth_all every read but /healthz does too, so a
 * supervisor's probe needs no secret. A non-loopback address is refused
 * without a token. libmicrohttpd closes a connection idle (or trickling)
 * for idle_timeout_s and caps connections per client address, so idle
 * half-open connections cannot starve the others. URLs reach the handlers
 * still percent-encoded (keep_escaped) and keys are decoded with their
 * length, so "%00" is a key's byte 0, not its end.
 *
 * Keys in URLs are parsed with the store's key serde and rendered back the
 * same way; values are the stored JSON, copied through. A key lives in the
 * one task (partition) its producer chose, so a lookup asks every task of
 * the store this instance holds. Every read takes the tasks' lock, which the
 * stream thread holds while Lua runs, so a read never meets a half-applied
 * batch, a reload or a revocation; a task still being restored is skipped.
 * Holding that lock stalls the stream thread, so no read holds it for work
 * that grows with the store: a lookup is one get (or one key's windows), and
 * a page is read in chunks of bounded size, each after a seek (see
 * paging.c). A response that cannot be built whole (out of
 * memory, a store error) is a 500 with a JSON error, never a short 200.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "base/health.h"
#include "base/log.h"
#include "engine/reload.h"
#include "http/auth.h"
#include "http/body.h"
#include "http/query.h"
#include "http/respond.h"
#include "http/server.h"
#include "http/stores.h"

#define DEFAULT_IDLE_TIMEOUT_S 10
#define DEFAULT_CONNECTIONS_PER_CLIENT 32

/* ---- routing ---- */

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    if (*con_cls && *con_cls != (void *)&on_completed) free(*con_cls);
    *con_cls = NULL;
}

static enum MHD_Result get_health(struct MHD_Connection *c, sh_http_t *http) {
    int restoring = 0, waiting = 0;
    for (int g = 0; g < http->task_groups; g++) {
        restoring += sh_tasks_restoring(http->tasks[g]);
        if (!sh_tasks_ready(http->tasks[g])) waiting++;
    }
    sh_http_body_t b = {0};
    char problem[512];
    if (sh_health_problem(problem, sizeof problem)) {
        sh_http_body_str(&b, "{\"status\": \"failing\", \"reason\": ");
        sh_http_body_json_string(&b, problem, strlen(problem));
        sh_http_body_str(&b, "}");
        return sh_http_respond_json(c, 503, &b);
    }
    if (waiting && !restoring) {
        sh_http_body_printf(&b, "{\"status\": \"waiting for partitions\", \"threads_waiting\": %d}",
                            waiting);
        return sh_http_respond_json(c, 503, &b);
    }
    if (restoring)
        sh_http_body_printf(&b, "{\"status\": \"restoring\", \"restoring\": %d}", restoring);
    else
        sh_http_body_str(&b, "{\"status\": \"ok\"}");
    return sh_http_respond_json(c, restoring ? 503 : 200, &b);
}

/* URLs and arguments stay percent-encoded for the handlers, which decode
 * keys with their length: libmicrohttpd's own decoding ends a key at %00. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    sh_http_t *http = cls;
    if (!*con_cls) { /* headers only so far; answer once the body is in */
        /* refused before any body is read */
        if (!sh_http_auth_allows(http, c, url, method)) return sh_http_auth_refuse(c, method, url);
        bool query = strcmp(method, "POST") == 0 && strcmp(url, "/query") == 0;
        /* a query keeps its body (freed by on_completed); others only a mark */
        *con_cls = query ? calloc(1, sizeof(sh_http_query_body_t)) : (void *)&on_completed;
        if (!*con_cls) return MHD_NO;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (*con_cls != (void *)&on_completed) {
            sh_http_query_body_t *body = *con_cls;
            if (body->len + *upload_data_size >= sizeof body->data)
                body->too_long = true;
            else {
                memcpy(body->data + body->len, upload_data, *upload_data_size);
                body->len += *upload_data_size;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*con_cls != (void *)&on_completed) return sh_http_query_post(c, http, *con_cls);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/stores/", 8) == 0)
        return get ? sh_http_stores_get(c, http, url + 8)
                   : sh_http_respond_error(c, 405, "%s %s: only GET", method, url);
    if (strcmp(url, "/healthz") == 0)
        return get ? get_health(c, http) : sh_http_respond_error(c, 405, "only GET");
    if (strcmp(url, "/topology") == 0) {
        if (!get) return sh_http_respond_error(c, 405, "only GET");
        pthread_mutex_lock(&http->lock);
        const char *text = http->topology ? http->topology : "";
        enum MHD_Result rc =
            sh_http_respond(c, 200, "text/plain; charset=utf-8", text, strlen(text));
        pthread_mutex_unlock(&http->lock);
        return rc;
    }
    if (strcmp(url, "/reload") == 0) {
        if (!post) return sh_http_respond_error(c, 405, "POST /reload");
        sh_reload_request();
        sh_http_body_t b = {0};
        sh_http_body_str(&b, "{\"status\": \"reload requested\"}");
        return sh_http_respond_json(c, 202, &b);
    }
    return sh_http_respond_error(
        c, 404, "no endpoint %s %s (try /stores/NAME, POST /query, /topology, /healthz)", method,
        url);
}

/* ---- life cycle ---- */

bool sh_http_is_loopback(const char *address) {
    const char *colon = strrchr(address, ':');
    char host[64];
    struct in_addr a;
    if (!colon || (size_t)(colon - address) >= sizeof host) return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    if (strcmp(host, "localhost") == 0) return true;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

sh_http_t *sh_http_start(const char *address, sh_tasks_t **tasks, int task_groups,
                         const sh_http_options_t *options) {
    static const sh_http_options_t none = {0};
    if (!options) options = &none;
    const char *token = options->token && *options->token ? options->token : NULL;
    if (!token && !sh_http_is_loopback(address)) {
        sh_log(SH_LOG_ERROR,
               "http: refusing to serve on %s without a token: a non-loopback address needs "
               "--http-token (or a state directory's http-token file)",
               address);
        return NULL;
    }
    if (token && strlen(token) >= SH_HTTP_TOKEN_MAX) {
        sh_log(SH_LOG_ERROR, "http: the token is longer than %d characters", SH_HTTP_TOKEN_MAX - 1);
        return NULL;
    }
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char host[64];
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - address) >= sizeof host || !end || *end || port < 0 ||
        port > 65535) {
        sh_log(SH_LOG_WARN, "http: '%s' is not HOST:PORT; pull queries are off", address);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        sh_log(SH_LOG_WARN, "http: '%s' is not an IPv4 address; pull queries are off", host);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    sh_http_t *http = calloc(1, sizeof *http);
    if (!http) return NULL;
    http->tasks = tasks;
    http->task_groups = task_groups;
    if (token) snprintf(http->token, sizeof http->token, "%s", token);
    http->auth_all = options->auth_all && token;
    unsigned timeout = options->idle_timeout_s ? options->idle_timeout_s : DEFAULT_IDLE_TIMEOUT_S;
    unsigned per_client = options->connections_per_client ? options->connections_per_client
                                                          : DEFAULT_CONNECTIONS_PER_CLIENT;
    pthread_mutex_init(&http->lock, NULL);
    http->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, http,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!http->daemon) {
        sh_log(SH_LOG_WARN,
               "http: cannot listen on %s (in use?); going on without pull queries "
               "(choose another with --http HOST:PORT, or --http off)",
               address);
        pthread_mutex_destroy(&http->lock);
        free(http);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sh_log(SH_LOG_INFO, "pull queries on http://%s:%u/", host, info ? info->port : (unsigned)port);
    return http;
}

void sh_http_set_topology(sh_http_t *http, const char *text) {
    if (!http) return;
    char *copy = strdup(text ? text : "");
    if (!copy) {
        sh_log(SH_LOG_WARN, "http: out of memory; GET /topology keeps the previous text");
        return;
    }
    pthread_mutex_lock(&http->lock);
    free(http->topology);
    http->topology = copy;
    pthread_mutex_unlock(&http->lock);
}

void sh_http_stop(sh_http_t *http) {
    if (!http) return;
    MHD_stop_daemon(http->daemon);
    pthread_mutex_destroy(&http->lock);
    free(http->topology);
    free(http);
}
