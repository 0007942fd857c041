/*
 * keys.h - keys in URLs, parsed with a store's key serde (keys.c).
 */
#ifndef SH_HTTP_KEYS_H
#define SH_HTTP_KEYS_H

#include <stddef.h>

/* Key bytes for text[0..len) (percent-decoded already, so it may hold byte
 * 0), parsed with the store's key serde. Returns the length written to out
 * (at most cap), or -1 when text does not parse. */
long sh_http_parse_key(const char *serde, const char *text, size_t len, char *out, size_t cap);
/* Percent-decodes text[0..len) into out (room for len + 1 bytes): "%00" is
 * byte 0, kept; an invalid escape is copied as it is. Returns the length. */
size_t sh_http_unescape(const char *text, size_t len, char *out);
/* Key bytes for a URL's still percent-encoded text (libmicrohttpd is told
 * to leave URLs escaped): -1 when it does not parse, or when out of memory. */
long sh_http_url_key(const char *serde, const char *escaped, char *out, size_t cap);

#endif
