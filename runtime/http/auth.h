/*
 * auth.h - the token check before a request is served (auth.c).
 */
#ifndef SH_HTTP_AUTH_H
#define SH_HTTP_AUTH_H

#include <stdbool.h>

#include <microhttpd.h>

#include "http/http.h"

/* Whether the request may go on; decided on its headers, before any body. */
bool sh_http_auth_allows(sh_http_t *http, struct MHD_Connection *c, const char *url,
                         const char *method);
/* 401 with WWW-Authenticate and what to send. */
enum MHD_Result sh_http_auth_refuse(struct MHD_Connection *c, const char *method, const char *url);

#endif
