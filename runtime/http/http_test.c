/*
 * http_test.c - pull queries: URL keys parsed with the store's key serde
 * (the bytes Lua's serdes write), and a server that cannot listen leaves
 * the host running without one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/http.h"

#include "base/check.h"

static void test_parse_key(void) {
    char out[16];
    CHECK(sh_http_parse_key("int", "15", out, sizeof out) == 4);
    CHECK(memcmp(out, "\x00\x00\x00\x0f", 4) == 0);
    CHECK(sh_http_parse_key("int", "-67", out, sizeof out) == 4);
    CHECK(memcmp(out, "\xff\xff\xff\xbd", 4) == 0);
    CHECK(sh_http_parse_key("int", "2147483648", out, sizeof out) == -1);
    CHECK(sh_http_parse_key("int", "12abc", out, sizeof out) == -1);
    CHECK(sh_http_parse_key("int", "", out, sizeof out) == -1);
    CHECK(sh_http_parse_key("long", "-2", out, sizeof out) == 8);
    CHECK(memcmp(out, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8) == 0);
    CHECK(sh_http_parse_key("long", "1700000000000", out, sizeof out) == 8);
    CHECK(memcmp(out, "\x00\x00\x01\x8b\xcf\xe5\x68\x00", 8) == 0);
    CHECK(sh_http_parse_key("string", "caf\xc3\xa9", out, sizeof out) == 5);
    CHECK(memcmp(out, "caf\xc3\xa9", 5) == 0);
    CHECK(sh_http_parse_key("json", "{\"id\":1}", out, sizeof out) == 8);
    CHECK(sh_http_parse_key("bytes", "0123456789abcdefg", out, sizeof out) == -1); /* too long */
}

static void test_port_taken(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0);
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%d", ntohs(sa.sin_port));
    CHECK(sh_http_start(address, NULL, 0) == NULL);
    CHECK(sh_http_start("not-an-address", NULL, 0) == NULL);
    sh_http_t *http = sh_http_start("127.0.0.1:0", NULL, 0);
    CHECK(http != NULL);
    sh_http_set_topology(http, "Topologies:\n");
    sh_http_stop(http);
    close(fd);
}

int main(void) {
    test_parse_key();
    test_port_taken();
    return check_summary("http_test");
}
