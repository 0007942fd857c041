/*
 * respond.h - answering a request (respond.c).
 */
#ifndef SH_HTTP_RESPOND_H
#define SH_HTTP_RESPOND_H

#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "http/body.h"

enum MHD_Result sh_http_respond(struct MHD_Connection *c, unsigned status, const char *type,
                                const char *body, size_t len);
/* Sends b (and frees it); a body that could not be built whole is never
 * sent in part: 500. */
enum MHD_Result sh_http_respond_json(struct MHD_Connection *c, unsigned status, sh_http_body_t *b);
/* {"error": message} */
enum MHD_Result sh_http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                      ...) __attribute__((format(printf, 3, 4)));
/* The query-string argument name as an integer into *out; true when absent
 * (out untouched), false when it is not an integer. */
bool sh_http_arg_int64(struct MHD_Connection *c, const char *name, int64_t *out);

#endif
