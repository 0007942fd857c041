/*
 * window_row.h - what a row of a window store means to a reader
 * (window_row.c): a time window's start and end (start + size), or a
 * session's, which a session store keeps as its key's time (the end) and
 * inside its value ({"s": start, "a": aggregate}).
 */
#ifndef SH_HTTP_WINDOW_ROW_H
#define SH_HTTP_WINDOW_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ctx.h"

typedef struct sh_window_row {
    int64_t start, end; /* end -1: not known (a window store without a size) */
    const char *value;  /* points into the stored value */
    size_t value_len;
} sh_window_row_t;

/* Reads the row stored at (key, stored_time) with value[0..len) of store
 * d. A session value that does not parse is shown as stored, with start
 * and end both its key's time. */
void sh_window_row_read(const sh_store_decl_t *d, int64_t stored_time, const char *value,
                        size_t len, sh_window_row_t *row);
/* Where a fetch for window starts in [from, to] must look in the stored
 * times: a session's is its end, at or after its start. */
void sh_window_row_fetch_bounds(const sh_store_decl_t *d, int64_t from, int64_t to,
                                int64_t *stored_from, int64_t *stored_to);

#endif
