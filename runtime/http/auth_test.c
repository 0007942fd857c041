/*
 * auth_test.c - who may use the HTTP endpoint and for how long: the token
 * (made once and kept in the state directory, or given), POST /reload
 * refused without it, every read but /healthz with --http-auth all, a
 * non-loopback address refused without a token; idle connections closed
 * after the timeout and connections capped per client (issue 13: 1,020 idle
 * half-open connections made every request time out, and were never
 * closed).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "http/token.h"

#include "base/check.h"

static int port;

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static int connect_server(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Waits up to timeout_ms for the server to close fd (read returns 0 or an
 * error). Returns whether it did. */
static bool closed_within(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[512];
    while (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) return true;
    }
    return false;
}

/* Sends `method path` with an optional Authorization header; returns the
 * status, the body's first bytes in body (when not NULL). */
static int request(const char *method, const char *path, const char *authorization, char *body,
                   size_t body_len) {
    int fd = connect_server();
    if (fd < 0) return -1;
    char text[8192];
    int n =
        snprintf(text, sizeof text, "%s %s HTTP/1.0\r\nHost: x\r\n%s%s%sContent-Length: 0\r\n\r\n",
                 method, path, authorization ? "Authorization: " : "",
                 authorization ? authorization : "", authorization ? "\r\n" : "");
    if (write(fd, text, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    ssize_t got;
    while (len < sizeof text - 1 && (got = read(fd, text + len, sizeof text - 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    text[len] = 0;
    int status = -1;
    sscanf(text, "HTTP/1.%*d %d", &status);
    if (body) {
        char *start = strstr(text, "\r\n\r\n");
        snprintf(body, body_len, "%s", start ? start + 4 : "");
    }
    return status;
}

static sh_http_t *start(const sh_http_options_t *options) {
    char address[64];
    port = free_port();
    snprintf(address, sizeof address, "127.0.0.1:%d", port);
    sh_http_t *http = sh_http_start(address, NULL, 0, options);
    if (http) sh_http_set_topology(http, "Topologies:\n");
    return http;
}

static void test_token_file(void) {
    char dir[] = "/tmp/streamhost-auth-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char state[512], path[4096], err[512], first[SH_HTTP_TOKEN_MAX], again[SH_HTTP_TOKEN_MAX];
    snprintf(state, sizeof state, "%s/state/app", dir); /* made when missing */
    sh_http_token_source_t source;
    CHECK(!sh_http_token_file_exists(state));
    CHECK(sh_http_token_load(NULL, state, first, &source, path, sizeof path, err, sizeof err) == 0);
    CHECK(source == SH_HTTP_TOKEN_GENERATED);
    CHECK(strlen(first) == 48);
    CHECK(sh_http_token_file_exists(state));
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* the next start reads the same token */
    CHECK(sh_http_token_load(NULL, state, again, &source, path, sizeof path, err, sizeof err) == 0);
    CHECK(source == SH_HTTP_TOKEN_FILE && strcmp(first, again) == 0);
    /* --http-token wins, and must be a token */
    CHECK(sh_http_token_load("s3cret", state, again, &source, path, sizeof path, err, sizeof err) ==
          0);
    CHECK(source == SH_HTTP_TOKEN_GIVEN && strcmp(again, "s3cret") == 0);
    CHECK(sh_http_token_load("has space", state, again, &source, path, sizeof path, err,
                             sizeof err) == -1);
    CHECK(strstr(err, "--http-token") != NULL);
    unlink(path);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_token_matches(void) {
    CHECK(sh_http_token_matches("abc", "Bearer abc"));
    CHECK(!sh_http_token_matches("abc", "Bearer abcd"));
    CHECK(!sh_http_token_matches("abc", "Bearer ab"));
    CHECK(!sh_http_token_matches("abc", "Bearer "));
    CHECK(!sh_http_token_matches("abc", "abc"));
    CHECK(!sh_http_token_matches("abc", "Basic abc"));
    CHECK(!sh_http_token_matches("abc", NULL));
}

static void test_loopback_only_without_token(void) {
    CHECK(sh_http_is_loopback("127.0.0.1:8088"));
    CHECK(sh_http_is_loopback("127.1.2.3:0"));
    CHECK(sh_http_is_loopback("localhost:80"));
    CHECK(!sh_http_is_loopback("0.0.0.0:8088"));
    CHECK(!sh_http_is_loopback("10.0.0.1:8088"));
    CHECK(!sh_http_is_loopback(":8088"));
    CHECK(sh_http_start("0.0.0.0:0", NULL, 0, NULL) == NULL);
    sh_http_options_t with_token = {.token = "t0ken"};
    sh_http_t *http = sh_http_start("0.0.0.0:0", NULL, 0, &with_token);
    CHECK(http != NULL);
    sh_http_stop(http);
}

static void test_changes_need_the_token(void) {
    sh_http_options_t options = {.token = "t0ken"};
    sh_http_t *http = start(&options);
    CHECK(http != NULL);
    if (!http) return;
    char body[1024];
    CHECK(request("POST", "/reload", NULL, body, sizeof body) == 401);
    CHECK(strstr(body, "POST /reload needs the HTTP token") != NULL);
    CHECK(request("POST", "/reload", "Bearer wrong", NULL, 0) == 401);
    CHECK(request("POST", "/reload", "Bearer t0ken", body, sizeof body) == 202);
    CHECK(strstr(body, "reload requested") != NULL);
    CHECK(request("DELETE", "/stores/x", NULL, NULL, 0) == 401);
    /* reads are open by default */
    CHECK(request("GET", "/topology", NULL, body, sizeof body) == 200);
    CHECK(strcmp(body, "Topologies:\n") == 0);
    CHECK(request("GET", "/healthz", NULL, NULL, 0) == 200);
    sh_http_stop(http);
}

static void test_auth_all(void) {
    sh_http_options_t options = {.token = "t0ken", .auth_all = true};
    sh_http_t *http = start(&options);
    CHECK(http != NULL);
    if (!http) return;
    CHECK(request("GET", "/topology", NULL, NULL, 0) == 401);
    CHECK(request("GET", "/stores/counts/k1", "Bearer nope", NULL, 0) == 401);
    CHECK(request("GET", "/topology", "Bearer t0ken", NULL, 0) == 200);
    /* a supervisor's probe needs no secret */
    CHECK(request("GET", "/healthz", NULL, NULL, 0) == 200);
    CHECK(request("POST", "/reload", NULL, NULL, 0) == 401);
    sh_http_stop(http);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void test_idle_connections_closed(void) {
    sh_http_options_t options = {.idle_timeout_s = 1};
    sh_http_t *http = start(&options);
    CHECK(http != NULL);
    if (!http) return;
    int idle = connect_server();
    int slow = connect_server();
    CHECK(idle >= 0 && slow >= 0);
    /* half a request, then nothing */
    CHECK(write(slow, "GET /topology HTTP/1.1\r\nHo", 26) == 26);
    double started = now_ms();
    CHECK(closed_within(idle, 5000));
    CHECK(closed_within(slow, 5000));
    double took = now_ms() - started;
    CHECK(took >= 500 && took < 4000);
    close(idle);
    close(slow);
    CHECK(request("GET", "/topology", NULL, NULL, 0) == 200);
    sh_http_stop(http);
}

static void test_connections_capped_per_client(void) {
    enum { CAP = 4 };
    sh_http_options_t options = {.connections_per_client = CAP, .idle_timeout_s = 30};
    sh_http_t *http = start(&options);
    CHECK(http != NULL);
    if (!http) return;
    int held[CAP];
    for (int i = 0; i < CAP; i++)
        held[i] = connect_server();
    /* the server has accepted them before the next is judged */
    struct timespec pause = {.tv_nsec = 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    int over = connect_server();
    CHECK(over >= 0);
    if (over >= 0) {
        CHECK(closed_within(over, 2000));
        close(over);
    }
    for (int i = 0; i < CAP; i++)
        CHECK(held[i] >= 0 && !closed_within(held[i], 10));
    for (int i = 0; i < CAP; i++)
        close(held[i]);
    /* freed slots serve again */
    int status = -1;
    for (int tries = 0; tries < 50 && status != 200; tries++) {
        status = request("GET", "/topology", NULL, NULL, 0);
        if (status != 200) nanosleep(&pause, NULL);
    }
    CHECK(status == 200);
    sh_http_stop(http);
}

int main(void) {
    test_token_file();
    test_token_matches();
    test_loopback_only_without_token();
    test_changes_need_the_token();
    test_auth_all();
    test_idle_connections_closed();
    test_connections_capped_per_client();
    return check_summary("http_auth_test");
}
