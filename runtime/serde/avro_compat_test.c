/*
 * avro_compat_test.c - Avro's resolution rules one by one: promotions,
 * unions on either side, enums, fixed, names and aliases, defaults, and a
 * recursive type that must not loop.
 */
#include <string.h>

#include "serde/avro_compat.h"

#include "base/check.h"

static bool reads(const char *reader, const char *writer) {
    char err[256], msg[1024];
    sh_avro_schema_t *r = sh_avro_schema_parse(reader, strlen(reader), err, sizeof err);
    sh_avro_schema_t *w = sh_avro_schema_parse(writer, strlen(writer), err, sizeof err);
    if (!r || !w) {
        fprintf(stderr, "bad schema in test: %s\n", err);
        return false;
    }
    bool ok = sh_avro_compat_can_read(r, w, msg, sizeof msg);
    sh_avro_schema_free(r);
    sh_avro_schema_free(w);
    return ok;
}

int main(void) {
    CHECK(reads("\"long\"", "\"int\""));
    CHECK(reads("\"double\"", "\"long\""));
    CHECK(reads("\"double\"", "\"float\""));
    CHECK(!reads("\"int\"", "\"long\""));
    CHECK(!reads("\"float\"", "\"double\""));
    CHECK(reads("\"bytes\"", "\"string\"") && reads("\"string\"", "\"bytes\""));
    CHECK(!reads("\"string\"", "\"int\""));
    /* unions */
    CHECK(reads("[\"null\",\"string\"]", "\"string\""));
    CHECK(!reads("\"string\"", "[\"null\",\"string\"]"));
    CHECK(reads("[\"null\",\"long\"]", "[\"null\",\"int\"]"));
    CHECK(!reads("[\"null\",\"int\"]", "[\"null\",\"int\",\"string\"]"));
    /* enums */
    const char *e2 = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}";
    const char *e1 = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}";
    const char *e1d = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"],\"default\":\"A\"}";
    CHECK(reads(e2, e1));
    CHECK(!reads(e1, e2));
    CHECK(reads(e1d, e2));
    /* fixed and names */
    CHECK(reads("{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
                "{\"type\":\"fixed\",\"name\":\"x.F\",\"size\":4}"));
    CHECK(!reads("{\"type\":\"fixed\",\"name\":\"F\",\"size\":4}",
                 "{\"type\":\"fixed\",\"name\":\"F\",\"size\":8}"));
    CHECK(!reads("{\"type\":\"record\",\"name\":\"A\",\"fields\":[]}",
                 "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}"));
    CHECK(reads("{\"type\":\"record\",\"name\":\"A\",\"aliases\":[\"B\"],\"fields\":[]}",
                "{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}"));
    /* a renamed field through its alias */
    CHECK(reads("{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"new\","
                "\"aliases\":[\"old\"],\"type\":\"int\"}]}",
                "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"old\","
                "\"type\":\"int\"}]}"));
    /* arrays and maps look inside */
    CHECK(
        reads("{\"type\":\"array\",\"items\":\"long\"}", "{\"type\":\"array\",\"items\":\"int\"}"));
    CHECK(
        !reads("{\"type\":\"map\",\"values\":\"int\"}", "{\"type\":\"map\",\"values\":\"long\"}"));
    /* recursion ends */
    const char *list = "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\","
                       "\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    const char *list_long = "{\"type\":\"record\",\"name\":\"L\",\"fields\":[{\"name\":\"v\","
                            "\"type\":\"long\"},{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    CHECK(reads(list_long, list));
    CHECK(!reads(list, list_long));
    /* the message says where and which rule */
    char err[256], msg[1024];
    const char *r = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"inner\",\"type\":"
                    "{\"type\":\"record\",\"name\":\"I\",\"fields\":[{\"name\":\"q\",\"type\":"
                    "\"string\"}]}}]}";
    const char *w = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"inner\",\"type\":"
                    "{\"type\":\"record\",\"name\":\"I\",\"fields\":[{\"name\":\"q\",\"type\":"
                    "\"int\"}]}}]}";
    sh_avro_schema_t *rs = sh_avro_schema_parse(r, strlen(r), err, sizeof err);
    sh_avro_schema_t *ws = sh_avro_schema_parse(w, strlen(w), err, sizeof err);
    CHECK(!sh_avro_compat_can_read(rs, ws, msg, sizeof msg));
    CHECK(strstr(msg, "inner.q") && strstr(msg, "string") && strstr(msg, "int"));
    sh_avro_schema_free(rs);
    sh_avro_schema_free(ws);
    return check_summary("avro_compat_test");
}
