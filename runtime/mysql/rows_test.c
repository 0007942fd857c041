/*
 * rows_test.c - binlog row images and values to Debezium's JSON: hand-made
 * images (the server's layouts), hostile strings, truncated images, and
 * DECIMAL in precise mode. Real server bytes are covered end to end by
 * spec/integration/mysql_cdc_spec.lua.
 */
#include <mysql.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "mysql/rows.h"

static char *json_of(void (*fill)(sh_text_t *)) {
    sh_text_t t = {0};
    fill(&t);
    return sh_text_take(&t);
}

static void hostile(sh_text_t *t) { sh_text_json_string(t, "a\"b\\c\n\x01\xff\xc3\xa9", 10); }
static void bytes(sh_text_t *t) {
    sh_text_json_base64(t, (const unsigned char *)"\x00\xff\x01", 3);
}
static void precise(sh_text_t *t) { sh_mysql_json_decimal(t, SH_DECIMAL_PRECISE, "-1.5", 4, 2); }
static void precise_big(sh_text_t *t) { sh_mysql_json_decimal(t, SH_DECIMAL_PRECISE, "255", 3, 0); }
static void zero_date(sh_text_t *t) { sh_mysql_json_date(t, 0, 0, 0); }
static void leap_day(sh_text_t *t) { sh_mysql_json_date(t, 2024, 2, 29); }
static void before_epoch(sh_text_t *t) { sh_mysql_json_date(t, 1969, 12, 31); }
static void micro_datetime(sh_text_t *t) {
    sh_mysql_json_datetime(t, 6, 2024, 1, 2, 3, 4, 5, 123456);
}
static void zoned(sh_text_t *t) { sh_mysql_json_timestamp(t, 3, 1704164645, 789000); }

static int check_string(void (*fill)(sh_text_t *), const char *want) {
    char *got = json_of(fill);
    int ok = got && strcmp(got, want) == 0;
    if (!ok) fprintf(stderr, "got %s, want %s\n", got ? got : "(null)", want);
    free(got);
    return ok;
}

static sh_mysql_column_t column(const char *name, int type) {
    return (sh_mysql_column_t){.name = (char *)name, .type = type};
}

int main(void) {
    /* invalid UTF-8 becomes U+FFFD; quotes, backslashes, controls escaped */
    CHECK(check_string(hostile, "\"a\\\"b\\\\c\\n\\u0001\xef\xbf\xbd\xc3\xa9\""));
    CHECK(check_string(bytes, "\"AP8B\""));
    /* -150 unscaled: two's complement 0xff6a */
    CHECK(check_string(precise, "\"/2o=\""));
    /* 255 needs a sign byte: 0x00ff */
    CHECK(check_string(precise_big, "\"AP8=\""));
    CHECK(check_string(zero_date, "null"));
    CHECK(check_string(leap_day, "19782"));
    CHECK(check_string(before_epoch, "-1"));
    CHECK(check_string(micro_datetime, "1704164645123456"));
    CHECK(check_string(zoned, "\"2024-01-02T03:04:05.789Z\""));

    /* an image of (INT id, VARCHAR(20) name, DECIMAL(10,2) price, TIME2(3) t):
     * null bitmap, 4-byte LE int, 1-byte length + bytes, decimal, time */
    sh_mysql_column_t cols[4] = {column("id", MYSQL_TYPE_LONG), column("name", MYSQL_TYPE_VARCHAR),
                                 column("price", MYSQL_TYPE_NEWDECIMAL),
                                 column("t", MYSQL_TYPE_TIME2)};
    cols[0].in_key = true;
    cols[1].meta = 20;
    cols[2].precision = 10, cols[2].scale = 2;
    cols[3].fsp = 3;
    sh_mysql_table_t table = {
        .db = "orders", .name = "products", .count = 4, .columns = cols, .key_count = 1};
    /* -12345.67: 80 00 30 39 43 inverted; TIME2(3) -00:00:01.500:
     * intpart -2 (0x7ffffe) and fraction 0x10000 - 500*10 = 0xec78 */
    const unsigned char image[] = {0x00, 0xfe, 0xff, 0xff, 0xff, 0x03, 'p',  'e',  'n', 0x7f,
                                   0xff, 0xcf, 0xc6, 0xbc, 0x7f, 0xff, 0xfe, 0xec, 0x78};
    const unsigned char present[] = {0x0f};
    sh_mysql_row_t row = {0};
    char err[256];
    long used = sh_mysql_rows_decode(&table, present, image, sizeof image, SH_DECIMAL_STRING, &row,
                                     err, sizeof err);
    CHECK(used == (long)sizeof image);
    sh_text_t out = {0};
    for (int i = 0; i < 4; i++) {
        sh_text_add(&out, row.json.data + row.start[i], row.len[i]);
        sh_text_add(&out, ";", 1);
    }
    CHECK(out.data && strcmp(out.data, "-2;\"pen\";\"-12345.67\";-1500000;") == 0);
    sh_text_free(&out);

    /* every truncation of the image is refused, never read past */
    for (size_t n = 0; n < sizeof image; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, image, n);
        CHECK(sh_mysql_rows_decode(&table, present, cut, n, SH_DECIMAL_STRING, &row, err,
                                   sizeof err) < 0);
        free(cut);
    }
    /* a null column takes no bytes */
    const unsigned char nulls[] = {0x02, 0x01, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
                                   0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00};
    CHECK(sh_mysql_rows_decode(&table, present, nulls, sizeof nulls, SH_DECIMAL_STRING, &row, err,
                               sizeof err) == (long)sizeof nulls);
    CHECK(row.len[1] == 4 && memcmp(row.json.data + row.start[1], "null", 4) == 0);
    sh_mysql_row_free(&row);
    return check_summary("rows_test");
}
