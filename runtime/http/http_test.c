/*
 * http_test.c - pull queries: URL keys parsed with the store's key serde
 * (the bytes Lua's serdes write); a server that cannot listen leaves the
 * host running without one; and the handlers over real tasks (two stream
 * threads' groups, restored from an embedded broker) holding 50k keys:
 * paging with limit and after=, window stores, lookups, unknown stores, and
 * a response that runs out of memory answering 500, never a short 200.
 * Also prints how long a paged query stalls a stream thread (a figure, not
 * an assertion: performance lives in `make bench`).
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "state/test_fixture.h"

#include "base/check.h"

/* ---- failing allocations on demand ---- */

/* realloc() of more than this many bytes fails while it is non-zero: how
 * the tests make a response run out of memory. */
static volatile size_t fail_reallocs_above;

void *realloc(void *ptr, size_t size) {
    static void *(*real)(void *, size_t);
    if (!real) *(void **)&real = dlsym(RTLD_NEXT, "realloc");
    if (fail_reallocs_above && size > fail_reallocs_above) return NULL;
    return real(ptr, size);
}

static void test_parse_key(void) {
    char out[16];
    CHECK(sh_http_parse_key("int", "15", strlen("15"), out, sizeof out) == 4);
    CHECK(memcmp(out, "\x00\x00\x00\x0f", 4) == 0);
    CHECK(sh_http_parse_key("int", "-67", strlen("-67"), out, sizeof out) == 4);
    CHECK(memcmp(out, "\xff\xff\xff\xbd", 4) == 0);
    CHECK(sh_http_parse_key("int", "2147483648", strlen("2147483648"), out, sizeof out) == -1);
    CHECK(sh_http_parse_key("int", "12abc", strlen("12abc"), out, sizeof out) == -1);
    CHECK(sh_http_parse_key("int", "", strlen(""), out, sizeof out) == -1);
    CHECK(sh_http_parse_key("long", "-2", strlen("-2"), out, sizeof out) == 8);
    CHECK(memcmp(out, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8) == 0);
    CHECK(sh_http_parse_key("long", "1700000000000", strlen("1700000000000"), out, sizeof out) ==
          8);
    CHECK(memcmp(out, "\x00\x00\x01\x8b\xcf\xe5\x68\x00", 8) == 0);
    CHECK(sh_http_parse_key("string", "caf\xc3\xa9", strlen("caf\xc3\xa9"), out, sizeof out) == 5);
    CHECK(memcmp(out, "caf\xc3\xa9", 5) == 0);
    CHECK(sh_http_parse_key("json", "{\"id\":1}", 8, out, sizeof out) == 8);
    CHECK(sh_http_parse_key("bytes", "0123456789abcdefg", 17, out, sizeof out) ==
          -1); /* too long */
    /* a byte 0 is part of a string key, and no number */
    CHECK(sh_http_parse_key("string", "k1\0garbage", 10, out, sizeof out) == 10);
    CHECK(memcmp(out, "k1\0garbage", 10) == 0);
    CHECK(sh_http_parse_key("int", "15\0", 3, out, sizeof out) == -1);
}

/* "%00" is byte 0 of the key, not its end (issue 13: k1%00garbage was k1). */
static void test_unescape(void) {
    char out[64];
    CHECK(sh_http_unescape("k1%00garbage", 12, out) == 10);
    CHECK(memcmp(out, "k1\0garbage", 10) == 0);
    CHECK(sh_http_unescape("caf%C3%a9%20x", 13, out) == 7);
    CHECK(strcmp(out, "caf\xc3\xa9 x") == 0);
    /* invalid or cut escapes stay as they are */
    CHECK(sh_http_unescape("100%", 4, out) == 4 && strcmp(out, "100%") == 0);
    CHECK(sh_http_unescape("%zz%4", 5, out) == 5 && strcmp(out, "%zz%4") == 0);
    CHECK(sh_http_unescape("", 0, out) == 0 && out[0] == 0);
}

