/*
 * paging.c - GET /stores/NAME: a store's entries a page at a time,
 * {"entries": [...], "next": K|null} (?limit=&after=&after_start=).
 *
 * A page is merged from every task of the store (one per partition, across
 * the stream threads) in (key, window start) order, so pages follow one
 * order across partitions and time segments. Each task is read through a
 * cursor that copies at most PAGE_CHUNK entries per hold of its stream
 * thread's lock, starting with a seek to where the page starts (O(log N)),
 * and seeks again after its last entry for the next chunk. So a page of L
 * entries over T tasks copies at most L + T * PAGE_CHUNK entries, and no
 * lock is held for work that grows with the store's size. Between two
 * chunks the stream thread may write: a page is consistent per chunk, as
 * any pager over a live store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/keys.h"
#include "http/paging.h"
#include "http/respond.h"
#include "http/server.h"
#include "http/window_row.h"

#define PAGE_CHUNK 256

typedef struct {
    char *key, *value; /* one allocation: key bytes, then value bytes */
    size_t key_len, value_len;
    int64_t start;
} entry_t;

typedef struct {
    sh_tasks_t *tasks; /* the stream thread's group the task belongs to */
    int32_t partition;
    entry_t entries[PAGE_CHUNK];
    int count, next;
    bool exhausted; /* the last chunk was the task's end */
    /* where the next chunk starts: after (key, start) */
    char *after;
    size_t after_len, after_cap;
    int64_t after_start;
    bool has_after;
} cursor_t;

