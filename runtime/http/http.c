/*
 * http.c - pull queries: the state stores, the topology and the host's
 * health over HTTP, with libmicrohttpd on its own thread.
 *
 *   GET  /stores/NAME/KEY   {"key": K, "value": V}; window stores
 *                           {"key": K, "windows": [{"start", "end", "value"}]}
 *                           (?from=&to= bound the window starts)
 *   GET  /stores/NAME       {"entries": [...], "next": K|null} (?limit=&after=)
 *   GET  /topology          the describe text
 *   GET  /healthz           200 once every assigned store is restored, else 503;
 *                           503 with the reason while the process is failing (health.h)
 *   POST /reload            asks for a reload, as SIGHUP does
 *   POST /query             a ksqlDB pull query ({"ksql": "select ... where rowkey=15;"}),
 *                           answered in ksqlDB's JSON (ksql.h)
 *
 * Every method but GET and HEAD needs `Authorization: Bearer TOKEN` (the
 * token: token.c); with auth_all every read but /healthz does too, so a
 * supervisor's probe needs no secret. A non-loopback address is refused
 * without a token. libmicrohttpd closes a connection idle (or trickling)
 * for idle_timeout_s and caps connections per client address, so idle
 * half-open connections cannot starve the others. URLs reach the handlers
 * still percent-encoded (keep_escaped) and keys are decoded with their
 * length, so "%00" is a key's byte 0, not its end.
 *
 * Keys in URLs are parsed with the store's key serde and rendered back the
 * same way; values are the stored JSON, copied through. A key lives in the
 * one task (partition) its producer chose, so a lookup asks every task of
 * the store this instance holds. Every read takes the tasks' lock, which the
 * stream thread holds while Lua runs, so a read never meets a half-applied
 * batch, a reload or a revocation; a task still being restored is skipped.
 * Holding that lock stalls the stream thread, so no read holds it for work
 * that grows with the store: a lookup is one get (or one key's windows), and
 * a page is read in chunks of bounded size, each after a seek (see
 * "GET /stores/NAME"). A response that cannot be built whole (out of
 * memory, a store error) is a 500 with a JSON error, never a short 200.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "engine/reload.h"
#include "base/health.h"
#include "http/http.h"
#include "http/ksql.h"
#include "http/token.h"
#include "http/window_row.h"

#define DEFAULT_IDLE_TIMEOUT_S 10
#define DEFAULT_CONNECTIONS_PER_CLIENT 32

struct sh_http {
    struct MHD_Daemon *daemon;
    sh_tasks_t **tasks; /* one group per stream thread */
    int task_groups;
    pthread_mutex_t lock; /* guards topology */
    char *topology;
    char token[SH_HTTP_TOKEN_MAX]; /* "": none */
    bool auth_all;
};

/* ---- a growing response body ---- */

typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} buf_t;

static void buf_add(buf_t *b, const char *s, size_t n) {
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

static void buf_str(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static void json_string(buf_t *b, const char *s, size_t n) {
    buf_str(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_add(b, esc, 2);
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_add(b, (const char *)&s[i], 1);
        }
    }
    buf_str(b, "\"");
}

/* ---- keys and values ---- */

static uint64_t get_be(const char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | (unsigned char)p[i];
    return v;
}

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

static void render_key(buf_t *b, const char *serde, const char *key, size_t len) {
    if (strcmp(serde, "int") == 0 && len == 4)
        buf_printf(b, "%" PRId32, (int32_t)(uint32_t)get_be(key, 4));
    else if (strcmp(serde, "long") == 0 && len == 8)
        buf_printf(b, "%" PRId64, (int64_t)get_be(key, 8));
    else if (strcmp(serde, "json") == 0 && len > 0)
        buf_add(b, key, len);
    else
        json_string(b, key, len);
}

static void render_value(buf_t *b, const char *value, size_t len) {
    /* aggregations append "\n" and their origin markers (lua/streamhost/store.lua) */
    const char *nl = value ? memchr(value, '\n', len) : NULL;
    if (nl) len = (size_t)(nl - value);
    if (value && len)
        buf_add(b, value, len);
    else
        buf_str(b, "null");
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const char *body, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A body that could not be built whole is never sent in part: 500. */
static enum MHD_Result respond_json(struct MHD_Connection *c, unsigned status, buf_t *b) {
    if (!b->failed) buf_str(b, "\n");
    if (b->failed) {
        free(b->data);
        static const char oom[] = "{\"error\": \"out of memory\"}\n";
        return respond(c, 500, "application/json", oom, sizeof oom - 1);
    }
    enum MHD_Result rc = respond(c, status, "application/json", b->data, b->len);
    free(b->data);
    return rc;
}

static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                     ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result respond_error(struct MHD_Connection *c, unsigned status, const char *fmt,
                                     ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b = {0};
    buf_str(&b, "{\"error\": ");
    json_string(&b, msg, strlen(msg));
    buf_str(&b, "}");
    return respond_json(c, status, &b);
}

static bool arg_int64(struct MHD_Connection *c, const char *name, int64_t *out) {
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!v) return true;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || errno) return false;
    *out = n;
    return true;
}

