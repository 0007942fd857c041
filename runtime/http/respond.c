/*
 * respond.c - answers: a body queued as it is, a JSON body (500 instead
 * when it could not be built whole), a JSON error; and a query string's
 * integer arguments (respond.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/respond.h"

enum MHD_Result sh_http_respond(struct MHD_Connection *c, unsigned status, const char *type,
                                const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A body that could not be built whole is never sent in part: 500. */
enum MHD_Result sh_http_respond_json(struct MHD_Connection *c, unsigned status, sh_http_body_t *b) {
    if (!b->failed) sh_http_body_str(b, "\n");
    if (b->failed) {
        free(b->data);
        static const char oom[] = "{\"error\": \"out of memory\"}\n";
        return sh_http_respond(c, 500, "application/json", oom, sizeof oom - 1);
    }
    enum MHD_Result rc = sh_http_respond(c, status, "application/json", b->data, b->len);
    free(b->data);
    return rc;
}

enum MHD_Result sh_http_respond_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                      ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sh_http_body_t b = {0};
    sh_http_body_str(&b, "{\"error\": ");
    sh_http_body_json_string(&b, msg, strlen(msg));
    sh_http_body_str(&b, "}");
    return sh_http_respond_json(c, status, &b);
}

bool sh_http_arg_int64(struct MHD_Connection *c, const char *name, int64_t *out) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v) return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno) return false;
    *out = n;
    return true;
}
