/*
 * text.h - a growable byte buffer and the JSON writing the CDC envelope
 * needs (text.c). Appends never fail half-way: on out of memory the buffer
 * remembers it (failed) and later appends do nothing, so a caller checks
 * once at the end.
 */
#ifndef SH_MYSQL_TEXT_H
#define SH_MYSQL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sh_text {
    char *data;
    size_t len, cap;
    bool failed;
} sh_text_t;

void sh_text_free(sh_text_t *t);
void sh_text_clear(sh_text_t *t);
void sh_text_add(sh_text_t *t, const void *bytes, size_t len);
void sh_text_adds(sh_text_t *t, const char *s);
void sh_text_addf(sh_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A JSON string literal: quotes, escapes, and invalid UTF-8 replaced by
 * U+FFFD so that hostile bytes in a TEXT column never break the JSON. */
void sh_text_json_string(sh_text_t *t, const char *s, size_t len);
/* A JSON string holding bytes in base64 (Kafka Connect's JSON for BYTES). */
void sh_text_json_base64(sh_text_t *t, const unsigned char *bytes, size_t len);
/* Detaches the bytes (NUL-terminated); the buffer is empty after. NULL when
 * an append failed. */
char *sh_text_take(sh_text_t *t);

#endif