/* Key bytes for a URL's still percent-encoded text (see keep_escaped):
 * -1 when it does not parse, or when out of memory. */
static long url_key(const char *serde, const char *escaped, char *out, size_t cap) {
    size_t n = strlen(escaped);
    char *decoded = malloc(n + 1);
    if (!decoded) return -1;
    long len = sh_http_parse_key(serde, decoded, sh_http_unescape(escaped, n, decoded), out, cap);
    free(decoded);
    return len;
}

/* ---- GET /stores/NAME/KEY ---- */

/* A lookup holds each stream thread's lock for one get per task, or for
 * one key's windows: work bounded by the key, not by the store. */
static enum MHD_Result get_key(struct MHD_Connection *c, sh_http_t *http, const sh_store_decl_t *d,
                               const char *text) {
    char key[4096];
    long key_len = url_key(d->key_serde, text, key, sizeof key);
    if (key_len < 0)
        return respond_error(c, 400, "key '%s' does not parse as %s (the key serde of store %s)",
                             text, d->key_serde, d->name);
    buf_t b = {0};
    buf_str(&b, "{\"key\": ");
    render_key(&b, d->key_serde, key, (size_t)key_len);
    if (d->kind == SH_STORE_KV) {
        for (int g = 0; g < http->task_groups; g++) {
            sh_tasks_t *tasks = http->tasks[g];
            sh_tasks_lock(tasks);
            for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
                 t = sh_tasks_next_readable(tasks, d->name, t)) {
                sh_ffi_slice_t value;
                int rc = sh_ffi_store_get(sh_task_store(t), key, (size_t)key_len, &value);
                if (rc == SH_ERR_NOT_FOUND) continue;
                if (rc != SH_OK) {
                    char why[512];
                    snprintf(why, sizeof why, "%s", sh_ffi_err_message());
                    sh_tasks_unlock(tasks);
                    free(b.data);
                    return respond_error(c, 500, "reading key %s: %s", text, why);
                }
                buf_str(&b, ", \"value\": ");
                render_value(&b, value.data, value.len);
                buf_str(&b, "}");
                sh_tasks_unlock(tasks);
                return respond_json(c, 200, &b);
            }
            sh_tasks_unlock(tasks);
        }
        free(b.data);
        return respond_error(c, 404, "no key %s in store %s", text, d->name);
    }
    int64_t from = INT64_MIN, to = INT64_MAX;
    if (!arg_int64(c, "from", &from) || !arg_int64(c, "to", &to)) {
        free(b.data);
        return respond_error(c, 400, "from and to are window starts in ms since the epoch");
    }
    buf_str(&b, ", \"windows\": [");
    int found = 0;
    for (int g = 0; g < http->task_groups; g++) {
        sh_tasks_t *tasks = http->tasks[g];
        sh_tasks_lock(tasks);
        for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
             t = sh_tasks_next_readable(tasks, d->name, t)) {
            int64_t fetch_from, fetch_to;
            sh_window_row_fetch_bounds(d, from, to, &fetch_from, &fetch_to);
            sh_store_iter_t *it =
                sh_ffi_window_fetch(sh_task_store(t), key, (size_t)key_len, fetch_from, fetch_to);
            sh_ffi_slice_t k, v;
            int64_t start;
            int rc = it ? SH_OK : SH_ERR_STORE;
            while (rc == SH_OK && (rc = sh_ffi_store_iter_next(it, &k, &v, &start)) == SH_OK) {
                sh_window_row_t row;
                sh_window_row_read(d, start, v.data, v.len, &row);
                if (row.start < from || row.start > to) continue;
                buf_printf(&b, "%s{\"start\": %" PRId64 ", \"end\": ", found++ ? ", " : "",
                           row.start);
                if (row.end >= 0)
                    buf_printf(&b, "%" PRId64, row.end);
                else
                    buf_str(&b, "null");
                buf_str(&b, ", \"value\": ");
                render_value(&b, row.value, row.value_len);
                buf_str(&b, "}");
            }
            if (rc != SH_ERR_NOT_FOUND) b.failed = true; /* a partial answer is no answer */
            sh_ffi_store_iter_destroy(it);
        }
        sh_tasks_unlock(tasks);
    }
    buf_str(&b, "]}");
    if (!found && !b.failed) {
        free(b.data);
        return respond_error(c, 404, "no windows for key %s in store %s", text, d->name);
    }
    return respond_json(c, 200, &b);
}

