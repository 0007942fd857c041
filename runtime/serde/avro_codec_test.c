/*
 * avro_codec_test.c - the codec on its own: values through encode and
 * decode, the text forms of dates and decimals, and bad bodies (truncated,
 * too long, out-of-range branches, lengths and booleans, runaway nesting)
 * refused with a reason, never read past their end.
 */
#include <stdlib.h>
#include <string.h>

#include "serde/avro_codec.h"
#include "serde/avro_logical.h"

#include "base/check.h"

static sh_avro_schema_t *parse(const char *text) {
    char err[256];
    sh_avro_schema_t *s = sh_avro_schema_parse(text, strlen(text), err, sizeof err);
    if (!s) fprintf(stderr, "parse: %s\n", err);
    return s;
}

/* Decodes n bytes copied into a buffer of exactly that size (so ASan sees
 * any read past the end); returns 0 or -1, with err. */
static int decode(const char *schema_text, const char *bytes, size_t n, sh_avro_tape_t *tape,
                  char *err, size_t errlen) {
    sh_avro_schema_t *s = parse(schema_text);
    if (!s) return -2;
    char *copy = malloc(n ? n : 1);
    memcpy(copy, bytes, n);
    int rc = sh_avro_decode(s, copy, n, tape, err, errlen);
    free(copy);
    sh_avro_schema_free(s);
    return rc;
}

static void test_dates_and_decimals(void) {
    char text[64];
    int64_t days;
    CHECK(sh_avro_date_format(0, text, sizeof text) == 10 && strcmp(text, "1970-01-01") == 0);
    CHECK(sh_avro_date_format(19782, text, sizeof text) > 0 && strcmp(text, "2024-02-29") == 0);
    CHECK(sh_avro_date_format(-1, text, sizeof text) > 0 && strcmp(text, "1969-12-31") == 0);
    CHECK(sh_avro_date_parse("2024-02-29", 10, &days) == 0 && days == 19782);
    CHECK(sh_avro_date_parse("0001-01-01", 10, &days) == 0 && days == -719162);
    CHECK(sh_avro_date_parse("2024-13-01", 10, &days) == -1);
    CHECK(sh_avro_date_parse("yesterday", 9, &days) == -1);
    for (int64_t d = -800000; d <= 800000; d += 997) { /* both ways over 4000 years */
        int64_t back;
        int n = sh_avro_date_format(d, text, sizeof text);
        CHECK(n > 0 && sh_avro_date_parse(text, (size_t)n, &back) == 0 && back == d);
    }
    unsigned char bytes[64];
    size_t n;
    CHECK(sh_avro_decimal_parse("-12.34", 6, 2, bytes, &n, 0) == 0 && n == 2 && bytes[0] == 0xfb &&
          bytes[1] == 0x2e);
    CHECK(sh_avro_decimal_format(bytes, n, 2, text, sizeof text) == 6 &&
          strcmp(text, "-12.34") == 0);
    CHECK(sh_avro_decimal_parse("5", 1, 3, bytes, &n, 0) == 0);
    CHECK(sh_avro_decimal_format(bytes, n, 3, text, sizeof text) > 0 && strcmp(text, "5.000") == 0);
    CHECK(sh_avro_decimal_parse("0.001", 5, 2, bytes, &n, 0) == -1); /* more decimals than scale */
    CHECK(sh_avro_decimal_parse("1.2.3", 5, 2, bytes, &n, 0) == -1);
    CHECK(sh_avro_decimal_parse("", 0, 2, bytes, &n, 0) == -1);
    CHECK(sh_avro_decimal_parse("-0.05", 5, 2, bytes, &n, 4) == 0 && n == 4 &&
          memcmp(bytes, "\xff\xff\xff\xfb", 4) == 0);
    CHECK(sh_avro_decimal_format((const unsigned char *)"\x80", 1, 0, text, sizeof text) > 0 &&
          strcmp(text, "-128") == 0);
}