static void test_port_taken(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", ntohs(sa.sin_port));
    CHECK(sh_http_start(address, NULL, 0, NULL) == NULL);
    CHECK(sh_http_start("not-an-address", NULL, 0, NULL) == NULL);
    sh_http_t *http = sh_http_start("127.0.0.1:0", NULL, 0, NULL);
    CHECK(http != NULL);
    sh_http_set_topology(http, "Topologies:\n");
    sh_http_stop(http);
    close(fd);
}

/* ---- a server over real tasks ---- */

#define KEYS 50000       /* over both partitions */
#define WINDOW_KEYS 2000 /* 3 windows each */
#define MINUTE 60000LL
#define BASE_TS 1700000000000LL
#define RETENTION (24 * 60 * MINUTE)

static char state_dir[256];
static int port;

static void put_be64(char *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (char)(v & 0xff);
}

/* Writes the stores of partition p through handles of the test's own,
 * which share the tasks' databases. */
static void fill(int p) {
    sh_store_t *kv = sh_ffi_store_open(NULL, state_dir, NULL, "counts", SH_STORE_KV, p, 0);
    sh_store_t *win =
        sh_ffi_store_open(NULL, state_dir, NULL, "windows", SH_STORE_WINDOW, p, RETENTION);
    CHECK(kv && win);
    char key[32], value[32];
    int bad = 0;
    for (int i = p; i < KEYS; i += 2) {
        int n = snprintf(key, sizeof key, "k%06d", i);
        int v = snprintf(value, sizeof value, "{\"n\":%d}", i);
        sh_ffi_record_t r = {
            .key = key, .key_len = (size_t)n, .value = value, .value_len = (size_t)v};
        bad += sh_store_restore_batch(kv, &r, 1) != SH_OK;
    }
    for (int i = p; i < WINDOW_KEYS; i += 2) {
        for (int w = 0; w < 3; w++) {
            int n = snprintf(key, sizeof key, "w%05d", i);
            put_be64(key + n, (uint64_t)(BASE_TS + w * MINUTE));
            int v = snprintf(value, sizeof value, "%d", i * 3 + w);
            sh_ffi_record_t r = {
                .key = key, .key_len = (size_t)n + 8, .value = value, .value_len = (size_t)v};
            bad += sh_store_restore_batch(win, &r, 1) != SH_OK;
        }
    }
    /* sessions as lua/streamhost/store.lua keeps them: under each session's
     * end, {"s": start, "a": aggregate} (either order) and origin markers */
    sh_store_t *ses =
        sh_ffi_store_open(NULL, state_dir, NULL, "sessions", SH_STORE_WINDOW, p, RETENTION);
    CHECK(ses != NULL);
    for (int i = p; ses && i < 10; i += 2) {
        static const char *values[] = {"{\"a\":{\"n\":%d,\"t\":\"x\"},\"s\":1700000000000}\n0:12:1",
                                       "{\"s\":1700000300000,\"a\":{\"n\":%d,\"t\":\"}\"}}"};
        static const int64_t ends[] = {BASE_TS + 30000, BASE_TS + 6 * MINUTE};
        for (int w = 0; w < 2; w++) {
            int n = snprintf(key, sizeof key, "s%05d", i);
            put_be64(key + n, (uint64_t)ends[w]);
            char text[96];
            int v = snprintf(text, sizeof text, values[w], i * 10 + w);
            sh_ffi_record_t r = {
                .key = key, .key_len = (size_t)n + 8, .value = text, .value_len = (size_t)v};
            bad += sh_store_restore_batch(ses, &r, 1) != SH_OK;
        }
    }
    CHECK(bad == 0);
    sh_ffi_store_close(kv);
    sh_ffi_store_close(win);
    sh_ffi_store_close(ses);
}

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