/* ---- GET /stores/NAME ---- */

/* A page is merged from every task of the store (one per partition, across
 * the stream threads) in (key, window start) order, so pages follow one
 * order across partitions and time segments. Each task is read through a
 * cursor that copies at most PAGE_CHUNK entries per hold of its stream
 * thread's lock, starting with a seek to where the page starts (O(log N)),
 * and seeks again after its last entry for the next chunk. So a page of L
 * entries over T tasks copies at most L + T * PAGE_CHUNK entries, and no
 * lock is held for work that grows with the store's size. Between two
 * chunks the stream thread may write: a page is consistent per chunk, as
 * any pager over a live store. */
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

static void render_entry(buf_t *b, const sh_store_decl_t *d, const entry_t *e, bool first) {
    buf_str(b, first ? "{\"key\": " : ", {\"key\": ");
    render_key(b, d->key_serde, e->key, e->key_len);
    sh_window_row_t row;
    sh_window_row_read(d, e->start, e->value, e->value_len, &row);
    if (d->kind == SH_STORE_WINDOW) {
        buf_printf(b, ", \"start\": %" PRId64 ", \"end\": ", row.start);
        if (row.end >= 0)
            buf_printf(b, "%" PRId64, row.end);
        else
            buf_str(b, "null");
    }
    buf_str(b, ", \"value\": ");
    render_value(b, row.value, row.value_len);
    buf_str(b, "}");
}

static enum MHD_Result get_all(struct MHD_Connection *c, sh_http_t *http,
                               const sh_store_decl_t *d) {
    int64_t limit = 100, after_start = INT64_MIN;
    if (!arg_int64(c, "limit", &limit) || limit <= 0 || !arg_int64(c, "after_start", &after_start))
        return respond_error(c, 400,
                             "limit must be a positive integer, after_start a window start");
    const char *after_text = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    char after[4096];
    long after_len = -1;
    if (after_text && (after_len = url_key(d->key_serde, after_text, after, sizeof after)) < 0)
        return respond_error(c, 400, "after '%s' does not parse as %s", after_text, d->key_serde);
    bool windowed = d->kind == SH_STORE_WINDOW;
    cursor_t *cursors = NULL;
    int n = open_cursors(http, d->name, &cursors);
    if (n < 0) return respond_error(c, 500, "out of memory paging store %s", d->name);
    int rc = SH_OK;
    for (int i = 0; i < n && after_len >= 0; i++)
        if (!cursor_set_after(&cursors[i], after, (size_t)after_len, windowed ? after_start : 0))
            rc = SH_ERR_NOMEM;

    buf_t b = {0}, last = {0};
    int64_t last_start = 0;
    buf_str(&b, "{\"entries\": [");
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
        buf_add(&last, head->key, head->key_len);
        last_start = head->start;
        cursors[best].next++;
    }
    close_cursors(cursors, n);
    if (rc != SH_OK) {
        free(b.data);
        free(last.data);
        return respond_error(c, 500, "reading store %s failed (%s); try again", d->name,
                             sh_ffi_err_name(rc));
    }
    buf_str(&b, "], \"next\": ");
    if (more) {
        render_key(&b, d->key_serde, last.data ? last.data : "", last.len);
        if (windowed) buf_printf(&b, ", \"next_start\": %" PRId64, last_start);
    } else {
        buf_str(&b, "null");
    }
    buf_str(&b, "}");
    if (last.failed) b.failed = true;
    free(last.data);
    return respond_json(c, 200, &b);
}

/* ---- POST /query: ksqlDB's pull queries ---- */

enum { QUERY_BODY_MAX = 65536 };

