/*
 * http.h - pull queries over HTTP: stores, topology, health, reload.
 */
#ifndef SH_HTTP_H
#define SH_HTTP_H

#include "http/keys.h"
#include "state/tasks.h"

typedef struct sh_http sh_http_t;

/* Who may do what, and how long a client may hold a connection. */
typedef struct sh_http_options {
    /* Needed (Authorization: Bearer TOKEN) for every method but GET and
     * HEAD: POST /reload and anything else that changes state. NULL: no
     * token, which only a loopback address accepts. */
    const char *token;
    bool auth_all;                   /* --http-auth all: reads need it too, but /healthz */
    unsigned idle_timeout_s;         /* an idle or slow connection is closed; 0: 10 s */
    unsigned connections_per_client; /* per IP address; 0: 32 */
} sh_http_options_t;

/* Serves on address ("HOST:PORT"; port 0 picks one) from its own thread,
 * reading the stores of task_groups groups of tasks (one per stream
 * thread; the array must outlive the server). Returns NULL, with a warning
 * logged, when it cannot listen: the stream threads go on without pull
 * queries. A non-loopback address without a token is refused (NULL, an
 * error logged); run.c checks it first with sh_http_is_loopback and exits.
 * options may be NULL: no token, the default limits. */
sh_http_t *sh_http_start(const char *address, sh_tasks_t **tasks, int task_groups,
                         const sh_http_options_t *options);
/* Whether address ("HOST:PORT") listens on loopback only (127.0.0.0/8,
 * localhost). */
bool sh_http_is_loopback(const char *address);
/* Replaces the text GET /topology answers (after a load or a reload). */
void sh_http_set_topology(sh_http_t *http, const char *text);
void sh_http_stop(sh_http_t *http);

#endif
