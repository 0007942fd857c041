/*
 * token.h - the HTTP endpoint's access token (token.c).
 */
#ifndef SH_HTTP_TOKEN_H
#define SH_HTTP_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* Room for a token: 64 characters and the NUL. */
#define SH_HTTP_TOKEN_MAX 65

typedef enum sh_http_token_source {
    SH_HTTP_TOKEN_GIVEN,     /* --http-token */
    SH_HTTP_TOKEN_FILE,      /* read from STATE_DIR/http-token */
    SH_HTTP_TOKEN_GENERATED, /* made now and written to STATE_DIR/http-token */
} sh_http_token_source_t;

/* The token for this run, in out: `given` when not NULL, else the one in
 * STATE_DIR/http-token, else a new random one written there (mode 0600,
 * the directory made when missing), so restarts keep it. path receives the
 * file's path. Returns 0, or -1 with err filled (a given token that is
 * empty, too long or not printable; a file that cannot be read or made).
 * @locality main thread, at start */
int sh_http_token_load(const char *given, const char *state_dir, char out[SH_HTTP_TOKEN_MAX],
                       sh_http_token_source_t *source, char *path, size_t path_len, char *err,
                       size_t errlen);

/* Whether the file STATE_DIR/http-token exists: a token the operator has. */
bool sh_http_token_file_exists(const char *state_dir);

/* Whether header (an Authorization value) is "Bearer TOKEN" for token.
 * Takes the same time whatever the header holds, up to its length. */
bool sh_http_token_matches(const char *token, const char *header);

#endif
