/*
 * server.h - the pull-query server's state (http.c), which the handlers
 * (stores.c, paging.c, query.c, auth.c) read. Internal to http/.
 */
#ifndef SH_HTTP_SERVER_H
#define SH_HTTP_SERVER_H

#include <pthread.h>
#include <stdbool.h>

#include <microhttpd.h>

#include "http/http.h"
#include "http/token.h"

struct sh_http {
    struct MHD_Daemon *daemon;
    sh_tasks_t **tasks; /* one group per stream thread */
    int task_groups;
    pthread_mutex_t lock; /* guards topology */
    char *topology;
    char token[SH_HTTP_TOKEN_MAX]; /* "": none */
    bool auth_all;
};

#endif
