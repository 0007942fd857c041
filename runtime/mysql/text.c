/*
 * text.c - growable buffer and JSON writing for the CDC envelope (text.h).
 * Buffers double as they grow, so building a record is amortised O(size).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mysql/text.h"

void sh_text_free(sh_text_t *t) {
    free(t->data);
    *t = (sh_text_t){0};
}

void sh_text_clear(sh_text_t *t) {
    t->len = 0;
    t->failed = false;
}

static bool reserve(sh_text_t *t, size_t more) {
    if (t->failed) return false;
    if (t->len + more + 1 <= t->cap) return true;
    size_t cap = t->cap ? t->cap : 256;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *grown = realloc(t->data, cap);
    if (!grown) {
        t->failed = true;
        return false;
    }
    t->data = grown;
    t->cap = cap;
    return true;
}

void sh_text_add(sh_text_t *t, const void *bytes, size_t len) {
    if (!reserve(t, len)) return;
    memcpy(t->data + t->len, bytes, len);
    t->len += len;
    t->data[t->len] = '\0';
}

void sh_text_adds(sh_text_t *t, const char *s) { sh_text_add(t, s, strlen(s)); }

void sh_text_addf(sh_text_t *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[128];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof small) {
        sh_text_add(t, small, (size_t)n);
        return;
    }
    if (!reserve(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0. */
static size_t utf8_sequence(const unsigned char *s, size_t len) {
    unsigned char c = s[0];
    size_t n;
    unsigned int min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    if (n > len) return 0;
    unsigned int cp = c & (0xff >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

void sh_text_json_string(sh_text_t *t, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    if (!reserve(t, len + 2)) return;
    sh_text_add(t, "\"", 1);
    size_t start = 0, i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0x80 ? utf8_sequence(s + i, len - i) : 0;
        if (n > 0) {
            i += n;
            continue;
        }
        sh_text_add(t, s + start, i - start);
        switch (c) {
        case '"':
            sh_text_add(t, "\\\"", 2);
            break;
        case '\\':
            sh_text_add(t, "\\\\", 2);
            break;
        case '\n':
            sh_text_add(t, "\\n", 2);
            break;
        case '\r':
            sh_text_add(t, "\\r", 2);
            break;
        case '\t':
            sh_text_add(t, "\\t", 2);
            break;
        default:
            if (c < 0x20)
                sh_text_addf(t, "\\u%04x", c);
            else
                sh_text_add(t, "\xef\xbf\xbd", 3); /* not UTF-8: U+FFFD */
        }
        start = ++i;
    }
    sh_text_add(t, s + start, len - start);
    sh_text_add(t, "\"", 1);
}

void sh_text_json_base64(sh_text_t *t, const unsigned char *b, size_t len) {
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!reserve(t, (len + 2) / 3 * 4 + 2)) return;
    char *out = t->data + t->len;
    *out++ = '"';
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (unsigned)b[i + 1] << 8 | b[i + 2];
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = alphabet[(v >> 6) & 63];
        *out++ = alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < len ? (unsigned)b[i + 1] << 8 : 0);
        *out++ = alphabet[v >> 18];
        *out++ = alphabet[(v >> 12) & 63];
        *out++ = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out++ = '"';
    t->len = (size_t)(out - t->data);
    t->data[t->len] = '\0';
}

char *sh_text_take(sh_text_t *t) {
    if (t->failed) {
        sh_text_free(t);
        return NULL;
    }
    if (!t->data) reserve(t, 0);
    char *s = t->data;
    if (s) s[t->len] = '\0';
    *t = (sh_text_t){0};
    return s;
}