static void test_round_trip(void) {
    const char *schema = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                         "{\"name\":\"a\",\"type\":\"long\"},"
                         "{\"name\":\"b\",\"type\":[\"null\",\"string\"],\"default\":null},"
                         "{\"name\":\"c\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
                         "{\"name\":\"d\",\"type\":\"int\",\"default\":7}]}";
    sh_avro_schema_t *s = parse(schema);
    CHECK(s != NULL);
    /* {a = 5, b = "hi", c = {x = 1.5}} as Lua flattens it; d from its default */
    sh_ffi_avro_value_t in[] = {
        {.kind = SH_AVRO_V_MAP, .integer = 3},
        {.kind = SH_AVRO_V_STRING, .data = "a", .len = 1},
        {.kind = SH_AVRO_V_NUMBER, .number = 5},
        {.kind = SH_AVRO_V_STRING, .data = "b", .len = 1},
        {.kind = SH_AVRO_V_STRING, .data = "hi", .len = 2},
        {.kind = SH_AVRO_V_STRING, .data = "c", .len = 1},
        {.kind = SH_AVRO_V_MAP, .integer = 1},
        {.kind = SH_AVRO_V_STRING, .data = "x", .len = 1},
        {.kind = SH_AVRO_V_NUMBER, .number = 1.5},
    };
    sh_avro_out_t out = {0};
    char err[512];
    CHECK(sh_avro_encode(s, in, 9, &out, err, sizeof err) == 0);
    const char want[] = "\x0a\x02\x04hi\x02\x02x\x00\x00\x00\x00\x00\x00\xf8\x3f\x00\x0e";
    CHECK(out.len == sizeof want - 1 && memcmp(out.data, want, out.len) == 0);
    sh_avro_tape_t tape = {0};
    CHECK(sh_avro_decode(s, out.data, out.len, &tape, err, sizeof err) == 0);
    CHECK(tape.count == 7 && tape.values[0].kind == SH_AVRO_V_RECORD &&
          tape.values[0].integer == 4);
    CHECK(tape.values[1].kind == SH_AVRO_V_INTEGER && tape.values[1].integer == 5);
    CHECK(tape.values[2].kind == SH_AVRO_V_STRING && tape.values[2].len == 2);
    CHECK(tape.values[6].kind == SH_AVRO_V_INTEGER && tape.values[6].integer == 7);

    /* a field that does not fit names itself */
    in[2] = (sh_ffi_avro_value_t){.kind = SH_AVRO_V_STRING, .data = "five", .len = 4};
    out.len = 0;
    CHECK(sh_avro_encode(s, in, 9, &out, err, sizeof err) == -1 && strstr(err, "field a:"));
    in[2] = (sh_ffi_avro_value_t){.kind = SH_AVRO_V_NUMBER, .number = 5.5};
    CHECK(sh_avro_encode(s, in, 9, &out, err, sizeof err) == -1 && strstr(err, "not an integer"));
    in[2] = (sh_ffi_avro_value_t){.kind = SH_AVRO_V_NUMBER, .number = 5};
    in[1].data = "z";
    CHECK(sh_avro_encode(s, in, 9, &out, err, sizeof err) == -1 && strstr(err, "field a:"));
    /* a short array from a confused caller is refused, not read past */
    in[1].data = "a";
    CHECK(sh_avro_encode(s, in, 5, &out, err, sizeof err) == -1);
    free(out.data);
    sh_avro_tape_free(&tape);
    sh_avro_schema_free(s);
}

static void test_bad_bodies(void) {
    sh_avro_tape_t tape = {0};
    char err[512];
    const char *rec = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                      "{\"name\":\"a\",\"type\":\"long\"},{\"name\":\"s\",\"type\":\"string\"}]}";
    CHECK(decode(rec, "\x02\x04hi", 4, &tape, err, sizeof err) == 0);
    CHECK(decode(rec, "\x02\x04h", 3, &tape, err, sizeof err) == -1 && strstr(err, "truncated"));
    CHECK(decode(rec, "\x02\x04hi!", 5, &tape, err, sizeof err) == -1 && strstr(err, "left over"));
    CHECK(decode(rec, "", 0, &tape, err, sizeof err) == -1 && strstr(err, "truncated"));
    CHECK(decode(rec, "\x02\x03hi", 4, &tape, err, sizeof err) == -1); /* negative length */
    CHECK(decode(rec, "\x02\xfe\xff\xff\xff\x0f", 6, &tape, err, sizeof err) == -1);
    CHECK(decode(rec, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, &tape, err, sizeof err) ==
              -1 &&
          strstr(err, "varint"));
    CHECK(decode("[\"null\",\"long\"]", "\x04", 1, &tape, err, sizeof err) == -1 &&
          strstr(err, "union"));
    CHECK(decode("[\"null\",\"long\"]", "\x01", 1, &tape, err, sizeof err) == -1);
    CHECK(decode("\"boolean\"", "\x02", 1, &tape, err, sizeof err) == -1 && strstr(err, "boolean"));
    CHECK(decode("{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\"]}", "\x02", 1, &tape, err,
                 sizeof err) == -1 &&
          strstr(err, "enum"));
    CHECK(decode("\"int\"", "\x80\x80\x80\x80\x20", 5, &tape, err, sizeof err) == -1 &&
          strstr(err, "32-bit"));
    CHECK(decode("\"double\"", "\0\0\0", 3, &tape, err, sizeof err) == -1);
    /* a huge block count of nulls: bounded, not looped for ever */
    CHECK(decode("{\"type\":\"array\",\"items\":\"null\"}", "\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",
                 9, &tape, err, sizeof err) == -1 &&
          strstr(err, "out of range"));
    /* a recursive schema and bytes that nest it 1000 deep: refused at 100 */
    const char *list = "{\"type\":\"record\",\"name\":\"L\",\"fields\":["
                       "{\"name\":\"next\",\"type\":[\"null\",\"L\"]}]}";
    char deep[1001];
    memset(deep, 2, 1000);
    deep[1000] = 0;
    CHECK(decode(list, deep, 1001, &tape, err, sizeof err) == -1 && strstr(err, "deeper"));
    CHECK(decode(list, "\x02\x02\x00", 3, &tape, err, sizeof err) == 0 && tape.count == 4);
    sh_avro_tape_free(&tape);
}

static void test_schemas(void) {
    char err[256];
    CHECK(sh_avro_schema_parse("{\"type\":\"nope\"}", 15, err, sizeof err) == NULL);
    CHECK(sh_avro_schema_parse("not json", 8, err, sizeof err) == NULL);
    sh_avro_schema_t *s = parse("{\"type\":\"record\",\"name\":\"a.R\",\"fields\":["
                                "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\","
                                "\"size\":2}},{\"name\":\"y\",\"type\":\"F\"}]}");
    CHECK(s && s->types[s->root].count == 2);
    CHECK(s && s->types[s->types[s->root].fields[0].type].name &&
          strcmp(s->types[s->types[s->root].fields[0].type].name, "a.F") == 0);
    CHECK(s && s->types[s->root].fields[0].type == s->types[s->root].fields[1].type);
    sh_avro_schema_free(s);
}

int main(void) {
    test_dates_and_decimals();
    test_round_trip();
    test_bad_bodies();
    test_schemas();
    return check_summary("avro_codec_test");
}
