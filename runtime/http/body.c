/*
 * body.c - a response body grown as it is written (body.h), and the JSON
 * pieces every handler writes: strings, keys in their serde's form, stored
 * values. A body that fails to grow remembers it (failed), so a handler
 * writes on and answers 500 at the end instead of a short 200.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/body.h"

void sh_http_body_add(sh_http_body_t *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

void sh_http_body_str(sh_http_body_t *b, const char *s) { sh_http_body_add(b, s, strlen(s)); }

void sh_http_body_printf(sh_http_body_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sh_http_body_printf(sh_http_body_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sh_http_body_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void sh_http_body_json_string(sh_http_body_t *b, const char *s, size_t n) {
    sh_http_body_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sh_http_body_add(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            sh_http_body_printf(b, "\\u%04x", c);
        } else {
            sh_http_body_add(b, (const char *)&s[i], 1);
        }
    }
    sh_http_body_str(b, "\"");
}
static uint64_t get_be(const char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

void sh_http_body_key(sh_http_body_t *b, const char *serde, const char *key, size_t len) {
    if (strcmp(serde, "int") == 0 && len == 4)
        sh_http_body_printf(b, "%" PRId32, (int32_t)(uint32_t)get_be(key, 4));
    else if (strcmp(serde, "long") == 0 && len == 8)
        sh_http_body_printf(b, "%" PRId64, (int64_t)get_be(key, 8));
    else if (strcmp(serde, "json") == 0 && len > 0)
        sh_http_body_add(b, key, len);
    else
        sh_http_body_json_string(b, key, len);
}

void sh_http_body_value(sh_http_body_t *b, const char *value, size_t len) {
    /* aggregations append "\n" and their origin markers (lua/streamhost/store.lua) */
    const char *nl = value ? memchr(value, '\n', len) : NULL;
    if (nl) len = (size_t)(nl - value);
    if (value && len)
        sh_http_body_add(b, value, len);
    else
        sh_http_body_str(b, "null");
}