/* GET path; returns the status and the body (malloc'd) in *body. */
static int http_request(const char *method, const char *path, const char *payload,
                        char **body) {
    *body = NULL;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    char request[2048];
    int n = snprintf(request, sizeof request,
                     "%s %s HTTP/1.0\r\nHost: x\r\nContent-Type: application/vnd.ksql.v1+json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, payload ? strlen(payload) : 0, payload ? payload : "");
    if (write(fd, request, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    ssize_t got;
    while (text && (got = read(fd, text + len, cap - len - 1)) > 0) {
        len += (size_t)got;
        if (len + 1 == cap) {
            cap *= 2;
            char *grown = realloc(text, cap);
            if (!grown) break;
            text = grown;
        }
    }
    close(fd);
    if (!text) return -1;
    text[len] = 0;
    int status = -1;
    sscanf(text, "HTTP/1.%*d %d", &status);
    char *start = strstr(text, "\r\n\r\n");
    *body = strdup(start ? start + 4 : "");
    free(text);
    return status;
}

static int http_get(const char *path, char **body) {
    return http_request("GET", path, NULL, body);
}

static int ksql(const char *statement, char **body) {
    char payload[1024];
    snprintf(payload, sizeof payload, "{\"ksql\": \"%s\", \"streamsProperties\": {}}", statement);
    return http_request("POST", "/query", payload, body);
}

/* Walks every page of limit entries of the kv store: each key once, in
 * order, with its value. */
static void test_paging(void) {
    char path[256], want[64];
    char *body;
    int seen = 0, pages = 0, wrong = 0;
    char after[32] = "";
    for (;;) {
        snprintf(path, sizeof path, "/stores/counts?limit=1000%s%s", *after ? "&after=" : "",
                 after);
        int status = http_get(path, &body);
        CHECK(status == 200);
        if (status != 200 || !body) {
            free(body);
            break;
        }
        pages++;
        for (char *p = strstr(body, "{\"key\": \""); p; p = strstr(p + 1, "{\"key\": \"")) {
            snprintf(want, sizeof want, "{\"key\": \"k%06d\", \"value\": {\"n\":%d}}", seen, seen);
            wrong += strncmp(p, want, strlen(want)) != 0;
            seen++;
        }
        char *next = strstr(body, "\"next\": ");
        CHECK(next != NULL);
        if (!next || strncmp(next + 8, "null", 4) == 0) {
            free(body);
            break;
        }
        sscanf(next + 8, "\"%31[^\"]\"", after);
        free(body);
    }
    CHECK(seen == KEYS);
    CHECK(wrong == 0);
    CHECK(pages == KEYS / 1000);

    CHECK(http_get("/stores/counts?limit=1", &body) == 200);
    CHECK(body && strcmp(body, "{\"entries\": [{\"key\": \"k000000\", \"value\": {\"n\":0}}], "
                               "\"next\": \"k000000\"}\n") == 0);
    free(body);
    CHECK(http_get("/stores/counts?limit=2&after=k049998", &body) == 200);
    CHECK(body && strcmp(body, "{\"entries\": [{\"key\": \"k049999\", \"value\": {\"n\":49999}}], "
                               "\"next\": null}\n") == 0);
    free(body);
    /* after a key that is not there: the page starts at the next one */
    CHECK(http_get("/stores/counts?limit=1&after=k000100x", &body) == 200);
    CHECK(body && strstr(body, "[{\"key\": \"k000101\"") != NULL);
    free(body);
    CHECK(http_get("/stores/counts?limit=0", &body) == 400);
    free(body);
    CHECK(http_get("/stores/counts?limit=abc", &body) == 400);
    free(body);
    CHECK(http_get("/stores/counts?after=k049999", &body) == 200);
    CHECK(body && strcmp(body, "{\"entries\": [], \"next\": null}\n") == 0);
    free(body);
}

/* A window store pages by (key, start) across partitions and segments,
 * resuming inside one key's windows with after_start. */
static void test_window_paging(void) {
    char path[256], want[128];
    char *body;
    int seen = 0, wrong = 0;
    char after[32] = "";
    long long after_start = 0;
    for (int guard = 0; guard < 2000; guard++) {
        if (*after)
            snprintf(path, sizeof path, "/stores/windows?limit=7&after=%s&after_start=%lld", after,
                     after_start);
        else
            snprintf(path, sizeof path, "/stores/windows?limit=7");
        int status = http_get(path, &body);
        CHECK(status == 200);
        if (status != 200 || !body) break;
        for (char *p = strstr(body, "{\"key\": \""); p; p = strstr(p + 1, "{\"key\": \"")) {
            int i = seen / 3, w = seen % 3;
            snprintf(want, sizeof want,
                     "{\"key\": \"w%05d\", \"start\": %lld, \"end\": %lld, \"value\": %d}", i,
                     BASE_TS + w * MINUTE, BASE_TS + (w + 1) * MINUTE, i * 3 + w);
            wrong += strncmp(p, want, strlen(want)) != 0;
            seen++;
        }
        char *next = strstr(body, "\"next\": ");
        if (!next || strncmp(next + 8, "null", 4) == 0) {
            free(body);
            break;
        }
        CHECK(sscanf(next + 8, "\"%31[^\"]\", \"next_start\": %lld", after, &after_start) == 2);
        free(body);
    }
    CHECK(seen == WINDOW_KEYS * 3);
    CHECK(wrong == 0);
}

static void test_lookups(void) {
    char *body;
    CHECK(http_get("/stores/counts/k012345", &body) == 200);
    CHECK(body && strcmp(body, "{\"key\": \"k012345\", \"value\": {\"n\":12345}}\n") == 0);
    free(body);
    CHECK(http_get("/stores/counts/nope", &body) == 404);
    CHECK(body && strstr(body, "\"error\"") != NULL);
    free(body);
    CHECK(http_get("/stores/windows/w00007", &body) == 200);
    CHECK(body && strstr(body, "\"windows\": [{\"start\": 1700000000000, \"end\": 1700000060000, "
                               "\"value\": 21}, ") != NULL);
    free(body);
    CHECK(http_get("/stores/windows/w00007?from=1700000060000&to=1700000060000", &body) == 200);
    CHECK(body && strcmp(body, "{\"key\": \"w00007\", \"windows\": [{\"start\": 1700000060000, "
                               "\"end\": 1700000120000, \"value\": 22}]}\n") == 0);
    free(body);
    CHECK(http_get("/stores/windows/nope", &body) == 404);
    free(body);
    CHECK(http_get("/stores/unknown", &body) == 404);
    CHECK(body && strstr(body, "no store unknown") != NULL);
    free(body);
    CHECK(http_get("/stores/unknown/k1", &body) == 404);
    free(body);

    /* %00 in a key is its byte 0: not a shorter key, and a key holding one is found */
    CHECK(http_get("/stores/counts/k012345%00garbage", &body) == 404);
    CHECK(body && strstr(body, "k012345%00garbage") != NULL);
    free(body);
    sh_store_t *kv = sh_ffi_store_open(NULL, state_dir, NULL, "counts", SH_STORE_KV, 0, 0);
    sh_ffi_record_t r = {.key = "n\0ul", .key_len = 4, .value = "7", .value_len = 1};
    CHECK(kv && sh_store_restore_batch(kv, &r, 1) == SH_OK);
    sh_ffi_store_close(kv);
    CHECK(http_get("/stores/counts/n%00ul", &body) == 200);
    CHECK(body && strcmp(body, "{\"key\": \"n\\u0000ul\", \"value\": 7}\n") == 0);
    free(body);
    CHECK(http_get("/stores/counts/n", &body) == 404);
    free(body);
}

/* ksqlDB's pull-query shape over the same stores. */
static void test_pull_queries(void) {
    char *body;
    CHECK(ksql("select n from counts where rowkey='k012345';", &body) == 200);
    CHECK(body && strstr(body, "[{\"header\":{\"queryId\":\"query_") == body);
    CHECK(body && strstr(body, "\"schema\":\"`N` BIGINT\"}},\n{\"row\":{\"columns\":[12345]}}]\n"));
    free(body);
    CHECK(ksql("SELECT * FROM COUNTS WHERE ID = 'k000002'", &body) == 200);
    CHECK(body && strstr(body, "\"schema\":\"`ID` STRING, `N` BIGINT\"}},\n"
                               "{\"row\":{\"columns\":[\"k000002\",2]}}]"));
    free(body);
    CHECK(ksql("select * from counts where rowkey='nope';", &body) == 200); /* no row: header only */
    CHECK(body && strstr(body, "\"schema\":\"`ROWKEY` STRING\"}}]\n"));
    free(body);
    CHECK(ksql("select * from windows where rowkey='w00007' and windowstart >= 1700000060000;",
               &body) == 200);
    CHECK(body && strstr(body, "`ROWKEY` STRING, `WINDOWSTART` BIGINT, `WINDOWEND` BIGINT, "
                               "`VALUE` BIGINT"));
    CHECK(body && strstr(body, "{\"row\":{\"columns\":[\"w00007\",1700000060000,1700000120000,22]}},\n"
                               "{\"row\":{\"columns\":[\"w00007\",1700000120000,1700000180000,23]}}]"));
    free(body);
    CHECK(ksql("select rowkey, windowstart, value from windows where rowkey='w00007' and "
               "windowstart between 1700000000000 and 1700000000000;", &body) == 200);
    CHECK(body && strstr(body, "[\"w00007\",1700000000000,21]") && !strstr(body, ",22]"));
    free(body);
    CHECK(ksql("select * from counts;", &body) == 400);
    CHECK(body && strstr(body, "\"error_code\":40001") && strstr(body, "supported: pull queries"));
    free(body);
    CHECK(ksql("select id, missing from counts where rowkey='k000001';", &body) == 400);
    CHECK(body && strstr(body, "column 'missing' is not in counts"));
    free(body);
    CHECK(ksql("select * from nowhere where rowkey=1;", &body) == 400);
    CHECK(body && strstr(body, "nowhere does not exist"));
    free(body);
    CHECK(ksql("select * from counts where rowkey='k1' and windowstart > 5;", &body) == 400);
    CHECK(body && strstr(body, "not windowed"));
    free(body);
    CHECK(http_request("POST", "/query", "{\"sql\": \"select 1\"}", &body) == 400);
    CHECK(body && strstr(body, "a \\\"ksql\\\" string"));
    free(body);
}

/* A session row shows the session's start and end, as ksqlDB's pull
 * queries over SESSION tables do (WINDOWSTART = start, WINDOWEND = end),
 * and WINDOWSTART bounds the session's start, not where it is stored. */
static void test_session_queries(void) {
    char *body;
    CHECK(ksql("select * from sessions where rowkey='s00003';", &body) == 200);
    CHECK(body && strstr(body, "{\"row\":{\"columns\":[\"s00003\",1700000000000,1700000030000,30,\"x\"]}},\n"
                               "{\"row\":{\"columns\":[\"s00003\",1700000300000,1700000360000,"
                               "31,\"}\"]}}]"));
    free(body);
    CHECK(ksql("select * from sessions where rowkey='s00004' and windowstart >= 1700000300000;",
               &body) == 200);
    CHECK(body && strstr(body, "[\"s00004\",1700000300000,1700000360000,") &&
          !strstr(body, "1700000030000"));
    free(body);
    /* bounded by start: the first session ends inside the range, starts before it */
    CHECK(ksql("select * from sessions where rowkey='s00004' and windowstart between "
               "1700000010000 and 1700000040000;", &body) == 200);
    CHECK(body && !strstr(body, "\"row\""));
    free(body);
    CHECK(http_get("/stores/sessions/s00001", &body) == 200);
    CHECK(body && strstr(body, "\"windows\": [{\"start\": 1700000000000, \"end\": 1700000030000, "
                               "\"value\": {\"n\":10,\"t\":\"x\"}}, {\"start\": 1700000300000, \"end\": 1700000360000, "
                               "\"value\": {\"n\":11,\"t\":\"}\"}}]"));
    free(body);
    CHECK(http_get("/stores/sessions?limit=100", &body) == 200);
    CHECK(body && strstr(body, "{\"key\": \"s00000\", \"start\": 1700000000000, \"end\": "
                               "1700000030000, \"value\": {\"n\":0,\"t\":\"x\"}}"));
    free(body);
}

/* A response that cannot grow is a 500 with a JSON error, never a 200
 * that lacks entries. */
static void test_out_of_memory(void) {
    char *body;
    fail_reallocs_above = 1 << 16;
    /* a page that fits: whatever else fails, the answer is exact or an error */
    int status = http_get("/stores/counts?limit=1000", &body);
    fail_reallocs_above = 0;
    CHECK(status == 200 || status == 500);
    if (status == 200)
        CHECK(body && strstr(body, "{\"key\": \"k000999\"") != NULL &&
              strstr(body, "\"next\": \"k000999\"") != NULL);
    else
        CHECK(body && strstr(body, "\"error\"") != NULL);
    free(body);
    /* a page whose body outgrows the limit */
    fail_reallocs_above = 1 << 16;
    status = http_get("/stores/counts?limit=5000", &body);
    fail_reallocs_above = 0;
    CHECK(status == 500);
    CHECK(body && strstr(body, "{\"error\": ") == body);
    free(body);
    CHECK(http_get("/stores/counts?limit=5000", &body) == 200);
    free(body);
}

/* ---- how long a page stalls a stream thread ---- */

typedef struct {
    sh_tasks_t *tasks;
    volatile int stop;
    double max_wait_ms;
    long takes;
} staller_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Takes the lock as a stream thread does between batches, and records the
 * longest wait for it. */
static void *stream_thread(void *arg) {
    staller_t *s = arg;
    while (!s->stop) {
        double before = now_ms();
        sh_tasks_lock(s->tasks);
        double waited = now_ms() - before;
        sh_tasks_unlock(s->tasks);
        if (waited > s->max_wait_ms) s->max_wait_ms = waited;
        s->takes++;
        struct timespec pause = {0, 200000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void report_stall(sh_tasks_t *tasks) {
    staller_t s = {.tasks = tasks};
    pthread_t id;
    pthread_create(&id, NULL, stream_thread, &s);
    double started = now_ms();
    char *body;
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        ok += http_get("/stores/counts?limit=1", &body) == 200;
        free(body);
    }
    double per_query = (now_ms() - started) / 20;
    s.stop = 1;
    pthread_join(id, NULL);
    CHECK(ok == 20);
    printf("GET /stores/counts?limit=1 over %d keys: %.2f ms a query, longest stream-thread "
           "wait for the lock %.2f ms\n",
           KEYS, per_query, s.max_wait_ms);
}

static void test_server_over_tasks(void) {
    fixture_tmpdir(state_dir, sizeof state_dir, "http-test");
    char errbuf[256];
    sh_broker_t *broker = sh_broker_start(0, errbuf, sizeof errbuf);
    CHECK(broker != NULL);
    if (!broker) return;
    CHECK(sh_broker_create_topic(broker, "src", 2) == 0);
    sh_ctx_t *ctx = sh_ffi_ctx_new_capture();
    CHECK(sh_ffi_store_declare(ctx, "counts", SH_STORE_KV, 0, "src", "string", "json") >= 0);
    CHECK(sh_ffi_store_declare(ctx, "windows", SH_STORE_WINDOW, RETENTION, "src", "string",
                               "json") >= 0);
    CHECK(sh_ffi_store_set_window_size(ctx, "windows", MINUTE) == 0);
    CHECK(sh_ffi_store_declare(ctx, "sessions", SH_STORE_WINDOW, RETENTION, "src", "string",
                               "json") >= 0);
    CHECK(sh_ffi_store_set_sessions(ctx, "sessions") == 0);
    static volatile sig_atomic_t stopping;
    sh_tasks_t *groups[2];
    for (int p = 0; p < 2; p++) {
        rd_kafka_t *consumer = fixture_restore_consumer(sh_broker_bootstraps(broker));
        groups[p] = sh_tasks_new(state_dir, "app", consumer, &stopping);
        sh_tasks_set_declarations(groups[p], ctx);
        CHECK(sh_tasks_assign(groups[p], "src", p, errbuf, sizeof errbuf) == 0);
        fill(p);
    }
    port = free_port();
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    sh_http_t *http = sh_http_start(address, groups, 2, NULL);
    CHECK(http != NULL);
    if (http) {
        test_paging();
        test_window_paging();
        test_lookups();
        test_pull_queries();
        test_session_queries();
        test_out_of_memory();
        report_stall(groups[0]);
        sh_http_stop(http);
    }
    for (int p = 0; p < 2; p++)
        sh_tasks_free(groups[p]);
    sh_ffi_ctx_destroy(ctx);
    sh_broker_stop(broker);
    sh_store_remove_tree(state_dir);
}

int main(void) {
    test_parse_key();
    test_unescape();
    test_port_taken();
    test_server_over_tasks();
    return check_summary("http_test");
}
