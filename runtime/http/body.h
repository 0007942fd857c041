/*
 * body.h - a response body grown as it is written, and its JSON pieces
 * (body.c).
 */
#ifndef SH_HTTP_BODY_H
#define SH_HTTP_BODY_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sh_http_body {
    char *data;
    size_t len, cap;
    bool failed; /* a write could not grow it: answer 500, not this */
} sh_http_body_t;

void sh_http_body_add(sh_http_body_t *b, const char *s, size_t n);
void sh_http_body_str(sh_http_body_t *b, const char *s);
void sh_http_body_printf(sh_http_body_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s[0..n) as a JSON string, escaped. */
void sh_http_body_json_string(sh_http_body_t *b, const char *s, size_t n);
/* A key's bytes in its serde's JSON form: a number (int, long), the JSON
 * itself (json), else a string. */
void sh_http_body_key(sh_http_body_t *b, const char *serde, const char *key, size_t len);
/* A stored value's JSON, without the origin markers aggregations append
 * after a "\n"; null when empty. */
void sh_http_body_value(sh_http_body_t *b, const char *value, size_t len);

#endif
