/*
 * paging.h - GET /stores/NAME, a page at a time (paging.c).
 */
#ifndef SH_HTTP_PAGING_H
#define SH_HTTP_PAGING_H

#include <microhttpd.h>

#include "engine/ctx.h"
#include "http/http.h"

/* d: the store's declaration (a copy: no task group's lock is held).
 * @locality the server's thread; @locks each task group's, a chunk at a time */
enum MHD_Result sh_http_paging_get(struct MHD_Connection *c, sh_http_t *http,
                                   const sh_store_decl_t *d);

#endif
