/*
 * window_row.c - window store rows as readers see them (window_row.h).
 *
 * A session value is the JSON object lua/streamhost/store.lua writes, with
 * its origin markers after a "\n": {"s": start, "a": aggregate} in either
 * key order. It is scanned, not decoded: the aggregate's text is passed
 * through as stored, byte for byte. O(length of the value).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "http/window_row.h"

static const char *skip_space(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p at a '"': returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end) {
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Returns the position after the JSON value at p, or NULL. */
static const char *skip_value(const char *p, const char *end) {
    if (p >= end) return NULL;
    if (*p == '"') return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end))) return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0) return p + 1;
            }
            p++;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && !strchr(",}] \t\r\n", *p))
        p++;
    return p > start ? p : NULL;
}

/* Finds "s" (an integer) and "a" (any value) in the object at value. */
static bool scan_session(const char *value, size_t len, int64_t *start, const char **agg,
                         size_t *agg_len) {
    const char *p = value, *end = value + len;
    bool have_start = false, have_agg = false;
    p = skip_space(p, end);
    if (p >= end || *p != '{') return false;
    p = skip_space(p + 1, end);
    while (p < end && *p == '"') {
        const char *name = p + 1, *after = skip_string(p, end);
        if (!after) return false;
        size_t name_len = (size_t)(after - 1 - name);
        p = skip_space(after, end);
        if (p >= end || *p != ':') return false;
        p = skip_space(p + 1, end);
        const char *next = skip_value(p, end);
        if (!next) return false;
        if (name_len == 1 && *name == 's') {
            char *stop;
            char digits[32];
            size_t n =
                (size_t)(next - p) < sizeof digits - 1 ? (size_t)(next - p) : sizeof digits - 1;
            memcpy(digits, p, n);
            digits[n] = 0;
            double ts = strtod(digits, &stop);
            if (stop == digits || *stop) return false;
            *start = (int64_t)ts;
            have_start = true;
        } else if (name_len == 1 && *name == 'a') {
            *agg = p;
            *agg_len = (size_t)(next - p);
            have_agg = true;
        }
        p = skip_space(next, end);
        if (p < end && *p == ',') p = skip_space(p + 1, end);
    }
    return p < end && *p == '}' && have_start && have_agg;
}

void sh_window_row_read(const sh_store_decl_t *d, int64_t stored_time, const char *value,
                        size_t len, sh_window_row_t *row) {
    /* aggregations append "\n" and their origin markers (lua/streamhost/store.lua) */
    const char *nl = value ? memchr(value, '\n', len) : NULL;
    if (nl) len = (size_t)(nl - value);
    *row = (sh_window_row_t){.start = stored_time,
                             .end = d->window_size_ms > 0 ? stored_time + d->window_size_ms : -1,
                             .value = value,
                             .value_len = len};
    if (!d->sessions) return;
    row->end = stored_time;
    if (!value || !scan_session(value, len, &row->start, &row->value, &row->value_len))
        row->start = stored_time;
}

void sh_window_row_fetch_bounds(const sh_store_decl_t *d, int64_t from, int64_t to,
                                int64_t *stored_from, int64_t *stored_to) {
    *stored_from = from;
    *stored_to = d->sessions ? INT64_MAX : to;
}
