/*
 * keys.c - keys in URLs: percent-decoding that keeps a byte 0, and parsing
 * with the store's key serde into the bytes Lua's serdes write (keys.h).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/keys.h"

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t sh_http_unescape(const char *text, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (text[i] == '%' && i + 2 < len && (hi = hex_digit(text[i + 1])) >= 0 &&
            (lo = hex_digit(text[i + 2])) >= 0) {
            out[n++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[n++] = text[i];
        }
    }
    out[n] = 0;
    return n;
}

long sh_http_parse_key(const char *serde, const char *text, size_t len, char *out, size_t cap) {
    if (strcmp(serde, "int") == 0 || strcmp(serde, "long") == 0) {
        int width = serde[0] == 'i' ? 4 : 8;
        char number[32], *end;
        if (len == 0 || len >= sizeof number || memchr(text, 0, len)) return -1;
        memcpy(number, text, len);
        number[len] = 0;
        errno = 0;
        long long v = strtoll(number, &end, 10);
        if (*end || errno || cap < (size_t)width ||
            (width == 4 && (v < INT32_MIN || v > INT32_MAX)))
            return -1;
        for (int i = width - 1; i >= 0; i--, v = (long long)((unsigned long long)v >> 8))
            out[i] = (char)(v & 0xff);
        return width;
    }
    if (len > cap) return -1;
    memcpy(out, text, len);
    return (long)len;
}

/* Key bytes for a URL's still percent-encoded text (see keep_escaped):
 * -1 when it does not parse, or when out of memory. */
long sh_http_url_key(const char *serde, const char *escaped, char *out, size_t cap) {
    size_t n = strlen(escaped);
    char *decoded = malloc(n + 1);
    if (!decoded) return -1;
    long len = sh_http_parse_key(serde, decoded, sh_http_unescape(escaped, n, decoded), out, cap);
    free(decoded);
    return len;
}
