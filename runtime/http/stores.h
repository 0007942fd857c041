/*
 * stores.h - GET /stores/NAME and /stores/NAME/KEY (stores.c).
 */
#ifndef SH_HTTP_STORES_H
#define SH_HTTP_STORES_H

#include <microhttpd.h>

#include "http/http.h"

/* path: what follows "/stores/", still percent-encoded.
 * @locality the server's thread; takes each task group's lock in turn */
enum MHD_Result sh_http_stores_get(struct MHD_Connection *c, sh_http_t *http, const char *path);

#endif