typedef struct query_body {
    char data[QUERY_BODY_MAX];
    size_t len;
    bool too_long;
} query_body_t;

static enum MHD_Result respond_ksql_error(struct MHD_Connection *c, unsigned status,
                                          const char *message, const char *statement) {
    char *body = sh_ksql_error(status == 400 ? 40001 : (int)status * 100, message, statement);
    if (!body) return respond(c, 500, "application/json", "{}", 2);
    enum MHD_Result rc = respond(c, status, "application/json", body, strlen(body));
    free(body);
    return rc;
}

typedef struct query_rows {
    sh_ksql_row_t *rows;
    int count, cap;
    bool failed;
} query_rows_t;

static void add_row(query_rows_t *q, const char *key, size_t key_len, int64_t start, int64_t end,
                    const char *value, size_t value_len) {
    if (q->failed) return;
    if (q->count == q->cap) {
        int cap = q->cap ? q->cap * 2 : 8;
        sh_ksql_row_t *grown = realloc(q->rows, sizeof *grown * (size_t)cap);
        if (!grown) {
            q->failed = true;
            return;
        }
        q->rows = grown;
        q->cap = cap;
    }
    /* aggregations append "\n" and their origin markers (see render_value) */
    const char *nl = value ? memchr(value, '\n', value_len) : NULL;
    if (nl) value_len = (size_t)(nl - value);
    char *copy = malloc(value_len + 1);
    if (!copy) {
        q->failed = true;
        return;
    }
    if (value_len) memcpy(copy, value, value_len);
    copy[value_len] = 0;
    q->rows[q->count++] = (sh_ksql_row_t){.key = key, .key_len = key_len, .window_start = start,
                                          .window_end = end, .value = copy, .value_len = value_len};
}

/* The store a ksqlDB table name means: names compare case-insensitively,
 * '-' and '_' alike (CURRENT_STOCK is the store current-stock). */
static bool find_store(sh_http_t *http, const char *table, sh_store_decl_t *d, char *name,
                       size_t name_len, char *key_serde, size_t serde_len) {
    if (http->task_groups == 0) return false;
    sh_tasks_t *first = http->tasks[0];
    bool found = false;
    sh_tasks_lock(first);
    for (int i = 0; !found && i < sh_tasks_declaration_count(first); i++) {
        const sh_store_decl_t *decl = sh_tasks_declaration_at(first, i);
        const char *a = decl->name, *b = table;
        for (; *a && *b; a++, b++) {
            char x = (char)tolower((unsigned char)(*a == '-' ? '_' : *a));
            char y = (char)tolower((unsigned char)(*b == '-' ? '_' : *b));
            if (x != y) break;
        }
        if (*a || *b) continue;
        found = true;
        *d = *decl;
        snprintf(name, name_len, "%s", decl->name);
        snprintf(key_serde, serde_len, "%s", decl->key_serde);
        d->name = name;
        d->key_serde = key_serde;
        d->source_topic = d->value_serde = NULL;
    }
    sh_tasks_unlock(first);
    return found;
}

/* One key, like GET /stores/NAME/KEY: a get per task, or one key's windows
 * within the bounds; locks held as long as there. */
static int query_rows(sh_http_t *http, const sh_store_decl_t *d, const char *key, size_t key_len,
                      const char *key_json, size_t key_json_len, const sh_ksql_query_t *q,
                      query_rows_t *out) {
    for (int g = 0; g < http->task_groups; g++) {
        sh_tasks_t *tasks = http->tasks[g];
        sh_tasks_lock(tasks);
        for (sh_task_t *t = sh_tasks_next_readable(tasks, d->name, NULL); t;
             t = sh_tasks_next_readable(tasks, d->name, t)) {
            if (d->kind == SH_STORE_KV) {
                sh_ffi_slice_t value;
                int rc = sh_ffi_store_get(sh_task_store(t), key, key_len, &value);
                if (rc == SH_ERR_NOT_FOUND) continue;
                if (rc == SH_OK) add_row(out, key_json, key_json_len, 0, -1, value.data, value.len);
                sh_tasks_unlock(tasks);
                return rc == SH_OK ? 0 : -1;
            }
            int64_t fetch_from, fetch_to;
            sh_window_row_fetch_bounds(d, q->window_from, q->window_to, &fetch_from, &fetch_to);
            sh_store_iter_t *it =
                sh_ffi_window_fetch(sh_task_store(t), key, key_len, fetch_from, fetch_to);
            sh_ffi_slice_t k, v;
            int64_t start;
            int rc = it ? SH_OK : SH_ERR_STORE;
            while (rc == SH_OK && (rc = sh_ffi_store_iter_next(it, &k, &v, &start)) == SH_OK) {
                sh_window_row_t row;
                sh_window_row_read(d, start, v.data, v.len, &row);
                if (row.start >= q->window_from && row.start <= q->window_to)
                    add_row(out, key_json, key_json_len, row.start, row.end, row.value,
                            row.value_len);
            }
            sh_ffi_store_iter_destroy(it);
            if (rc != SH_ERR_NOT_FOUND) {
                sh_tasks_unlock(tasks);
                return -1;
            }
        }
        sh_tasks_unlock(tasks);
    }
    return 0;
}