static int compare_keys(const char *a, size_t alen, const char *b, size_t blen) {
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int compare_entries(const entry_t *a, const entry_t *b) {
    int c = compare_keys(a->key, a->key_len, b->key, b->key_len);
    return c ? c : (a->start > b->start) - (a->start < b->start);
}

static void cursor_clear(cursor_t *cur) {
    for (int i = 0; i < cur->count; i++)
        free(cur->entries[i].key);
    cur->count = cur->next = 0;
}

static bool cursor_set_after(cursor_t *cur, const char *key, size_t len, int64_t start) {
    if (len + 1 > cur->after_cap) {
        char *grown = realloc(cur->after, len + 1);
        if (!grown) return false;
        cur->after = grown;
        cur->after_cap = len + 1;
    }
    if (len) memcpy(cur->after, key, len);
    cur->after_len = len;
    cur->after_start = start;
    cur->has_after = true;
    return true;
}

/* Copies the task's next chunk. A task revoked or being restored since the
 * page began has nothing more to give. Returns SH_OK, or an error (out of
 * memory, the store failed): the page then answers 500, never a short 200.
 * @locks takes and releases the task group's lock; holds it for at most
 * one seek and PAGE_CHUNK entries. */
static int cursor_fill(cursor_t *cur, const char *name) {
    cursor_clear(cur);
    if (cur->exhausted) return SH_OK;
    int rc = SH_OK;
    sh_tasks_lock(cur->tasks);
    sh_task_t *task = sh_tasks_find_readable(cur->tasks, name, cur->partition);
    sh_store_iter_t *it =
        task ? sh_store_iter_sorted(sh_task_store(task), cur->has_after ? cur->after : NULL,
                                    cur->after_len, cur->after_start)
             : NULL;
    if (task && !it) rc = SH_ERR_STORE;
    bool windowed = task && sh_task_kind(task) == SH_STORE_WINDOW;
    while (it && cur->count < PAGE_CHUNK) {
        sh_ffi_slice_t k, v;
        int64_t start = 0;
        rc = sh_ffi_store_iter_next(it, &k, &v, &start);
        if (rc != SH_OK) break;
        entry_t *e = &cur->entries[cur->count];
        if (!(e->key = malloc(k.len + v.len + 1))) {
            rc = SH_ERR_NOMEM;
            break;
        }
        memcpy(e->key, k.data, k.len);
        if (v.len) memcpy(e->key + k.len, v.data, v.len);
        e->value = e->key + k.len;
        e->key_len = k.len;
        e->value_len = v.len;
        e->start = windowed ? start : 0;
        cur->count++;
    }
    sh_ffi_store_iter_destroy(it);
    sh_tasks_unlock(cur->tasks);
    if (rc == SH_ERR_NOT_FOUND || !task) {
        cur->exhausted = true;
        rc = SH_OK;
    }
    if (rc == SH_OK && cur->count > 0) {
        const entry_t *last = &cur->entries[cur->count - 1];
        if (!cursor_set_after(cur, last->key, last->key_len, last->start)) rc = SH_ERR_NOMEM;
    }
    return rc;
}

/* The cursor's current entry (refilled when its chunk is spent), or NULL at
 * its end; *rc set on failure. */
static const entry_t *cursor_head(cursor_t *cur, const char *name, int *rc) {
    if (cur->next == cur->count && !cur->exhausted) *rc = cursor_fill(cur, name);
    return *rc == SH_OK && cur->next < cur->count ? &cur->entries[cur->next] : NULL;
}

/* One cursor per readable task of the store, found under each group's
 * lock (O(tasks)). Returns the count, or -1 when out of memory. */
static int open_cursors(sh_http_t *http, const char *name, cursor_t **out) {
    int n = 0, cap = 0;
    cursor_t *list = NULL;
    for (int g = 0; g < http->task_groups; g++) {
        sh_tasks_t *tasks = http->tasks[g];
        sh_tasks_lock(tasks);
        for (sh_task_t *t = sh_tasks_next_readable(tasks, name, NULL); t;
             t = sh_tasks_next_readable(tasks, name, t)) {
            if (n == cap) {
                int grown_cap = cap ? cap * 2 : 4;
                cursor_t *grown = realloc(list, sizeof *grown * (size_t)grown_cap);
                if (!grown) {
                    sh_tasks_unlock(tasks);
                    free(list);
                    return -1;
                }
                list = grown;
                cap = grown_cap;
            }
            list[n++] = (cursor_t){.tasks = tasks, .partition = sh_task_partition(t)};
        }
        sh_tasks_unlock(tasks);
    }
    *out = list;
    return n;
}

static void close_cursors(cursor_t *list, int n) {
    for (int i = 0; i < n; i++) {
        cursor_clear(&list[i]);
        free(list[i].after);
    }
    free(list);
}

static void render_entry(sh_http_body_t *b, const sh_store_decl_t *d, const entry_t *e,
                         bool first) {
    sh_http_body_str(b, first ? "{\"key\": " : ", {\"key\": ");
    sh_http_body_key(b, d->key_serde, e->key, e->key_len);
    sh_window_row_t row;
    sh_window_row_read(d, e->start, e->value, e->value_len, &row);
    if (d->kind == SH_STORE_WINDOW) {
        sh_http_body_printf(b, ", \"start\": %" PRId64 ", \"end\": ", row.start);
        if (row.end >= 0)
            sh_http_body_printf(b, "%" PRId64, row.end);
        else
            sh_http_body_str(b, "null");
    }
    sh_http_body_str(b, ", \"value\": ");
    sh_http_body_value(b, row.value, row.value_len);
    sh_http_body_str(b, "}");
}

enum MHD_Result sh_http_paging_get(struct MHD_Connection *c, sh_http_t *http,
                                   const sh_store_decl_t *d) {
    int64_t limit = 100, after_start = INT64_MIN;
    if (!sh_http_arg_int64(c, "limit", &limit) || limit <= 0 ||
        !sh_http_arg_int64(c, "after_start", &after_start))
        return sh_http_respond_error(
            c, 400, "limit must be a positive integer, after_start a window start");
    const char *after_text = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    char after[4096];
    long after_len = -1;
    if (after_text &&
        (after_len = sh_http_url_key(d->key_serde, after_text, after, sizeof after)) < 0)
        return sh_http_respond_error(c, 400, "after '%s' does not parse as %s", after_text,
                                     d->key_serde);
    bool windowed = d->kind == SH_STORE_WINDOW;
    cursor_t *cursors = NULL;
    int n = open_cursors(http, d->name, &cursors);
    if (n < 0) return sh_http_respond_error(c, 500, "out of memory paging store %s", d->name);
    int rc = SH_OK;
    for (int i = 0; i < n && after_len >= 0; i++)
        if (!cursor_set_after(&cursors[i], after, (size_t)after_len, windowed ? after_start : 0))
            rc = SH_ERR_NOMEM;

    sh_http_body_t b = {0}, last = {0};
    int64_t last_start = 0;
    sh_http_body_str(&b, "{\"entries\": [");
    int64_t shown = 0;
    bool more = false;
    /* Each step scans the cursors' heads: O(T) per entry, T tasks. */
    while (rc == SH_OK) {
        int best = -1;
        const entry_t *head = NULL;
        for (int i = 0; i < n && rc == SH_OK; i++) {
            const entry_t *e = cursor_head(&cursors[i], d->name, &rc);
            if (e && (!head || compare_entries(e, head) < 0)) best = i, head = e;
        }
        if (rc != SH_OK || !head || b.failed) break; /* b.failed: a 500 below */
        if (shown == limit) {
            more = true;
            break;
        }
        render_entry(&b, d, head, shown++ == 0);
        last.len = 0;
        sh_http_body_add(&last, head->key, head->key_len);
        last_start = head->start;
        cursors[best].next++;
    }
    close_cursors(cursors, n);
    if (rc != SH_OK) {
        free(b.data);
        free(last.data);
        return sh_http_respond_error(c, 500, "reading store %s failed (%s); try again", d->name,
                                     sh_ffi_err_name(rc));
    }
    sh_http_body_str(&b, "], \"next\": ");
    if (more) {
        sh_http_body_key(&b, d->key_serde, last.data ? last.data : "", last.len);
        if (windowed) sh_http_body_printf(&b, ", \"next_start\": %" PRId64, last_start);
    } else {
        sh_http_body_str(&b, "null");
    }
    sh_http_body_str(&b, "}");
    if (last.failed) b.failed = true;
    free(last.data);
    return sh_http_respond_json(c, 200, &b);
}
