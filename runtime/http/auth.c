/*
 * auth.c - who may do what (auth.h): every method but GET and HEAD needs
 * `Authorization: Bearer TOKEN` (the token: token.c); with auth_all every
 * read but /healthz does too, so a supervisor's probe needs no secret. A
 * pull query is a read, though ksqlDB's /query takes it by POST.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/auth.h"
#include "http/body.h"
#include "http/server.h"

/* Whether the request may go on: a token is needed for every method but
 * GET and HEAD, and with auth_all for every read but /healthz. */
bool sh_http_auth_allows(sh_http_t *http, struct MHD_Connection *c, const char *url,
                         const char *method) {
    if (!http->token[0]) return true;
    /* a pull query is a read, though ksqlDB's /query takes it by POST */
    bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                (strcmp(method, "POST") == 0 && strcmp(url, "/query") == 0);
    if (read && (!http->auth_all || strcmp(url, "/healthz") == 0)) return true;
    const char *header =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return sh_http_token_matches(http->token, header);
}

enum MHD_Result sh_http_auth_refuse(struct MHD_Connection *c, const char *method, const char *url) {
    sh_http_body_t b = {0};
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s %s needs the HTTP token: send 'Authorization: Bearer TOKEN' (the token is "
             "--http-token, or the one in the state directory's http-token file)",
             method, url);
    sh_http_body_str(&b, "{\"error\": ");
    sh_http_body_json_string(&b, msg, strlen(msg));
    sh_http_body_str(&b, "}\n");
    if (b.failed) {
        free(b.data);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(b.data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"streamhost\"");
    enum MHD_Result rc = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return rc;
}
