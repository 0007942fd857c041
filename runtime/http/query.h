/*
 * query.h - POST /query, ksqlDB's pull queries (query.c).
 */
#ifndef SH_HTTP_QUERY_H
#define SH_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "http/http.h"

enum { SH_HTTP_QUERY_BODY_MAX = 65536 };

/* A query's body, gathered as libmicrohttpd hands it over. */
typedef struct sh_http_query_body {
    char data[SH_HTTP_QUERY_BODY_MAX];
    size_t len;
    bool too_long;
} sh_http_query_body_t;

/* @locality the server's thread; takes each task group's lock in turn */
enum MHD_Result sh_http_query_post(struct MHD_Connection *c, sh_http_t *http,
                                   sh_http_query_body_t *body);

#endif