static enum MHD_Result post_query(struct MHD_Connection *c, sh_http_t *http, query_body_t *body) {
    if (body->too_long)
        return respond_ksql_error(c, 413, "the request body is over 64 KiB", NULL);
    char *sql = malloc(QUERY_BODY_MAX);
    if (!sql) return respond_ksql_error(c, 500, "out of memory", NULL);
    enum MHD_Result rc;
    char err[2048], name[256], key_serde[32], key[4096];
    sh_ksql_query_t q;
    sh_store_decl_t d;
    query_rows_t rows = {0};
    buf_t key_json = {0};
    if (sh_ksql_statement(body->data, body->len, sql, QUERY_BODY_MAX) != 0) {
        rc = respond_ksql_error(c, 400, "the body must be a JSON object with a \"ksql\" string, "
                                        "e.g. {\"ksql\": \"select * from t where rowkey=1;\"}",
                                NULL);
        goto out;
    }
    if (sh_ksql_parse(sql, &q, err, sizeof err) != 0) {
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    if (!find_store(http, q.table, &d, name, sizeof name, key_serde, sizeof key_serde)) {
        snprintf(err, sizeof err, "%s does not exist: no store of this app is named so", q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    bool windowed = d.kind != SH_STORE_KV;
    if (!windowed && (q.window_from != INT64_MIN || q.window_to != INT64_MAX)) {
        snprintf(err, sizeof err, "%s is not windowed: no WINDOWSTART bounds", q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    long key_len = sh_http_parse_key(d.key_serde, q.key, strlen(q.key), key, sizeof key);
    if (key_len < 0) {
        snprintf(err, sizeof err, "key %.200s does not parse as %s (the key of %s)", q.key,
                 d.key_serde, q.table);
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    render_key(&key_json, d.key_serde, key, (size_t)key_len);
    if (key_json.failed || query_rows(http, &d, key, (size_t)key_len, key_json.data, key_json.len,
                                      &q, &rows) != 0 || rows.failed) {
        rc = respond_ksql_error(c, 500, key_json.failed || rows.failed ? "out of memory"
                                                                        : sh_ffi_err_message(),
                                sql);
        goto out;
    }
    const char *key_type = strcmp(d.key_serde, "int") == 0    ? "INTEGER"
                           : strcmp(d.key_serde, "long") == 0 ? "BIGINT"
                                                              : "STRING";
    char *answer = sh_ksql_render(&q, key_type, windowed, rows.rows, rows.count, err, sizeof err);
    if (!answer) {
        rc = respond_ksql_error(c, 400, err, sql);
        goto out;
    }
    rc = respond(c, 200, "application/json", answer, strlen(answer));
    free(answer);
out:
    for (int i = 0; i < rows.count; i++) free((char *)rows.rows[i].value);
    free(rows.rows);
    free(key_json.data);
    free(sql);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    if (*con_cls && *con_cls != (void *)&on_completed) free(*con_cls);
    *con_cls = NULL;
}

/* ---- routing ---- */

static enum MHD_Result get_store(struct MHD_Connection *c, sh_http_t *http, const char *path) {
    const char *slash = strchr(path, '/');
    char name[256];
    size_t name_len = slash ? (size_t)(slash - path) : strlen(path);
    if (name_len == 0 || name_len >= sizeof name) return respond_error(c, 404, "no store named");
    size_t decoded_len = sh_http_unescape(path, name_len, name);
    if (strlen(name) != decoded_len)
        return respond_error(c, 404, "no store named so (a byte 0 in its name)");
    /* every stream thread runs the same topology: group 0's declarations serve;
     * a copy, since the groups are locked one at a time below */
    if (http->task_groups == 0) return respond_error(c, 404, "no store %s in this app", name);
    sh_tasks_t *first = http->tasks[0];
    sh_tasks_lock(first);
    const sh_store_decl_t *found = sh_tasks_declaration(first, name);
    sh_store_decl_t d = {0};
    char key_serde[32] = "";
    if (found) {
        d = *found;
        snprintf(key_serde, sizeof key_serde, "%s", found->key_serde);
    }
    sh_tasks_unlock(first);
    if (!found) return respond_error(c, 404, "no store %s in this app", name);
    d.name = name;
    d.key_serde = key_serde;
    d.source_topic = d.value_serde = NULL;
    if (slash && slash[1]) return get_key(c, http, &d, slash + 1);
    return get_all(c, http, &d);
}

static enum MHD_Result get_health(struct MHD_Connection *c, sh_http_t *http) {
    int restoring = 0, waiting = 0;
    for (int g = 0; g < http->task_groups; g++) {
        restoring += sh_tasks_restoring(http->tasks[g]);
        if (!sh_tasks_ready(http->tasks[g])) waiting++;
    }
    buf_t b = {0};
    char problem[512];
    if (sh_health_problem(problem, sizeof problem)) {
        buf_str(&b, "{\"status\": \"failing\", \"reason\": ");
        json_string(&b, problem, strlen(problem));
        buf_str(&b, "}");
        return respond_json(c, 503, &b);
    }
    if (waiting && !restoring) {
        buf_printf(&b, "{\"status\": \"waiting for partitions\", \"threads_waiting\": %d}",
                   waiting);
        return respond_json(c, 503, &b);
    }
    if (restoring)
        buf_printf(&b, "{\"status\": \"restoring\", \"restoring\": %d}", restoring);
    else
        buf_str(&b, "{\"status\": \"ok\"}");
    return respond_json(c, restoring ? 503 : 200, &b);
}

/* Whether the request may go on: a token is needed for every method but
 * GET and HEAD, and with auth_all for every read but /healthz. */
static bool authorised(sh_http_t *http, struct MHD_Connection *c, const char *url,
                       const char *method) {
    if (!http->token[0]) return true;
    /* a pull query is a read, though ksqlDB's /query takes it by POST */
    bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                (strcmp(method, "POST") == 0 && strcmp(url, "/query") == 0);
    if (read && (!http->auth_all || strcmp(url, "/healthz") == 0)) return true;
    const char *header =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return sh_http_token_matches(http->token, header);
}

static enum MHD_Result respond_unauthorised(struct MHD_Connection *c, const char *method,
                                            const char *url) {
    buf_t b = {0};
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s %s needs the HTTP token: send 'Authorization: Bearer TOKEN' (the token is "
             "--http-token, or the one in the state directory's http-token file)",
             method, url);
    buf_str(&b, "{\"error\": ");
    json_string(&b, msg, strlen(msg));
    buf_str(&b, "}\n");
    if (b.failed) {
        free(b.data);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(b.data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"streamhost\"");
    enum MHD_Result rc = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return rc;
}

/* URLs and arguments stay percent-encoded for the handlers, which decode
 * keys with their length: libmicrohttpd's own decoding ends a key at %00. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls, (void)c;
    return strlen(s);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
    (void)version;
    sh_http_t *http = cls;
    if (!*con_cls) { /* headers only so far; answer once the body is in */
        /* refused before any body is read */
        if (!authorised(http, c, url, method)) return respond_unauthorised(c, method, url);
        bool query = strcmp(method, "POST") == 0 && strcmp(url, "/query") == 0;
        /* a query keeps its body (freed by on_completed); others only a mark */
        *con_cls = query ? calloc(1, sizeof(query_body_t)) : (void *)&on_completed;
        if (!*con_cls) return MHD_NO;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (*con_cls != (void *)&on_completed) {
            query_body_t *body = *con_cls;
            if (body->len + *upload_data_size >= sizeof body->data) body->too_long = true;
            else {
                memcpy(body->data + body->len, upload_data, *upload_data_size);
                body->len += *upload_data_size;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*con_cls != (void *)&on_completed) return post_query(c, http, *con_cls);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    if (strncmp(url, "/stores/", 8) == 0)
        return get ? get_store(c, http, url + 8)
                   : respond_error(c, 405, "%s %s: only GET", method, url);
    if (strcmp(url, "/healthz") == 0)
        return get ? get_health(c, http) : respond_error(c, 405, "only GET");
    if (strcmp(url, "/topology") == 0) {
        if (!get) return respond_error(c, 405, "only GET");
        pthread_mutex_lock(&http->lock);
        const char *text = http->topology ? http->topology : "";
        enum MHD_Result rc = respond(c, 200, "text/plain; charset=utf-8", text, strlen(text));
        pthread_mutex_unlock(&http->lock);
        return rc;
    }
    if (strcmp(url, "/reload") == 0) {
        if (!post) return respond_error(c, 405, "POST /reload");
        sh_reload_request();
        buf_t b = {0};
        buf_str(&b, "{\"status\": \"reload requested\"}");
        return respond_json(c, 202, &b);
    }
    return respond_error(c, 404, "no endpoint %s %s (try /stores/NAME, POST /query, /topology, /healthz)",
                         method, url);
}

/* ---- life cycle ---- */

bool sh_http_is_loopback(const char *address) {
    const char *colon = strrchr(address, ':');
    char host[64];
    struct in_addr a;
    if (!colon || (size_t)(colon - address) >= sizeof host) return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    if (strcmp(host, "localhost") == 0) return true;
    return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

sh_http_t *sh_http_start(const char *address, sh_tasks_t **tasks, int task_groups,
                         const sh_http_options_t *options) {
    static const sh_http_options_t none = {0};
    if (!options) options = &none;
    const char *token = options->token && *options->token ? options->token : NULL;
    if (!token && !sh_http_is_loopback(address)) {
        sh_log(SH_LOG_ERROR,
               "http: refusing to serve on %s without a token: a non-loopback address needs "
               "--http-token (or a state directory's http-token file)",
               address);
        return NULL;
    }
    if (token && strlen(token) >= SH_HTTP_TOKEN_MAX) {
        sh_log(SH_LOG_ERROR, "http: the token is longer than %d characters", SH_HTTP_TOKEN_MAX - 1);
        return NULL;
    }
    const char *colon = strrchr(address, ':');
    struct sockaddr_in sa = {.sin_family = AF_INET};
    char host[64];
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || (size_t)(colon - address) >= sizeof host || !end || *end || port < 0 ||
        port > 65535) {
        sh_log(SH_LOG_WARN, "http: '%s' is not HOST:PORT; pull queries are off", address);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - address), address);
    if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        sh_log(SH_LOG_WARN, "http: '%s' is not an IPv4 address; pull queries are off", host);
        return NULL;
    }
    sa.sin_port = htons((uint16_t)port);
    sh_http_t *http = calloc(1, sizeof *http);
    if (!http) return NULL;
    http->tasks = tasks;
    http->task_groups = task_groups;
    if (token) snprintf(http->token, sizeof http->token, "%s", token);
    http->auth_all = options->auth_all && token;
    unsigned timeout = options->idle_timeout_s ? options->idle_timeout_s : DEFAULT_IDLE_TIMEOUT_S;
    unsigned per_client = options->connections_per_client ? options->connections_per_client
                                                          : DEFAULT_CONNECTIONS_PER_CLIENT;
    pthread_mutex_init(&http->lock, NULL);
    http->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL, NULL, on_request, http,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_client, MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped,
        NULL, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!http->daemon) {
        sh_log(SH_LOG_WARN,
               "http: cannot listen on %s (in use?); going on without pull queries "
               "(choose another with --http HOST:PORT, or --http off)",
               address);
        pthread_mutex_destroy(&http->lock);
        free(http);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(http->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sh_log(SH_LOG_INFO, "pull queries on http://%s:%u/", host, info ? info->port : (unsigned)port);
    return http;
}

void sh_http_set_topology(sh_http_t *http, const char *text) {
    if (!http) return;
    char *copy = strdup(text ? text : "");
    if (!copy) {
        sh_log(SH_LOG_WARN, "http: out of memory; GET /topology keeps the previous text");
        return;
    }
    pthread_mutex_lock(&http->lock);
    free(http->topology);
    http->topology = copy;
    pthread_mutex_unlock(&http->lock);
}

void sh_http_stop(sh_http_t *http) {
    if (!http) return;
    MHD_stop_daemon(http->daemon);
    pthread_mutex_destroy(&http->lock);
    free(http->topology);
    free(http);
}
